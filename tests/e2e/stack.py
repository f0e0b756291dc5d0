"""The whole network as real processes, for end-to-end tests: a real anvil with the coalition
deployed (tests/network/harness.py), a real redis-server, real Celery worker processes and beat,
and the gateway as a real uvicorn process, all on one store: a SQLite file in the test's
directory, or a new database in a throwaway PostgreSQL cluster (``store=``, tests/pg.py).

    with start_stack(tmp_path, ports=range(8660, 8680), workers=2) as stack:
        partner = stack.onboard("Grocer", points_per_unit="1.5")
        stack.post_purchase(partner, "p-1", fresh_wallet("alice"))
        stack.wait_purchase(partner, "p-1")

Every process is started in its own process group, so that killing a worker (SIGKILL included)
kills its pool children too, and every one is stopped when the ``with`` block ends.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address

from gateway.redis_server import RedisServer
from gateway.settings import LOCAL_SMS_AUTH_TOKEN
from network.deployments import PROJECT_ROOT
from network.errors import NodeError
from network.indexer import CHECKPOINT
from network.node import port_in_use
from network.store import IndexerCheckpoint
from tests.network.harness import USD, Harness, make_harness
from tests.pg import SQLITE, StoreKind
from tests.ports import for_worker

OPERATOR_TOKEN = "local-operator-token"  # local mode's default (gateway/settings.py)
OPERATOR_HEADERS = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
CELERY_APP = "gateway.tasks.app:celery_app"


def fresh_wallet(label: str) -> str:
    """A deterministic new address per label, so that its balance is what the test minted."""
    return to_checksum_address(keccak(f"e2e-wallet-{label}".encode())[:20])


def key_for(label: str) -> LocalAccount:
    """A deterministic key for a label (test keys, public by construction)."""
    return Account.from_key(keccak(f"e2e-key-{label}".encode()))


@dataclass
class OnboardedPartner:
    id: int
    api_key: str
    minter: str
    treasury: LocalAccount
    points_per_unit: str
    body: dict[str, Any]  # what was posted to onboard it
    created: dict[str, Any]  # what the operator API answered

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


@dataclass
class Stack:
    harness: Harness
    tmp: Path
    env: dict[str, str]
    url: str
    http: httpx.Client
    redis: RedisServer
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    partners: dict[str, OnboardedPartner] = field(default_factory=dict)
    store: StoreKind = SQLITE
    mail_dir: Path | None = None  # messaging=True: the embedded SMTP server's (gateway/messaging/smtp_server.py)
    sms_dir: Path | None = None  # messaging=True: the embedded SMS provider's (gateway/messaging/sms_server.py)

    @property
    def redis_url(self) -> str:
        return self.redis.url

    @property
    def servers(self) -> dict[int, str]:
        """Processes of the stack that are no children of the test (bench/cpu.py): PostgreSQL's postmaster."""
        pid = self.store.cluster.postmaster_pid() if self.store.cluster else None
        return {pid: "postgresql"} if pid else {}

    @property
    def workers(self) -> dict[str, subprocess.Popen[bytes]]:
        return {name: p for name, p in self.processes.items() if name.startswith("worker-")}

    # ------------------------------------------------------------------ processes

    def spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """``python <args>`` in its own process group, output appended to ``<tmp>/<name>.log``."""
        if name in self.processes and self.processes[name].poll() is None:
            raise RuntimeError(f"{name} is running already")
        with open(self.tmp / f"{name}.log", "ab") as log:
            process = subprocess.Popen(
                [sys.executable, *args],
                cwd=PROJECT_ROOT,
                env=env or self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes[name] = process
        return process

    def start_worker(self, name: str, *, concurrency: int = 2, queues: str = "earn,celery") -> subprocess.Popen[bytes]:
        node = f"{name}-{os.getpid()}@%h"
        args = ["-m", "celery", "-A", CELERY_APP, "worker", "-n", node, "-Q", queues, "-c", str(concurrency)]
        return self.spawn(f"worker-{name}", [*args, "--loglevel", "INFO", "--without-gossip", "--without-mingle"])

    def start_beat(self) -> subprocess.Popen[bytes]:
        schedule = self.tmp / "beat-schedule"
        return self.spawn("beat", ["-m", "celery", "-A", CELERY_APP, "beat", "-s", str(schedule), "--loglevel", "INFO"])

    def kill_worker(self, name: str, sig: signal.Signals = signal.SIGKILL) -> None:
        self.kill(f"worker-{name}", sig)

    def kill(self, name: str, sig: signal.Signals = signal.SIGKILL) -> None:
        """Sends ``sig`` to the process group of ``name`` and waits for the process."""
        process = self.processes[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)

    def assert_running(self) -> None:
        for name, process in self.processes.items():
            assert process.poll() is None, f"{name} exited with {process.returncode}:\n{self.logs()}"

    def log(self, name: str, lines: int = 40) -> str:
        """The last ``lines`` lines of ``<tmp>/<name>.log``. A log that is not there is an error, never
        an empty text: "no Traceback in the log" must not pass because the log was never written."""
        path = self.tmp / f"{name}.log"
        if not path.is_file():
            written = sorted(p.name for p in self.tmp.glob("*.log"))
            raise FileNotFoundError(f"no log {path} (is {name!r} a process of this stack? logs: {written})")
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def logs(self, lines: int = 40) -> str:
        return "\n".join(f"--- {name}\n{self.log(name, lines)}" for name in self.processes)

    # ------------------------------------------------------------------ HTTP

    def onboard(
        self,
        name: str,
        *,
        points_per_unit: str = "1",
        currency: str = "EUR",
        issue_price: int = 10_000,
        reimbursement_rate: int = 8_000,
        issuance_limit: int = 10**9 * USD,
        deposit: int = 10**6 * USD,
    ) -> OnboardedPartner:
        """Onboards a partner over the operator API (chain registration, minter keystore,
        test funds deposited) and returns its API key."""
        treasury = key_for(f"treasury-{name}")
        body = {
            "name": name,
            "treasury": treasury.address,
            "currency": currency,
            "points_per_unit": points_per_unit,
            "issue_price": issue_price,
            "reimbursement_rate": reimbursement_rate,
            "issuance_limit": issuance_limit,
            "deposit": deposit,
        }
        r = self.http.post("/v1/operator/partners", headers=OPERATOR_HEADERS, json=body)
        assert r.status_code == 201, f"{r.status_code} {r.text}\n{self.logs()}"
        created = r.json()
        partner = OnboardedPartner(
            created["id"], created["api_key"], created["minter"], treasury, points_per_unit, body, created
        )
        self.partners[name] = partner
        return partner

    def post_purchase(
        self,
        partner: OnboardedPartner,
        purchase_id: str,
        wallet: str | None = None,
        *,
        amount: str = "42.50",
        ref: str | None = None,
        currency: str | None = None,
    ) -> httpx.Response:
        customer = {"wallet": wallet} if wallet is not None else {"ref": ref}
        body = {
            "purchase_id": purchase_id,
            "customer": customer,
            "amount": amount,
            "currency": currency or partner.body["currency"],
            "purchased_at": "2026-11-23T10:00:00Z",
        }
        return self.http.post("/v1/purchases", headers=partner.headers, json=body)

    def wait_purchase(
        self, partner: OnboardedPartner, purchase_id: str, want: str = "confirmed", timeout_s: float = 60
    ) -> dict[str, Any]:
        """Polls the purchase until its status is ``want``; fails on another final status or
        at the deadline, with the processes' logs."""
        return self.wait_json(f"/v1/purchases/{purchase_id}", partner.headers, want=want, timeout_s=timeout_s)

    def wait_json(
        self,
        path: str,
        headers: dict[str, str],
        *,
        want: str,
        key: str = "status",
        final: tuple[str, ...] = ("failed",),
        timeout_s: float = 60,
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        seen: list[str] = []
        while True:
            r = self.http.get(path, headers=headers)
            assert r.status_code == 200, f"{r.status_code} {r.text}"
            body = r.json()
            if not seen or seen[-1] != body[key]:
                seen.append(body[key])
            if body[key] == want:
                return body
            assert body[key] not in final or body[key] == want, f"{path}: {body}\n{self.logs()}"
            assert time.monotonic() < deadline, f"{path} still {seen} after {timeout_s} s:\n{self.logs()}"
            time.sleep(0.1)

    # ------------------------------------------------------------------ chain

    def wait_indexed(self, block: int | None = None, timeout_s: float = 60) -> None:
        """Waits until the indexer (a beat task on the workers) has stored ``block`` (default: the head)."""
        if block is None:
            block = self.harness.w3.eth.block_number
        deadline = time.monotonic() + timeout_s
        while True:
            with self.harness.sessions() as session:
                cp = session.get(IndexerCheckpoint, (self.harness.book.chain_id, CHECKPOINT))
                if cp is not None and cp.block_number >= block:
                    return
            assert time.monotonic() < deadline, f"indexer at {cp and cp.block_number} < {block}\n{self.logs()}"
            time.sleep(0.1)

    def balance(self, wallet: str) -> int:
        return int(self.harness.contracts.points.functions.balanceOf(wallet).call())

    def advance_time(self, seconds: int) -> None:
        """Moves the chain's clock forward (anvil), e.g. past a notice period, and mines a block."""
        w3 = self.harness.w3
        w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

    def wait_partner(self, partner_id: int, timeout_s: float = 60, **want: object) -> dict[str, Any]:
        """Polls the operator's partner list until the partner shows every ``want`` field's value."""
        deadline = time.monotonic() + timeout_s
        while True:
            r = self.http.get("/v1/operator/partners", headers=OPERATOR_HEADERS)
            assert r.status_code == 200, r.text
            found = next(p for p in r.json() if p["id"] == partner_id)
            if all(found[k] == v for k, v in want.items()):
                return found
            assert time.monotonic() < deadline, f"partner {partner_id} is {found}, wanted {want}\n{self.logs()}"
            time.sleep(0.2)


def free_port(ports: range, taken: set[int]) -> int:
    """A free port of ``ports``, shifted into this xdist worker's band (tests/ports.py)."""
    ports = for_worker(ports)
    for port in ports:
        if port not in taken and not port_in_use(port):
            taken.add(port)
            return port
    raise RuntimeError(f"every port of {ports.start}-{ports.stop - 1} is in use: processes left behind?")


def wait_healthy(stack: Stack, name: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        process = stack.processes[name]
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{stack.log(name, 80)}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{stack.url}/healthz", timeout=1).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} not healthy after {timeout_s} s:\n{stack.log(name, 80)}")
        time.sleep(0.05)


def start_messaging(stack: Stack, *, smtp_port: int, sms_port: int, timeout_s: float = 30) -> None:
    """The embedded SMTP server and SMS provider as processes of the stack, their files in its folder."""
    stack.mail_dir = Path(stack.env.get("COALITION_MAILBOX_DIR", stack.tmp / "mailbox"))
    stack.sms_dir = stack.tmp / "sms"
    stack.spawn("smtp", ["-m", "gateway.messaging.smtp_server", "--port", str(smtp_port), "--dir", str(stack.mail_dir)])
    token = ["--token", LOCAL_SMS_AUTH_TOKEN]
    stack.spawn(
        "sms", ["-m", "gateway.messaging.sms_server", "--port", str(sms_port), "--dir", str(stack.sms_dir), *token]
    )
    deadline = time.monotonic() + timeout_s
    for name, port in (("smtp", smtp_port), ("sms", sms_port)):
        while not port_in_use(port):
            if stack.processes[name].poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the embedded {name} server did not start:\n{stack.log(name, 40)}")
            time.sleep(0.05)


@contextlib.contextmanager
def start_stack(
    tmp: Path,
    *,
    ports: range,
    workers: int = 1,
    concurrency: int = 2,
    beat: bool = True,
    gateway_processes: int = 1,
    store: StoreKind = SQLITE,
    messaging: bool = False,
    **settings: object,
) -> Iterator[Stack]:
    """Starts anvil, Redis, ``workers`` Celery workers, beat (unless ``beat=False``) and the
    gateway (``gateway_processes`` uvicorn processes on one port) on free ports of ``ports``,
    on a new store of ``store`` (tests/pg.py: a SQLite file, or a new PostgreSQL database),
    migrated before any process starts; ``settings`` are GatewaySettings field names, passed to
    every process as ``COALITION_<NAME>``. ``messaging=True`` also starts the embedded SMTP server and
    SMS provider (``stack.mail_dir``, ``stack.sms_dir``) and points every process at them."""
    tmp.mkdir(parents=True, exist_ok=True)
    taken: set[int] = set()
    harness: Harness | None = None
    database_url = store.new_url(tmp)
    for _ in range(3):
        port = free_port(ports, taken)
        try:
            harness = make_harness(tmp / f"chain-{port}", port, database_url=database_url)
            break
        except NodeError:
            if not port_in_use(port):
                raise
    assert harness is not None, f"no anvil could be started on {ports}"
    redis = RedisServer(free_port(ports, taken), tmp / "redis")
    stack: Stack | None = None
    try:
        redis.start()
        gateway_port = free_port(ports, taken)
        url = f"http://127.0.0.1:{gateway_port}"
        values: dict[str, object] = {
            "keystore_dir": tmp / "keys",
            "lock_dir": tmp / "locks",
            "public_url": url,
            "redis_url": redis.url,
            "batch_max_wait_s": 0.05,
            **settings,
        }
        if messaging:  # the dashboard's mailbox is the embedded SMTP server's Maildir
            values |= {"smtp_port": free_port(ports, taken), "sms_port": free_port(ports, taken)}
            values.setdefault("mailbox_dir", tmp / "mailbox")
        env = harness.process_env(**values)
        stack = Stack(harness, tmp, env, url, httpx.Client(base_url=url, timeout=60), redis, store=store)
        if messaging:
            start_messaging(stack, smtp_port=int(str(values["smtp_port"])), sms_port=int(str(values["sms_port"])))
        stack.spawn(
            "gateway",
            [
                "-m",
                "uvicorn",
                "gateway.main:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(gateway_port),
                "--no-access-log",
                *(["--workers", str(gateway_processes)] if gateway_processes > 1 else []),
            ],
        )
        wait_healthy(stack, "gateway", timeout_s=30 * gateway_processes)  # each process starts on its own
        for i in range(workers):
            stack.start_worker(f"w{i + 1}", concurrency=concurrency)
        if beat:
            stack.start_beat()
        yield stack
    finally:
        if stack is not None:
            for name in list(stack.processes):  # workers and beat are safe to kill (that is the design)
                stack.kill(name, signal.SIGTERM if name == "gateway" else signal.SIGKILL)
            stack.http.close()
        redis.stop()
        harness.node.stop()
        with contextlib.suppress(Exception):
            harness.sessions.kw["bind"].dispose()
