"""End to end over real HTTP: a real anvil with the coalition deployed (tests/network/harness.py),
the gateway as a real uvicorn process, and each partner's sender as a real
``python -m network sender --key partner-<id>`` process, on one shared SQLite store.

One stack per module (the tests share it, and run in file order): partners A and B are
onboarded over the operator API; A's sender runs from the start, B's is started by the
concurrency test once its 1,000 POSTs are answered (so that every answer can be compared byte
for byte: nothing moves the purchase while they are posted). Every process is killed at teardown.

Ports: anvil on 8640-8649, the gateway on 8650-8659.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_utils import keccak, to_checksum_address
from sqlalchemy import func, select

from gateway.errors import PROBLEM_JSON
from gateway.models import Purchase
from network.errors import NodeError
from network.node import port_in_use
from network.store import OutboxPurchase
from tests.network.harness import USD, Harness, make_harness, spawn_python

pytestmark = pytest.mark.timeout(180)

ANVIL_PORTS = range(8640, 8650)
GATEWAY_PORTS = range(8650, 8660)
OPERATOR = {"Authorization": "Bearer local-operator-token"}
KEYSTORE_PASSWORD = "local-keystore-password"
TREASURY_A = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"  # anvil dev #3
TREASURY_B = "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65"  # anvil dev #4
DEPOSIT = 10**6 * USD
CONCURRENT_POSTS = 1_000
IN_FLIGHT = 100


def customer(label: str) -> str:
    """A fresh wallet per test, so that its balance is exactly what the test minted."""
    return to_checksum_address(keccak(f"gateway-e2e-{label}".encode())[:20])


def free_port(ports: range) -> int:
    for port in ports:
        if not port_in_use(port):
            return port
    raise RuntimeError(f"every port of {ports.start}-{ports.stop - 1} is in use: processes left behind?")


def points_of(amount: str, points_per_unit: str) -> int:
    return int((Decimal(amount) * Decimal(points_per_unit)).to_integral_value(rounding=ROUND_DOWN))


@dataclass
class OnboardedPartner:
    id: int
    api_key: str
    minter: str
    points_per_unit: str
    body: dict[str, Any]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


@dataclass
class Stack:
    harness: Harness
    tmp: Path
    env: dict[str, str]
    url: str
    gateway: subprocess.Popen[bytes]
    http: httpx.Client
    senders: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    partners: dict[str, OnboardedPartner] = field(default_factory=dict)

    # ------------------------------------------------------------------ processes

    def start_sender(self, partner: OnboardedPartner) -> subprocess.Popen[bytes]:
        env = self.env | {"COALITION_KEYSTORE_PASSWORD": KEYSTORE_PASSWORD}
        process = spawn_python(
            ["-m", "network", "sender", "--key", f"partner-{partner.id}"],
            env=env,
            log_path=self.tmp / f"sender-{partner.id}.log",
        )
        self.senders[partner.id] = process
        return process

    def ensure_sender(self, partner: OnboardedPartner) -> None:
        if partner.id not in self.senders:
            self.start_sender(partner)

    def log(self, name: str, lines: int = 40) -> str:
        path = self.tmp / name
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def logs(self) -> str:
        names = ["gateway.log", *(f"sender-{pid}.log" for pid in self.senders)]
        return "\n".join(f"--- {name}\n{self.log(name)}" for name in names)

    # ------------------------------------------------------------------ HTTP

    def post_purchase(self, partner: OnboardedPartner, body: dict[str, Any]) -> httpx.Response:
        return self.http.post("/v1/purchases", headers=partner.headers, json=body)

    def wait_status(
        self, partner: OnboardedPartner, status_url: str, want: str = "confirmed", timeout_s: float = 30
    ) -> dict[str, Any]:
        """Polls ``status_url`` until ``want``; fails on ``failed`` or at the deadline."""
        deadline = time.monotonic() + timeout_s
        seen: list[str] = []
        while True:
            r = self.http.get(status_url, headers=partner.headers)
            assert r.status_code == 200, r.text
            body = r.json()
            if not seen or seen[-1] != body["status"]:
                seen.append(body["status"])
            if body["status"] == want:
                return body
            assert body["status"] != "failed", body
            for pid, process in self.senders.items():
                assert process.poll() is None, f"sender of partner {pid} exited:\n{self.logs()}"
            assert time.monotonic() < deadline, f"still {seen} after {timeout_s} s:\n{self.logs()}"
            time.sleep(0.05)

    # ------------------------------------------------------------------ chain and store

    def balance(self, wallet: str) -> int:
        return int(self.harness.contracts.points.functions.balanceOf(wallet).call())

    def outbox_rows(self, partner_id: int) -> list[OutboxPurchase]:
        with self.harness.sessions() as session:
            return list(session.scalars(select(OutboxPurchase).where(OutboxPurchase.partner_id == partner_id)))


def _kill(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def _start_gateway(tmp: Path, env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    return spawn_python(
        ["-m", "uvicorn", "gateway.main:app", "--host", "127.0.0.1", "--port", str(port), "--no-access-log"],
        env=env,
        log_path=tmp / "gateway.log",
    )


def _wait_healthy(process: subprocess.Popen[bytes], url: str, tmp: Path, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"gateway exited with {process.returncode}:\n{(tmp / 'gateway.log').read_text()}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"gateway not healthy after {timeout_s} s:\n{(tmp / 'gateway.log').read_text()}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("gateway-e2e")
    harness: Harness | None = None
    for _ in range(3):
        port = free_port(ANVIL_PORTS)
        try:
            harness = make_harness(tmp / f"chain-{port}", port)
            break
        except NodeError:
            if not port_in_use(port):
                raise
    assert harness is not None, "no anvil could be started on 8640-8649"
    gateway: subprocess.Popen[bytes] | None = None
    stack: Stack | None = None
    try:
        gw_port = free_port(GATEWAY_PORTS)
        url = f"http://127.0.0.1:{gw_port}"
        env = harness.process_env(
            keystore_dir=tmp / "keys",
            lock_dir=tmp / "locks",
            public_url=url,
            batch_max_wait_s=0.05,
        )
        gateway = _start_gateway(tmp, env, gw_port)
        _wait_healthy(gateway, url, tmp)
        stack = Stack(harness, tmp, env, url, gateway, httpx.Client(base_url=url, timeout=30))
        yield stack
    finally:
        if stack is not None:
            for process in stack.senders.values():
                _kill(process)
            stack.http.close()
        _kill(gateway)
        harness.node.stop()
        with contextlib.suppress(Exception):
            harness.sessions.kw["bind"].dispose()


def _onboard(stack: Stack, name: str, treasury: str, points_per_unit: str) -> OnboardedPartner:
    body = {
        "name": name,
        "treasury": treasury,
        "currency": "EUR",
        "points_per_unit": points_per_unit,
        "issue_price": 10_000,
        "reimbursement_rate": 8_000,
        "issuance_limit": 10**9 * USD,
        "deposit": DEPOSIT,
    }
    r = stack.http.post("/v1/operator/partners", headers=OPERATOR, json=body)
    assert r.status_code == 201, f"{r.status_code} {r.text}\n{stack.logs()}"
    created = r.json()
    return OnboardedPartner(created["id"], created["api_key"], created["minter"], points_per_unit, created)


@pytest.fixture(scope="module")
def partners(stack: Stack) -> dict[str, OnboardedPartner]:
    """A (1.5 points per EUR, its sender running) and B (2 per EUR, no sender yet)."""
    a = _onboard(stack, "Grocer A", TREASURY_A, "1.5")
    b = _onboard(stack, "Books B", TREASURY_B, "2")
    stack.partners.update(A=a, B=b)
    stack.start_sender(a)
    return stack.partners


def purchase(purchase_id: str, wallet: str, amount: str = "42.50") -> dict[str, Any]:
    return {
        "purchase_id": purchase_id,
        "customer": {"wallet": wallet},
        "amount": amount,
        "currency": "EUR",
        "purchased_at": "2026-11-23T10:00:00Z",
    }


# ---------------------------------------------------------------------------------- tests


def test_e2e_onboarding_registers_and_funds_the_partner_on_chain(stack, partners):
    c = stack.harness.contracts
    a, b = partners["A"], partners["B"]
    assert a.id != b.id
    for p, treasury in ((a, TREASURY_A), (b, TREASURY_B)):
        assert c.partner_id_of(p.minter) == p.id
        minter, _status, on_chain_treasury, issue_price, rate, limit = c.registry.functions.partner(p.id).call()
        assert (minter, on_chain_treasury) == (p.minter, treasury)
        assert (issue_price, rate, limit) == (10_000, 8_000, 10**9 * USD)
        assert c.clearing.functions.fundsOf(p.id).call() == DEPOSIT
        assert stack.harness.w3.eth.get_balance(p.minter) > 0  # gas money for its sender
        keystore = stack.tmp / "keys" / f"partner-{p.id}.json"
        assert keystore.exists() and keystore.stat().st_mode & 0o077 == 0
        assert p.api_key.startswith("ck_") and p.body["status"] == "active"
    listed = stack.http.get("/v1/operator/partners", headers=OPERATOR)
    assert listed.status_code == 200
    assert [(p["id"], p["minter"]) for p in listed.json()] == [(a.id, a.minter), (b.id, b.minter)]
    assert a.api_key not in listed.text and b.api_key not in listed.text
    # the operator API wants the operator's token
    r = stack.http.get("/v1/operator/partners", headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401 and r.headers["content-type"] == PROBLEM_JSON


def test_e2e_purchase_lands_as_points_in_the_customers_wallet(stack, partners):
    a = partners["A"]
    wallet = customer("single")
    r = stack.post_purchase(a, purchase("e2e-1", wallet, "42.50"))
    assert r.status_code == 202, r.text
    accepted = r.json()
    points = points_of("42.50", a.points_per_unit)
    assert (accepted["status"], accepted["points"], accepted["customer_wallet"]) == ("accepted", points, wallet)
    assert accepted["status_url"] == f"{stack.url}/v1/purchases/e2e-1"
    assert r.headers["location"] == "/v1/purchases/e2e-1"

    done = stack.wait_status(a, accepted["status_url"])
    assert done["points"] == points and done["seq"] == accepted["seq"]
    assert done["tx_hash"] and done["tx_hash"].startswith("0x") and len(done["tx_hash"]) == 66
    assert isinstance(done["batch_id"], int) and done["batch_id"] >= 1
    assert done["failure_reason"] is None
    receipt = stack.harness.w3.eth.get_transaction_receipt(done["tx_hash"])
    assert receipt["status"] == 1
    assert receipt["to"] == stack.harness.contracts.points.address
    assert stack.balance(wallet) == points
    assert stack.harness.contracts.is_minted(a.id, done["seq"])
    # a replay after confirmation answers the confirmed purchase, and mints nothing more
    again = stack.post_purchase(a, purchase("e2e-1", wallet, "42.50"))
    assert again.status_code == 202 and again.json() == done
    assert stack.balance(wallet) == points


def test_e2e_concurrent_posts_of_one_purchase_mint_it_once(stack, partners):
    """1,000 POSTs of the same purchase, 100 in flight at a time: every one is a 202 with the
    same body (no 5xx, no timeout); one purchase, one outbox row; the chain mints it once."""
    b = partners["B"]
    wallet = customer("concurrent")
    body = purchase("burst-1", wallet, "19.99")
    points = points_of("19.99", b.points_per_unit)

    async def burst() -> list[httpx.Response | BaseException]:
        limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
        async with httpx.AsyncClient(base_url=stack.url, timeout=30, limits=limits) as client:
            gate = asyncio.Semaphore(IN_FLIGHT)

            async def post() -> httpx.Response:
                async with gate:
                    return await client.post("/v1/purchases", headers=b.headers, json=body)

            return await asyncio.gather(*(post() for _ in range(CONCURRENT_POSTS)), return_exceptions=True)

    started = time.monotonic()
    results = asyncio.run(burst())
    elapsed = time.monotonic() - started
    errors = Counter(f"{type(r).__name__}: {r}" for r in results if isinstance(r, BaseException))
    responses = [r for r in results if isinstance(r, httpx.Response)]
    statuses = Counter(r.status_code for r in responses)
    problems = Counter(r.text for r in responses if r.status_code != 202)
    assert not errors and statuses == {202: CONCURRENT_POSTS}, (
        f"in {elapsed:.1f} s: statuses {dict(statuses)}, client errors {errors.most_common(3)}, "
        f"problems {problems.most_common(3)}\n{stack.log('gateway.log', 60)}"
    )
    bodies = Counter(r.content for r in responses)
    assert len(bodies) == 1, bodies.most_common(3)
    answer = responses[0].json()
    assert (answer["status"], answer["points"], answer["seq"]) == ("accepted", points, 1)
    with stack.harness.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Purchase).where(Purchase.partner_id == b.id)) == 1
    assert [(row.seq, row.points) for row in stack.outbox_rows(b.id)] == [(1, points)]
    assert "database is locked" not in stack.log("gateway.log", 10_000)

    stack.start_sender(b)
    done = stack.wait_status(b, answer["status_url"])
    assert done["tx_hash"] and done["batch_id"] is not None
    assert stack.balance(wallet) == points  # minted once
    assert len(stack.outbox_rows(b.id)) == 1


def test_e2e_partner_key_cannot_read_or_act_on_another_partners_purchase(stack, partners):
    a, b = partners["A"], partners["B"]
    wallet_a, wallet_b = customer("scoping-a"), customer("scoping-b")
    ra = stack.post_purchase(a, purchase("mine-1", wallet_a, "10"))
    assert ra.status_code == 202, ra.text
    status_url = ra.json()["status_url"]

    # B cannot read it: 404 (not 403), nothing of A's purchase in the answer
    rb = stack.http.get(status_url, headers=b.headers)
    assert rb.status_code == 404 and rb.headers["content-type"] == PROBLEM_JSON
    assert rb.json()["type"] == "/problems/not-found"
    assert wallet_a not in rb.text and ra.json()["status_url"] not in rb.text
    unknown = stack.http.get("/v1/purchases/never-posted", headers=b.headers).json()
    assert rb.json()["title"] == unknown["title"] and rb.json()["status"] == unknown["status"]

    # B posting the same purchase_id (another body) creates B's own purchase, minted by B's sender
    stack.ensure_sender(b)
    rb = stack.post_purchase(b, purchase("mine-1", wallet_b, "7"))
    assert rb.status_code == 202, rb.text
    assert rb.json()["customer_wallet"] == wallet_b and rb.json()["points"] == points_of("7", b.points_per_unit)
    done_a = stack.wait_status(a, status_url)
    done_b = stack.wait_status(b, rb.json()["status_url"])
    assert done_a["customer_wallet"] == wallet_a and done_a["points"] == points_of("10", a.points_per_unit)
    assert stack.balance(wallet_a) == done_a["points"]
    assert stack.balance(wallet_b) == done_b["points"]
    assert stack.harness.contracts.is_minted(a.id, done_a["seq"])
    assert stack.harness.contracts.is_minted(b.id, done_b["seq"])

    # and A still reads its own; neither key reaches the operator API, nor a key of another partner
    assert stack.http.get(status_url, headers=a.headers).json() == done_a
    assert stack.http.get("/v1/operator/partners", headers=a.headers).status_code == 401
    prefix_a = a.api_key.split("_")[1]
    forged = {"Authorization": f"Bearer ck_{prefix_a}_{b.api_key.split('_', 2)[2]}"}  # A's prefix, B's secret
    r = stack.http.get(status_url, headers=forged)
    assert r.status_code == 401 and r.json()["type"] == "/problems/unauthorized"


def test_e2e_processes_are_still_running(stack, partners):
    """Nothing crashed along the way (the teardown kills them)."""
    assert stack.gateway.poll() is None, stack.log("gateway.log")
    for pid, process in stack.senders.items():
        assert process.poll() is None, stack.log(f"sender-{pid}.log")
    text = stack.log("gateway.log", 100_000)
    assert "Traceback" not in text, text[-5000:]
    assert os.path.exists(stack.tmp / "keys")
