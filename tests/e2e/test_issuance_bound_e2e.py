"""End to end, real processes (tests/e2e/stack.py): a purchase that does not fit the partner's
issuance headroom is held, never fails the purchases that fit with it, and is minted once the
partner's funds return (issue 13, finding 6: "one purchase over the partner's funds fails every
purchase in its batch, for good").

The partner has funds for 100 points. A batch of 1.00 / 150.00 / 2.00 mints the 1 and the 2 and
holds the 150; 20 concurrent 1.00 purchases and one 150.00 mint the 20 and hold the 150; the
partner and the operator are told; a deposit brings the headroom back and the held purchases are
minted, each once.

Ports: 8900-8919.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from network.direct import transact
from network.store import OperatorAlert
from tests.e2e.stack import OnboardedPartner, Stack, key_for, start_stack
from tests.pg import StoreKind

pytestmark = pytest.mark.timeout(300)
PRICE = 10_000  # 0.01 cUSD per point
FUNDS_FOR = 100  # points the partner's deposit pays for


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, store: StoreKind) -> Iterator[Stack]:
    with start_stack(
        tmp_path_factory.mktemp("issuance-bound-e2e"), ports=range(8900, 8920), store=store, workers=1
    ) as stack:
        yield stack


@pytest.fixture(scope="module")
def tight(stack: Stack) -> OnboardedPartner:
    return stack.onboard("Tight", points_per_unit="1", issue_price=PRICE, deposit=FUNDS_FOR * PRICE)


def _purchase(purchase_id: str, amount: str, wallet: str) -> dict[str, object]:
    return {
        "purchase_id": purchase_id,
        "customer": {"wallet": wallet},
        "amount": amount,
        "currency": "EUR",
        "purchased_at": "2026-11-23T10:00:00Z",
    }


def _status(stack: Stack, partner: OnboardedPartner, purchase_id: str) -> dict[str, object]:
    r = stack.http.get(f"/v1/purchases/{purchase_id}", headers=partner.headers)
    assert r.status_code == 200, r.text
    return r.json()


def _wait_settled(stack: Stack, partner: OnboardedPartner, ids: list[str], timeout_s: float = 60) -> dict[str, dict]:
    """Waits until no purchase of ``ids`` is accepted or submitted any more (held, confirmed, failed)."""
    deadline = time.monotonic() + timeout_s
    while True:
        seen = {pid: _status(stack, partner, pid) for pid in ids}
        if all(s["status"] not in ("accepted", "submitted") for s in seen.values()):
            return seen
        assert time.monotonic() < deadline, f"{ {k: v['status'] for k, v in seen.items()} }\n{stack.logs()}"
        time.sleep(0.2)


def _deposit(stack: Stack, partner: OnboardedPartner, amount: int) -> None:
    """The partner's treasury tops up its funds in Clearing (test stablecoins minted by the admin)."""
    h, treasury = stack.harness, key_for("treasury-Tight")
    c = h.contracts
    h.w3.provider.make_request("anvil_setBalance", [treasury.address, hex(10**21)])  # type: ignore[arg-type]
    transact(h.w3, h.admin, c.token.functions.mint(treasury.address, amount))
    transact(h.w3, treasury, c.token.functions.approve(c.clearing.address, amount))
    transact(h.w3, treasury, c.clearing.functions.deposit(partner.id, amount))


def test_e2e_a_purchase_over_the_funds_is_held_and_the_rest_of_its_batch_is_minted(
    stack: Stack, tight: OnboardedPartner
) -> None:
    alice, bob, carol = (key_for(n).address for n in ("bound-alice", "bound-bob", "bound-carol"))
    body = {
        "purchases": [
            _purchase("b-1", "1.00", alice),
            _purchase("b-150", "150.00", bob),
            _purchase("b-2", "2.00", carol),
        ]
    }
    r = stack.http.post("/v1/purchases/batch", headers=tight.headers, json=body)
    assert r.status_code == 200, r.text
    assert [item["outcome"] for item in r.json()["results"]] == ["accepted"] * 3
    seen = _wait_settled(stack, tight, ["b-1", "b-150", "b-2"])
    assert (seen["b-1"]["status"], seen["b-2"]["status"], seen["b-150"]["status"]) == ("confirmed", "confirmed", "held")
    assert "partner-funds-exhausted" in str(seen["b-150"]["failure_reason"])
    assert (stack.balance(alice), stack.balance(bob), stack.balance(carol)) == (1, 0, 2)

    # posting the held purchase again is a duplicate that says where it stands: held, not failed
    again = stack.http.post("/v1/purchases", headers=tight.headers, json=_purchase("b-150", "150.00", bob))
    assert again.status_code in (200, 202), again.text
    assert _status(stack, tight, "b-150")["status"] == "held"


def test_e2e_concurrent_small_purchases_are_minted_beside_one_that_does_not_fit(
    stack: Stack, tight: OnboardedPartner
) -> None:
    wallets = [key_for(f"bound-many-{i}").address for i in range(20)]
    big = key_for("bound-big").address

    def post(i: int) -> int:
        if i == 20:
            return stack.post_purchase(tight, "c-150", big, amount="150.00").status_code
        return stack.post_purchase(tight, f"c-{i}", wallets[i], amount="1.00").status_code

    with ThreadPoolExecutor(max_workers=21) as pool:
        assert list(pool.map(post, range(21))) == [202] * 21
    ids = [f"c-{i}" for i in range(20)]
    seen = _wait_settled(stack, tight, [*ids, "c-150"])
    assert [seen[i]["status"] for i in ids] == ["confirmed"] * 20
    assert seen["c-150"]["status"] == "held"
    assert [stack.balance(w) for w in wallets] == [1] * 20 and stack.balance(big) == 0


def test_e2e_the_operator_is_told_and_held_purchases_are_minted_once_the_funds_return(
    stack: Stack, tight: OnboardedPartner
) -> None:
    deadline = time.monotonic() + 30
    while True:  # beat's dispatch tells the operator within a second or so
        with stack.harness.sessions() as session:
            alerts = session.scalars(select(OperatorAlert).where(OperatorAlert.kind == "partner-funds-exhausted")).all()
        if alerts:
            break
        assert time.monotonic() < deadline, f"no partner-funds-exhausted alert\n{stack.logs()}"
        time.sleep(0.2)
    assert len(alerts) == 1 and alerts[0].details["partner_id"] == tight.id  # once per episode, not per tick

    _deposit(stack, tight, 400 * PRICE)  # room for both held purchases (2 x 150 points) and more
    for purchase_id, wallet in (("b-150", "bound-bob"), ("c-150", "bound-big")):
        stack.wait_purchase(tight, purchase_id, timeout_s=60)  # re-checked every HELD_RECHECK_S (10 s)
        assert stack.balance(key_for(wallet).address) == 150
    c = stack.harness.contracts.clearing.functions
    assert c.exposureOf(tight.id).call() == (1 + 2 + 20 + 150 + 150) * PRICE <= c.fundsOf(tight.id).call()
    stack.assert_running()
