"""End to end, real processes (tests/e2e/stack.py: anvil, Redis, a worker, beat, the gateway):
paid membership plans with a clock the test moves (``COALITION_TIER_CLOCK_FILE``, the one clock
of tiers and memberships, read by every process).

A plan sold by one partner and honoured at another: its perks at the other's checkout and its
earn multiplier on a purchase confirmed on chain there; a trial that converts, a renewal, the
payment reports idempotent by the provider's reference, a cancellation on /me and the lapse at
the period's end (the trial never given twice); a yearly plan with tier protection: a renewal
missed (past due, the benefits held in the grace), a failed report, a late payment, the tier
kept through a review that lowers it, then the lapse, after which the tier falls. Every change
is a signed webhook to the selling partner.

One stack. Ports: 9980-9995, the receiver 9997.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from partners.client import PartnerClient
from partners.webhooks import verify
from tests.e2e.stack import OPERATOR_HEADERS, OnboardedPartner, Stack, key_for, start_stack
from tests.gateway.webhook_receiver import Receiver
from tests.ports import port_for_worker
from tests.wallets import sign

pytestmark = pytest.mark.timeout(300)
RECEIVER_PORT = port_for_worker(9997)
DAY = 86_400
LADDER = {
    "tiers": [
        {"name": "Member", "threshold": 0, "multiplier": "1"},
        {"name": "Gold", "threshold": 100, "multiplier": "1"},
    ],
    "policy": {"window": "rolling_12_months", "review": {"kind": "anniversary"}, "grace_days": 30},
}  # fmt: skip
MEMBERSHIP_EVENTS = [
    "membership.trial_started", "membership.started", "membership.converted", "membership.renewed",
    "membership.payment_failed", "membership.past_due", "membership.cancelled", "membership.lapsed",
]  # fmt: skip


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver(port=RECEIVER_PORT) as r:
        yield r


@pytest.fixture(scope="module")
def clock_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("membership-clock") / "offset"
    path.write_text("0")
    return path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, clock_file: Path) -> Iterator[Stack]:
    with start_stack(
        tmp_path_factory.mktemp("memberships-e2e"),
        ports=range(9980, 9996),
        workers=1,
        webhook_allow_loopback=True,
        webhook_backoff_base_s=0.5,
        webhook_backoff_cap_s=2,
        tiers_every_s=1,
        tier_review_every_s=1,
        tier_clock_file=clock_file,
        membership_sweep_every_s=1,
        membership_grace_days=7,
    ) as stack:
        yield stack


@pytest.fixture(scope="module")
def partners(stack: Stack, receiver: Receiver) -> dict[str, Any]:
    grocer, bakery = stack.onboard("Plan Grocer", points_per_unit="1"), stack.onboard("Plan Bakery")
    hook = stack.http.post(
        "/v1/webhooks", headers=grocer.headers, json={"url": receiver.url, "event_types": MEMBERSHIP_EVENTS}
    )
    assert hook.status_code == 201, hook.text
    r = stack.http.put("/v1/operator/tiers/ladder", headers=OPERATOR_HEADERS, json=LADDER)
    assert r.status_code == 201, r.text
    r = stack.http.post(
        "/v1/operator/tiers/recalculations", headers=OPERATOR_HEADERS, json={"version": r.json()["version"]}
    )
    assert r.status_code == 202, r.text
    return {"grocer": grocer, "bakery": bakery, "secret": hook.json()["secret"]}


def wait_for(what: str, check: Callable[[], Any], stack: Stack, timeout_s: float = 60) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"no {what} after {timeout_s} s:\n{stack.logs()}"
        time.sleep(0.2)


def events(receiver: Receiver, secret: str, subscription_id: int) -> list[str]:
    with receiver.lock:
        received = list(receiver.received)
    found = [verify(secret, r.body, r.headers["Coalition-Signature"]) for r in received]  # raises if forged
    mine = [e for e in found if e["data"].get("subscription_id") == subscription_id]
    return [e["type"] for e in sorted(mine, key=lambda e: e["created_at"])]  # deliveries may arrive out of order


def link(stack: Stack, partner: OnboardedPartner, ref: str, label: str) -> str:
    account = key_for(label)
    r = stack.http.post(
        f"/v1/customers/{ref}/wallet-challenge", json={"wallet": account.address}, headers=partner.headers
    )
    assert r.status_code == 201, r.text
    message = r.json()["message"]
    r = stack.http.put(
        f"/v1/customers/{ref}/wallet", json={"message": message, "signature": sign(account, message)},
        headers=partner.headers,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    return str(account.address)


def perks(stack: Stack, partner: OnboardedPartner, ref: str) -> dict[str, Any]:
    r = stack.http.get(f"/v1/customers/{ref}/perks", headers=partner.headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


def subscription(stack: Stack, partner: OnboardedPartner, sid: int) -> dict[str, Any]:
    r = stack.http.get(f"/v1/memberships/subscriptions/{sid}", headers=partner.headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


def pay(stack: Stack, partner: OnboardedPartner, sid: int, ref: str, outcome: str = "succeeded", amount: str = "9.99"):  # type: ignore[no-untyped-def]
    body = {"provider_ref": ref, "outcome": outcome, "amount": amount, "currency": "EUR"}
    return stack.http.post(f"/v1/memberships/subscriptions/{sid}/payments", headers=partner.headers, json=body)


def set_clock(clock_file: Path, days: float) -> None:
    clock_file.write_text(str(int(days * DAY)))


def test_a_plan_sold_at_one_partner_is_honoured_at_another_from_trial_to_lapse(
    stack: Stack, partners: dict[str, Any], receiver: Receiver, clock_file: Path
) -> None:
    grocer, bakery, secret = partners["grocer"], partners["bakery"], partners["secret"]
    wallet = link(stack, grocer, "alice", "membership-alice")
    assert link(stack, bakery, "alice-b", "membership-alice") == wallet
    plan = {
        "name": "Plus", "price": "9.99", "currency": "EUR", "period": "monthly", "trial_days": 14,
        "earn_multiplier": "2", "tier_protection": False, "perks": ["free_delivery"], "honoured_by": [bakery.id],
    }  # fmt: skip
    r = stack.http.post("/v1/memberships/plans", headers=grocer.headers, json={**plan, "earn_multiplier": "0.5"})
    assert r.status_code == 422, r.text
    r = stack.http.post("/v1/memberships/plans", headers=grocer.headers, json=plan)
    assert r.status_code == 201, r.text
    plan_id = r.json()["id"]
    assert r.json()["coalition_share"] == "0.1" and r.json()["owner_partner_id"] == grocer.id
    r = stack.http.put(
        f"/v1/operator/memberships/plans/{plan_id}/share", headers=OPERATOR_HEADERS, json={"coalition_share": "0.2"}
    )
    assert r.status_code == 200 and r.json()["coalition_share"] == "0.2", r.text

    r = stack.http.post("/v1/customers/alice/memberships", headers=grocer.headers, json={"plan_id": plan_id})
    assert r.status_code == 201, r.text
    sub = r.json()
    sid, trial_end = sub["id"], sub["period_end"]
    assert sub["status"] == "trialing" and sub["next_renewal"] == trial_end
    again = stack.http.post("/v1/customers/alice/memberships", headers=grocer.headers, json={"plan_id": plan_id})
    assert again.status_code == 409 and again.json()["type"] == "/problems/membership-transition-invalid"

    seen = perks(stack, bakery, "alice-b")  # the perk check at the honouring partner's checkout
    assert (seen["plans"], seen["perks"], seen["earn_multiplier"]) == ([plan_id], ["free_delivery"], "2")
    assert stack.http.get("/v1/customers/nobody/perks", headers=bakery.headers).status_code == 404
    with PartnerClient(stack.url, bakery.api_key) as sdk:  # the SDK reads the same
        checked = sdk.customer_perks("alice-b")
        assert (checked.plans, checked.earn_multiplier, checked.perks) == ([plan_id], Decimal(2), ["free_delivery"])
    assert stack.post_purchase(bakery, "plan-b1", ref="alice-b", amount="10.00").status_code == 202
    bought = stack.wait_purchase(bakery, "plan-b1")
    assert bought["points"] == 20, bought  # 10 points by the bakery's rate, times the plan's 2
    assert stack.balance(wallet) == 20

    set_clock(clock_file, 13)  # the trial converts: the first payment, a day before its end
    first = pay(stack, grocer, sid, "pi_alice_1")
    assert first.status_code == 201, first.text
    assert first.json()["subscription"]["status"] == "active" and first.json()["coalition_amount"] == "2.00"
    assert first.json()["subscription"]["period_start"] == trial_end
    replay = pay(stack, grocer, sid, "pi_alice_1")
    assert replay.status_code == 200 and replay.json()["id"] == first.json()["id"]
    clash = pay(stack, grocer, sid, "pi_alice_1", outcome="failed")
    assert clash.status_code == 409 and clash.json()["type"] == "/problems/idempotency-conflict"
    period_end = first.json()["subscription"]["period_end"]

    set_clock(clock_file, 40)  # a renewal, paid before the period's end: the next calendar month
    renewed = pay(stack, grocer, sid, "pi_alice_2")
    assert renewed.status_code == 201 and renewed.json()["subscription"]["period_start"] == period_end
    period_end = renewed.json()["subscription"]["period_end"]

    challenge = stack.http.post("/v1/auth/challenge", json={"address": wallet}).json()["message"]
    token = stack.http.post(
        "/v1/auth/session", json={"message": challenge, "signature": sign(key_for("membership-alice"), challenge)}
    )
    me = {"Authorization": f"Bearer {token.json()['token']}"}
    mine = stack.http.get("/v1/me/memberships", headers=me).json()["subscriptions"]
    assert [(s["id"], s["next_renewal"]) for s in mine] == [(sid, period_end)]
    page = {"Cookie": f"coalition_customer={token.json()['token']}", "Accept": "text/html"}
    shown = stack.http.get("/me", headers=page)
    assert shown.status_code == 200 and "My plans" in shown.text and period_end[:10] in shown.text, shown.text[-3000:]
    r = stack.http.post(f"/me/memberships/{sid}/cancel", headers=page)  # the customer cancels on /me
    assert r.status_code == 303, r.text
    r = stack.http.post(f"/v1/me/memberships/{sid}/cancel", headers=me)  # again, by the API: nothing changes
    assert r.status_code == 200 and r.json()["cancel_at_period_end"] and r.json()["next_renewal"] is None, r.text
    assert perks(stack, bakery, "alice-b")["plans"] == [plan_id]  # until the period's end

    set_clock(clock_file, 80)  # past the period's end: lapsed by the sweep, no perk left
    wait_for("lapse", lambda: subscription(stack, grocer, sid)["status"] == "lapsed", stack)
    assert perks(stack, bakery, "alice-b")["plans"] == []
    late = pay(stack, grocer, sid, "pi_alice_3")
    assert late.status_code == 409 and late.json()["type"] == "/problems/membership-transition-invalid"
    no_trial = stack.http.post("/v1/customers/alice/memberships", headers=grocer.headers, json={"plan_id": plan_id})
    assert no_trial.status_code == 409, no_trial.text  # the trial was hers once: a new one starts paid
    want = ["membership.trial_started", "membership.converted", "membership.renewed", "membership.cancelled",
            "membership.lapsed"]  # fmt: skip
    wait_for("the webhooks", lambda: events(receiver, secret, sid) == want, stack)


def tier_of(stack: Stack, partner: OnboardedPartner, ref: str) -> str:
    r = stack.http.get(f"/v1/customers/{ref}/tier", headers=partner.headers)
    assert r.status_code == 200, r.text
    return str(r.json()["tier"])


def test_a_yearly_plan_holds_through_its_grace_and_protects_the_tier_until_it_lapses(
    stack: Stack, partners: dict[str, Any], receiver: Receiver, clock_file: Path
) -> None:
    grocer, secret = partners["grocer"], partners["secret"]
    base = 100
    set_clock(clock_file, base)
    link(stack, grocer, "bob", "membership-bob")
    assert stack.post_purchase(grocer, "plan-g1", ref="bob", amount="120.00").status_code == 202
    stack.wait_purchase(grocer, "plan-g1")
    wait_for("Gold", lambda: tier_of(stack, grocer, "bob") == "Gold", stack)
    plan = {"name": "Guard", "price": "99.00", "currency": "EUR", "period": "yearly", "tier_protection": True}
    plan_id = stack.http.post("/v1/memberships/plans", headers=grocer.headers, json=plan).json()["id"]
    unpaid = stack.http.post("/v1/customers/bob/memberships", headers=grocer.headers, json={"plan_id": plan_id})
    assert unpaid.status_code == 409, unpaid.text  # no trial: it starts with its first payment
    r = stack.http.post(
        "/v1/customers/bob/memberships", headers=grocer.headers, json={"plan_id": plan_id, "provider_ref": "pi_bob_1"}
    )
    assert r.status_code == 201 and r.json()["status"] == "active", r.text
    sid = r.json()["id"]

    set_clock(clock_file, base + 366)  # no renewal reported by the period's end: past due, in its grace
    wait_for("past due", lambda: subscription(stack, grocer, sid)["status"] == "past_due", stack)
    assert perks(stack, grocer, "bob")["plans"] == [plan_id]
    failed = pay(stack, grocer, sid, "pi_bob_2", outcome="failed", amount="99.00")
    assert failed.status_code == 201 and failed.json()["subscription"]["status"] == "past_due", failed.text
    paid = pay(stack, grocer, sid, "pi_bob_3", amount="99.00")  # paid within the grace: active again
    assert paid.json()["subscription"]["status"] == "active", paid.text
    assert paid.json()["subscription"]["grace_until"] is None

    set_clock(clock_file, base + 400)  # past the tier's review and its grace: 0 points in the window
    time.sleep(4)  # several review passes
    assert tier_of(stack, grocer, "bob") == "Gold"  # protected while subscribed

    set_clock(clock_file, base + 365 * 2 + 8)  # the second period ended unpaid and its grace too: lapsed
    wait_for("lapse", lambda: subscription(stack, grocer, sid)["status"] == "lapsed", stack)
    assert tier_of(stack, grocer, "bob") == "Member"  # the tier the rules kept computing applies
    assert perks(stack, grocer, "bob")["plans"] == []
    want = ["membership.started", "membership.past_due", "membership.renewed", "membership.lapsed"]
    wait_for("the webhooks", lambda: events(receiver, secret, sid) == want, stack)
    subs = stack.http.get(f"/v1/operator/memberships/subscribers?plan_id={plan_id}", headers=OPERATOR_HEADERS)
    assert [s["status"] for s in subs.json()["subscriptions"]] == ["lapsed"]
