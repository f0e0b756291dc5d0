"""The two stores the end-to-end and chaos tests run on: SQLite, and PostgreSQL in a throwaway
cluster of its own (``initdb`` and ``pg_ctl`` from ``/usr/lib/postgresql/<version>/bin``).

    with PgCluster.start() as cluster:            # a temporary folder, a free port, trust auth
        url = cluster.create_database()           # postgresql+psycopg://postgres@/store_1?host=...

Pytest fixtures (registered in tests/conftest.py):

- ``pg_cluster``: one cluster per test session, started when a test first asks for it and
  stopped (``pg_ctl stop``: only the server it started) when the session ends; the tests that
  need it are skipped, saying why, where the server's binaries are missing;
- ``store``: a :class:`StoreKind`, parametrized ``[sqlite]`` and ``[postgresql]``;
  ``start_stack(..., store=store)`` (tests/e2e/stack.py) gives each stack a new SQLite file or a
  new database (``CREATE DATABASE``), migrated once before any process starts.
  ``COALITION_TEST_STORES=sqlite`` (or ``postgresql``) runs one half only; a module's
  ``RUN_ON_STORES`` narrows its own (``pytest_collection_modifyitems`` below).

The cluster is set up for tests, not for keeping data: no fsync, and its own time zone is not UTC
(Pacific/Chatham, +12:45 or +13:45), so that code that reads the server's zone shows it.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import pytest

PG_ROOT = Path("/usr/lib/postgresql")
BIN_ENV = "COALITION_TEST_PG_BIN"  # a bin folder of another PostgreSQL install
STORES_ENV = "COALITION_TEST_STORES"
STORES = ("sqlite", "postgresql")
SUPERUSER = "postgres"
OS_USER = "postgres"  # initdb refuses to run as root: as root, the server runs as this user
TEST_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "timezone": "'Pacific/Chatham'",
}
BENCH_SETTINGS = {"synchronous_commit": "off"}  # durable like SQLite's WAL with synchronous=NORMAL


def server_bin_dir() -> Path | None:
    """The bin folder of the newest PostgreSQL server under /usr/lib/postgresql (or ``$COALITION_TEST_PG_BIN``)
    that has ``initdb``, ``pg_ctl`` and ``postgres``; None if there is none."""
    candidates = [Path(os.environ[BIN_ENV])] if os.environ.get(BIN_ENV) else []
    if not candidates and PG_ROOT.is_dir():
        versions = sorted(
            (p for p in PG_ROOT.iterdir() if p.name.replace(".", "").isdigit()),
            key=lambda p: [int(part) for part in p.name.split(".")],
            reverse=True,
        )
        candidates += [v / "bin" for v in versions]
    for bin_dir in candidates:
        if all(os.access(bin_dir / tool, os.X_OK) for tool in ("initdb", "pg_ctl", "postgres")):
            return bin_dir
    return None


def missing_reason() -> str | None:
    """Why no cluster can be started here (None: one can)."""
    if server_bin_dir() is None:
        where = os.environ.get(BIN_ENV) or f"{PG_ROOT}/<version>/bin"
        return f"no PostgreSQL server binaries (initdb, pg_ctl, postgres) in {where}: apt-get install postgresql"
    if os.geteuid() == 0 and _os_user() is None:
        return f"initdb cannot run as root and there is no '{OS_USER}' user to run it as"
    return None


def _os_user() -> pwd.struct_passwd | None:
    with contextlib.suppress(KeyError):
        return pwd.getpwnam(OS_USER)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgClusterError(RuntimeError):
    """The throwaway cluster could not be set up or started."""


@dataclass
class PgCluster:
    """One ``initdb`` cluster in a temporary folder: data in ``<root>/data``, the unix socket in
    ``<root>/socket``, listening on 127.0.0.1:``port`` too; trust authentication, superuser
    ``postgres``. :meth:`stop` stops its server and removes the folder."""

    root: Path
    bin_dir: Path
    port: int
    _names: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "socket"

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    @classmethod
    def start(cls, *, settings: dict[str, str] | None = None, max_connections: int = 400) -> PgCluster:
        """initdb in a new temporary folder, then ``pg_ctl start`` on a free port (three tries)."""
        reason = missing_reason()
        if reason is not None:
            raise PgClusterError(reason)
        bin_dir = server_bin_dir()
        assert bin_dir is not None
        root = Path(tempfile.mkdtemp(prefix="coalition-pg-"))  # short: a socket path has ~100 bytes
        cluster = cls(root, bin_dir, 0)
        try:
            cluster.socket_dir.mkdir()
            owner = _os_user() if os.geteuid() == 0 else None
            if owner is not None:
                for path in (root, cluster.socket_dir):
                    os.chown(path, owner.pw_uid, owner.pw_gid)
            cluster._run(
                "initdb",
                "-D",
                str(cluster.data),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            )
            lines = {
                "listen_addresses": "'127.0.0.1'",
                "unix_socket_directories": f"'{cluster.socket_dir}'",
                "max_connections": str(max_connections),
                **(TEST_SETTINGS if settings is None else settings),
            }
            with open(cluster.data / "postgresql.conf", "a") as conf:
                conf.write("".join(f"{k} = {v}\n" for k, v in lines.items()))
            for attempt in range(3):
                cluster.port = _free_port()
                try:
                    cluster._run(
                        "pg_ctl", "-D", str(cluster.data), "-l", str(cluster.log_file), "-o", f"-p {cluster.port}",
                        "-w", "-t", "60", "start",
                    )  # fmt: skip
                    break
                except PgClusterError:
                    if attempt == 2:
                        raise
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def _run(self, tool: str, *args: str) -> None:
        owner = _os_user() if os.geteuid() == 0 else None
        result = subprocess.run(
            [str(self.bin_dir / tool), *args],
            cwd=self.root,
            user=owner.pw_uid if owner else None,
            group=owner.pw_gid if owner else None,
            extra_groups=[] if owner else None,
            env={k: v for k, v in os.environ.items() if not k.startswith("PG")} | {"LC_ALL": "C"},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            log = self.log_file.read_text(errors="replace")[-3000:] if self.log_file.exists() else ""
            raise PgClusterError(
                f"{tool} {' '.join(args)} exited {result.returncode}:\n{result.stdout}{result.stderr}{log}"
            )

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL of ``database`` over the unix socket (psycopg 3)."""
        return f"postgresql+psycopg://{SUPERUSER}@/{database}?host={self.socket_dir}&port={self.port}"

    def create_database(self, name: str | None = None) -> str:
        """``CREATE DATABASE`` (``store_<n>`` unless named); returns its URL."""
        import psycopg

        name = name or f"store_{next(self._names)}"
        with psycopg.connect(
            host=str(self.socket_dir), port=self.port, user=SUPERUSER, dbname="postgres", autocommit=True
        ) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
        return self.url(name)

    def postmaster_pid(self) -> int | None:
        """The PID of the server this cluster started (from its ``postmaster.pid``), if running."""
        with contextlib.suppress(FileNotFoundError, ValueError, IndexError):
            return int((self.data / "postmaster.pid").read_text().split()[0])
        return None

    def stop(self) -> None:
        """``pg_ctl stop -m fast`` (SIGKILL to its own postmaster if that fails), then removes the folder."""
        if self.postmaster_pid() is not None:
            try:
                self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "30", "stop")
            except (PgClusterError, subprocess.TimeoutExpired):
                pid = self.postmaster_pid()
                if pid is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                    time.sleep(0.5)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PgCluster:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


@dataclass(frozen=True)
class StoreKind:
    """Where a test stack keeps its store: a new SQLite file in its folder, or a new database
    in ``cluster``."""

    name: str  # "sqlite" or "postgresql"
    cluster: PgCluster | None = None

    def new_url(self, directory: Path) -> str:
        if self.name == "sqlite":
            return f"sqlite:///{directory / 'store.db'}"
        assert self.cluster is not None, "a PostgreSQL store needs a cluster"
        return self.cluster.create_database()


SQLITE = StoreKind("sqlite")


def selected_stores() -> list[str]:
    """The stores the tests run on: both, or those ``COALITION_TEST_STORES`` lists (comma-separated)."""
    wanted = [s.strip() for s in os.environ.get(STORES_ENV, ",".join(STORES)).split(",") if s.strip()]
    unknown = set(wanted) - set(STORES)
    if unknown:
        raise ValueError(f"{STORES_ENV}: unknown stores {sorted(unknown)} (known: {', '.join(STORES)})")
    return wanted


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """A PostgreSQL cluster for the whole session (skips the test, saying why, where none can start)."""
    reason = missing_reason()
    if reason is not None:
        pytest.skip(reason)
    with PgCluster.start() as cluster:
        yield cluster


@pytest.fixture(scope="session", params=selected_stores())
def store(request: pytest.FixtureRequest) -> StoreKind:
    """The store of a test's stack: ``[sqlite]`` or ``[postgresql]``."""
    if request.param == "sqlite":
        return SQLITE
    return StoreKind("postgresql", request.getfixturevalue("pg_cluster"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A module narrows its stores with ``RUN_ON_STORES = ("postgresql",)``: its ``[sqlite]`` items
    are deselected. Every e2e file runs on both stores by default; a file whose path through the
    store is already run on both by another (pages, messages, the CLI) runs on one, to keep
    ``make test`` under CI's 30 minutes. ``COALITION_TEST_STORES`` still narrows all of them."""
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        wanted = getattr(getattr(item, "module", None), "RUN_ON_STORES", None)
        callspec = getattr(item, "callspec", None)
        name = callspec.params.get("store") if callspec is not None else None
        (drop if wanted is not None and name is not None and name not in wanted else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
