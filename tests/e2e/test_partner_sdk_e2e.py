"""End to end, real processes (tests/e2e/stack.py, one worker and beat): the partner SDK
(partners/client.py) as an integrator uses it. The README's own example runs twice in a row
and the second run answers the same purchase; a purchase the chain refuses after acceptance
makes ``wait()`` raise with its problem type; every resource family of the partner API is driven
through the SDK, sync and async, with typed results (issue 14).

Ports: 9600-9615 for the stack; the webhook receiver on a free port of the system's.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount

from network.direct import transact
from partners.client import (
    AsyncPartnerClient,
    Delivery,
    History,
    OperationFailed,
    PartnerAccount,
    PartnerClient,
    Purchase,
    Redemption,
    Refund,
    WaitTimeout,
    Webhook,
    purchase_body,
    signed_consent,
)
from partners.webhooks import verify
from tests.e2e.stack import OPERATOR_HEADERS, OnboardedPartner, Stack, fresh_wallet, key_for, start_stack
from tests.gateway.webhook_receiver import Receiver
from tests.pg import StoreKind

# One store: this file's path through the store is run on both by others (tests/pg.py)
RUN_ON_STORES = ("sqlite",)

pytestmark = pytest.mark.timeout(300)
README = Path(__file__).resolve().parents[2] / "README.md"
HELD_TIMEOUT_S = 3  # COALITION_HELD_PURCHASE_TIMEOUT_S: a held purchase fails after this
PRICE = 10_000  # settlement-token units per point
T = TypeVar("T")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, store: StoreKind) -> Iterator[Stack]:
    with start_stack(
        tmp_path_factory.mktemp("partner-sdk-e2e"),
        ports=range(9600, 9616),
        store=store,
        workers=1,
        held_purchase_timeout_s=HELD_TIMEOUT_S,
        custodial_release_notice_s=1,
        webhook_allow_loopback=True,  # the receiver is on 127.0.0.1
        webhook_backoff_base_s=0.5,
        webhook_backoff_cap_s=2,
    ) as stack:
        yield stack


@pytest.fixture(scope="module")
def grocer(stack: Stack) -> OnboardedPartner:
    return stack.onboard("SDK Grocer", points_per_unit="1")


def readme_sdk_example() -> str:
    """The code block under "The partner SDK in ten lines", as the README shows it."""
    text = README.read_text()
    section = text[text.index("The partner SDK in ten lines") :]
    found = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert found is not None, "the README has no python block under its SDK example"
    return found.group(1)


def test_the_readme_sdk_example_runs_twice_and_the_second_run_answers_the_same_purchase(
    stack: Stack, grocer: OnboardedPartner
) -> None:
    wallet = fresh_wallet("readme-example")
    code = (
        readme_sdk_example()
        .replace("http://127.0.0.1:8000", stack.url)
        .replace('"ck_…"', repr(grocer.api_key))
        .replace('"0x…"', repr(wallet))
    )
    assert stack.url in code and grocer.api_key in code and wallet in code, code
    first: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), first)  # the README code, on the test stack
    second: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), second)  # a POS retrying the same order
    assert second["p"] == first["p"]  # the first answer, replayed
    r = stack.http.get("/v1/purchases/order-1042", headers=grocer.headers)
    assert r.json()["status"] == "confirmed" and r.json()["points"] == 42
    refunds = stack.http.get("/v1/purchases/order-1042/refunds", headers=grocer.headers).json()
    assert [x["refund_id"] for x in refunds] == ["refund-1"]  # refunded once, not twice
    stack.wait_json("/v1/purchases/order-1042/refunds/refund-1", grocer.headers, want="confirmed")
    assert stack.balance(wallet) == 42 - 10


def test_a_purchase_held_past_the_timeout_makes_wait_raise_partner_funds_exhausted(stack: Stack) -> None:
    """The partner's deposit pays for 10 points; a purchase of 50 is held (wait() times out and
    says why), then fails after COALITION_HELD_PURCHASE_TIMEOUT_S: wait() raises with the type."""
    tight = stack.onboard("SDK Tight", points_per_unit="1", issue_price=PRICE, deposit=10 * PRICE)
    with PartnerClient(stack.url, tight.api_key) as coalition:
        p = coalition.post_purchase("big-1", wallet=fresh_wallet("tight"), amount="50.00", currency="EUR")
        held = stack.wait_json("/v1/purchases/big-1", tight.headers, want="held")
        assert held["failure"]["type"] == "/problems/partner-funds-exhausted" and "waits" in held["failure"]["detail"]
        with pytest.raises(WaitTimeout) as waiting:  # held is not final: wait() goes on, and says why it waits
            coalition.wait(p["status_url"], timeout_s=0.2)
        assert waiting.value.slug == "partner-funds-exhausted"
        with pytest.raises(OperationFailed) as failed:
            coalition.wait(p["status_url"], timeout_s=60)
    assert failed.value.slug == "partner-funds-exhausted"
    assert failed.value.type == "/problems/partner-funds-exhausted"
    assert "COALITION_HELD_PURCHASE_TIMEOUT_S" in failed.value.detail
    assert failed.value.failure_reason is not None and failed.value.failure_reason.startswith("partner-funds-exhausted")
    assert failed.value.resource["status"] == "failed" and stack.balance(fresh_wallet("tight")) == 0


def test_a_purchase_of_a_partner_suspended_after_acceptance_makes_wait_raise_partner_suspended(stack: Stack) -> None:
    """Accepted while the partner was active, sent once it was suspended (the worker was down in
    between): the chain refuses it (PartnerRegistryNotActive) and wait() raises partner-suspended."""
    shop = stack.onboard("SDK Suspended", points_per_unit="1")
    stack.kill_worker("w1")  # nothing drains the outbox until it is back
    try:
        with PartnerClient(stack.url, shop.api_key) as coalition:
            p = coalition.post_purchase("late-1", wallet=fresh_wallet("late"), amount="5", currency="EUR")
            r = stack.http.post(f"/v1/operator/partners/{shop.id}/suspend", headers=OPERATOR_HEADERS)
            assert r.status_code == 200, r.text
            stack.start_worker("w1")
            with pytest.raises(OperationFailed) as failed:
                coalition.wait(p["status_url"], timeout_s=90)
    finally:
        if stack.processes["worker-w1"].poll() is not None:
            stack.start_worker("w1")
    assert failed.value.slug == "partner-suspended"
    assert "PartnerRegistryNotActive" in str(failed.value.failure_reason)  # the raw reason, for support
    assert "PartnerRegistryNotActive" not in failed.value.detail
    body = stack.http.get("/v1/purchases/late-1", headers=shop.headers).json()
    assert body["failure"] == failed.value.problem and body["failure"]["type"] == "/problems/partner-suspended"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def until(what: str, check: Callable[[], T | None], stack: Stack, timeout_s: float = 45) -> T:
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"no {what} after {timeout_s} s:\n{stack.logs()}"
        time.sleep(0.2)


def sign(account: LocalAccount, message: str) -> str:
    return "0x" + account.sign_message(encode_defunct(text=message)).signature.hex().removeprefix("0x")


def received(receiver: Receiver, secret: str, event_type: str) -> list[dict[str, Any]]:
    """The events of this type the receiver got that verify with ``secret``."""
    with receiver.lock:
        requests = list(receiver.received)
    found = []
    for request in requests:
        if request.headers.get("Coalition-Event-Type") == event_type:
            try:
                found.append(verify(secret, request.body, request.headers["Coalition-Signature"]))
            except ValueError:
                continue
    return found


def test_every_resource_family_through_the_sdk(stack: Stack, receiver: Receiver) -> None:
    shop = stack.onboard("SDK Shop", points_per_unit="1")
    alice = key_for("sdk-alice")  # a self-custody customer: her own key
    w3, points = stack.harness.w3, stack.harness.contracts.points
    with PartnerClient(stack.url, shop.api_key) as sdk:
        # --- webhooks: an endpoint, a test event, secret rotation, deliveries
        hook = sdk.add_webhook(receiver.url, ["purchase.confirmed", "refund.failed"], description="POS")
        assert isinstance(hook, Webhook) and hook.secret and hook.event_types == ["purchase.confirmed", "refund.failed"]
        assert [w.id for w in sdk.webhooks()] == [hook.id] and sdk.webhook(hook.id).secret is None
        sent = sdk.test_webhook(hook.id)
        assert isinstance(sent, Delivery) and (sent.event_type, sent.status) == ("webhook.test", "pending")
        (event,) = until("a verified webhook.test", lambda: received(receiver, hook.secret, "webhook.test"), stack)
        assert event["data"]["endpoint_id"] == hook.id
        rotated = sdk.rotate_webhook_secret(hook.id)
        assert rotated.secret and rotated.secret != hook.secret
        sdk.test_webhook(hook.id)
        until("a webhook.test under the new secret", lambda: received(receiver, rotated.secret, "webhook.test"), stack)
        tests = until(
            "two delivered tests",
            lambda: (
                [d for d in sdk.webhook_deliveries(hook.id, status="delivered") if d.event_type == "webhook.test"][1:]
                and sdk.webhook_deliveries(hook.id, status="delivered")
            ),
            stack,
        )
        assert all(isinstance(d, Delivery) and d.delivered_at is not None for d in tests)

        # --- customers: a wallet linked to the partner's ref by the customer's signature
        challenge = sdk.wallet_challenge("alice", alice.address)
        linked = sdk.link_wallet("alice", challenge.message, sign(alice, challenge.message))
        assert (linked.ref, linked.wallet, linked.custodial) == ("alice", alice.address, False)
        assert sdk.customer("alice") == linked

        # --- purchases: a batch, one of them refused on its own
        outcome = sdk.post_purchases(
            [
                purchase_body("sdk-b1", ref="alice", amount="30", currency="EUR"),
                purchase_body("sdk-b2", wallet=alice.address, amount="0.10", currency="EUR"),
            ]
        )
        assert (outcome.accepted, outcome.duplicates, outcome.rejected) == (1, 0, 1)
        assert outcome.results[1].problem is not None and outcome.results[1].problem.slug == "no-points"
        first = outcome.results[0].purchase
        assert isinstance(first, Purchase) and first.customer_wallet == alice.address
        confirmed = sdk.wait(first)
        assert isinstance(confirmed, Purchase) and confirmed.status == "confirmed" and confirmed.points == 30
        assert isinstance(confirmed.purchased_at, datetime) and sdk.purchase("sdk-b1").tx_hash == confirmed.tx_hash

        # --- refunds: one confirmed, listed and read back
        refunded = sdk.wait(sdk.refund("sdk-b1", "sdk-b1-r1", amount="5", reason="one item back"))
        assert isinstance(refunded, Refund) and (refunded.status, refunded.points) == ("confirmed", 5)
        assert [r.refund_id for r in sdk.refunds("sdk-b1")] == ["sdk-b1-r1"]
        assert sdk.get_refund("sdk-b1", "sdk-b1-r1") == refunded

        # --- rewards and a redemption with the customer's signed consent
        sdk.add_reward("TEA", "Tea", 10, stock=5)
        assert sdk.update_reward("TEA", name="Green tea").name == "Green tea"
        assert [(r.sku, r.stock) for r in sdk.rewards()] == [("TEA", 5)] and sdk.reward("TEA").name == "Green tea"
        prepared = sdk.redemption_consent("sdk-x1", "TEA", ref="alice")
        signature = Account.sign_typed_data(alice.key, full_message=prepared.typed_data).signature
        redeemed = sdk.redeem("sdk-x1", "TEA", ref="alice", consent=signed_consent(prepared, signature))
        fulfilled = sdk.wait(redeemed)
        assert isinstance(fulfilled, Redemption) and fulfilled.status == "fulfilled" and fulfilled.voucher_code
        assert sdk.redemption("sdk-x1").voucher_code == fulfilled.voucher_code

        # --- balances and histories (the history once indexed)
        assert sdk.customer_balance("alice").points == sdk.wallet_balance(alice.address).points == 30 - 5 - 10
        page = until("three history entries", lambda: (h := sdk.customer_history("alice")).entries[2:] and h, stack)
        assert isinstance(page, History) and {e.kind for e in page.entries} == {"earned", "reversed", "redeemed"}
        assert sdk.wallet_history(alice.address, limit=1).entries == page.entries[:1]

        # --- a refund the chain refuses: the customer spent the points (wait() raises its problem)
        w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": alice.address, "value": 10**17})
        transact(w3, alice, points.functions.transfer(fresh_wallet("sdk-elsewhere"), 15))
        with pytest.raises(OperationFailed) as failed:
            sdk.wait(sdk.refund("sdk-b1", "sdk-b1-r2"))
        assert failed.value.slug == "points-already-spent"
        assert "ERC20InsufficientBalance" in str(failed.value.failure_reason)
        (refund_failed,) = until("refund.failed", lambda: received(receiver, rotated.secret, "refund.failed"), stack)
        assert refund_failed["data"]["failure"]["type"] == "/problems/points-already-spent"

        # --- a custodial customer: wallet, purchase by ref, redemption without consent, release
        bob = sdk.custodial_wallet("bob")
        assert bob.custodial and not bob.released
        sdk.wait(sdk.post_purchase("sdk-c1", ref="bob", amount="25", currency="EUR"))
        assert sdk.wait(sdk.redeem("sdk-x2", "TEA", ref="bob")).status == "fulfilled"
        asked = sdk.release_custodial_wallet("bob", "bob-password-1")
        assert asked.status == "release-pending" and asked.available_at is not None and asked.keystore is None
        assert sdk.cancel_custodial_release("bob") is None
        asked = sdk.release_custodial_wallet("bob", "bob-password-1")
        time.sleep(max(0.0, (asked.available_at - datetime.now(asked.available_at.tzinfo)).total_seconds()) + 0.5)
        released = sdk.release_custodial_wallet("bob", "bob-password-1")
        assert released.status == "released" and released.keystore is not None
        assert Account.from_key(Account.decrypt(released.keystore, "bob-password-1")).address == bob.wallet

        # --- its own account: the chain's figures, its purchases, its deliveries
        account = sdk.account(limit=100)
        clearing = stack.harness.contracts.clearing.functions
        assert isinstance(account, PartnerAccount) and (account.id, account.name) == (shop.id, "SDK Shop")
        assert (account.money.funds, account.money.issuance_headroom, account.money.exposure) == (
            clearing.fundsOf(shop.id).call(),
            clearing.headroomOf(shop.id).call(),
            clearing.exposureOf(shop.id).call(),
        )
        assert account.money.exposure > 0 and account.money.token_symbol == "cUSD"
        assert [p.purchase_id for p in account.recent_purchases] == ["sdk-c1", "sdk-b1"]
        assert {d.event_type for d in account.webhook_deliveries} >= {"webhook.test", "refund.failed"}

        sdk.delete_webhook(hook.id)
        assert sdk.webhooks() == []


def test_the_async_client_drives_the_same_calls(stack: Stack) -> None:
    shop = stack.onboard("SDK Async", points_per_unit="2")

    async def run() -> tuple[list[Purchase], History]:
        async with AsyncPartnerClient(stack.url, shop.api_key) as sdk:
            customer = await sdk.custodial_wallet("carol")
            posted = await asyncio.gather(
                *(sdk.post_purchase(f"async-{i}", ref="carol", amount="3", currency="EUR") for i in range(5))
            )
            done = await asyncio.gather(*(sdk.wait(p) for p in posted))
            assert (await sdk.customer_balance("carol")).points == 5 * 6 and customer.custodial
            deadline = time.monotonic() + 45
            while len((history := await sdk.wallet_history(customer.wallet)).entries) < 5:
                assert time.monotonic() < deadline, stack.logs()
                await asyncio.sleep(0.2)
            return list(done), history

    done, history = asyncio.run(run())
    assert [p.status for p in done] == ["confirmed"] * 5 and all(isinstance(p, Purchase) for p in done)
    assert sum(e.points for e in history.entries) == 30
