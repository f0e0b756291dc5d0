"""Many rows into one table at once, in the caller's transaction: PostgreSQL's ``COPY ... FROM
STDIN`` (psycopg), one ``executemany`` elsewhere. ``COPY`` streams the rows in one statement;
psycopg's ``executemany`` sends one INSERT a row (pipelined), about a hundred times slower for a
bulk import of a hundred thousand customers. The rows are dicts of column values as Python
holds them; JSON columns are serialized here, timestamps kept aware (UTC)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Table, insert, text
from sqlalchemy.engine import Connection


def bulk_insert(connection: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Inserts ``rows`` (each with the same keys) into ``table``; nothing is committed."""
    if not rows:
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
