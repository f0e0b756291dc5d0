"""Engines, migrations and session factories of the store.

SQLite file by default, PostgreSQL by URL (``COALITION_DATABASE_URL``). The schema is created and
upgraded by the Alembic migrations in ``network/store/migrations``, in a set-up step
(:func:`migrate`: ``python -m network migrate``, ``coalition up``, the test harness), never as a
side effect of a process opening the store: :func:`open_store` refuses a store that is not at
the code's revision.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "alembic_version"  # where Alembic keeps the revision a store is at


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout so that the
    sender, the indexer and the gateway can share one file; PostgreSQL sessions run in UTC."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    if url.startswith("postgresql"):
        # the session's clock in UTC whatever the server's time zone, as on SQLite: timestamps
        # read back, now(), and any date arithmetic in SQL mean the same on both backends
        return create_engine(url, pool_pre_ping=True, connect_args={"options": "-c timezone=UTC"})
    return create_engine(url, pool_pre_ping=True)


class StoreNotMigrated(RuntimeError):
    """The store is not at the revision this code expects (run ``python -m network migrate``)."""


def _alembic_config(url: str):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url)
    return config


def migrate(url: str, revision: str = "head") -> None:
    """Brings the schema at ``url`` to ``revision`` with the Alembic migrations (the set-up step)."""
    from alembic import command

    command.upgrade(_alembic_config(url), revision)


@cache
def head_revision() -> str:
    """The newest migration's revision: the one this code's tables match. Read once per process
    (parsing the migration scripts takes a while): a worker reads it before it forks its pool."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the store at ``engine`` was migrated to (None: never migrated): Alembic's
    version table, read with one query (no Alembic import in every process that opens a store)."""
    with engine.connect() as connection:
        if not inspect(connection).has_table(VERSION_TABLE):
            return None
        versions = list(connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars())
    if len(versions) > 1:
        raise StoreNotMigrated(f"the store has several heads ({', '.join(sorted(versions))}): merge them")
    return versions[0] if versions else None


def open_store(url: str) -> sessionmaker:
    """A session factory for the store at ``url``, which must already be migrated to the code's
    revision: a process never migrates on its own (several gateways and workers would race)."""
    engine = make_engine(url)
    found, expected = current_revision(engine), head_revision()
    if found != expected:
        engine.dispose()
        raise StoreNotMigrated(
            f"the store at {url.split('@')[-1]} is at revision {found or 'none (empty)'}, this code expects "
            f"{expected}: run `python -m network migrate` (or `coalition up`) before starting processes"
        )
    return sessionmaker(engine, expire_on_commit=False)
