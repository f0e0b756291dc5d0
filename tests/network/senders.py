"""Partners, purchases and sender processes of the chain-layer tests (tests/network), on
tests/network/harness.py; the fixtures that hand them out are in tests/network/conftest.py."""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from sqlalchemy import func, select

from network.keys import dev_account
from network.outbox import enqueue
from network.purchases import Purchase
from network.sender import EarnSender
from network.store import OutboxPurchase, PurchaseStatus
from tests.network.harness import Harness, spawn_python

MINTER_INDEX, TREASURY_INDEX = 2, 3
OPEN_ITEMS = (PurchaseStatus.QUEUED, PurchaseStatus.SENT)


@dataclass(frozen=True)
class Partner:
    partner_id: int
    minter: LocalAccount
    treasury: LocalAccount


def onboard_partner(chain: Harness, minter_index: int, treasury_index: int, **onboarding: object) -> Partner:
    minter, treasury = dev_account(minter_index, chain.settings), dev_account(treasury_index, chain.settings)
    return Partner(chain.onboard(minter, treasury, **onboarding), minter, treasury)  # type: ignore[arg-type]


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
        """The last ``lines`` lines of a sender's log; a log that is not there is an error, not an
        empty text (a check of what a log says must not pass on a log never written)."""
        assert self.chain.tmp is not None
        path = self.chain.tmp / log_name
        if not path.is_file():
            raise FileNotFoundError(f"no sender log {path}")
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def kill_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                process.wait(10)
