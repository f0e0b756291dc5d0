"""What a change of a partner's rules would have done to past purchases (pure).

:func:`simulate` evaluates the same past purchases under the rules in force and under the
proposed ones (loyalty/earning.py, each compiled once) and answers: "this change would have issued
X more points, Y in money at the issue price, for Z members", with each rule's points before and
after.

Purchases are taken in time order and each rule set runs over them as one group
(:func:`~loyalty.earning.evaluate_group`): its cap usage is carried from one purchase to the next
of the same member within the cap's period, starting from what the context of the member's first
purchase in that period says they had got before (0 for a cap the proposed rules add); the tier
multiplier and whether a purchase was the member's first are taken from the context.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from decimal import Decimal

from loyalty.earning import MemberPurchase, evaluate_group
from loyalty.earning_rules import RuleSet, compile_rules

_CENT = Decimal("0.01")


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
    purchases: Iterable[MemberPurchase],
    *,
    issue_price: int,
    token_decimals: int = 6,
) -> Simulation:
    """Both rule sets over ``purchases`` (see the module doc). ``issue_price`` is the partner's
    price of a point in the token's base units (``Partner.issue_price``)."""
    ordered = sorted(purchases, key=lambda p: p.basket.purchased_at)
    olds = evaluate_group(compile_rules(current), ordered)
    news = evaluate_group(compile_rules(proposed), ordered)
    by_member: dict[Hashable, int] = {}
    per_rule: dict[str, list[int]] = {}
    kinds: dict[str, str] = {}
    for past, old, new in zip(ordered, olds, news, strict=True):
        by_member[past.member] = by_member.get(past.member, 0) + new.points - old.points
        for side, earning in ((0, old), (1, new)):
            for entry in earning.breakdown:
                per_rule.setdefault(entry.rule_id, [0, 0])[side] += entry.points
                kinds[entry.rule_id] = entry.kind
    points_before = sum(earning.points for earning in olds)
    points_after = sum(earning.points for earning in news)
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
