"""End to end, real processes (tests/e2e/stack.py): points expire on chain by the published policy
and the settlement statement shows the breakage. The operator schedules a 30-day expiry window,
anyone applies it after its 90-day notice (the chain's clock moved with ``evm_increaseTime``), three
customers earn, the clock passes their expiry: a sweep (anyone's ``expire``) burns two of them, the
third's next purchase burns its old points before the new ones arrive, and a fourth customer, who
earned later, keeps its points. The period's statement must show the expired points, equal to their
recomputation from the chain's logs alone, with the partner's net unchanged by them (nobody is
reimbursed for expired points); the store's ledger reconciles with the chain.

Ports: 9520-9539.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from web3.logs import DISCARD

from coalition.crosscheck import points_expired_from_chain, recompute_from_chain
from network.direct import transact
from tests.e2e.settlement import buy
from tests.e2e.stack import OPERATOR_HEADERS, Stack, key_for, start_stack
from tests.pg import StoreKind

# One store: this file's path through the store is run on both by others (tests/pg.py)
RUN_ON_STORES = ("postgresql",)

pytestmark = pytest.mark.timeout(300)
DAY = 86_400
ISSUE_PRICE = 10_000


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, store: StoreKind) -> Iterator[Stack]:
    # a period of ~31 years: only the operator's "close now" ends one
    with start_stack(
        tmp_path_factory.mktemp("expiry-e2e"),
        ports=range(9520, 9540),
        store=store,
        workers=1,
        settlement_period=10**9,
        reconcile_every_s=2,
    ) as stack:
        yield stack


def _earn(stack: Stack, purchase_id: str, wallet: str, amount: str) -> int:
    grocer = stack.partners["Grocer"]
    buy(stack, grocer, purchase_id, wallet, amount)
    return int(stack.wait_purchase(grocer, purchase_id)["points"])


def _reconciled_at(stack: Stack, block: int) -> dict[str, Any]:
    """The first reconciliation report of beat at or above ``block``."""
    deadline = time.monotonic() + 60
    while True:
        r = stack.http.get("/v1/operator/reconciliations", headers=OPERATOR_HEADERS, params={"limit": 5})
        assert r.status_code == 200, r.text
        reports = [p for p in r.json() if p["block_number"] >= block]
        if reports:
            return reports[-1]
        assert time.monotonic() < deadline, f"no reconciliation at block {block}\n{stack.logs()}"
        time.sleep(0.2)


def test_expired_points_are_burned_by_the_policy_and_shown_as_breakage(stack: Stack) -> None:
    h = stack.harness
    points = h.contracts.points.functions
    stack.onboard("Grocer", points_per_unit="1", issue_price=ISSUE_PRICE, reimbursement_rate=8_000)
    tx = transact(h.w3, h.operator, points.scheduleExpiryWindow(30 * DAY))
    assert tx["status"] == 1
    stack.advance_time(90 * DAY + 1)  # the notice is over: anyone applies the window
    transact(h.w3, h.admin, points.applyExpiryWindow())
    assert points.expiryWindow().call() == 30 * DAY

    alice, bob, carol, dave = (key_for(f"expiry-{n}").address for n in ("alice", "bob", "carol", "dave"))
    earned = {who: _earn(stack, f"e-{i}", who, amount) for i, (who, amount) in enumerate(
        ((alice, "120.00"), (bob, "45.00"), (carol, "10.00"))
    )}  # fmt: skip
    start = h.w3.eth.block_number
    stack.advance_time(30 * DAY + 1)
    assert points.expiredPointsOf(alice).call() == earned[alice]
    later = _earn(stack, "e-dave", dave, "7.00")  # its clock starts now

    # a sweep by anyone: alice and carol (and dave, who is not due: skipped)
    receipt = transact(h.w3, h.admin, points.expire([alice, carol, dave]))
    swept = h.contracts.points.events.Expired().process_receipt(receipt, errors=DISCARD)
    assert [(e["args"]["holder"], e["args"]["points"]) for e in swept] == [
        (alice, earned[alice]),
        (carol, earned[carol]),
    ]
    # bob's next purchase burns his expired points before the new ones arrive
    again = _earn(stack, "e-bob-2", bob, "5.00")
    assert [points.balanceOf(w).call() for w in (alice, bob, carol, dave)] == [0, again, 0, later]
    assert points.totalSupply().call() == again + later

    last = h.w3.eth.block_number
    stack.wait_indexed(last)
    r = stack.http.post("/v1/operator/settlements", headers=OPERATOR_HEADERS)
    assert r.status_code == 202, r.text
    period = stack.wait_json(
        f"/v1/operator/settlements/{r.json()['period_id']}", OPERATOR_HEADERS, want="settled", timeout_s=90
    )
    assert period["from_block"] <= start and period["to_block"] >= last
    statement = period["statement"]
    breakage = earned[alice] + earned[bob] + earned[carol]
    # the breakage: the statement's, and anyone's recomputation from the chain's logs alone
    assert statement["points_expired"] == breakage
    assert points_expired_from_chain(h.w3, h.book, period["from_block"], period["to_block"]) == breakage
    # nobody is reimbursed for expired points: the partner's net is its issuance alone
    [line] = statement["partners"]
    issued = sum(earned.values()) + later + again
    assert (line["points_issued"], line["points_redeemed"], line["net"]) == (issued, 0, -issued * ISSUE_PRICE)
    recomputed = recompute_from_chain(h.w3, h.book, period["from_block"], period["to_block"])
    assert [(x.partner_id, x.net) for x in recomputed] == [(line["partner_id"], line["net"])]
    csv_text = stack.http.get(f"/v1/operator/settlements/{period['period_id']}/statement.csv", headers=OPERATOR_HEADERS)
    assert f"\npoints_expired,{breakage}\n\nmembership_fees," in csv_text.text  # then the fees section (v5)

    # the store's ledger counts the expiries: every balance reconciles with the chain
    report = _reconciled_at(stack, last)
    assert report["ok"] is True and report["differences"] == [], report
    stack.assert_running()
