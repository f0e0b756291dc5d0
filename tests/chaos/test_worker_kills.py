"""Fault test of issue 5, real processes only (tests/e2e/stack.py): Celery workers are killed
with SIGKILL, over and over, while partners post purchases and customers redeem rewards; at
the end every accepted purchase is minted once, every redemption burned once and fulfilled
once, and reconciliation finds no difference between the store and the chain.

Kills alternate between a whole worker (its process group: the main process and its pool) and
one pool process of a worker (what an OOM kill does); a killed worker is started again at once.
Redis is restarted once in the middle (SIGTERM: its append-only file keeps the queues).

Runs on each store (tests/pg.py): SQLite with one gateway process, and PostgreSQL with two
gateway processes (uvicorn --workers 2) and the two workers on one database, migrated once
before any of them starts.

Run whole by ``make chaos`` (2,000 purchases, 200 redemptions); ``make test`` runs it with 500
and 50 (``CHAOS_PURCHASES``, ``CHAOS_REDEMPTIONS``). Ports 8750-8759.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import func, select

from network.store import OutboxPurchase, PurchaseStatus, Redemption
from tests.chaos.killer import Killer
from tests.e2e.stack import OPERATOR_HEADERS, OnboardedPartner, Stack, key_for, start_stack
from tests.pg import StoreKind

pytestmark = pytest.mark.timeout(600)

PURCHASES = int(os.environ.get("CHAOS_PURCHASES", "2000"))
REDEMPTIONS = int(os.environ.get("CHAOS_REDEMPTIONS", "200"))
REWARD_POINTS = 5
MIN_KILLS = int(os.environ.get("CHAOS_MIN_KILLS", "20"))
CUSTOMERS = 40
POSTERS = 8
# On PostgreSQL, several gateway processes (uvicorn --workers) and the workers share one
# database, migrated once before they start; SQLite keeps one gateway process
GATEWAY_PROCESSES = {"sqlite": 1, "postgresql": 2}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, store: StoreKind) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("chaos")
    with start_stack(
        tmp,
        ports=range(8750, 8760),
        store=store,
        workers=2,
        gateway_processes=GATEWAY_PROCESSES[store.name],
        key_lease_ms=2_000,
        earn_dispatch_every_s=0.5,
    ) as stack:
        yield stack


def _post_all(stack: Stack, partner: OnboardedPartner, ids: list[str], wallets: list[str]) -> Counter[int]:
    statuses: Counter[int] = Counter()
    with httpx.Client(base_url=stack.url, timeout=60) as http:

        def post(i: int) -> int:
            body = {
                "purchase_id": ids[i],
                "customer": {"wallet": wallets[i % len(wallets)]},
                "amount": "10",
                "currency": "EUR",
                "purchased_at": "2026-11-23T10:00:00Z",
            }
            for _ in range(20):  # a POS retries a transport error with the same purchase id
                try:
                    return http.post("/v1/purchases", headers=partner.headers, json=body).status_code
                except httpx.TransportError:
                    time.sleep(0.2)
            raise AssertionError(f"purchase {ids[i]} could not be posted")

        with ThreadPoolExecutor(POSTERS) as pool:
            statuses.update(pool.map(post, range(len(ids))))
    return statuses


def _wait_final(stack: Stack, partner_ids: list[int], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        with stack.harness.sessions() as session:
            open_ = session.scalar(
                select(func.count())
                .select_from(OutboxPurchase)
                .where(
                    OutboxPurchase.partner_id.in_(partner_ids),
                    OutboxPurchase.status.in_((PurchaseStatus.QUEUED, PurchaseStatus.SENT)),
                )
            )
        if open_ == 0:
            return
        assert time.monotonic() < deadline, f"{open_} purchases still open after {timeout_s} s\n{stack.logs()}"
        time.sleep(0.5)


def _redeem_all(stack: Stack, partner: OnboardedPartner, customers: list[LocalAccount]) -> Counter[int]:
    """Each redemption: the typed data from the gateway, signed by the customer's key, posted."""
    statuses: Counter[int] = Counter()
    with httpx.Client(base_url=stack.url, timeout=60) as http:

        def redeem(i: int) -> int:
            customer = customers[i % len(customers)]
            ask = {"redemption_id": f"r-{i}", "sku": "coffee", "quantity": 1, "customer": {"wallet": customer.address}}
            prepared = http.post("/v1/redemptions/consent", headers=partner.headers, json=ask)
            assert prepared.status_code == 200, prepared.text
            typed = prepared.json()
            signature = Account.sign_typed_data(customer.key, full_message=typed["typed_data"]).signature
            consent = {"nonce": int(typed["nonce"]), "deadline": typed["deadline"], "signature": "0x" + signature.hex()}
            return http.post("/v1/redemptions", headers=partner.headers, json={**ask, "consent": consent}).status_code

        with ThreadPoolExecutor(POSTERS) as pool:
            statuses.update(pool.map(redeem, range(REDEMPTIONS)))
    return statuses


def _wait_redemptions(stack: Stack, timeout_s: float) -> Counter[str]:
    deadline = time.monotonic() + timeout_s
    while True:
        with stack.harness.sessions() as session:
            counts = Counter(
                dict(session.execute(select(Redemption.status, func.count()).group_by(Redemption.status)).all())
            )
        if counts["fulfilled"] + counts["failed"] == REDEMPTIONS:
            return counts
        assert time.monotonic() < deadline, f"redemptions after {timeout_s} s: {dict(counts)}\n{stack.logs()}"
        time.sleep(0.5)


def test_every_purchase_mints_once_and_every_redemption_burns_once_while_workers_are_killed(stack: Stack) -> None:
    grocer = stack.onboard("Chaos grocer", points_per_unit="1")
    fuel = stack.onboard("Chaos fuel", points_per_unit="2")
    r = stack.http.post(
        "/v1/rewards", headers=fuel.headers, json={"sku": "coffee", "name": "Coffee", "points": REWARD_POINTS}
    )
    assert r.status_code == 201, r.text
    customers = [key_for(f"chaos-{i}") for i in range(CUSTOMERS)]
    wallets = [c.address for c in customers]
    killer = Killer(stack, every_s=1.0, min_age_s=3.0)
    killer.start()
    try:
        half = PURCHASES // 2
        with ThreadPoolExecutor(2) as pool:
            a = pool.submit(_post_all, stack, grocer, [f"g-{i}" for i in range(half)], wallets)
            b = pool.submit(_post_all, stack, fuel, [f"f-{i}" for i in range(PURCHASES - half)], wallets)
            purchase_statuses = a.result() + b.result()
        stack.redis.stop()  # a Redis restart in the middle: queued tasks survive in its AOF
        stack.redis.start()
        _wait_final(stack, [grocer.id, fuel.id], timeout_s=180)
        redemption_statuses = _redeem_all(stack, fuel, customers)
        redemptions = _wait_redemptions(stack, timeout_s=180)
        while killer.kills.total() < MIN_KILLS:
            time.sleep(0.2)
    finally:
        killer.stop.set()
        killer.join()
        killer.supervise()
    assert purchase_statuses == Counter({202: PURCHASES}), purchase_statuses
    assert redemption_statuses == Counter({202: REDEMPTIONS}), redemption_statuses
    assert killer.kills.total() >= MIN_KILLS, killer.kills

    # Purchases: each accepted one minted once, in the store and straight from the chain's logs.
    with stack.harness.sessions() as session:
        outcome = Counter(
            dict(session.execute(select(OutboxPurchase.status, func.count()).group_by(OutboxPurchase.status)).all())
        )
    assert outcome[PurchaseStatus.FAILED] == 0, outcome
    assert outcome[PurchaseStatus.MINTED] + outcome[PurchaseStatus.SKIPPED] == PURCHASES, outcome
    c = stack.harness.contracts
    minted: Counter[tuple[int, int]] = Counter()
    for log in c.points.events.Earned().get_logs(from_block=0):
        for word in log["args"]["purchases"]:
            seq = (int.from_bytes(word, "big") >> 48) & ((1 << 48) - 1)
            minted[(log["args"]["partnerId"], seq)] += 1
    assert len(minted) == PURCHASES and set(minted.values()) == {1}

    # Redemptions: each burned once (one Redeemed event per ref) and fulfilled once (one voucher).
    assert redemptions == Counter({"fulfilled": REDEMPTIONS}), redemptions
    with stack.harness.sessions() as session:
        rows = list(session.scalars(select(Redemption)))
    refs = Counter(log["args"]["ref"].hex() for log in c.points.events.Redeemed().get_logs(from_block=0))
    assert len(refs) == REDEMPTIONS and set(refs.values()) == {1}
    assert {r.ref.removeprefix("0x") for r in rows} == set(refs)
    assert len({r.voucher_code for r in rows}) == REDEMPTIONS and all(r.voucher_code for r in rows)

    earned = (PURCHASES // 2) * 10 + (PURCHASES - PURCHASES // 2) * 20
    assert sum(stack.balance(w) for w in wallets) == earned - REDEMPTIONS * REWARD_POINTS

    # Reconciliation, once the indexer (a beat task on the restarted workers) has seen it all.
    head = stack.harness.w3.eth.block_number
    deadline = time.monotonic() + 60
    while True:
        r = stack.http.post("/v1/operator/reconciliations", headers=OPERATOR_HEADERS)
        assert r.status_code in (201, 404), r.text  # 404: nothing indexed yet
        if r.status_code == 201 and r.json()["block_number"] >= head:
            break
        assert time.monotonic() < deadline, f"indexer not at block {head}: {r.text}\n{stack.logs()}"
        time.sleep(0.5)
    report = r.json()
    assert report["ok"] and report["differences"] == [], report
    assert (
        report["customers_checked"] >= CUSTOMERS and int(report["total_supply"]) == earned - REDEMPTIONS * REWARD_POINTS
    )
    print(
        f"\nkills: {dict(killer.kills)}, workers that exited by themselves and were restarted: {killer.restarts};"
        f" outbox: {dict(outcome)}; redemptions: {dict(redemptions)}; reconciled"
    )
