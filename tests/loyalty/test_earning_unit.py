"""The earning rules (loyalty/earning.py), one example per rule kind, checked by hand in the
comments; then rounding, caps, their periods and the refusals of a bad rule set."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal as D

import pytest

from loyalty.earning import (
    CurrencyNotEarning,
    Earning,
    MemberContext,
    MemberPurchase,
    evaluate,
    evaluate_group,
    evaluate_many,
    period_bounds,
)
from loyalty.earning_rules import (
    BaseRate,
    BonusWindow,
    Cap,
    Exclusion,
    FirstPurchaseBonus,
    MinimumOrder,
    Multiplier,
    Rule,
    RuleSet,
    RulesInvalid,
    Scope,
    TierMultiplier,
    compile_rules,
)
from loyalty.lines import Basket, Line

SATURDAY = datetime(2026, 6, 6, 9, 30, tzinfo=UTC)  # 11:30 in Paris (UTC+2)
MONDAY = datetime(2026, 6, 8, 9, 30, tzinfo=UTC)
BASE = BaseRate("base", 1, D("1.5"))
MEMBER = MemberContext()
WINE = Line("bordeaux", D("10.00"), D(3), category="wine")  # 30.00
BREAD = Line("bread", D("20.00"), category="bakery", labels=frozenset({"bio"}))  # 20.00
CIGARS = Line("cigars", D("50.00"), category="tobacco")  # 50.00


def rules(*more: Rule, rounding: str = "down", version: int = 1) -> RuleSet:
    return RuleSet(7, version, "EUR", "Europe/Paris", (BASE, *more), rounding)  # type: ignore[arg-type]


def earn(
    ruleset: RuleSet,
    *lines: Line,
    amount: str | None = None,
    at: datetime = MONDAY,
    member: MemberContext = MEMBER,
    points: str = "0",
    gift_cards: str = "0",
) -> Earning:
    if amount is None:
        amount = str(sum((line.unit_price * line.quantity - line.discount for line in lines), D(0)))
    return evaluate(ruleset, Basket(D(amount), "EUR", at, lines, D(points), D(gift_cards)), member)


def entries(earning: Earning) -> list[tuple[str, int]]:
    return [(entry.rule_id, entry.points) for entry in earning.breakdown]


def test_base_rate_earns_points_per_unit_rounded_down_as_before_rules() -> None:
    earning = earn(rules(), amount="42.37")  # 42.37 x 1.5 = 63.555
    assert earning.points == 63
    assert earning.breakdown_json() == [{"rule": "base", "version": 1, "kind": "base", "points": 63}]
    assert earning.qualifying_points == 63 and earning.eligible_amount == D("42.37")


def test_a_multiplier_by_category_adds_the_extra_on_its_lines_only() -> None:
    earning = earn(rules(Multiplier("wine-x3", 2, D(3), Scope(categories=frozenset({"wine"})))), WINE, BREAD)
    # base 50.00 x 1.5 = 75; wine 30.00 x 1.5 x (3 - 1) = 90
    assert entries(earning) == [("base", 75), ("wine-x3", 90)]
    assert earning.breakdown[1].rule_version == 2 and earning.breakdown[1].kind == "multiplier"
    assert earning.points == 165


def test_a_multiplier_by_sku_or_by_label_matches_those_lines() -> None:
    by_sku = Multiplier("bread-x2", 1, D(2), Scope(skus=frozenset({"bread"})))
    by_label = Multiplier("bio-x1.5", 1, D("1.5"), Scope(labels=frozenset({"bio"})))
    earning = earn(rules(by_sku, by_label), WINE, BREAD)
    # bread 20.00 x 1.5 = 30 base points: +30 (x2), +15 (x1.5)
    assert entries(earning) == [("base", 75), ("bread-x2", 30), ("bio-x1.5", 15)]


def test_multipliers_add_up_and_do_not_compound() -> None:
    twice = Multiplier("x2", 1, D(2), Scope(categories=frozenset({"wine"})))
    thrice = Multiplier("x3", 1, D(3), Scope(skus=frozenset({"bordeaux"})))
    earning = earn(rules(twice, thrice), WINE)  # 45 base: x(1 + 1 + 2) = 180, not x6
    assert entries(earning) == [("base", 45), ("x2", 45), ("x3", 90)]


def test_a_rule_naming_a_line_twice_counts_it_once() -> None:
    both = Multiplier("wine-or-bordeaux", 1, D(2), Scope(skus=frozenset({"bordeaux"}), categories=frozenset({"wine"})))
    assert entries(earn(rules(both), WINE)) == [("base", 45), ("wine-or-bordeaux", 45)]


def test_a_bonus_window_applies_in_the_partners_time_zone() -> None:
    saturday_morning = BonusWindow("sat", 1, D(2), weekdays=frozenset({5}), hours=(time(10), time(12)))
    ruleset = rules(saturday_morning)
    assert entries(earn(ruleset, amount="10", at=SATURDAY)) == [("base", 15), ("sat", 15)]  # 11:30 local
    assert entries(earn(ruleset, amount="10", at=SATURDAY.replace(hour=10))) == [("base", 15)]  # 12:00 local
    assert entries(earn(ruleset, amount="10", at=MONDAY)) == [("base", 15)]


def test_a_bonus_window_has_dates_and_hours_that_may_cross_midnight() -> None:
    night = BonusWindow(
        "night", 1, D(2), starts_on=date(2026, 6, 1), ends_on=date(2026, 6, 30), hours=(time(22), time(2))
    )
    ruleset = rules(night)
    at = datetime(2026, 6, 10, 22, 30, tzinfo=UTC)  # 00:30 on the 11th in Paris
    assert entries(earn(ruleset, amount="10", at=at)) == [("base", 15), ("night", 15)]
    assert entries(earn(ruleset, amount="10", at=at.replace(hour=1))) == [("base", 15)]  # 03:30 local
    assert entries(earn(ruleset, amount="10", at=datetime(2026, 6, 30, 22, 30, tzinfo=UTC))) == [("base", 15)]  # 1 July


def test_a_bonus_window_can_be_scoped_to_a_category() -> None:
    wine_week = BonusWindow("wine-week", 1, D(4), scope=Scope(categories=frozenset({"wine"})))
    assert entries(earn(rules(wine_week), WINE, BREAD)) == [("base", 75), ("wine-week", 135)]  # 45 x 3


def test_the_tier_multiplier_applies_to_the_base_points() -> None:
    twice = Multiplier("x2", 1, D(2))
    gold = MemberContext(tier_multiplier=D("1.25"))
    earning = earn(rules(twice, TierMultiplier("tier", 1)), amount="100", member=gold)
    assert entries(earning) == [("base", 150), ("x2", 150), ("tier", 37)]  # 150 x 0.25 = 37.5, rounded down
    assert earning.points == 337
    assert entries(earn(rules(TierMultiplier("tier", 1)), amount="100")) == [("base", 150)]  # multiplier 1
    half = earn(rules(TierMultiplier("tier", 1)), amount="100", member=MemberContext(tier_multiplier=D("0.5")))
    assert entries(half) == [("base", 150), ("tier", -75)]  # a tier below 1 earns less than the base
    with pytest.raises(ValueError, match="more than 0"):
        earn(rules(TierMultiplier("tier", 1)), amount="100", member=MemberContext(tier_multiplier=D(0)))


def test_a_tier_below_1_never_takes_the_purchase_below_nothing_when_a_cap_took_the_base() -> None:
    ruleset = rules(TierMultiplier("tier", 1), Cap("base-cap", 1, 10, "day", "base"))
    earning = earn(ruleset, amount="100", member=MemberContext(tier_multiplier=D("0.5")))
    # base 150, tier -75, the cap leaves 10 of the base: 10 - 75 would be -65, the tier takes 10 only
    assert entries(earning) == [("base", 150), ("tier", -10), ("base-cap", -140)]
    assert earning.points == 0 and earning.cap_usage == (("base-cap", 10),)


def test_a_tier_multiplier_is_ignored_where_the_partner_has_no_tier_rule() -> None:
    assert earn(rules(), amount="100", member=MemberContext(tier_multiplier=D(2))).points == 150


def test_the_first_purchase_bonus_is_given_once() -> None:
    ruleset = rules(FirstPurchaseBonus("welcome", 1, 500))
    assert entries(earn(ruleset, amount="10", member=MemberContext(first_purchase=True))) == [
        ("base", 15),
        ("welcome", 500),
    ]
    assert entries(earn(ruleset, amount="10")) == [("base", 15)]


def test_below_the_minimum_order_a_purchase_earns_nothing_and_says_why() -> None:
    ruleset = rules(MinimumOrder("min", 1, D("20.00")), FirstPurchaseBonus("welcome", 1, 500))
    below = earn(ruleset, amount="19.99", member=MemberContext(first_purchase=True))
    assert below.points == 0 and below.breakdown == ()
    assert below.notes == ("min: the amount 19.99 is below the minimum order 20.00",)
    assert earn(ruleset, amount="20.00").points == 30


def test_excluded_lines_earn_nothing() -> None:
    ruleset = rules(Exclusion("no-tobacco", 1, Scope(categories=frozenset({"tobacco"}))))
    earning = earn(ruleset, WINE, CIGARS)
    assert entries(earning) == [("base", 45)]
    assert earning.excluded_units == 500_000


def test_the_part_paid_with_points_or_gift_cards_earns_nothing() -> None:
    earning = earn(rules(), WINE, BREAD, points="10.00", gift_cards="5.00")
    assert earning.points == 52  # (50.00 - 15.00) x 1.5 = 52.5
    assert earning.non_earning_units == 150_000


def test_a_cap_per_rule_keeps_what_is_left_of_the_period_and_shows_what_it_took() -> None:
    double = Multiplier("x2", 1, D(2))
    ruleset = rules(double, Cap("x2-cap", 3, 100, "month", "x2"))
    earning = earn(ruleset, amount="100", member=MemberContext(cap_used={"x2-cap": 40}))
    # x2 would give 150; 60 left this month
    assert entries(earning) == [("base", 150), ("x2", 150), ("x2-cap", -90)]
    assert earning.points == 210
    assert earning.cap_usage == (("x2-cap", 60),)
    spent = earn(ruleset, amount="100", member=MemberContext(cap_used={"x2-cap": 130}))  # over: nothing left
    assert entries(spent) == [("base", 150), ("x2", 150), ("x2-cap", -150)]
    assert spent.cap_usage == (("x2-cap", 0),)


def test_two_caps_on_one_rule_both_count_what_the_member_got() -> None:
    double = Multiplier("x2", 1, D(2))
    daily, monthly = Cap("x2-day", 1, 100, "day", "x2"), Cap("x2-month", 1, 500, "month", "x2")
    earning = earn(rules(double, daily, monthly), amount="100", member=MemberContext(cap_used={"x2-month": 450}))
    # x2 would give 150: the day's cap leaves 100, the month's 50
    assert entries(earning) == [("base", 150), ("x2", 150), ("x2-day", -50), ("x2-month", -50)]
    assert earning.cap_usage == (("x2-day", 50), ("x2-month", 50))


def test_a_cap_on_the_whole_purchase_counts_every_rule() -> None:
    ruleset = rules(FirstPurchaseBonus("welcome", 1, 500), Cap("daily", 1, 400, "day"))
    earning = earn(ruleset, amount="100", member=MemberContext(first_purchase=True, cap_used={"daily": 100}))
    assert entries(earning) == [("base", 150), ("welcome", 500), ("daily", -350)]
    assert earning.points == 300 and earning.cap_usage == (("daily", 300),)
    assert earning.qualifying_points == 150


def test_a_cap_that_is_not_reached_leaves_no_entry() -> None:
    earning = earn(rules(Cap("daily", 1, 400, "day")), amount="10")
    assert entries(earning) == [("base", 15)] and earning.cap_usage == (("daily", 15),)


@pytest.mark.parametrize(
    ("rounding", "amount", "points"),
    [
        ("down", "1.00", 1),  # 1.5
        ("half_up", "1.00", 2),  # 1.5
        ("half_even", "1.00", 2),  # 1.5 -> 2 (even)
        ("half_even", "3.00", 4),  # 4.5 -> 4 (even)
        ("half_up", "3.00", 5),
        ("half_up", "0.99", 1),  # 1.485
    ],
)
def test_the_rounding_policy_applies_once_to_the_total(rounding: str, amount: str, points: int) -> None:
    assert earn(rules(rounding=rounding), amount=amount).points == points


def test_rounding_once_gives_the_points_lost_per_line_to_the_largest_fractions() -> None:
    # three lines of 0.33 x 1.5 = 0.495 each: rounded per line, even half up, they would earn 0;
    # as one purchase: base 1.485 + x2 1.485 = 2.97, half up 3; the floors give 1 + 1 and the point
    # left goes to the largest fraction, a tie (.485 each) that the rule listed first takes
    lines = [Line(sku, D("0.33")) for sku in "abc"]
    earning = earn(rules(Multiplier("x2", 1, D(2)), rounding="half_up"), *lines)
    assert earning.points == 3
    assert entries(earning) == [("base", 2), ("x2", 1)]


def test_a_group_of_purchases_is_evaluated_with_the_rules_compiled_once() -> None:
    compiled = compile_rules(rules(Multiplier("x2", 1, D(2))))
    baskets = [(Basket(D(a), "EUR", MONDAY), MEMBER) for a in ("1", "2", "3")]
    assert [e.points for e in evaluate_many(compiled, baskets)] == [3, 6, 9]


def test_a_purchase_in_another_currency_is_refused() -> None:
    with pytest.raises(CurrencyNotEarning, match="EUR purchases, not USD"):
        evaluate(rules(), Basket(D(10), "USD", MONDAY), MEMBER)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ((Multiplier("m", 1, D("0.5"), Scope()),), "at least 1"),
        ((Multiplier("m", 1, D("1.0000001"), Scope()),), "more than 6 decimals"),
        ((Cap("c", 1, 10, "month", "nope"),), "not an earning rule"),
        ((Cap("c", 1, 10, "fortnight"),), "limit of 0 or more"),  # type: ignore[arg-type]
        ((Exclusion("x", 1, Scope()),), "must name"),
        ((BaseRate("base", 1, D(2)),), "every rule needs an id of its own"),
        ((BaseRate("b2", 1, D(2)),), "exactly one base rule"),
        ((BonusWindow("w", 1, D(2), starts_on=date(2026, 2, 1), ends_on=date(2026, 1, 1)),), "before it starts"),
        ((BonusWindow("w", 1, D(2), weekdays=frozenset({7})),), "weekdays"),
        ((FirstPurchaseBonus("f", 0, 10),), "version must be 1 or more"),
        ((TierMultiplier("t1", 1), TierMultiplier("t2", 1)), "one tier rule"),
    ],
)
def test_a_bad_rule_set_is_refused_naming_the_rule(bad: tuple[Rule, ...], message: str) -> None:
    with pytest.raises(RulesInvalid, match=message):
        compile_rules(rules(*bad))


def test_a_rule_set_needs_a_known_time_zone_and_rounding() -> None:
    with pytest.raises(RulesInvalid, match="time zone"):
        compile_rules(RuleSet(1, 1, "EUR", "Mars/Olympus", (BASE,)))
    with pytest.raises(RulesInvalid, match="rounding"):
        compile_rules(RuleSet(1, 1, "EUR", "UTC", (BASE,), "up"))  # type: ignore[arg-type]


def test_cap_periods_are_calendar_periods_in_the_partners_time_zone() -> None:
    at = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)  # 00:30 on 1 January 2027 in Paris
    start, end = period_bounds("day", at, "Europe/Paris")
    assert (start.isoformat(), end.isoformat()) == ("2027-01-01T00:00:00+01:00", "2027-01-02T00:00:00+01:00")
    assert period_bounds("month", at, "Europe/Paris")[0].date() == date(2027, 1, 1)
    assert period_bounds("month", at, "UTC") == (datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    assert period_bounds("year", at, "UTC")[1] == datetime(2027, 1, 1, tzinfo=UTC)
    week = period_bounds("week", MONDAY, "Europe/Paris")
    assert week[0].date() == date(2026, 6, 8) and week[1].date() == date(2026, 6, 15)  # Monday to Monday


def test_a_group_carries_each_members_cap_usage_and_first_purchase_from_one_purchase_to_the_next() -> None:
    ruleset = rules(FirstPurchaseBonus("welcome", 1, 100), Cap("daily", 1, 200, "day"))
    new = MemberContext(first_purchase=True, cap_used={"daily": 20})
    group = [
        MemberPurchase("ann", Basket(D(100), "EUR", MONDAY), new),  # 150 + 100, room 180: 180
        MemberPurchase("bob", Basket(D(10), "EUR", MONDAY), new),  # 15 + 100: 115
        MemberPurchase("ann", Basket(D(10), "EUR", MONDAY), new),  # not her first any more; room 0: 0
        MemberPurchase("ann", Basket(D(10), "EUR", MONDAY + timedelta(days=1)), MEMBER),  # a new day: 15
    ]
    assert [e.points for e in evaluate_group(ruleset, group)] == [180, 115, 0, 15]
    assert [e.cap_usage for e in evaluate_group(ruleset, group)][2:] == [(("daily", 0),), (("daily", 15),)]
