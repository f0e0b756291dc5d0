"""Many rows into one table at once, in the caller's transaction: PostgreSQL's ``COPY ... FROM
STDIN`` (psycopg), one ``executemany`` of the driver on SQLite, SQLAlchemy's elsewhere. ``COPY``
streams the rows in one statement where psycopg's ``executemany`` sends one INSERT a row
(pipelined), about a hundred times slower for a bulk import of a hundred thousand customers. The
rows are dicts of column values as Python holds them; each backend's path converts them as the
column types do (JSON serialized, timestamps kept aware in UTC)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Table, insert, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection


def bulk_insert(connection: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Inserts ``rows`` (each with the same keys) into ``table``; nothing is committed."""
    if not rows:
        return
    if connection.dialect.name == "sqlite":
        _sqlite_insert(connection, table, rows)
        return
    if connection.dialect.name != "postgresql" or connection.dialect.driver != "psycopg":
        connection.execute(insert(table), list(rows))
        return
    columns = list(rows[0])
    json_columns = {c for c in columns if isinstance(table.c[c].type, JSON)}
    raw = connection.connection.driver_connection
    assert raw is not None
    quoted = ", ".join(f'"{c}"' for c in columns)
    with raw.cursor() as cursor, cursor.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row([_value(row[c], c in json_columns) for c in columns])


def _sqlite_insert(connection: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """One ``executemany`` of the driver with the values converted by each column's own bind
    processor (as SQLAlchemy would), column by column, a value shared by every row (a batch's
    timestamp) converted once: SQLAlchemy's own executemany spends most of its time building a
    parameter dict per row."""
    dialect = connection.dialect
    columns = list(rows[0])
    converted: list[list[Any]] = []
    for name in columns:
        values = [row[name] for row in rows]
        process = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            memo: dict[int, Any] = {}
            values = [memo.setdefault(id(v), process(v)) if isinstance(v, datetime) else process(v) for v in values]
        converted.append(values)
    quoted = ", ".join(f'"{c}"' for c in columns)
    marks = ", ".join("?" for _ in columns)
    sql = f'INSERT INTO "{table.name}" ({quoted}) VALUES ({marks})'
    connection.exec_driver_sql(sql, list(zip(*converted, strict=True)))


def _value(value: Any, is_json: bool) -> Any:
    if is_json:
        return None if value is None else json.dumps(value, separators=(",", ":"))
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC)
    return value


def bulk_insert_ids(connection: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Inserts ``rows`` into ``table`` (its primary key ``id`` drawn from its sequence) and answers
    their ids, in the order of ``rows``: on PostgreSQL the ids are taken from the sequence in one
    query and the rows copied with them; elsewhere one INSERT ... RETURNING per batch."""
    if not rows:
        return []
    if connection.dialect.name != "postgresql" or connection.dialect.driver != "psycopg":
        returning = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        return list(connection.execute(returning, list(rows)).scalars())
    ids = list(
        connection.execute(
            text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"),
            {"table": table.name, "n": len(rows)},
        ).scalars()
    )
    bulk_insert(connection, table, [{"id": i, **row} for i, row in zip(ids, rows, strict=True)])
    return ids


def insert_ignoring_conflicts(connection: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Inserts ``rows`` into ``table`` in one statement; a row that would break a unique
    constraint is skipped (``ON CONFLICT DO NOTHING`` on PostgreSQL and SQLite), so two
    transactions inserting the same key never fail: the later one keeps the earlier one's row.
    Other databases insert plainly. Nothing is committed."""
    if not rows:
        return
    dialect = connection.dialect.name
    if dialect == "postgresql":
        connection.execute(postgresql.insert(table).on_conflict_do_nothing(), list(rows))
    elif dialect == "sqlite":
        connection.execute(sqlite.insert(table).on_conflict_do_nothing(), list(rows))
    else:
        connection.execute(insert(table), list(rows))
