"""The store on PostgreSQL, in tests/pg.py's throwaway cluster (whose own time zone is
Pacific/Chatham, not UTC): the migrations reach head and match the models, timestamps read back
in UTC, and a cluster stops its own server and leaves nothing behind. Skipped, saying why, where
the server's binaries are missing."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, insert, select, text

from network.store import Base, UTCDateTime, head_revision, make_engine, migrate
from network.store.engine import current_revision
from tests.pg import BIN_ENV, PgCluster, missing_reason, server_bin_dir


def test_the_migrations_reach_head_on_postgresql_and_match_the_models(pg_cluster: PgCluster) -> None:
    url = pg_cluster.create_database()
    migrate(url)
    engine = make_engine(url)
    try:
        assert current_revision(engine) == head_revision()
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert differences == []
    finally:
        engine.dispose()


def test_timestamps_read_back_in_utc_whatever_the_servers_time_zone(pg_cluster: PgCluster) -> None:
    url = pg_cluster.create_database()
    table = Table("stamps", MetaData(), Column("id", Integer, primary_key=True), Column("at", UTCDateTime))
    written = datetime(2026, 11, 23, 23, 30, tzinfo=timezone(timedelta(hours=-5)))  # 04:30 UTC the next day
    store, plain = make_engine(url), create_engine(url)  # plain: the server's own zone in its sessions
    try:
        with store.begin() as connection:
            table.create(connection)
            connection.execute(insert(table).values(id=1, at=written))
        with store.connect() as connection:
            assert connection.execute(text("SHOW timezone")).scalar() == "UTC"
            assert connection.execute(text("SELECT at::text FROM stamps")).scalar() == "2026-11-24 04:30:00+00"
            read = connection.execute(select(table.c.at)).scalar_one()
        with plain.connect() as connection:
            assert connection.execute(text("SHOW timezone")).scalar() == "Pacific/Chatham"
            read_plain = connection.execute(select(table.c.at)).scalar_one()
        for value in (read, read_plain):
            assert value == written and value.utcoffset() == timedelta(0)
            assert value.isoformat() == "2026-11-24T04:30:00+00:00"
    finally:
        store.dispose()
        plain.dispose()


def test_a_cluster_stops_its_own_server_and_removes_its_folder() -> None:
    reason = missing_reason()
    if reason is not None:
        pytest.skip(reason)
    with PgCluster.start() as cluster:
        pid = cluster.postmaster_pid()
        assert pid is not None and Path(f"/proc/{pid}").exists()
        url = cluster.create_database("one")
        assert url == f"postgresql+psycopg://postgres@/one?host={cluster.socket_dir}&port={cluster.port}"
        with psycopg.connect(host=str(cluster.socket_dir), port=cluster.port, user="postgres", dbname="one") as c:
            assert c.execute("SELECT current_database()").fetchone() == ("one",)
    assert not _alive(pid), f"postmaster {pid} still running after stop()"
    assert not cluster.root.exists()


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its parent to reap it does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_without_the_servers_binaries_the_reason_names_where_they_were_looked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(BIN_ENV, str(tmp_path))
    assert server_bin_dir() is None
    reason = missing_reason()
    assert reason is not None and str(tmp_path) in reason and "initdb" in reason
    monkeypatch.delenv(BIN_ENV)
    if server_bin_dir() is not None:
        assert os.access(server_bin_dir() / "pg_ctl", os.X_OK)  # type: ignore[operator]
