"""The earning rules wired into the gateway (issue 16 items 2 and 3), in process on SQLite:
purchases with lines, a partner's rule set versions (draft, activate, read), the writer's
evaluation (breakdown, first purchase, caps within a group and across groups, 0 points), and the
simulation of a proposal on stored purchases."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from sqlalchemy import select

from network.store import EarningCapUsage, EarningRuleSet, Purchase
from tests.gateway.partners import OPERATOR
from tests.gateway.purchases import OTHER_WALLET, WALLET, assert_nothing_stored, purchase_body, stored
from tests.gateway.redemptions import customer_key
from tests.problems import assert_problem

SATURDAY = "2026-11-21T10:00:00Z"
MONDAY = "2026-11-23T10:00:00Z"
LINES = [  # 30.00: wine 20.00, tobacco 8.00 (excluded), bread 2.00
    {"sku": "WINE-1", "category": "wine", "quantity": "2", "unit_price": "10.00"},
    {"sku": "CIG-1", "category": "tobacco", "unit_price": "8.00"},
    {"sku": "BREAD-1", "category": "bakery", "unit_price": "2.50", "discount": "0.50"},
]
RULES: dict[str, Any] = {
    "time_zone": "Europe/Paris",
    "rules": [
        {"kind": "base", "id": "base", "points_per_unit": "1"},
        {"kind": "multiplier", "id": "wine-x2", "factor": "2", "categories": ["wine"]},
        {"kind": "bonus_window", "id": "weekend", "factor": "3", "weekdays": [5, 6]},
        {"kind": "exclusion", "id": "no-tobacco", "categories": ["tobacco"]},
        {"kind": "first_purchase", "id": "welcome", "points": 10},
        {"kind": "minimum_order", "id": "min-5", "amount": "5"},
        {"kind": "cap", "id": "weekend-cap", "limit": 30, "period": "day", "rule": "weekend"},
    ],
}


def with_lines(purchase_id: str, **changes: Any) -> dict[str, Any]:
    return purchase_body(purchase_id, amount="30.00", lines=LINES, purchased_at=SATURDAY) | changes


@pytest.fixture
def ruled(client, partner):
    """The partner with RULES active as version 1."""
    r = client.post(f"/v1/operator/partners/{partner.id}/rules", headers=OPERATOR, json=RULES)
    assert r.status_code == 201, r.text
    assert (r.json()["version"], r.json()["status"]) == (1, "draft")
    r = client.post(f"/v1/operator/partners/{partner.id}/rules/1/activate", headers=OPERATOR)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "active"
    return partner


def entries(body: dict[str, Any]) -> dict[str, int]:
    return {e["rule"]: e["points"] for e in body["breakdown"]}


# ------------------------------------------------------------------------- without rule sets


def test_a_purchase_without_lines_or_rules_answers_as_before(client, partner):
    r = client.post("/v1/purchases", headers=partner.headers, json=purchase_body())
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["points"] == 63 and "breakdown" not in body
    assert body["rule"] == {"currency": "EUR", "points_per_unit": "1.500000", "rounding": "down"}


def test_lines_that_do_not_add_up_are_refused_naming_the_difference(client, partner, sessions):
    r = client.post("/v1/purchases", headers=partner.headers, json=with_lines("l-1", amount="35.00"))
    body = assert_problem(r, "lines-mismatch")
    assert body["detail"] == "the lines add up to 30.00 EUR, 5.00 less than the amount 35.00"
    assert_nothing_stored(sessions, partner.id)


def captured_hold(client, partner, points, purchase_id: str, amount: str) -> dict[str, Any]:
    """A hold of ``amount`` cUSD of a customer's points, signed, authorised and captured for the purchase."""
    alice = customer_key("paid-with-points")
    points.balances[alice.address] = 10_000
    hold_id = f"hold-{purchase_id}"
    ask = {"hold_id": hold_id, "customer": {"wallet": alice.address}, "amount": amount}
    prepared = client.post("/v1/points-holds/consent", headers=partner.headers, json=ask).json()
    signature = Account.sign_typed_data(alice.key, full_message=prepared["typed_data"]).signature
    consent = {"nonce": int(prepared["nonce"]), "deadline": prepared["deadline"], "signature": "0x" + signature.hex()}
    r = client.post("/v1/points-holds", headers=partner.headers, json={**ask, "consent": consent})
    assert r.status_code == 201, r.text
    r = client.post(f"/v1/points-holds/{hold_id}/capture", headers=partner.headers, json={"purchase_id": purchase_id})
    assert r.status_code == 202, r.text
    return r.json()


def test_lines_at_a_partner_without_rules_earn_by_its_rate_less_what_points_paid(client, partner, sessions, points):
    captured_hold(client, partner, points, "l-1", "10.00")
    body = with_lines("l-1", paid_with={"points": "10.00"})
    r = client.post("/v1/purchases", headers=partner.headers, json=body)
    assert r.status_code == 202, r.text
    # 20.00 of 30.00 paid otherwise than with points: 20 × 1.5
    assert r.json()["points"] == 30
    assert r.json()["breakdown"] == [{"rule": "base", "version": 1, "kind": "base", "points": 30}]
    assert r.json()["rule"]["ruleset_version"] == 0
    (purchase,), _, _ = stored(sessions, partner.id)
    assert purchase.lines[2] == {**LINES[2], "quantity": "1", "labels": []}
    assert purchase.paid_with == {"points": "10.00", "gift_cards": "0"}


def test_paid_with_points_must_be_what_the_holds_captured_for_the_purchase_are_worth(client, partner, sessions, points):
    body = with_lines("l-1", paid_with={"points": "10.00"})
    r = client.post("/v1/purchases", headers=partner.headers, json=body)
    assert "no hold was captured for purchase 'l-1'" in assert_problem(r, "points-payment-mismatch")["detail"]
    captured = captured_hold(client, partner, points, "l-1", "6.00")
    r = client.post("/v1/purchases", headers=partner.headers, json=body)
    detail = assert_problem(r, "points-payment-mismatch")["detail"]
    assert detail == (
        f"paid_with.points is 10.00; the holds captured for purchase 'l-1' are worth 6.000000 cUSD "
        f"({captured['points']} points)"
    )
    assert_nothing_stored(sessions, partner.id)
    r = client.post("/v1/purchases", headers=partner.headers, json=with_lines("l-1", paid_with={"points": "6.00"}))
    assert r.status_code == 202, r.text


def test_tenders_above_the_amount_are_a_validation_error(client, partner):
    r = client.post("/v1/purchases", headers=partner.headers, json=with_lines("l-1", paid_with={"points": "31"}))
    assert_problem(r, "validation-error")


def test_the_same_lines_replay_and_other_lines_conflict(client, partner):
    first = client.post("/v1/purchases", headers=partner.headers, json=with_lines("l-1"))
    assert first.status_code == 202, first.text
    again = client.post("/v1/purchases", headers=partner.headers, json=with_lines("l-1"))
    assert again.status_code == 202 and again.headers["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    changed = [{**LINES[0], "unit_price": "9.00"}, {**LINES[1], "unit_price": "10.00"}, LINES[2]]
    assert_problem(
        client.post("/v1/purchases", headers=partner.headers, json=with_lines("l-1", lines=changed)),
        "idempotency-conflict",
    )


# ------------------------------------------------------------------------------ rule sets


def test_a_purchase_earns_by_the_active_rules_and_shows_its_breakdown(client, ruled, sessions):
    r = client.post("/v1/purchases", headers=ruled.headers, json=with_lines("r-1"))
    assert r.status_code == 202, r.text
    body = r.json()
    # base 22 (tobacco excluded), wine +20, weekend ×3 +44 capped at 30 (−14), welcome +10
    assert entries(body) == {"base": 22, "wine-x2": 20, "weekend": 44, "welcome": 10, "weekend-cap": -14}
    assert body["points"] == 82
    assert body["rule"] == {"currency": "EUR", "points_per_unit": "1", "rounding": "down", "ruleset_version": 1}
    got = client.get("/v1/purchases/r-1", headers=ruled.headers).json()
    assert got["breakdown"] == body["breakdown"] and got["points"] == 82
    with sessions() as session:
        # only the base rate's points count towards the tier: the multiplier and bonuses do not say they do
        assert session.scalar(select(Purchase.qualifying_points).where(Purchase.purchase_id == "r-1")) == 22
        (usage,) = session.scalars(select(EarningCapUsage)).all()
        assert (usage.wallet, usage.cap_id, str(usage.period_start), usage.points) == (
            WALLET,
            "weekend-cap",
            "2026-11-21",
            30,
        )


def test_a_purchase_without_lines_earns_by_the_rules_on_its_whole_amount(client, ruled):
    r = client.post("/v1/purchases", headers=ruled.headers, json=purchase_body("r-1", purchased_at=MONDAY))
    assert r.status_code == 202, r.text
    assert entries(r.json()) == {"base": 42, "welcome": 10}


def test_the_first_purchase_bonus_is_given_once_per_member_within_and_across_groups(client, ruled):
    batch = [purchase_body(f"f-{i}", purchased_at=MONDAY) for i in range(3)]
    batch.append(purchase_body("f-other", purchased_at=MONDAY, customer={"wallet": OTHER_WALLET}))
    r = client.post("/v1/purchases/batch", headers=ruled.headers, json={"purchases": batch})
    assert r.status_code == 200, r.text
    welcomes = [entries(x["purchase"]).get("welcome") for x in r.json()["results"]]
    assert welcomes == [10, None, None, 10]
    later = client.post("/v1/purchases", headers=ruled.headers, json=purchase_body("f-9", purchased_at=MONDAY))
    assert "welcome" not in entries(later.json())


def test_a_cap_holds_within_a_group_and_across_groups(client, ruled, sessions):
    batch = [with_lines("c-1"), with_lines("c-2")]
    r = client.post("/v1/purchases/batch", headers=ruled.headers, json={"purchases": batch})
    assert r.status_code == 200, r.text
    first, second = (x["purchase"] for x in r.json()["results"])
    assert entries(first)["weekend-cap"] == -14
    assert entries(second)["weekend-cap"] == -44 and second["points"] == 42  # the day's 30 are used
    third = client.post("/v1/purchases", headers=ruled.headers, json=with_lines("c-3")).json()
    assert entries(third)["weekend-cap"] == -44
    sunday = client.post(
        "/v1/purchases", headers=ruled.headers, json=with_lines("c-4", purchased_at="2026-11-22T10:00:00Z")
    ).json()
    assert entries(sunday)["weekend-cap"] == -14  # a new day, a new period
    with sessions() as session:
        usage = {str(u.period_start): u.points for u in session.scalars(select(EarningCapUsage))}
    assert usage == {"2026-11-21": 30, "2026-11-22": 30}


def test_a_purchase_below_the_minimum_order_earns_nothing_and_is_refused(client, ruled, sessions):
    r = client.post("/v1/purchases", headers=ruled.headers, json=purchase_body("m-1", amount="4.99"))
    body = assert_problem(r, "no-points")
    assert body["detail"] == "min-5: the amount 4.99 is below the minimum order 5"
    assert_nothing_stored(sessions, ruled.id)


def test_a_purchase_of_excluded_lines_only_is_refused_saying_why(client, ruled):
    assert client.post("/v1/purchases", headers=ruled.headers, json=with_lines("x-0")).status_code == 202
    only_tobacco = [LINES[1]]  # and no first-purchase bonus left
    r = client.post("/v1/purchases", headers=ruled.headers, json=with_lines("x-1", amount="8", lines=only_tobacco))
    body = assert_problem(r, "no-points")
    assert body["detail"] == "nothing of 8 EUR can earn: 8 in excluded lines, 0 paid with points or gift cards"


def test_activation_retires_the_version_in_force_and_new_purchases_use_the_new_one(client, ruled, sessions):
    v2 = {**RULES, "rules": [{"kind": "base", "id": "base", "points_per_unit": "2"}]}
    assert client.post(f"/v1/operator/partners/{ruled.id}/rules", headers=OPERATOR, json=v2).json()["version"] == 2
    assert client.post(f"/v1/operator/partners/{ruled.id}/rules/2/activate", headers=OPERATOR).status_code == 200
    listed = client.get(f"/v1/operator/partners/{ruled.id}/rules", headers=OPERATOR).json()
    assert [(v["version"], v["status"]) for v in listed] == [(2, "active"), (1, "retired")]
    # the base rule was the rate's (1), became 1 per unit in version 1 (2), 2 per unit now (3)
    assert {rule["id"]: rule["version"] for rule in listed[0]["rules"]} == {"base": 3}
    r = client.post("/v1/purchases", headers=ruled.headers, json=purchase_body("v-1", purchased_at=MONDAY))
    assert r.json()["points"] == 85 and r.json()["rule"]["ruleset_version"] == 2
    assert_problem(
        client.post(f"/v1/operator/partners/{ruled.id}/rules/1/activate", headers=OPERATOR), "ruleset-not-draft"
    )


def test_a_rule_keeps_its_version_unless_it_changes(client, ruled):
    changed = [dict(rule) for rule in RULES["rules"]]
    changed[1] = {**changed[1], "factor": "2.5"}
    r = client.post(f"/v1/operator/partners/{ruled.id}/rules", headers=OPERATOR, json={**RULES, "rules": changed})
    versions = {rule["id"]: rule["version"] for rule in r.json()["rules"]}
    assert versions["wine-x2"] == 2 and versions["weekend"] == 1
    assert versions["base"] == 2  # version 1 of the set changed the rate's base rule (its version 1)


def test_a_number_written_differently_is_the_same_rule(client, ruled):
    same = [dict(rule) for rule in RULES["rules"]]
    same[0] = {**same[0], "points_per_unit": "1.000000"}
    same[1] = {**same[1], "factor": "2.0"}
    r = client.post(f"/v1/operator/partners/{ruled.id}/rules", headers=OPERATOR, json={**RULES, "rules": same})
    versions = {rule["id"]: rule["version"] for rule in r.json()["rules"]}
    assert versions["base"] == 2 and versions["wine-x2"] == 1  # as in version 1 of the set


def test_a_rule_set_that_does_not_compile_is_refused_naming_the_rule(client, partner, sessions):
    bad = {
        "rules": [
            {"kind": "base", "id": "base", "points_per_unit": "1"},
            {"kind": "multiplier", "id": "half", "factor": "0.5"},
        ]
    }
    body = assert_problem(
        client.post(f"/v1/operator/partners/{partner.id}/rules", headers=OPERATOR, json=bad), "rules-invalid"
    )
    assert body["detail"].startswith("half: factor must be at least 1")
    with sessions() as session:
        assert session.scalars(select(EarningRuleSet)).all() == []


def test_a_partner_reads_its_rules_in_force_and_not_the_operator_routes(client, partner, ruled):
    before = client.get("/v1/rules", headers=partner.headers).json()
    assert before["version"] == 1 and before["status"] == "active"
    assert_problem(client.get(f"/v1/operator/partners/{partner.id}/rules", headers=partner.headers), "unauthorized")


def test_a_partner_without_rules_reads_its_rate_as_version_0(client, partner):
    body = client.get("/v1/rules", headers=partner.headers).json()
    assert (body["version"], body["rules"][0]["points_per_unit"]) == (0, "1.500000")


# ----------------------------------------------------------------------------- simulation


def test_a_simulation_says_what_the_proposal_would_have_issued(client, partner):
    for i, wallet in enumerate((WALLET, OTHER_WALLET)):
        body = with_lines(f"s-{i}", customer={"wallet": wallet}, purchased_at=None)
        assert client.post("/v1/purchases", headers=partner.headers, json=body).status_code == 202
    # in force: the rate, 1.5 per unit on 30.00 (45 each); proposed: 1 per unit, wine ×2, tobacco excluded
    proposal = {"rules": [r for r in RULES["rules"] if r["id"] in ("base", "wine-x2", "no-tobacco")]}
    r = client.post(f"/v1/operator/partners/{partner.id}/rules/simulate?days=7", headers=OPERATOR, json=proposal)
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["purchases"], got["points_current"], got["points_proposed"]) == (2, 90, 84)
    assert got["delta_points"] == -6 and got["value"] == "-0.06"  # 6 points at 10,000 units of cUSD (0.01)
    assert (got["members_changed"], got["members_fewer"]) == (2, 2)
    assert got["summary"] == "this change would have issued 6 fewer points, 0.06 cUSD at the issue price, for 2 members"
    assert {r["rule"]: r["delta"] for r in got["rules"]} == {"base": -46, "wine-x2": 40}


def test_the_history_shows_each_earn_with_its_purchase_and_breakdown(client, ruled, sessions):
    from gateway.routes.customer_common import history_public
    from gateway.services import history
    from network.store import LedgerEntry

    assert client.post("/v1/purchases", headers=ruled.headers, json=with_lines("h-1")).status_code == 202
    with sessions() as session:
        for i, (kind, seq) in enumerate((("earned", 1), ("redeemed", None))):
            session.add(
                LedgerEntry(
                    chain_id=31337, block_number=5 + i, block_time=0, tx_hash=f"0x{i:064x}", log_index=0, item=0,
                    kind=kind, customer=WALLET, partner_id=ruled.id, seq=seq, points=82 if seq else -10,
                )
            )  # fmt: skip
        session.commit()
        page = history.history(session, WALLET, partner_id=ruled.id)
    redeemed, earned = history_public(page, wallet=WALLET, balance=72).entries
    assert earned.purchase_id == "h-1" and earned.breakdown is not None
    assert {e.rule: e.points for e in earned.breakdown} == {
        "base": 22, "wine-x2": 20, "weekend": 44, "welcome": 10, "weekend-cap": -14,
    }  # fmt: skip
    assert (redeemed.purchase_id, redeemed.breakdown) == (None, None)


def test_a_tier_rule_gives_the_members_tier_multiplier_from_the_ladder_in_force(client, partner, sessions):
    from gateway.schemas_tiers import LADDER_EXAMPLE as LADDER
    from gateway.services import tier_recalculation

    rules = {"rules": [{"kind": "base", "id": "base", "points_per_unit": "1"}, {"kind": "tier", "id": "tier"}]}
    draft = client.post(f"/v1/operator/partners/{partner.id}/rules", headers=OPERATOR, json=rules).json()
    client.post(f"/v1/operator/partners/{partner.id}/rules/{draft['version']}/activate", headers=OPERATOR)
    before = client.post("/v1/purchases", headers=partner.headers, json=purchase_body("t-1", amount="40"))
    assert entries(before.json()) == {"base": 40}  # no ladder: ×1
    ladder = {**LADDER, "tiers": [{**LADDER["tiers"][0], "multiplier": "1.5"}, *LADDER["tiers"][1:]]}
    put = client.put("/v1/operator/tiers/ladder", headers=OPERATOR, json=ladder)
    assert put.status_code == 201, put.text
    run = client.post("/v1/operator/tiers/recalculations", headers=OPERATOR, json={"version": put.json()["version"]})
    assert run.status_code == 202, run.text
    with sessions() as session:  # the worker's part, run here
        tier_recalculation.run_chunk(session, run_id=run.json()["id"])
        session.commit()
    after = client.post("/v1/purchases", headers=partner.headers, json=purchase_body("t-2", amount="40"))
    assert entries(after.json()) == {"base": 40, "tier": 20}  # a wallet of no member: the bottom tier's ×1.5
