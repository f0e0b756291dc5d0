"""End to end, real processes (tests/e2e/stack.py, two workers and beat): webhooks signed and
retried until delivered, refunds clawed back on chain by the partner's own minter, a refund
that fails because the customer spent the points, and one partner kept away from another's
webhooks and purchases.

Ports: 8700-8716 for the stack, 8717 for the partner's webhook receiver (8719: the rate limit
unit test's Redis).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from network.direct import transact
from partners.webhooks import verify
from tests.e2e.stack import OnboardedPartner, Stack, fresh_wallet, key_for, start_stack
from tests.gateway.webhook_receiver import Receiver
from tests.pg import StoreKind
from tests.ports import port_for_worker

pytestmark = pytest.mark.timeout(240)
RECEIVER_PORT = port_for_worker(8717)


@pytest.fixture(scope="module")
def receiver(store: StoreKind) -> Iterator[Receiver]:
    """One per store (``store`` is a session-wide parameter): under xdist a file's two stores run
    back to back in one worker, and the second stack's checks must not read the first's deliveries."""
    with Receiver(port=RECEIVER_PORT) as r:
        yield r


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, store: StoreKind) -> Iterator[Stack]:
    with start_stack(
        tmp_path_factory.mktemp("refunds-webhooks-e2e"),
        ports=range(8700, 8717),
        store=store,
        workers=2,
        webhook_backoff_base_s=0.5,  # retries within seconds, not minutes
        webhook_backoff_cap_s=2,
        webhook_max_attempts=5,
        webhook_allow_loopback=True,  # the receiver is on 127.0.0.1 (off: tests/e2e/test_webhook_targets_e2e.py)
    ) as stack:
        yield stack


@pytest.fixture(scope="module")
def grocer(stack: Stack) -> OnboardedPartner:
    return stack.onboard("Grocer", points_per_unit="1.5")


@pytest.fixture(scope="module")
def hook(stack: Stack, grocer: OnboardedPartner, receiver: Receiver) -> dict[str, Any]:
    body = {"url": receiver.url, "event_types": ["purchase.confirmed", "refund.confirmed", "refund.failed"]}
    r = stack.http.post("/v1/webhooks", headers=grocer.headers, json=body)
    assert r.status_code == 201, r.text
    return r.json()


def wait_for(what: str, check: Callable[[], Any], stack: Stack, timeout_s: float = 45) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"no {what} after {timeout_s} s:\n{stack.logs()}"
        time.sleep(0.1)


def events(receiver: Receiver, secret: str, event_type: str, key: str, value: str) -> list[tuple[int, dict[str, Any]]]:
    """(answer given, verified event) of every POST of this type about this resource."""
    found = []
    with receiver.lock:
        received = list(zip(receiver.received, receiver.answered, strict=True))
    for request, answered in received:
        event = verify(secret, request.body, request.headers["Coalition-Signature"])  # raises if forged
        assert request.headers["Coalition-Event-Id"] == event["id"]
        if event["type"] == event_type and event["data"].get(key) == value:
            found.append((answered, event))
    return found


def refund(stack: Stack, partner: OnboardedPartner, purchase_id: str, refund_id: str, **body: Any) -> Any:
    return stack.http.post(
        f"/v1/purchases/{purchase_id}/refunds", headers=partner.headers, json={"refund_id": refund_id, **body}
    )


def wait_refund(stack: Stack, partner: OnboardedPartner, purchase_id: str, refund_id: str, want: str) -> dict[str, Any]:
    path = f"/v1/purchases/{purchase_id}/refunds/{refund_id}"
    final = ("failed",) if want == "confirmed" else ("confirmed",)
    return stack.wait_json(path, partner.headers, want=want, final=final, timeout_s=45)


def test_purchase_confirmed_webhook_is_signed_and_retried_until_delivered(
    stack: Stack, grocer: OnboardedPartner, hook: dict[str, Any], receiver: Receiver
) -> None:
    receiver.statuses[:] = [500, 500]  # the partner's endpoint fails twice
    assert stack.post_purchase(grocer, "hooked-1", fresh_wallet("hooked"), amount="42.50").status_code == 202
    stack.wait_purchase(grocer, "hooked-1")
    delivered = wait_for(
        "delivered purchase.confirmed",
        lambda: [
            e for a, e in events(receiver, hook["secret"], "purchase.confirmed", "purchase_id", "hooked-1") if a == 200
        ],
        stack,
    )
    attempts = events(receiver, hook["secret"], "purchase.confirmed", "purchase_id", "hooked-1")
    assert [a for a, _ in attempts] == [500, 500, 200]
    assert len({e["id"] for _, e in attempts}) == 1  # the same event each time
    event = delivered[0]
    assert event["data"]["status"] == "confirmed" and event["data"]["points"] == 63 and event["partner_id"] == grocer.id

    def delivery() -> dict[str, Any] | None:  # the receiver answers before the worker records it
        listed = stack.http.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=grocer.headers).json()
        row = next((d for d in listed if d["event_id"] == event["id"]), None)
        return row if row is not None and row["status"] == "delivered" else None

    row = wait_for("the delivery recorded as delivered", delivery, stack)
    assert (row["status"], row["attempts"], row["last_status_code"]) == ("delivered", 3, 200)


def test_full_and_partial_refunds_claw_back_exactly_their_points(
    stack: Stack, grocer: OnboardedPartner, hook: dict[str, Any], receiver: Receiver
) -> None:
    wallet = fresh_wallet("refunded")
    assert stack.post_purchase(grocer, "refund-me", wallet, amount="100.00").status_code == 202
    purchase = stack.wait_purchase(grocer, "refund-me")
    assert purchase["points"] == 150 and stack.balance(wallet) == 150
    points = stack.harness.contracts.points

    partial = refund(stack, grocer, "refund-me", "rf-partial", amount="40.00", reason="two items back")
    assert partial.status_code == 202, partial.text
    assert partial.json()["points"] == 60
    done = wait_refund(stack, grocer, "refund-me", "rf-partial", "confirmed")
    assert done["tx_hash"]
    assert stack.balance(wallet) == 90
    assert points.functions.reversedPoints(grocer.id, purchase["seq"]).call() == 60

    beyond = refund(stack, grocer, "refund-me", "rf-beyond", amount="60.01")
    assert beyond.status_code == 422 and beyond.json()["type"] == "/problems/refund-exceeds-purchase"

    full = refund(stack, grocer, "refund-me", "rf-rest")
    assert full.status_code == 202 and full.json()["points"] == 90
    wait_refund(stack, grocer, "refund-me", "rf-rest", "confirmed")
    assert stack.balance(wallet) == 0
    assert points.functions.reversedPoints(grocer.id, purchase["seq"]).call() == 150
    again = refund(stack, grocer, "refund-me", "rf-more")
    assert again.status_code == 422 and again.json()["type"] == "/problems/refund-exceeds-purchase"

    confirmed = wait_for(
        "two refund.confirmed webhooks",
        lambda: (
            {
                e["data"]["refund_id"]
                for a, e in events(receiver, hook["secret"], "refund.confirmed", "purchase_id", "refund-me")
                if a == 200
            }
            >= {"rf-partial", "rf-rest"}
        ),
        stack,
    )
    assert confirmed


def test_refund_after_the_customer_spent_the_points_fails_with_the_reason(
    stack: Stack, grocer: OnboardedPartner, hook: dict[str, Any], receiver: Receiver
) -> None:
    customer = key_for("spender")
    assert stack.post_purchase(grocer, "spent", customer.address, amount="20.00").status_code == 202
    stack.wait_purchase(grocer, "spent")
    w3, points = stack.harness.w3, stack.harness.contracts.points
    w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": customer.address, "value": 10**17})
    transact(w3, customer, points.functions.transfer(fresh_wallet("elsewhere"), 30))  # spends all 30 points

    assert refund(stack, grocer, "spent", "rf-spent").status_code == 202
    failed = wait_refund(stack, grocer, "spent", "rf-spent", "failed")
    assert "ERC20InsufficientBalance" in (failed["failure_reason"] or ""), failed
    assert points.functions.reversedPoints(grocer.id, stack.wait_purchase(grocer, "spent")["seq"]).call() == 0
    wait_for(
        "refund.failed webhook",
        lambda: [e for a, e in events(receiver, hook["secret"], "refund.failed", "refund_id", "rf-spent") if a == 200],
        stack,
    )


def test_another_partner_cannot_see_or_touch_the_webhooks_and_purchases(
    stack: Stack, grocer: OnboardedPartner, hook: dict[str, Any]
) -> None:
    fuel = stack.onboard("Fuel", points_per_unit="2")
    path = f"/v1/webhooks/{hook['id']}"
    assert stack.http.get("/v1/webhooks", headers=fuel.headers).json() == []
    for response in (
        stack.http.get(path, headers=fuel.headers),
        stack.http.get(f"{path}/deliveries", headers=fuel.headers),
        stack.http.post(f"{path}/rotate-secret", headers=fuel.headers),
        stack.http.delete(path, headers=fuel.headers),
        refund(stack, fuel, "refund-me", "rf-by-fuel"),
        stack.http.get("/v1/purchases/refund-me/refunds", headers=fuel.headers),
        stack.http.get("/v1/purchases/refund-me/refunds/rf-partial", headers=fuel.headers),
    ):
        assert response.status_code == 404, response.text
        assert response.json()["type"] == "/problems/not-found"
    assert stack.http.get(path, headers=grocer.headers).status_code == 200
    stack.assert_running()
