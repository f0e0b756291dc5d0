"""End to end, real processes (tests/e2e/stack.py): the operator API's liability over time
(``GET /v1/operator/liability``) is the chain's to the unit. Two partners with different
reimbursement rates issue points; a 30-day expiry window is put in force (its 90-day notice passed
by moving anvil's clock), one customer's points expire and are swept. Per business day of a zone
with a 5:45 offset, the API's points outstanding, expired points and value range must equal their
recomputation from ``eth_getLogs`` alone (coalition/crosscheck.py), and the last day's outstanding
points the token's ``totalSupply``.

Ports: 9870-9889.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from coalition.crosscheck import liability_from_chain
from network.direct import transact
from tests.e2e.settlement import buy
from tests.e2e.stack import OPERATOR_HEADERS, Stack, key_for, start_stack
from tests.pg import StoreKind

# One store: this file's path through the store is run on both by others (tests/pg.py)
RUN_ON_STORES = ("postgresql",)

pytestmark = pytest.mark.timeout(300)
DAY = 86_400
TZ = "Asia/Kathmandu"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, store: StoreKind) -> Iterator[Stack]:
    with start_stack(
        tmp_path_factory.mktemp("liability-e2e"),
        ports=range(9870, 9890),
        store=store,
        workers=1,
        settlement_period=10**9,
        display_timezone=TZ,
    ) as stack:
        yield stack


def _day(stack: Stack, block: int | str) -> str:
    at = int(stack.harness.w3.eth.get_block(block)["timestamp"])
    return datetime.fromtimestamp(at, UTC).astimezone(ZoneInfo(TZ)).date().isoformat()


def test_the_liability_over_time_is_the_chains_to_the_unit(stack: Stack) -> None:
    h = stack.harness
    points = h.contracts.points.functions
    grocer = stack.onboard("Grocer", issue_price=10_000, reimbursement_rate=8_000)
    fuel = stack.onboard("Fuel", issue_price=12_000, reimbursement_rate=9_500)
    transact(h.w3, h.operator, points.scheduleExpiryWindow(30 * DAY))
    stack.advance_time(90 * DAY + 1)
    transact(h.w3, h.admin, points.applyExpiryWindow())

    alice, bob = (key_for(f"liability-{n}").address for n in ("alice", "bob"))
    buy(stack, grocer, "l-1", alice, "120.00")
    buy(stack, fuel, "l-2", bob, "45.00")
    earned = {
        w: int(stack.wait_purchase(p, pid)["points"]) for w, p, pid in ((alice, grocer, "l-1"), (bob, fuel, "l-2"))
    }
    stack.advance_time(31 * DAY)
    buy(stack, fuel, "l-3", bob, "5.00")  # bob's old points expire before his new ones arrive
    bob_again = int(stack.wait_purchase(fuel, "l-3")["points"])
    transact(h.w3, h.admin, points.expire([alice]))
    last = h.w3.eth.block_number
    stack.wait_indexed(last)

    start, end = _day(stack, h.book.deployed_at_block), _day(stack, last)
    r = stack.http.get("/v1/operator/liability", headers=OPERATOR_HEADERS, params={"from": start, "to": end})
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["from"], report["to"], report["time_zone"]) == (start, end, TZ)
    chain = liability_from_chain(
        h.w3, h.book, start=datetime.fromisoformat(start).date(), end=datetime.fromisoformat(end).date(), tz=TZ
    )
    fields = ("day", "outstanding", "issued", "redeemed", "reversed", "restored", "expired", "rate_low", "rate_high")
    assert [tuple(d[f] for f in fields) for d in report["days"]] == [
        tuple(getattr(d, f) for f in fields) for d in chain
    ]
    assert [(d["value_low"], d["value_high"]) for d in report["days"]] == [(d.value_low, d.value_high) for d in chain]
    final = report["days"][-1]
    assert final["outstanding"] == points.totalSupply().call() == bob_again
    assert sum(d["expired"] for d in report["days"]) == earned[alice] + earned[bob]
    assert (final["rate_low"], final["rate_high"]) == (8_000, 9_500)
    assert final["value_high"] == bob_again * 9_500
    # a range the report cannot give: a problem, not a guess
    bad = stack.http.get("/v1/operator/liability", headers=OPERATOR_HEADERS, params={"from": end, "to": start})
    assert bad.status_code == 422 and "before it starts" in bad.text
    stack.assert_running()
