"""Simulating a change of rules over past purchases (loyalty/simulation.py): the points and money
it would have added, for how many members, per rule; caps replayed purchase after purchase."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty.earning import MemberContext, MemberPurchase, evaluate
from loyalty.earning_rules import BaseRate, Cap, Multiplier, RuleSet, Scope
from loyalty.lines import Basket, Line
from loyalty.simulation import RuleDelta, simulate

BASE = BaseRate("base", 1, D(1))
CURRENT = RuleSet(3, 4, "EUR", "Europe/Paris", (BASE,))
WINE_X2 = Multiplier("wine-x2", 1, D(2), Scope(categories=frozenset({"wine"})))
PROPOSED = RuleSet(3, 5, "EUR", "Europe/Paris", (BASE, WINE_X2))
DAY = datetime(2026, 5, 4, 10, tzinfo=UTC)


def bought(member: str, *lines: Line, hours: int = 0, context: MemberContext | None = None) -> MemberPurchase:
    amount = sum((line.unit_price * line.quantity for line in lines), D(0))
    return MemberPurchase(
        member, Basket(amount, "EUR", DAY + timedelta(hours=hours), lines), context or MemberContext()
    )


WINE = Line("bordeaux", D("12.00"), category="wine")
BREAD = Line("bread", D("3.00"), category="bakery")


def test_a_change_says_how_many_more_points_what_they_cost_and_for_how_many_members() -> None:
    past = [bought("ann", WINE, BREAD), bought("ann", WINE, hours=1), bought("bob", BREAD), bought("cy", WINE, WINE)]
    result = simulate(CURRENT, PROPOSED, past, issue_price=10_000)  # 0.01 cUSD a point
    # wine bought: 12 + 12 + 24 = 48 more points, ann and cy; bob only bought bread
    assert (result.points_current, result.points_proposed, result.delta_points) == (54, 102, 48)
    assert result.value == D("0.48")
    assert (result.members_changed, result.members_more, result.members_fewer) == (2, 2, 0)
    assert result.rules == (RuleDelta("base", "base", 54, 54), RuleDelta("wine-x2", "multiplier", 0, 48))
    assert (
        result.summary() == "this change would have issued 48 more points, 0.48 cUSD at the issue price, for 2 members"
    )


def test_a_change_that_issues_fewer_points_says_so() -> None:
    result = simulate(PROPOSED, CURRENT, [bought("ann", WINE)], issue_price=10_000)
    assert result.delta_points == -12 and result.members_fewer == 1
    assert (
        result.summary() == "this change would have issued 12 fewer points, 0.12 cUSD at the issue price, for 1 member"
    )


def test_caps_are_replayed_within_their_period_from_what_the_member_had_before() -> None:
    capped = RuleSet(3, 6, "EUR", "Europe/Paris", (BASE, WINE_X2, Cap("wine-cap", 1, 20, "day", "wine-x2")))
    before = MemberContext(cap_used={"wine-cap": 5})  # 5 bonus points earlier that day
    past = [
        bought("ann", WINE, context=before),  # 12 bonus, room 15: 12
        bought("ann", WINE, hours=1, context=before),  # room 3: 3 (the context's 5 is not counted twice)
        bought("ann", WINE, hours=24),  # the next day: a new period, room 20: 12
    ]
    result = simulate(CURRENT, capped, past, issue_price=1)
    assert result.rules[1:] == (RuleDelta("wine-x2", "multiplier", 0, 36), RuleDelta("wine-cap", "cap", 0, -9))
    assert result.delta_points == 27


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abc"), st.integers(1, 50), st.booleans()), max_size=20))
def test_the_simulation_of_a_rule_set_against_itself_changes_nothing(rows: list[tuple[str, int, bool]]) -> None:
    past = [bought(m, Line("x", D(p), category="wine" if w else "food"), hours=i) for i, (m, p, w) in enumerate(rows)]
    result = simulate(PROPOSED, PROPOSED, past, issue_price=10_000)
    assert result.delta_points == 0 and result.members_changed == 0 and result.value == 0
    assert result.points_current == sum(evaluate(PROPOSED, p.basket, p.context).points for p in past)
