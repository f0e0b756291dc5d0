"""End to end over real HTTP, real processes (tests/e2e/stack.py): a real anvil with the
coalition deployed, a real redis-server, two Celery workers and beat running the earn pipeline,
and the gateway as a uvicorn process, on one shared SQLite store.

One stack per module (the tests share it, and run in file order): partners A and B are
onboarded over the operator API. Drains start at beat's ticks only (``earn_start_on_accept``
off), so that the concurrency test can stop beat while its 1,000 POSTs are answered: nothing
moves the purchase meanwhile and every answer can be compared byte for byte; beat is started
again to mint it.

Ports: 8640-8659.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from gateway.problems import PROBLEM_JSON
from network.store import OutboxPurchase, Purchase
from tests.e2e.stack import OPERATOR_HEADERS as OPERATOR
from tests.e2e.stack import OnboardedPartner, Stack, fresh_wallet, start_stack
from tests.network.harness import USD
from tests.pg import StoreKind

pytestmark = pytest.mark.timeout(240)

DEPOSIT = 10**6 * USD
CONCURRENT_POSTS = 1_000
IN_FLIGHT = 100


def customer(label: str) -> str:
    return fresh_wallet(f"purchases-{label}")


def points_of(amount: str, points_per_unit: str) -> int:
    return int((Decimal(amount) * Decimal(points_per_unit)).to_integral_value(rounding=ROUND_DOWN))


def outbox_rows(stack: Stack, partner_id: int) -> list[OutboxPurchase]:
    with stack.harness.sessions() as session:
        return list(session.scalars(select(OutboxPurchase).where(OutboxPurchase.partner_id == partner_id)))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, store: StoreKind) -> Iterator[Stack]:
    with start_stack(
        tmp_path_factory.mktemp("purchases-e2e"),
        ports=range(8640, 8660),
        store=store,
        workers=2,
        earn_start_on_accept=False,
    ) as stack:
        yield stack


@pytest.fixture(scope="module")
def partners(stack: Stack) -> dict[str, OnboardedPartner]:
    """A (1.5 points per EUR) and B (2 per EUR)."""
    return {"A": stack.onboard("Grocer A", points_per_unit="1.5"), "B": stack.onboard("Books B", points_per_unit="2")}


def purchase(purchase_id: str, wallet: str, amount: str = "42.50") -> dict[str, Any]:
    return {
        "purchase_id": purchase_id,
        "customer": {"wallet": wallet},
        "amount": amount,
        "currency": "EUR",
        "purchased_at": "2026-11-23T10:00:00Z",
    }


def post(stack: Stack, partner: OnboardedPartner, body: dict[str, Any]) -> httpx.Response:
    return stack.http.post("/v1/purchases", headers=partner.headers, json=body)


def wait_status(stack: Stack, partner: OnboardedPartner, status_url: str) -> dict[str, Any]:
    return stack.wait_json(status_url.removeprefix(stack.url), partner.headers, want="confirmed")


# ---------------------------------------------------------------------------------- tests


def test_e2e_onboarding_registers_and_funds_the_partner_on_chain(stack, partners):
    c = stack.harness.contracts
    a, b = partners["A"], partners["B"]
    assert a.id != b.id
    for p in (a, b):
        treasury = p.treasury.address
        assert c.partner_id_of(p.minter) == p.id
        minter, _status, on_chain_treasury, issue_price, rate, limit = c.registry.functions.partner(p.id).call()
        assert (minter, on_chain_treasury) == (p.minter, treasury)
        assert (issue_price, rate, limit) == (10_000, 8_000, 10**9 * USD)
        assert c.clearing.functions.fundsOf(p.id).call() == DEPOSIT
        assert stack.harness.w3.eth.get_balance(p.minter) > 0  # gas money for its sender
        keystore = stack.tmp / "keys" / f"partner-{p.id}.json"
        assert keystore.exists() and keystore.stat().st_mode & 0o077 == 0
        assert p.api_key.startswith("ck_") and p.created["status"] == "active"
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
    r = post(stack, a, purchase("e2e-1", wallet, "42.50"))
    assert r.status_code == 202, r.text
    accepted = r.json()
    points = points_of("42.50", a.points_per_unit)
    assert (accepted["status"], accepted["points"], accepted["customer_wallet"]) == ("accepted", points, wallet)
    assert accepted["status_url"] == f"{stack.url}/v1/purchases/e2e-1"
    assert r.headers["location"] == "/v1/purchases/e2e-1"

    done = wait_status(stack, a, accepted["status_url"])
    assert done["points"] == points and done["seq"] == accepted["seq"]
    assert done["tx_hash"] and done["tx_hash"].startswith("0x") and len(done["tx_hash"]) == 66
    assert isinstance(done["batch_id"], int) and done["batch_id"] >= 1
    assert done["failure_reason"] is None
    receipt = stack.harness.w3.eth.get_transaction_receipt(done["tx_hash"])
    assert receipt["status"] == 1
    assert receipt["to"] == stack.harness.contracts.points.address
    assert stack.balance(wallet) == points
    assert stack.harness.contracts.is_minted(a.id, done["seq"])
    # a replay after confirmation is answered the first answer again (where it stands is GET's),
    # and mints nothing more
    again = post(stack, a, purchase("e2e-1", wallet, "42.50"))
    assert again.status_code == 202 and again.content == r.content
    assert again.headers["idempotent-replayed"] == "true"
    assert stack.balance(wallet) == points


def test_e2e_concurrent_posts_of_one_purchase_mint_it_once(stack, partners):
    """1,000 POSTs of the same purchase, 100 in flight at a time: every one is a 202 with the
    same body (no 5xx, no timeout); one purchase, one outbox row; the chain mints it once."""
    b = partners["B"]
    wallet = customer("concurrent")
    body = purchase("burst-1", wallet, "19.99")
    stack.kill("beat")  # nothing drains B while the answers are compared
    time.sleep(1)  # a dispatch beat sent just before is done by now
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
        f"problems {problems.most_common(3)}\n{stack.log('gateway', 60)}"
    )
    bodies = Counter(r.content for r in responses)
    assert len(bodies) == 1, bodies.most_common(3)
    answer = responses[0].json()
    assert (answer["status"], answer["points"], answer["seq"]) == ("accepted", points, 1)
    with stack.harness.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Purchase).where(Purchase.partner_id == b.id)) == 1
    assert [(row.seq, row.points) for row in outbox_rows(stack, b.id)] == [(1, points)]
    assert "database is locked" not in stack.log("gateway", 10_000)

    stack.start_beat()
    done = wait_status(stack, b, answer["status_url"])
    assert done["tx_hash"] and done["batch_id"] is not None
    assert stack.balance(wallet) == points  # minted once
    assert len(outbox_rows(stack, b.id)) == 1


def test_e2e_partner_key_cannot_read_or_act_on_another_partners_purchase(stack, partners):
    a, b = partners["A"], partners["B"]
    wallet_a, wallet_b = customer("scoping-a"), customer("scoping-b")
    ra = post(stack, a, purchase("mine-1", wallet_a, "10"))
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
    rb = post(stack, b, purchase("mine-1", wallet_b, "7"))
    assert rb.status_code == 202, rb.text
    assert rb.json()["customer_wallet"] == wallet_b and rb.json()["points"] == points_of("7", b.points_per_unit)
    done_a = wait_status(stack, a, status_url)
    done_b = wait_status(stack, b, rb.json()["status_url"])
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


def test_e2e_a_purchase_with_lines_earns_by_the_partners_rules_on_chain(stack, partners):
    """Issue 16: the operator drafts and activates A's rule set (1 per EUR, a bonus window ×2 of
    the last and next day, tobacco excluded); a purchase with lines earns 22 base + 22 bonus on
    chain, its breakdown in GET and in the customer's history; lines that do not add up are
    refused; the simulation of dropping the window says what it would have cost."""
    a = partners["A"]
    wallet = customer("rules")
    now = datetime.now(UTC)
    window = {
        "starts_on": (now - timedelta(days=1)).date().isoformat(),
        "ends_on": (now + timedelta(days=1)).date().isoformat(),
    }
    rules = [
        {"kind": "base", "id": "base", "points_per_unit": "1"},
        {"kind": "bonus_window", "id": "fair", "factor": "2", **window},
        {"kind": "exclusion", "id": "no-tobacco", "categories": ["tobacco"]},
    ]
    drafted = stack.http.post(f"/v1/operator/partners/{a.id}/rules", headers=OPERATOR, json={"rules": rules})
    assert drafted.status_code == 201, drafted.text
    version = drafted.json()["version"]
    activated = stack.http.post(f"/v1/operator/partners/{a.id}/rules/{version}/activate", headers=OPERATOR)
    assert activated.status_code == 200 and activated.json()["status"] == "active", activated.text
    lines = [
        {"sku": "WINE-1", "category": "wine", "quantity": "2", "unit_price": "10.00"},
        {"sku": "CIG-1", "category": "tobacco", "unit_price": "8.00"},
        {"sku": "BREAD-1", "category": "bakery", "unit_price": "2.50", "discount": "0.50"},
    ]
    body = purchase("lines-1", wallet, "30.00") | {
        "lines": lines,
        "purchased_at": (now - timedelta(hours=1)).isoformat(),
    }

    mismatch = post(stack, a, body | {"amount": "31.00"})
    assert mismatch.status_code == 422 and mismatch.headers["content-type"] == PROBLEM_JSON
    assert mismatch.json()["type"] == "/problems/lines-mismatch"
    assert mismatch.json()["detail"] == "the lines add up to 30.00 EUR, 1.00 less than the amount 31.00"

    r = post(stack, a, body)
    assert r.status_code == 202, r.text
    expected = [
        {"rule": "base", "version": 2, "kind": "base", "points": 22},  # the rate's base rule (1) changed: 2
        {"rule": "fair", "version": 1, "kind": "bonus_window", "points": 22},
    ]
    assert (r.json()["points"], r.json()["breakdown"]) == (44, expected)
    done = wait_status(stack, a, r.json()["status_url"])
    assert (done["points"], done["breakdown"], done["rule"]["ruleset_version"]) == (44, expected, version)
    assert stack.balance(wallet) == 44

    deadline = time.monotonic() + 60
    while True:
        history = stack.http.get(f"/v1/wallets/{wallet}/history", headers=a.headers)
        assert history.status_code == 200, history.text
        earned = [e for e in history.json()["entries"] if e["kind"] == "earned"]
        if earned or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert [(e["purchase_id"], e["points"], e["breakdown"]) for e in earned] == [("lines-1", 44, expected)]

    proposal = {"rules": [rules[0], rules[2]]}  # the window dropped
    sim = stack.http.post(f"/v1/operator/partners/{a.id}/rules/simulate?days=1", headers=OPERATOR, json=proposal)
    assert sim.status_code == 200, sim.text
    got = sim.json()
    assert (got["purchases"], got["points_current"], got["points_proposed"], got["value"]) == (1, 44, 22, "-0.22")
    assert got["summary"] == "this change would have issued 22 fewer points, 0.22 cUSD at the issue price, for 1 member"


def test_e2e_processes_are_still_running(stack, partners):
    """Nothing crashed along the way (the teardown kills them)."""
    stack.assert_running()
    text = stack.log("gateway", 100_000)
    assert "Application startup complete" in text, text[-5000:]  # the gateway's own log, not an empty one
    assert "Traceback" not in text, text[-5000:]
