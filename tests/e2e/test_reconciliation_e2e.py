"""End to end, real processes (tests/e2e/stack.py: anvil, redis-server, two Celery worker
processes and beat, uvicorn), the operator's scheduled and background work: beat settles every
ended period of a short schedule; reconciliation of the store against the chain finds nothing
after real activity (purchases, a redemption, a transfer between customers), then reports the
differences when the store is corrupted behind its back (a ledger row and an indexed event
deleted), both when the operator runs it and when beat does; and the operator suspends,
reactivates and re-rates partners on chain and in the store.

Ports: 8690-8699.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import delete, select

from coalition.crosscheck import recompute_from_chain
from network.direct import transact
from network.store import ChainEvent, LedgerEntry, OperatorAlert
from tests.e2e.settlement import buy, redeem
from tests.e2e.stack import OPERATOR_HEADERS, Stack, key_for, start_stack
from tests.network.harness import USD
from tests.pg import StoreKind

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, store: StoreKind) -> Iterator[Stack]:
    with start_stack(
        tmp_path_factory.mktemp("reconciliation-e2e"),
        ports=range(8690, 8700),
        store=store,
        workers=2,
        reconcile_every_s=2,
    ) as stack:
        yield stack


PERIOD_S = 6


def test_beat_settles_every_ended_period_of_a_short_schedule(
    tmp_path_factory: pytest.TempPathFactory, store: StoreKind
) -> None:
    """``settle_due`` on beat, periods of 6 s aligned to the epoch: contiguous periods, each
    ending with the last block before its end time, whose nets add up to the recomputation
    over the whole range. Runs before the module's stack starts (its own stack, same ports)."""
    tmp = tmp_path_factory.mktemp("settlement-schedule")
    with start_stack(
        tmp, ports=range(8690, 8700), store=store, workers=2, beat=False, settlement_period=PERIOD_S
    ) as stack:
        h, c = stack.harness, stack.harness.contracts
        early = stack.onboard("Early", points_per_unit="2", issue_price=10_000, reimbursement_rate=8_000)
        late = stack.onboard("Late", points_per_unit="1", issue_price=13_000, reimbursement_rate=9_500)
        transact(h.w3, h.admin, c.token.functions.mint(h.operator.address, 1_000 * USD))
        transact(h.w3, h.operator, c.token.functions.approve(c.clearing.address, 1_000 * USD))
        transact(h.w3, h.operator, c.clearing.functions.fundOperator(1_000 * USD))
        stack.start_beat()  # from here on, settle_due is the only user of the operator's key
        dave = key_for("schedule-dave")
        buy(stack, early, "e-1", dave.address, "50")
        stack.wait_purchase(early, "e-1")
        redeem(stack, dave, late.id, 60, 1)
        buy(stack, late, "l-1", dave.address, "20")
        stack.wait_purchase(late, "l-1")
        last_activity = h.w3.eth.block_number
        deadline = time.monotonic() + 90
        while c.clearing.functions.settledThroughBlock().call() < last_activity:
            assert time.monotonic() < deadline, stack.logs()
            transact(h.w3, h.admin, c.token.functions.approve(c.clearing.address, 0))  # a block: time moves on
            time.sleep(0.5)
        next_period = c.clearing.functions.nextPeriodId().call()
        newest = stack.wait_json(
            f"/v1/operator/settlements/{next_period - 1}", OPERATOR_HEADERS, want="settled", final=("failed",)
        )
        listed = stack.http.get("/v1/operator/settlements", headers=OPERATOR_HEADERS, params={"limit": 500}).json()
        listed = sorted((p for p in listed if p["period_id"] < next_period), key=lambda p: p["period_id"])
        assert [p["period_id"] for p in listed] == list(range(1, next_period)) and next_period > 2, listed
        assert all(p["status"] == "settled" and p["trigger"] == "schedule" for p in listed), listed

        def ts(n: int) -> int:
            return int(h.w3.eth.get_block(n)["timestamp"])

        nets: dict[int, int] = defaultdict(int)
        for i, p in enumerate(listed):
            if i:
                assert p["from_block"] == listed[i - 1]["to_block"] + 1  # contiguous
            end = (ts(p["from_block"]) // PERIOD_S + 1) * PERIOD_S
            assert ts(p["to_block"]) < end <= ts(p["to_block"] + 1), p  # the last block before the period's end
            statement = stack.http.get(f"/v1/operator/settlements/{p['period_id']}", headers=OPERATOR_HEADERS).json()
            for line in statement["statement"]["partners"]:
                nets[line["partner_id"]] += line["net"]
            onchain_hash = c.clearing.functions.period(p["period_id"]).call()[2]
            assert "0x" + bytes(onchain_hash).hex() == p["statement_hash"]
        whole = recompute_from_chain(h.w3, h.book, listed[0]["from_block"], listed[-1]["to_block"])
        assert dict(nets) == {line.partner_id: line.net for line in whole}
        assert dict(nets) == {early.id: -100 * 10_000, late.id: 60 * 9_500 - 20 * 13_000}
        assert newest["status"] == "settled"
        stack.assert_running()


def _beat_report(stack: Stack, *, after_id: int, ok: bool, min_block: int) -> dict[str, Any]:
    """The first report beat writes after ``after_id`` at or above ``min_block``."""
    deadline = time.monotonic() + 60
    while True:
        r = stack.http.get("/v1/operator/reconciliations", headers=OPERATOR_HEADERS, params={"limit": 20})
        assert r.status_code == 200, r.text
        for report in r.json():
            if report["id"] > after_id and report["block_number"] >= min_block:
                assert report["ok"] is ok, report
                return report
        assert time.monotonic() < deadline, f"no report from beat after {after_id}\n{stack.logs()}"
        time.sleep(0.2)


def test_reconciliation_finds_no_difference_then_the_corruption(stack: Stack) -> None:
    h = stack.harness
    points = h.contracts.points.functions
    grocer = stack.onboard("Grocer", points_per_unit="2")
    fuel = stack.onboard("Fuel", points_per_unit="1", issue_price=12_000)
    alice, bob, carol = key_for("rec-alice"), key_for("rec-bob"), key_for("rec-carol")
    orders = [(grocer, alice, "50"), (fuel, alice, "30"), (grocer, bob, "12.5"), (fuel, carol, "99")]
    for i, (partner, who, amount) in enumerate(orders):
        assert stack.post_purchase(partner, f"rec-{i}", who.address, amount=amount).status_code == 202
    for i, (partner, _who, _amount) in enumerate(orders):
        stack.wait_purchase(partner, f"rec-{i}")
    # alice spends at Fuel with her own transaction and gives bob some points: moves the store must follow
    h.w3.provider.make_request("anvil_setBalance", [alice.address, hex(10**19)])  # type: ignore[arg-type]
    transact(h.w3, alice, points.redeem(fuel.id, 40, b"rec-voucher".ljust(32, b"\0")))
    transact(h.w3, alice, points.transfer(bob.address, 15))
    last = h.w3.eth.block_number
    stack.wait_indexed(last)

    r = stack.http.post("/v1/operator/reconciliations", headers=OPERATOR_HEADERS)
    assert r.status_code == 201, r.text
    clean = r.json()
    assert clean["ok"] is True and clean["differences"] == [], clean
    assert clean["block_number"] >= last
    assert (clean["customers_checked"], clean["partners_checked"]) == (3, 2)
    assert int(clean["total_supply"]) == points.totalSupply().call() == 100 + 30 + 25 + 99 - 40
    _beat_report(stack, after_id=clean["id"], ok=True, min_block=last)  # beat reconciles too

    # corrupt the store behind the system's back: one of alice's ledger rows and Fuel's earn event
    chain_id = h.book.chain_id
    with h.sessions() as session, session.begin():
        row = session.scalar(
            select(LedgerEntry).where(
                LedgerEntry.customer == alice.address, LedgerEntry.kind == "earned", LedgerEntry.partner_id == grocer.id
            )
        )
        assert row is not None and row.partner_id == grocer.id and row.points == 100
        session.execute(delete(LedgerEntry).where(LedgerEntry.id == row.id))
        event = session.scalar(
            select(ChainEvent).where(
                ChainEvent.chain_id == chain_id, ChainEvent.name == "Earned", ChainEvent.partner_id == fuel.id
            )
        )
        assert event is not None
        fuel_earned = int(event.args["points"]) * int(event.args["issuePrice"])
        session.execute(delete(ChainEvent).where(ChainEvent.id == event.id))

    r = stack.http.post("/v1/operator/reconciliations", headers=OPERATOR_HEADERS)
    assert r.status_code == 201, r.text
    bad = r.json()
    assert bad["ok"] is False
    found = {(d["kind"], d.get("customer") or d.get("partner_id")): d for d in bad["differences"]}
    balance = 100 + 30 - 40 - 15  # alice on chain: earned 100 + 30, redeemed 40, sent 15
    assert found[("balance", alice.address)] == {
        "kind": "balance",
        "customer": alice.address,
        "store": balance - 100,
        "chain": balance,
    }
    assert found[("exposure", fuel.id)]["store"] == found[("exposure", fuel.id)]["chain"] - fuel_earned
    assert ("total-supply", None) in found
    assert len(found) == 3, bad["differences"]  # bob, carol and Grocer's exposure still agree

    beat = _beat_report(stack, after_id=bad["id"], ok=False, min_block=last)
    assert {d["kind"] for d in beat["differences"]} == {"balance", "exposure", "total-supply"}
    latest = stack.http.get("/v1/operator/reconciliations/latest", headers=OPERATOR_HEADERS)
    assert latest.status_code == 200 and latest.json()["ok"] is False
    with h.sessions() as session:
        alerts = session.scalars(select(OperatorAlert).where(OperatorAlert.kind == "reconciliation-difference")).all()
    assert len(alerts) >= 2  # the operator's run and beat's
    assert "difference(s) between the store and the chain" in stack.logs(200)
    stack.assert_running()


def test_operator_suspends_reactivates_and_rerates_on_chain_and_in_the_store(stack: Stack) -> None:
    h = stack.harness
    registry = h.contracts.registry.functions
    shop = stack.onboard("Shop", points_per_unit="1", issue_price=10_000, reimbursement_rate=8_000)
    wallet = key_for("rec-shopper").address

    r = stack.http.post(f"/v1/operator/partners/{shop.id}/suspend", headers=OPERATOR_HEADERS)
    assert r.status_code == 200 and r.json()["status"] == "suspended", r.text
    assert registry.partner(shop.id).call()[1] == 2  # PartnerStatus.Suspended on chain
    refused = stack.post_purchase(shop, "shop-1", wallet)
    assert refused.status_code == 409 and refused.json()["type"] == "/problems/partner-suspended"
    again = stack.http.post(f"/v1/operator/partners/{shop.id}/suspend", headers=OPERATOR_HEADERS)
    assert again.status_code == 200 and again.json()["status"] == "suspended"  # idempotent
    r = stack.http.post(f"/v1/operator/partners/{shop.id}/reactivate", headers=OPERATOR_HEADERS)
    assert r.status_code == 200 and r.json()["status"] == "active"
    assert registry.partner(shop.id).call()[1] == 1
    assert stack.post_purchase(shop, "shop-2", wallet, amount="10").status_code == 202
    stack.wait_purchase(shop, "shop-2")

    r = stack.http.patch(
        f"/v1/operator/partners/{shop.id}",
        headers=OPERATOR_HEADERS,
        json={"reimbursement_rate": 9_100, "issuance_limit": 5 * 10**12, "points_per_unit": "2.5"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    # the limit at once; the reimbursement rate only after the registry's notice period
    assert (body["issue_price"], body["reimbursement_rate"], body["issuance_limit"]) == (10_000, 8_000, 5 * 10**12)
    assert body["scheduled_rerate"]["reimbursement_rate"] == 9_100
    assert list(registry.partner(shop.id).call()[3:]) == [10_000, 8_000, 5 * 10**12]
    r = stack.http.delete(f"/v1/operator/partners/{shop.id}/scheduled-changes", headers=OPERATOR_HEADERS)
    assert r.status_code == 200 and r.json()["scheduled_rerate"] is None, r.text
    assert registry.pendingRerate(shop.id).call()[2] == 0
    assert stack.post_purchase(shop, "shop-3", wallet, amount="10").status_code == 202
    assert stack.wait_purchase(shop, "shop-3")["points"] == 25  # the new earn rule

    for path, method, payload, want in (
        (f"/v1/operator/partners/{shop.id}", "PATCH", {}, "/problems/validation-error"),
        (f"/v1/operator/partners/{shop.id}", "PATCH", {"issue_price": 0}, "/problems/validation-error"),
        (f"/v1/operator/partners/{shop.id}", "PATCH", {"issue_price": None}, "/problems/validation-error"),
        (f"/v1/operator/partners/{shop.id}", "PATCH", {"colour": "red"}, "/problems/validation-error"),
        ("/v1/operator/partners/9999", "PATCH", {"issue_price": 5}, "/problems/not-found"),
        ("/v1/operator/partners/9999/suspend", "POST", None, "/problems/not-found"),
        ("/v1/operator/settlements/77", "GET", None, "/problems/not-found"),
    ):
        r = stack.http.request(method, path, headers=OPERATOR_HEADERS, json=payload)
        assert r.headers["content-type"].startswith("application/problem+json"), (path, r.text)
        assert r.json()["type"] == want, (path, payload, r.text)
    r = stack.http.post(f"/v1/operator/partners/{shop.id}/suspend", headers=shop.headers)  # a partner's key
    assert r.status_code == 401 and registry.partner(shop.id).call()[1] == 1
