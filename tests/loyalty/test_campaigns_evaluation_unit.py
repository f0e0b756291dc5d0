"""Campaigns' pure rules (issue 20): checking a campaign, which purchases fire it, the arm, the
bonus of each effect mode, the limits' allotment and the award range of sequence numbers."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from loyalty.campaigns.assignment import arm
from loyalty.campaigns.attribution import AWARD_BIT, award_seq, campaign_costs, campaign_of
from loyalty.campaigns.evaluation import (
    EFFECTS,
    TRIGGERS,
    CampaignInvalid,
    EffectType,
    Limits,
    PurchaseFacts,
    TriggerType,
    compile_campaign,
    evaluate_purchase,
    register_effect,
    register_trigger,
)
from loyalty.campaigns.limits import EVER, Usage, allot, period_start
from loyalty.lines import Line

SATURDAY = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
MONDAY = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
WINE = Line("WINE-1", Decimal("10.00"), Decimal(2), "wine", Decimal(0), frozenset())
BREAD = Line("BREAD-1", Decimal("2.00"), Decimal(1), "bakery", Decimal(0), frozenset())


def campaign(**changes: Any):
    spec: dict[str, Any] = {
        "id": 3,
        "version": 1,
        "funder_partner_id": 7,
        "owner": "operator",
        "trigger_type": "purchase",
        "trigger_params": {},
        "conditions": {},
        "effects": [{"kind": "bonus_points", "mode": "fixed", "points": 50}],
        "limits": {},
        "holdout_bp": 0,
        "salt": "s",
    }
    spec.update(changes)
    return compile_campaign(**spec)


def facts(**changes: Any) -> PurchaseFacts:
    spec: dict[str, Any] = {
        "partner_id": 7,
        "customer_id": 11,
        "amount": Decimal("22.00"),
        "purchased_at": SATURDAY,
        "lines": (WINE, BREAD),
        "earned": 22,
        "first_purchase": False,
    }
    spec.update(changes)
    return PurchaseFacts(**spec)


def test_a_fixed_bonus_fires_for_a_matching_purchase():
    (firing,) = evaluate_purchase([campaign()], facts(), SATURDAY)
    assert (firing.campaign_id, firing.arm, firing.points) == (3, "treatment", 50)


def test_per_unit_counts_the_matching_lines_quantity_and_multiplier_the_earned_points():
    per_unit = campaign(
        conditions={"categories": ["wine"]}, effects=[{"kind": "bonus_points", "mode": "per_unit", "points": 5}]
    )
    double = campaign(effects=[{"kind": "bonus_points", "mode": "multiplier", "factor": "2.5"}])
    assert evaluate_purchase([per_unit], facts(), SATURDAY)[0].points == 10  # 2 bottles x 5
    assert evaluate_purchase([double], facts(earned=21), SATURDAY)[0].points == 31  # 21 x 1.5, down


def test_conditions_partner_sku_amount_first_purchase_and_time_window_must_all_hold():
    c = campaign(
        conditions={
            "partners": [7],
            "skus": ["WINE-1"],
            "min_amount": "20",
            "first_purchase": True,
            "weekdays": [5, 6],
            "hours": [9, 12],
            "time_zone": "Europe/Paris",
        }
    )
    assert evaluate_purchase([c], facts(first_purchase=True), SATURDAY)
    assert not evaluate_purchase([c], facts(first_purchase=False), SATURDAY)
    assert not evaluate_purchase([c], facts(first_purchase=True, partner_id=8), SATURDAY)
    assert not evaluate_purchase([c], facts(first_purchase=True, lines=(BREAD,)), SATURDAY)
    assert not evaluate_purchase([c], facts(first_purchase=True, amount=Decimal("19.99")), SATURDAY)
    assert not evaluate_purchase([c], facts(first_purchase=True, purchased_at=MONDAY), MONDAY)
    late = datetime(2026, 11, 21, 11, 30, tzinfo=UTC)  # 12:30 in Paris
    assert not evaluate_purchase([c], facts(first_purchase=True, purchased_at=late), late)


def test_a_partners_campaign_fires_only_on_its_own_purchases():
    c = campaign(owner="partner")
    assert not evaluate_purchase([c], facts(partner_id=8), SATURDAY)
    with pytest.raises(CampaignInvalid, match=r"conditions\.partners"):
        campaign(owner="partner", conditions={"partners": [8]})


def test_outside_its_schedule_a_campaign_does_not_fire():
    c = campaign(starts_at=MONDAY)
    assert not evaluate_purchase([c], facts(), SATURDAY)
    assert evaluate_purchase([c], facts(), MONDAY)


def test_the_control_arm_is_exposed_with_no_points_and_the_arm_is_stable():
    c = campaign(holdout_bp=5000, salt="abc")
    arms = {}
    for customer in range(1, 200):
        (firing,) = evaluate_purchase([c], facts(customer_id=customer), SATURDAY)
        assert firing.arm == arm("abc", customer, 5000)
        assert firing.points == (50 if firing.arm == "treatment" else 0)
        arms[customer] = firing.arm
    assert {"control", "treatment"} == set(arms.values())
    assert all(evaluate_purchase([c], facts(customer_id=k), SATURDAY)[0].arm == v for k, v in arms.items())


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"trigger_type": "lottery"}, "trigger.type"),
        ({"trigger_type": "win_back", "trigger_params": {"days": 0}}, "trigger.params.days"),
        ({"conditions": {"colour": "red"}}, "conditions.colour"),
        ({"conditions": {"time_zone": "Mars/Olympus"}}, "conditions.time_zone"),
        ({"conditions": {"audience": {"field": "tier", "op": "~", "value": "Gold"}}}, "conditions.audience.op"),
        ({"effects": [{"kind": "bonus_points", "mode": "fixed", "points": 0}]}, "effects[0].points"),
        ({"effects": [{"kind": "bonus_points", "mode": "multiplier", "factor": "1"}]}, "effects[0].factor"),
        ({"effects": [{"kind": "achievement"}]}, "effects[0].kind"),
        ({"limits": {"member_period_points": 10}}, "limits.period"),
        ({"holdout_bp": 10_001}, "holdout_bp"),
    ],
)
def test_a_campaign_that_cannot_run_is_refused_naming_the_field(changes, field):
    with pytest.raises(CampaignInvalid) as refused:
        campaign(**changes)
    assert refused.value.field == field


def test_trigger_and_effect_types_are_a_registry_another_module_extends():
    assert {"purchase", "birthday", "win_back", "segment_entered", "referral", "achievement"} <= set(TRIGGERS)
    assert {"bonus_points", "message", "achievement", "referral"} <= set(EFFECTS)
    saved_t, saved_e = TRIGGERS["referral"], EFFECTS["achievement"]
    try:
        register_trigger(TriggerType("referral", lambda params: dict(params)))
        register_effect(EffectType("achievement", lambda effect: dict(effect)))
        c = campaign(trigger_type="referral", trigger_params={"x": 1}, effects=[{"kind": "achievement", "badge": "b"}])
        assert c.trigger_params == {"x": 1} and not c.gives_points
    finally:
        register_trigger(saved_t)
        register_effect(saved_e)


def test_allot_cuts_each_ask_to_the_least_left_of_every_limit_in_order():
    limits = Limits(budget_points=100, period="day", period_budget_points=80, member_period_points=30, max_members=2)
    usage = Usage(spent=10)
    grants = allot(limits, usage, [(1, 20), (1, 20), (2, 50), (3, 5)])
    assert [g.points for g in grants] == [20, 10, 30, 0]
    assert grants[1].note == grants[2].note == "the member's limit for the period is reached"
    assert grants[3].note == "the campaign's number of members is reached"
    assert (usage.spent, usage.period_spent, usage.members) == (70, 60, 2)


def test_allot_never_gives_beyond_the_total_budget():
    usage = Usage(spent=95)
    grants = allot(Limits(budget_points=100), usage, [(1, 3), (2, 3), (3, 3)])
    assert [g.points for g in grants] == [3, 2, 0] and usage.spent == 100
    assert grants[2].note == "the campaign's budget is spent"


def test_periods_start_on_the_day_the_monday_and_the_first_in_the_zone():
    zone = ZoneInfo("Europe/Paris")
    at = datetime(2026, 11, 29, 23, 30, tzinfo=UTC)  # Monday 30th 00:30 in Paris
    assert period_start("day", at, zone).isoformat() == "2026-11-30"
    assert period_start("week", at, zone).isoformat() == "2026-11-30"
    assert period_start("month", at, zone).isoformat() == "2026-11-01"
    assert period_start(None, at, zone) == EVER


def test_an_award_seq_names_its_campaign_and_never_meets_a_purchase_seq():
    seq = award_seq(3, 1)
    assert seq & AWARD_BIT and seq < 2**48 and campaign_of(seq) == 3 and campaign_of(2**47 - 1) is None
    assert award_seq(3, 2) == seq + 1 and campaign_of(award_seq(524_287, 2**28 - 1)) == 524_287
    words = [(7, 10_000, award_seq(3, 1), 50), (7, 10_000, 12, 40), (7, 12_000, award_seq(3, 2), 25),
             (8, 9_000, award_seq(4, 1), 5)]  # fmt: skip
    costs = campaign_costs(words)
    assert (costs[3].points, costs[3].value, costs[3].awards) == (75, 50 * 10_000 + 25 * 12_000, 2)
    assert set(costs) == {3, 4} and costs[4].funder_partner_id == 8
