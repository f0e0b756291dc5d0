"""The local network as real, detached processes: anvil, the embedded Redis, Celery workers and
beat, the gateway in uvicorn.

Each process is started in a session of its own (so it outlives the command that started it,
and a stop reaches its whole group), with a pid file in ``<state_dir>/run`` and its output in
``<state_dir>/logs``. ``up`` starts only what is not running (it is safe to run twice); ``down``
stops whatever the pid files name, also after the command that started them crashed. A pid file
is trusted only if the live process has the start time recorded with it, so a recycled pid is
never signalled.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

import httpx
import psutil
from web3 import HTTPProvider, Web3

from gateway.redis_server import redis_server_binary
from gateway.settings import GatewaySettings, redis_url
from network.deployments import PROJECT_ROOT, AddressBook, AddressBookError, load_address_book, write_address_book
from network.direct import deploy_coalition
from network.keys import dev_account
from network.node import AnvilNode, port_in_use
from network.store import migrate

CELERY_APP = "gateway.tasks.app:celery_app"
STOP_ORDER = ("gateway", "beat", "worker", "smtp", "sms", "redis", "anvil")  # the front first, the chain last


class NetworkError(RuntimeError):
    """The network cannot be started as asked (a port taken by someone else, a process dying)."""


@dataclass(frozen=True)
class Running:
    name: str
    pid: int
    port: int | None
    log: Path


def _stop_rank(name: str) -> int:
    return next((i for i, prefix in enumerate(STOP_ORDER) if name.startswith(prefix)), len(STOP_ORDER))


class LocalNetwork:
    """The processes of one local network, named by ``settings`` (ports, state directory)."""

    def __init__(self, settings: GatewaySettings, *, workers: int = 1, concurrency: int = 2) -> None:
        if settings.mode != "local":
            raise NetworkError("the coalition command runs a local network only (COALITION_MODE=local)")
        self.settings = settings
        self.workers = workers
        self.concurrency = concurrency
        self.run_dir = settings.state_dir / "run"
        self.log_dir = settings.state_dir / "logs"
        self.gateway_port = urlparse(settings.public_url).port or 8000
        self.redis_url = str(redis_url(settings))  # local mode: never None

    # ------------------------------------------------------------------ what runs

    @property
    def url(self) -> str:
        return self.settings.public_url.rstrip("/")

    def env(self) -> dict[str, str]:
        """The children's environment: ours, plus the Redis URL every process must agree on."""
        env = dict(os.environ)
        env["COALITION_REDIS_URL"] = self.redis_url
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
        return env

    def running(self) -> dict[str, Running]:
        """Processes named by a pid file that are alive with their original command line;
        stale pid files are removed."""
        found: dict[str, Running] = {}
        if not self.run_dir.exists():
            return found
        for path in sorted(self.run_dir.glob("*.json")):
            try:
                record = json.loads(path.read_text())
                process = psutil.Process(int(record["pid"]))
                alive = process.status() != psutil.STATUS_ZOMBIE and process.create_time() == record["started"]
            except (ValueError, KeyError, OSError, psutil.Error):
                alive = False
            if alive:
                found[path.stem] = Running(path.stem, int(record["pid"]), record.get("port"), Path(record["log"]))
            else:
                path.unlink(missing_ok=True)
        return found

    def is_up(self) -> bool:
        names = set(self.running())
        return {"anvil", "gateway", "beat"} <= names and any(n.startswith("worker") for n in names)

    # ------------------------------------------------------------------ up

    def up(self, step: Callable[[str], None] = lambda _: None) -> list[str]:
        """Starts what is not running; answers the names it started."""
        started: list[str] = []
        running = self.running()
        if "anvil" not in running:
            step("anvil")
            self.settings.anvil_state_file.parent.mkdir(parents=True, exist_ok=True)
            self._spawn("anvil", AnvilNode.from_settings(self.settings).command(), self.settings.anvil_port)
            self._wait(lambda: _rpc_ok(self.settings.rpc_url), "anvil")
            started.append("anvil")
        step("contracts")
        self.ensure_deployed()
        if self.settings.redis_url is None and "redis" not in running:
            step("redis")
            redis_dir = self.settings.state_dir / "redis"
            redis_dir.mkdir(parents=True, exist_ok=True)
            command = [redis_server_binary(), "--port", str(self.settings.redis_port), "--bind", "127.0.0.1"]
            command += ["--dir", str(redis_dir), "--appendonly", "yes", "--appendfsync", "everysec", "--save", ""]
            self._spawn("redis", command, self.settings.redis_port)
            self._wait(lambda: port_in_use(self.settings.redis_port), "redis")
            started.append("redis")
        step("store")
        migrate(self.settings.database_url)  # once, here, before any process opens the store
        python = [sys.executable, "-m"]
        started += self._messaging_servers(running, python, step)
        if "gateway" not in running:
            step("gateway")
            command = [*python, "uvicorn", "gateway.main:app", "--host", "127.0.0.1", "--port", str(self.gateway_port)]
            self._spawn("gateway", [*command, "--no-access-log"], self.gateway_port)
            self._wait(self._healthy, "gateway")
            started.append("gateway")
        for i in range(1, self.workers + 1):
            name = f"worker-{i}"
            if name not in running:
                step(name)
                node = f"{name}-{uuid.uuid4().hex[:6]}@%h"
                command = [*python, "celery", "-A", CELERY_APP, "worker", "-n", node, "-Q", "earn,celery"]
                command += ["-c", str(self.concurrency), "--loglevel", "INFO", "--without-gossip", "--without-mingle"]
                self._spawn(name, command, None)
                started.append(name)
        if "beat" not in running:
            step("beat")
            schedule = self.settings.state_dir / "beat-schedule"
            self._spawn("beat", [*python, "celery", "-A", CELERY_APP, "beat", "-s", str(schedule)], None)
            started.append("beat")
        return started

    def _messaging_servers(
        self, running: dict[str, Running], python: list[str], step: Callable[[str], None]
    ) -> list[str]:
        """The embedded SMTP server (its Maildir: ``mailbox_path``, which the dashboard reads) and
        SMS provider (``<state_dir>/sms``), unless the settings point the channels elsewhere."""
        s, started = self.settings, []
        if s.smtp_host in ("127.0.0.1", "localhost") and "smtp" not in running:
            step("smtp")
            command = [*python, "gateway.messaging.smtp_server", "--port", str(s.smtp_port)]
            self._spawn("smtp", [*command, "--dir", str(s.mailbox_path)], s.smtp_port)
            self._wait(lambda: port_in_use(s.smtp_port), "smtp")
            started.append("smtp")
        if s.sms_api_url == f"http://127.0.0.1:{s.sms_port}" and "sms" not in running:
            step("sms")
            command = [
                *python,
                "gateway.messaging.sms_server",
                "--port",
                str(s.sms_port),
                "--dir",
                str(s.state_dir / "sms"),
            ]
            self._spawn(
                "sms", [*command, "--account-sid", s.sms_account_sid, "--token", str(s.sms_auth_token)], s.sms_port
            )
            self._wait(lambda: port_in_use(s.sms_port), "sms")
            started.append("sms")
        return started

    def ensure_deployed(self) -> AddressBook:
        """The address book of the running chain; deploys the contracts if the book is missing
        or names contracts this chain does not have (a fresh anvil), and then sets the old
        store aside, since it describes another chain."""
        w3 = Web3(HTTPProvider(self.settings.rpc_url, request_kwargs={"timeout": self.settings.rpc_timeout_s}))
        with contextlib.suppress(AddressBookError):
            book = load_address_book(self.settings.chain_id, self.settings.deployments_dir)
            if w3.eth.get_code(book.address("CoalitionPoints")):
                return book
        book = deploy_coalition(w3, dev_account(0, self.settings), dev_account(1, self.settings))
        write_address_book(book, self.settings.deployments_dir)
        self._set_aside_stale_state()
        return book

    def _set_aside_stale_state(self) -> None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        aside = self.settings.state_dir / f"stale-{stamp}"
        url = self.settings.database_url
        if url.startswith("sqlite:///"):
            db = Path(url.removeprefix("sqlite:///"))
            for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
                if path.exists():
                    aside.mkdir(parents=True, exist_ok=True)
                    path.rename(aside / path.name)
        for key in self.settings.keystore_dir.glob("partner-*.json") if self.settings.keystore_dir.exists() else []:
            aside.mkdir(parents=True, exist_ok=True)
            key.rename(aside / key.name)

    def _healthy(self) -> bool:
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        return False

    def _spawn(self, name: str, command: list[str], port: int | None) -> None:
        if port is not None and port_in_use(port):
            raise NetworkError(f"port {port} (for {name}) is in use by a process this state directory did not start")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"{name}.log"
        with open(log, "ab") as out:
            process = subprocess.Popen(
                command,
                cwd=PROJECT_ROOT,
                env=self.env(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        started = psutil.Process(process.pid).create_time()  # an exec keeps it; a recycled pid does not
        record = {"pid": process.pid, "started": started, "cmdline": command, "port": port, "log": str(log)}
        (self.run_dir / f"{name}.json").write_text(json.dumps(record))
        self._children = [*getattr(self, "_children", []), process]  # reaped at stop

    def _wait(self, ready: Callable[[], bool], name: str, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while not ready():
            if name not in self.running():
                raise NetworkError(f"{name} exited while starting; see {self.log_dir / (name + '.log')}")
            if time.monotonic() > deadline:
                raise NetworkError(f"{name} not ready after {timeout_s} s; see {self.log_dir / (name + '.log')}")
            time.sleep(0.05)

    # ------------------------------------------------------------------ down

    def down(self, step: Callable[[str], None] = lambda _: None, only: Collection[str] | None = None) -> list[str]:
        """Stops every process of the pid files (or those named in ``only``), front first:
        SIGTERM to its group (anvil dumps its state, Redis flushes its log), SIGKILL after a
        grace period. Answers the names."""
        stopped = []
        running = [r for r in self.running().values() if only is None or r.name in only]
        for item in sorted(running, key=lambda r: _stop_rank(r.name)):
            step(item.name)
            grace = 15.0 if item.name in ("anvil", "redis") else 5.0
            _stop_group(item.pid, grace)
            (self.run_dir / f"{item.name}.json").unlink(missing_ok=True)
            stopped.append(item.name)
        for process in getattr(self, "_children", []):
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(1)
        return stopped


def _rpc_ok(url: str) -> bool:
    with contextlib.suppress(Exception):
        return Web3(HTTPProvider(url, request_kwargs={"timeout": 1})).is_connected()
    return False


def _stop_group(pid: int, grace_s: float) -> None:
    """SIGTERM to the process group ``pid`` leads, then SIGKILL to what is left after ``grace_s``."""
    try:
        members = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    _gone, alive = psutil.wait_procs(members, timeout=grace_s)
    if alive:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        for process in alive:
            with contextlib.suppress(psutil.Error):
                process.kill()
        psutil.wait_procs(alive, timeout=5)
