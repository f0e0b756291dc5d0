"""What a change of a partner's rules would have done to past purchases (pure).

:func:`simulate` evaluates the same past purchases under the rules in force and under the
proposed ones (loyalty/earning.py, each compiled once) and answers: "this change would have issued
X more points, Y in money at the issue price, for Z members", with each rule's points before and
after.

Caps are replayed: purchases are taken in time order, and each rule set's cap usage is carried
from one purchase to the next of the same member within the cap's period; the first purchase of a
member in a period starts from what its context says (:attr:`MemberContext.cap_used`, what the
member had got before), which is 0 for a cap the proposed rules add. Everything else of the
context (tier multiplier, first purchase) is taken as it was.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from loyalty.earning import CompiledRules, Earning, MemberContext, RuleSet, compile_rules, evaluate, period_bounds
from loyalty.lines import Basket

_CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class PastPurchase:
    member: Hashable  # whatever identifies the member (the customer's id)
    basket: Basket
    context: MemberContext


@dataclass(frozen=True, slots=True)
class RuleDelta:
    rule_id: str
    kind: str
    current: int
    proposed: int

    @property
    def delta(self) -> int:
        return self.proposed - self.current


@dataclass(frozen=True, slots=True)
class Simulation:
    """``value`` is the change of points × the issue price, in the settlement token (e.g. cUSD);
    ``members_changed`` counts the members whose points would differ (more or fewer)."""

    purchases: int
    points_current: int
    points_proposed: int
    value: Decimal
    members_changed: int
    members_more: int
    members_fewer: int
    rules: tuple[RuleDelta, ...]

    @property
    def delta_points(self) -> int:
        return self.points_proposed - self.points_current

    def summary(self, token_symbol: str = "cUSD") -> str:
        """E.g. "this change would have issued 1200 more points, 12.00 cUSD at the issue price, for 37 members"."""
        side = "more" if self.delta_points >= 0 else "fewer"
        members = f"{self.members_changed} member{'' if self.members_changed == 1 else 's'}"
        value = abs(self.value)
        cents = value.quantize(_CENT)
        shown = cents if cents == value else value.normalize()  # 0.48, not 0.480000; never rounded
        return (
            f"this change would have issued {abs(self.delta_points)} {side} points, {shown} "
            f"{token_symbol} at the issue price, for {members}"
        )


def simulate(
    current: RuleSet,
    proposed: RuleSet,
    purchases: Iterable[PastPurchase],
    *,
    issue_price: int,
    token_decimals: int = 6,
) -> Simulation:
    """Both rule sets over ``purchases`` (see the module doc). ``issue_price`` is the partner's
    price of a point in the token's base units (``Partner.issue_price``)."""
    ordered = sorted(purchases, key=lambda p: p.basket.purchased_at)
    before = _Replay(compile_rules(current))
    after = _Replay(compile_rules(proposed))
    by_member: dict[Hashable, int] = {}
    per_rule: dict[str, list[int]] = {}
    kinds: dict[str, str] = {}
    points_before = points_after = 0
    for past in ordered:
        old = before.run(past)
        new = after.run(past)
        points_before += old.points
        points_after += new.points
        by_member[past.member] = by_member.get(past.member, 0) + new.points - old.points
        for side, earning in ((0, old), (1, new)):
            for entry in earning.breakdown:
                per_rule.setdefault(entry.rule_id, [0, 0])[side] += entry.points
                kinds[entry.rule_id] = entry.kind
    order: dict[str, int] = {}
    for rule in current.rules + proposed.rules:
        order.setdefault(rule.id, len(order))
    rules = tuple(
        RuleDelta(rule_id, kinds[rule_id], sums[0], sums[1])
        for rule_id, sums in sorted(per_rule.items(), key=lambda item: order.get(item[0], len(order)))
    )
    delta = points_after - points_before
    return Simulation(
        purchases=len(ordered),
        points_current=points_before,
        points_proposed=points_after,
        value=Decimal(delta * issue_price).scaleb(-token_decimals),
        members_changed=sum(1 for d in by_member.values() if d),
        members_more=sum(1 for d in by_member.values() if d > 0),
        members_fewer=sum(1 for d in by_member.values() if d < 0),
        rules=rules,
    )


class _Replay:
    """One rule set run over purchases in time order, carrying each member's cap usage."""

    def __init__(self, compiled: CompiledRules) -> None:
        self.compiled = compiled
        self.caps = compiled.rule_caps + compiled.total_caps
        self.used: dict[tuple[Hashable, str, datetime], int] = {}

    def run(self, past: PastPurchase) -> Earning:
        if not self.caps:
            return evaluate(self.compiled, past.basket, past.context)
        zone = self.compiled.ruleset.time_zone
        keys = {
            cap.id: (past.member, cap.id, period_bounds(cap.period, past.basket.purchased_at, zone)[0])
            for cap in self.caps
        }
        cap_used = {}
        for cap_id, key in keys.items():
            if key not in self.used:
                self.used[key] = past.context.cap_used.get(cap_id, 0)
            cap_used[cap_id] = self.used[key]
        earning = evaluate(self.compiled, past.basket, replace(past.context, cap_used=cap_used))
        for cap_id, points in earning.cap_usage:
            self.used[keys[cap_id]] += points
        return earning
