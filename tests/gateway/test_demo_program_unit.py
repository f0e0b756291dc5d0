"""The program ``coalition demo`` runs (coalition/program.py), against the pure rules the gateway
evaluates with: each shop's rule set compiles, its bonus window gives points at the demo's own
time (also around midnight) and not outside it, the baskets' lines add up as the gateway adds
them, and a ladder answer compares equal to the ladder the demo wants."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from coalition import program
from loyalty.earning import MemberContext, evaluate
from loyalty.earning_rules import RuleSet
from loyalty.lines import Basket, Line, line_net, lines_mismatch
from loyalty.rules_json import ruleset_from_json

PARIS = ZoneInfo(program.TIME_ZONE)


def compiled(plan: program.ShopPlan, now: datetime) -> RuleSet:
    draft = program.rule_set(plan, now)
    rules = [{**rule, "version": 1} for rule in draft["rules"]]  # as the gateway stores a new rule
    return ruleset_from_json({"partner_id": 1, "version": 1, "currency": "EUR", **draft, "rules": rules})


def basket_of(lines: list[dict[str, str]], at: datetime) -> Basket:
    parsed = tuple(
        Line(x["sku"], Decimal(x["unit_price"]), Decimal(x["quantity"]), x["category"], Decimal(x["discount"]))
        for x in lines
    )
    amount = sum((program.net_of(x) for x in lines), Decimal(0))
    return Basket(amount, "EUR", at, parsed)


def kinds(ruleset: RuleSet, basket: Basket) -> dict[str, int]:
    return {e.kind: e.points for e in evaluate(ruleset, basket, MemberContext()).breakdown}


@pytest.mark.parametrize("plan", program.SHOPS, ids=lambda p: p.kind)
def test_each_shops_rule_set_compiles_and_its_till_receipt_earns_by_every_rule(plan: program.ShopPlan) -> None:
    now = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
    earned = kinds(compiled(plan, now), basket_of(program.till_lines(plan), now))
    assert earned["base"] > 0 and earned["multiplier"] > 0  # the excluded line earns no entry of its own
    assert ("bonus_window" in earned) == plan.bonus_window


@pytest.mark.parametrize("local", ["10:00", "23:30", "00:30", "22:59"])
def test_the_bonus_window_covers_the_demos_time_and_not_four_hours_later_nor_days_before(local: str) -> None:
    [plan] = [p for p in program.SHOPS if p.bonus_window]
    hour, minute = map(int, local.split(":"))
    now = datetime(2026, 12, 5, hour, minute, tzinfo=PARIS).astimezone(UTC)
    rules = compiled(plan, now)
    receipt = program.till_lines(plan)
    assert kinds(rules, basket_of(receipt, now))["bonus_window"] > 0
    assert kinds(rules, basket_of(receipt, now + timedelta(minutes=110)))["bonus_window"] > 0
    assert "bonus_window" not in kinds(rules, basket_of(receipt, now + timedelta(hours=4)))
    assert "bonus_window" not in kinds(rules, basket_of(receipt, now - timedelta(days=2)))


def test_baskets_add_up_as_the_gateway_adds_them_and_always_have_a_line_that_earns() -> None:
    rng = random.Random(3)
    for plan in program.SHOPS:
        for _ in range(300):
            lines, amount = program.basket(plan.catalogue, rng, {plan.excluded})
            parsed = [basket_of([x], datetime.now(UTC)).lines[0] for x in lines]
            assert [line_net(p, "EUR") for p in parsed] == [program.net_of(x) for x in lines]
            assert lines_mismatch(parsed, amount, "EUR") is None
            assert any(x["category"] != plan.excluded for x in lines)


def test_qualifying_points_are_the_base_rates_at_most_the_purchases_points() -> None:
    breakdown = [{"kind": "base", "points": 49}, {"kind": "bonus_window", "points": 98}]
    assert program.qualifying_points(breakdown, 147) == 49
    assert program.qualifying_points([{"kind": "base", "points": 49}], 40) == 40  # a cap took some
    assert program.qualifying_points(None, 30) == 30  # earned by the rate alone


def test_a_ladder_answer_with_null_review_fields_is_the_ladder_the_demo_wants() -> None:
    answer = {
        "version": 2,
        "status": "active",
        "tiers": [{**t, "extra": 1} for t in program.LADDER["tiers"]],
        "policy": {**program.LADDER["policy"], "review": {"kind": "anniversary", "month": None, "day": None}},
    }
    assert program.ladder_of(answer) == program.LADDER
    answer["tiers"][1] = {**answer["tiers"][1], "threshold": 1}
    assert program.ladder_of(answer) != program.LADDER


def test_profiles_give_an_email_a_locale_its_time_zone_and_consents() -> None:
    fields = program.profile(3, "run-c3")
    assert fields["email"] == "run-c3@example.com" and fields["time_zone"] == "Europe/London"
    assert {c["channel"]: c["granted"] for c in fields["consents"]} == {"email": True, "sms": True, "push": True}
