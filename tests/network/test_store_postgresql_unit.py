"""The store on PostgreSQL, in tests/pg.py's throwaway cluster (whose own time zone is
Pacific/Chatham, not UTC): the migrations reach head and match the models, timestamps read back
in UTC, and a cluster stops its own server and leaves nothing behind. Skipped, saying why, where
the server's binaries are missing."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from eth_account import Account
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, insert, select, text
from sqlalchemy.orm import sessionmaker

from gateway.services import customer_records
from network.store import Base, CustomerLink, CustomerWallet, UTCDateTime, head_revision, make_engine, migrate
from network.store.engine import MIGRATIONS, current_revision
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


def test_the_customer_migration_moves_links_with_rows_in_place_and_goes_back_on_postgresql(
    pg_cluster: PgCluster,
) -> None:
    """0014 on rows written at 0013 (ids from the sequences, as the gateway writes them): one
    customer per wallet, the links point to it, the service links on from there; down to 0013
    and up to head again."""
    url = pg_cluster.create_database()
    migrate(url, "0013")
    engine = make_engine(url)
    shared, alone, custodial = (Account.create().address for _ in range(3))
    day = [datetime(2026, 1, d, tzinfo=UTC) for d in range(1, 5)]
    try:
        with engine.begin() as c:
            for pid in (1, 2):
                c.execute(
                    text(
                        "INSERT INTO partners (id, name, minter, treasury, api_key_prefix, api_key_hash, currency,"
                        " points_per_unit, issue_price, reimbursement_rate, issuance_limit, status, next_seq,"
                        " created_at) VALUES (:id, :name, :minter, 't', :prefix, 'h', 'EUR', 1, 1, 1, 1, 'active',"
                        " 0, :at)"
                    ),
                    {"id": pid, "name": f"p{pid}", "minter": f"m{pid}", "prefix": f"k{pid}", "at": day[0]},
                )
            for partner_id, ref, address, at in (
                (1, "a-1", shared, day[2]),
                (2, "b-1", shared, day[0]),
                (1, "a-2", alone, day[1]),
            ):
                c.execute(
                    text("INSERT INTO customer_links (partner_id, ref, wallet, created_at) VALUES (:p, :r, :w, :at)"),
                    {"p": partner_id, "r": ref, "w": address, "at": at},
                )
            c.execute(
                text(
                    "INSERT INTO custodial_wallets (address, partner_id, key_ciphertext, key_nonce, created_at)"
                    " VALUES (:a, 1, :b, :b, :at)"
                ),
                {"a": custodial, "b": b"\0", "at": day[3]},
            )
        migrate(url)
        with sessionmaker(engine)() as session:
            owner = dict(session.execute(select(CustomerWallet.address, CustomerWallet.customer_id)).tuples().all())
            assert set(owner) == {shared, alone, custodial} and len(set(owner.values())) == 3
            links = {ln.ref: ln.customer_id for ln in session.scalars(select(CustomerLink))}
            assert links == {"a-1": owner[shared], "b-1": owner[shared], "a-2": owner[alone]}
            assert customer_records.link(session, partner_id=2, ref="b-9", wallet=shared).customer_id == owner[shared]
            session.commit()
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.set_main_option("sqlalchemy.url", url)
        command.downgrade(config, "0013")
        with engine.connect() as c:
            assert c.execute(text("SELECT count(*) FROM customer_links")).scalar() == 4
        migrate(url)
        assert current_revision(engine) == head_revision()
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
