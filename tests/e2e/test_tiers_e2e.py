"""End to end, real processes (tests/e2e/stack.py: anvil, Redis, a worker, beat, the gateway):
a member crosses tier thresholds by purchases confirmed on chain and is upgraded at once, with a
signed ``tier.changed`` webhook; then, the tiers' clock moved past the review and its grace period
(``COALITION_TIER_CLOCK_FILE``, read by every process), the review pass moves them down one tier.

One stack, a small ladder (Member 0, Silver 50, Gold 100). Ports: 9040-9055, the receiver 9057.
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
from tests.e2e.stack import OPERATOR_HEADERS, OnboardedPartner, Stack, start_stack
from tests.gateway.webhook_receiver import Receiver
from tests.ports import port_for_worker

pytestmark = pytest.mark.timeout(240)
RECEIVER_PORT = port_for_worker(9057)
LADDER = {
    "tiers": [
        {"name": "Member", "threshold": 0, "multiplier": "1"},
        {"name": "Silver", "threshold": 50, "multiplier": "1.25"},
        {"name": "Gold", "threshold": 100, "multiplier": "1.5"},
    ],
    "policy": {"window": "rolling_12_months", "review": {"kind": "anniversary"}, "grace_days": 30},
}
REF = "tier-member-1"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver(port=RECEIVER_PORT) as r:
        yield r


@pytest.fixture(scope="module")
def clock_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tier-clock") / "offset"
    path.write_text("0")
    return path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, clock_file: Path) -> Iterator[Stack]:
    with start_stack(
        tmp_path_factory.mktemp("tiers-e2e"),
        ports=range(9040, 9056),
        workers=1,
        webhook_allow_loopback=True,
        webhook_backoff_base_s=0.5,
        webhook_backoff_cap_s=2,
        tiers_every_s=1,
        tier_review_every_s=2,
        tier_clock_file=clock_file,
    ) as stack:
        yield stack


def wait_for(what: str, check: Callable[[], Any], stack: Stack, timeout_s: float = 60) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"no {what} after {timeout_s} s:\n{stack.logs()}"
        time.sleep(0.2)


def tier_events(receiver: Receiver, secret: str) -> list[dict[str, Any]]:
    with receiver.lock:
        received = list(receiver.received)
    found = [verify(secret, r.body, r.headers["Coalition-Signature"]) for r in received]  # raises if forged
    return [e for e in found if e["type"] == "tier.changed"]


def tier(stack: Stack, partner: OnboardedPartner) -> dict[str, Any]:
    r = stack.http.get(f"/v1/customers/{REF}/tier", headers=partner.headers)
    assert r.status_code == 200, r.text
    return r.json()


def test_a_member_moves_up_at_once_and_down_one_tier_after_the_review_and_its_grace(
    stack: Stack, receiver: Receiver, clock_file: Path
) -> None:
    grocer = stack.onboard("Tier Grocer", points_per_unit="1")
    r = stack.http.post(f"/v1/customers/{REF}/custodial-wallet", headers=grocer.headers)
    assert r.status_code == 201, r.text
    hook = stack.http.post(
        "/v1/webhooks", headers=grocer.headers, json={"url": receiver.url, "event_types": ["tier.changed"]}
    )
    assert hook.status_code == 201, hook.text
    secret = hook.json()["secret"]

    r = stack.http.get("/v1/operator/tiers/ladder", headers=OPERATOR_HEADERS)
    assert r.status_code == 409 and r.json()["type"] == "/problems/tier-ladder-not-set"
    bad = {**LADDER, "tiers": [LADDER["tiers"][0], {"name": "Gold", "threshold": 0}]}
    r = stack.http.put("/v1/operator/tiers/ladder", headers=OPERATOR_HEADERS, json=bad)
    assert r.status_code == 422 and r.json()["type"] == "/problems/tier-ladder-invalid", r.text
    r = stack.http.put("/v1/operator/tiers/ladder", headers=OPERATOR_HEADERS, json=LADDER)
    assert r.status_code == 201 and r.json()["status"] == "proposed", r.text
    version = r.json()["version"]
    r = stack.http.post("/v1/operator/tiers/recalculations", headers=OPERATOR_HEADERS, json={"version": version})
    assert r.status_code == 202, r.text
    run = r.json()
    stack.wait_json(f"/v1/operator/tiers/recalculations/{run['id']}", OPERATOR_HEADERS, want="done")

    assert stack.post_purchase(grocer, "tier-p1", ref=REF, amount="40.00").status_code == 202
    stack.wait_purchase(grocer, "tier-p1")
    seen = wait_for("40 qualifying points", lambda: (t := tier(stack, grocer))["qualifying_points"] == 40 and t, stack)
    assert (seen["tier"], seen["next_tier"], seen["points_to_next"]) == ("Member", "Silver", 10)

    assert stack.post_purchase(grocer, "tier-p2", ref=REF, amount="70.00").status_code == 202
    stack.wait_purchase(grocer, "tier-p2")
    gold = wait_for("Gold", lambda: (t := tier(stack, grocer))["tier"] == "Gold" and t, stack)
    assert (gold["qualifying_points"], gold["multiplier"], gold["next_tier"]) == (110, "1.5", None)
    up = wait_for("tier.changed to Gold", lambda: tier_events(receiver, secret), stack)
    assert [(e["data"]["from_tier"], e["data"]["to_tier"], e["data"]["reason"]) for e in up] == [
        ("Member", "Gold", "qualified")
    ]
    assert up[0]["data"]["customer_ref"] == REF and up[0]["partner_id"] == grocer.id

    decided = gold["decided_at"]
    assert decided is not None and gold["points_to_keep"] == 100  # nothing counts yet for the next review
    clock_file.write_text(str((365 + 30 + 2) * 86_400))  # past the review and its 30 days of grace
    silver = wait_for("Silver", lambda: (t := tier(stack, grocer))["tier"] == "Silver" and t, stack)
    assert silver["qualifying_points"] == 0  # the window has moved on: the purchases left it
    down = wait_for("tier.changed to Silver", lambda: len(ev := tier_events(receiver, secret)) >= 2 and ev, stack)
    assert (down[1]["data"]["from_tier"], down[1]["data"]["to_tier"], down[1]["data"]["reason"]) == (
        "Gold",
        "Silver",
        "review",
    )
    time.sleep(5)  # a few more review passes: one tier per review, never two at once
    assert tier(stack, grocer)["tier"] == "Silver"
    assert len(tier_events(receiver, secret)) == 2
    with PartnerClient(stack.url, grocer.api_key) as sdk:  # the SDK reads the same
        assert (sdk.customer_tier(REF).tier, sdk.customer_tier(REF).multiplier) == ("Silver", Decimal("1.25"))
    member = stack.http.get(f"/v1/operator/tiers/members/{gold['customer_id']}", headers=OPERATOR_HEADERS).json()
    assert [(c["from_tier"], c["to_tier"]) for c in member["changes"]] == [("Gold", "Silver"), ("Member", "Gold")]
