"""Properties of the earning rules (loyalty/earning.py) over generated rule sets and purchases:
the breakdown adds up; base-only rules give today's ``points_for``; caps hold; what is excluded or
paid with points or gift cards never earns; the result depends on neither the run nor the order of
the lines; a bonus window follows the partner's clock across a change of daylight saving time."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.services.purchases import points_for
from loyalty.earning import MemberContext, evaluate
from loyalty.earning_rules import (
    BaseRate,
    BonusWindow,
    Cap,
    Exclusion,
    FirstPurchaseBonus,
    MinimumOrder,
    Multiplier,
    RuleSet,
    Scope,
    TierMultiplier,
    compile_rules,
)
from loyalty.lines import Basket, Line, line_net, to_units
from network.purchases import MAX_POINTS
from network.store import Partner

SKUS = ("a", "b", "c", "d")
CATEGORIES = ("food", "wine", "tobacco")
LABELS = ("bio", "promo", "local")
PARIS = ZoneInfo("Europe/Paris")
RUNS = settings(max_examples=250, deadline=None)

rates = st.decimals(min_value="0.000001", max_value="1000", places=6)
factors = st.decimals(min_value=1, max_value=5, places=2)
scopes = st.builds(
    Scope,
    skus=st.frozensets(st.sampled_from(SKUS), max_size=2),
    categories=st.frozensets(st.sampled_from(CATEGORIES), max_size=1),
    labels=st.frozensets(st.sampled_from(LABELS), max_size=1),
)
named_scopes = scopes.filter(lambda scope: not scope.everything)
hours = st.tuples(st.integers(0, 23), st.integers(0, 23)).filter(lambda h: h[0] != h[1])


@st.composite
def rule_sets(draw: Any) -> RuleSet:
    """A base rate and up to a dozen other rules of every kind, caps on some of them."""
    kinds = draw(st.lists(st.sampled_from(("mult", "window", "tier", "first", "min", "excl")), max_size=12))
    rules: list[Any] = [BaseRate("base", draw(st.integers(1, 3)), draw(rates.filter(lambda r: r <= 50)))]
    for i, kind in enumerate(kinds):
        rid = f"{kind}{i}"
        if kind == "mult":
            rules.append(Multiplier(rid, 1, draw(factors), draw(scopes)))
        elif kind == "window":
            h = draw(st.none() | hours)
            rules.append(
                BonusWindow(
                    rid,
                    1,
                    draw(factors),
                    draw(scopes),
                    weekdays=draw(st.frozensets(st.integers(0, 6), max_size=3)),
                    hours=None if h is None else (time(h[0]), time(h[1])),
                )
            )
        elif kind == "tier":  # (one at most)
            if any(isinstance(rule, TierMultiplier) for rule in rules):
                continue
            rules.append(TierMultiplier(rid, 1, qualifying=draw(st.booleans())))
        elif kind == "first":
            rules.append(FirstPurchaseBonus(rid, 1, draw(st.integers(0, 1000))))
        elif kind == "min":
            rules.append(MinimumOrder(rid, 1, draw(st.decimals(min_value=0, max_value=50, places=2))))
        else:
            rules.append(Exclusion(rid, 1, draw(named_scopes)))
    earning_ids = [r.id for r in rules if r.kind not in ("minimum_order", "exclusion")]
    for j in range(draw(st.integers(0, 3))):
        target = draw(st.none() | st.sampled_from(earning_ids))
        rules.append(Cap(f"cap{j}", 1, draw(st.integers(0, 2000)), draw(st.sampled_from(("day", "month"))), target))
    rounding = draw(st.sampled_from(("down", "half_up", "half_even")))
    return RuleSet(1, draw(st.integers(1, 99)), "EUR", "Europe/Paris", tuple(rules), rounding)


@st.composite
def lines(draw: Any) -> Line:
    quantity = draw(st.sampled_from((Decimal(1), Decimal(2))) | st.decimals(min_value="0.001", max_value=10, places=3))
    price = draw(st.decimals(min_value=0, max_value=200, places=2))
    gross = (quantity * price).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
    discount = draw(st.decimals(min_value=0, max_value=gross, places=2)) if draw(st.booleans()) else Decimal(0)
    return Line(
        draw(st.sampled_from(SKUS)),
        price,
        quantity,
        draw(st.none() | st.sampled_from(CATEGORIES)),
        discount,
        draw(st.frozensets(st.sampled_from(LABELS), max_size=2)),
    )


instants = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC))


@st.composite
def baskets(draw: Any, paid: bool = True) -> Basket:
    items = tuple(draw(st.lists(lines(), min_size=1, max_size=4)))
    amount = sum((line_net(line, "EUR") for line in items), Decimal(0))
    if amount <= 0:
        items = (*items, Line("d", Decimal("1.00")))
        amount += 1
    points = gift_cards = Decimal(0)
    if paid and draw(st.booleans()):
        cents = to_units(amount) // 100
        points = Decimal(draw(st.integers(0, cents))) / 100
        gift_cards = Decimal(draw(st.integers(0, cents - int(points * 100)))) / 100
    return Basket(amount, "EUR", draw(instants), items, points, gift_cards)


members = st.builds(
    MemberContext,
    tier_multiplier=st.decimals(min_value="0.01", max_value=3, places=2),
    first_purchase=st.booleans(),
    cap_used=st.dictionaries(st.sampled_from(("cap0", "cap1", "cap2")), st.integers(0, 2500), max_size=3),
)


@RUNS
@given(rule_sets(), baskets(), members)
def test_the_breakdown_adds_up_to_the_points(ruleset: RuleSet, basket: Basket, member: MemberContext) -> None:
    earning = evaluate(ruleset, basket, member)
    assert sum(entry.points for entry in earning.breakdown) == earning.points >= 0
    assert 0 <= earning.qualifying_points <= earning.points
    versions = {rule.id: rule.version for rule in ruleset.rules}
    assert all(versions[entry.rule_id] == entry.rule_version for entry in earning.breakdown)
    assert all(entry.points != 0 for entry in earning.breakdown)


@RUNS
@given(st.decimals(min_value="0.0001", max_value="99999999", places=4), rates, st.data())
def test_a_base_rate_alone_gives_todays_points_for(amount: Decimal, rate: Decimal, data: Any) -> None:
    ruleset = RuleSet(1, 1, "EUR", "UTC", (BaseRate("base", 1, rate),))
    today = int((amount * rate).to_integral_value(rounding=ROUND_DOWN))
    when = data.draw(instants)
    assert evaluate(ruleset, Basket(amount, "EUR", when), MemberContext()).points == today
    if 0 < today <= MAX_POINTS:
        assert points_for(Partner(currency="EUR", points_per_unit=rate), amount, "EUR")[0] == today
    if amount == amount.quantize(Decimal("0.01")):  # split in lines that add up to it: the same points
        cut = data.draw(st.integers(0, to_units(amount) // 100))
        split = (Line("a", Decimal(cut) / 100), Line("b", amount - Decimal(cut) / 100))
        assert evaluate(ruleset, Basket(amount, "EUR", when, split), MemberContext()).points == today


@RUNS
@given(rule_sets(), baskets(), members)
def test_caps_are_never_exceeded(ruleset: RuleSet, basket: Basket, member: MemberContext) -> None:
    earning = evaluate(ruleset, basket, member)
    usage = dict(earning.cap_usage)
    for cap in (rule for rule in ruleset.rules if isinstance(rule, Cap)):
        room = max(0, cap.limit - member.cap_used.get(cap.id, 0))
        assert 0 <= usage.get(cap.id, 0) <= room
        if cap.rule_id is None:
            assert earning.points <= room
        else:  # what the member got of the rule, after every cap on it
            on_rule = {cap.rule_id} | {c.id for c in ruleset.rules if isinstance(c, Cap) and c.rule_id == cap.rule_id}
            assert max(0, sum(e.points for e in earning.breakdown if e.rule_id in on_rule)) == usage.get(cap.id, 0)


@RUNS
@given(rule_sets(), baskets(), members, lines())
def test_an_excluded_line_never_earns(ruleset: RuleSet, basket: Basket, member: MemberContext, extra: Line) -> None:
    excluded = replace(extra, sku="excluded-sku")
    rules = (*ruleset.rules, Exclusion("the-exclusion", 1, Scope(skus=frozenset({"excluded-sku"}))))
    ruleset = replace(ruleset, rules=rules)
    longer = replace(basket, lines=(*basket.lines, excluded), amount=basket.amount + line_net(excluded, "EUR"))
    if (
        longer.amount
        >= max((r.amount for r in rules if isinstance(r, MinimumOrder)), default=Decimal(0))
        > basket.amount
    ):
        return  # the extra line lifts the purchase over a minimum order: the only way it counts
    if basket.paid_with_points or basket.paid_with_gift_cards:
        longer = replace(longer, paid_with_points=Decimal(0), paid_with_gift_cards=Decimal(0))
        basket = replace(basket, paid_with_points=Decimal(0), paid_with_gift_cards=Decimal(0))
    assert evaluate(ruleset, longer, member).breakdown == evaluate(ruleset, basket, member).breakdown


@RUNS
@given(rule_sets(), baskets(paid=False), members, st.data())
def test_what_is_paid_with_points_or_gift_cards_never_earns(
    ruleset: RuleSet, basket: Basket, member: MemberContext, data: Any
) -> None:
    cents = to_units(basket.amount) // 100
    points = Decimal(data.draw(st.integers(0, cents))) / 100
    paid = replace(basket, paid_with_points=points, paid_with_gift_cards=basket.amount - points)
    earning = evaluate(ruleset, paid, member)
    fixed = {r.id for r in ruleset.rules if isinstance(r, FirstPurchaseBonus | Cap)}
    assert all(entry.rule_id in fixed for entry in earning.breakdown)  # only a first-purchase bonus, capped
    if not earning.notes:  # (a purchase below the minimum order is not looked into)
        assert earning.eligible_units == 0 and earning.non_earning_units == to_units(basket.amount)
    part = replace(basket, paid_with_points=points)
    split = evaluate(ruleset, part, member)
    if split.notes == ():
        assert split.eligible_units + split.excluded_units + split.non_earning_units == to_units(basket.amount)
        assert split.non_earning_units == to_units(points)


@RUNS
@given(rule_sets(), baskets(), members, st.randoms())
def test_the_result_is_deterministic_and_ignores_the_order_of_the_lines(
    ruleset: RuleSet, basket: Basket, member: MemberContext, rnd: Any
) -> None:
    first = evaluate(ruleset, basket, member)
    assert evaluate(compile_rules(ruleset), basket, member) == first
    shuffled = list(basket.lines)
    rnd.shuffle(shuffled)
    assert evaluate(ruleset, replace(basket, lines=tuple(shuffled)), member) == first


SUNDAY_MORNING = RuleSet(
    1,
    1,
    "EUR",
    "Europe/Paris",
    (
        BaseRate("base", 1, Decimal(1)),
        BonusWindow("sunday", 1, Decimal(2), weekdays=frozenset({6}), hours=(time(10), time(12))),
    ),
)


@RUNS
@given(
    st.sampled_from((datetime(2026, 3, 22), datetime(2026, 3, 29), datetime(2026, 10, 25), datetime(2026, 11, 1))),
    st.integers(-2, 2),
    st.integers(0, 23 * 60 + 59),
)
def test_a_bonus_window_follows_the_partners_clock_across_daylight_saving(
    day: datetime, shift: int, minute: int
) -> None:
    # the Sundays around the changes of 2026 (29 March, 25 October) and the days either side
    local = (day + timedelta(days=shift, minutes=minute)).replace(tzinfo=PARIS)
    at = local.astimezone(UTC)
    seen = at.astimezone(PARIS)  # a time that does not exist (02:30 on 29 March) moves forward
    inside = seen.weekday() == 6 and 10 <= seen.hour < 12
    earning = evaluate(SUNDAY_MORNING, Basket(Decimal(10), "EUR", at), MemberContext())
    assert [e.rule_id for e in earning.breakdown] == (["base", "sunday"] if inside else ["base"])


def test_the_same_utc_hour_is_in_the_window_on_one_side_of_the_change_and_not_on_the_other() -> None:
    before = datetime(2026, 3, 22, 9, 30, tzinfo=UTC)  # 10:30 in Paris (UTC+1)
    after = datetime(2026, 3, 29, 9, 30, tzinfo=UTC)  # 11:30 in Paris (UTC+2)
    late = datetime(2026, 3, 29, 10, 30, tzinfo=UTC)  # 12:30: out
    early = datetime(2026, 3, 22, 8, 30, tzinfo=UTC)  # 09:30: out
    points = [
        evaluate(SUNDAY_MORNING, Basket(Decimal(10), "EUR", at), MemberContext()).points
        for at in (before, after, late, early)
    ]
    assert points == [20, 20, 10, 10]
