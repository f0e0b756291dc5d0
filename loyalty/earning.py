"""What a purchase earns under a partner's rules, and which rule gave which points (pure).

:func:`evaluate` takes the rules (loyalty/earning_rules.py, compiled once per group of purchases
by :func:`~loyalty.earning_rules.compile_rules`), a purchase (:class:`~loyalty.lines.Basket`) and
what is known of the member (:class:`MemberContext`), and answers an :class:`Earning`: the points
(an int) and the breakdown, one :class:`Entry` (rule id, rule version, kind, points) per rule that
gave or took points, which adds up to the points exactly. :func:`evaluate_group` runs a group of
purchases in order and carries, from one purchase of a member to the next, their cap usage and
that their first purchase is behind them.

Rounding, once, at the end: every rule's contribution is kept exact (integers of 10**-16 point),
their sum is rounded by the rule set's policy (``down``, ``half_up``, ``half_even``), and that
total is shared out to the rules by the largest remainder (each rule's exact points rounded down,
the points left one each to the largest fractions, ties to the rule listed first). Why not per
line: per-line rounding loses up to a point per line and rule, so splitting a line in two would
change what it earns, and base-only rules would no longer give today's amount × rate rounded
down; once at the end, a purchase earns the same whatever its lines and their order. Caps work
on the rounded points.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import NamedTuple
from zoneinfo import ZoneInfo

from loyalty.earning_rules import (
    PERIODS,
    RATE_SCALE,
    CompiledRules,
    EarningRule,
    Period,
    Rounding,
    RuleSet,
    compile_rules,
    in_window,
    rate_of,
)
from loyalty.lines import Basket, Line, eligibility, from_units

_EXACT = 10**4 * RATE_SCALE**2  # money units (10**-4) × rate (10**-6) × factor (10**-6): 1 point
_NO_USE: Mapping[str, int] = {}
_MATCHES_KEPT = 100_000  # (SKU, category, labels) whose matching line rules a compiled rule set remembers


class CurrencyNotEarning(ValueError):
    """The purchase is in another currency than the rule set's."""


@dataclass(frozen=True, slots=True)
class MemberContext:
    """What the rules need to know of the member: the multiplier of their tier (loyalty/tiers.py),
    whether this is their first purchase at the partner, and per cap id the points they already
    got in the cap's current period (the sum of :attr:`Earning.cap_usage` of that cap over the
    period, :func:`period_bounds`)."""

    tier_multiplier: Decimal = Decimal(1)
    first_purchase: bool = False
    cap_used: Mapping[str, int] = field(default_factory=dict)


class Entry(NamedTuple):
    """One line of a breakdown: (rule id, rule version, kind, points); a tuple, as cheap as one."""

    rule_id: str
    rule_version: int
    kind: str
    points: int

    def as_json(self) -> dict[str, str | int]:
        return {"rule": self.rule_id, "version": self.rule_version, "kind": self.kind, "points": self.points}


@dataclass(frozen=True, slots=True)
class Earning:
    """What a purchase earns. ``points`` is the sum of ``breakdown``'s points; ``cap_usage`` says,
    per cap, what this purchase counts towards it; ``qualifying_points`` the part that counts
    towards the member's tier. Amounts are in money units (10**-4 of the currency:
    :func:`~loyalty.lines.from_units`): what earned, what an exclusion kept from earning, what was
    paid with points or gift cards. ``notes`` say why a purchase earned nothing when a rule says so."""

    points: int
    breakdown: tuple[Entry, ...]
    ruleset_version: int
    cap_usage: tuple[tuple[str, int], ...] = ()
    qualifying_points: int = 0
    eligible_units: int = 0
    excluded_units: int = 0
    non_earning_units: int = 0
    notes: tuple[str, ...] = ()

    def breakdown_json(self) -> list[dict[str, str | int]]:
        return [entry.as_json() for entry in self.breakdown]

    @property
    def eligible_amount(self) -> Decimal:
        return from_units(self.eligible_units)


# ----------------------------------------------------------------------------------- evaluation


def evaluate(rules: RuleSet | CompiledRules, purchase: Basket, member: MemberContext) -> Earning:
    """What ``purchase`` earns under ``rules`` for ``member`` (see the module doc). The purchase
    is assumed checked (:func:`loyalty.lines.check_basket`); raises :class:`CurrencyNotEarning`
    for another currency than the rules'."""
    compiled = rules if isinstance(rules, CompiledRules) else compile_rules(rules)
    ruleset = compiled.ruleset
    if purchase.currency != ruleset.currency:
        raise CurrencyNotEarning(f"the rules earn points on {ruleset.currency} purchases, not {purchase.currency}")
    split = eligibility(
        purchase,
        excluded_skus=compiled.excluded_skus,
        excluded_categories=compiled.excluded_categories,
        excluded_labels=compiled.excluded_labels,
    )
    if compiled.minimum is not None and sum(split.nets) < compiled.minimum[1]:  # the nets add up to the amount
        return _below_minimum(compiled, purchase)
    eligible = sum(split.eligible)
    rate = compiled.rate
    # exact contributions, in 10**-16 point, by the rule's position in the rule set
    exact: list[tuple[int, EarningRule, int]] = [(compiled.base_position, compiled.base, eligible * rate * RATE_SCALE)]
    if compiled.line_rules and eligible:
        exact += _line_contributions(compiled, purchase, split.eligible)
    if compiled.tiers and eligible:
        extra = _tier_extra(member.tier_multiplier)
        if extra:
            exact += [(position, tier, eligible * rate * extra) for tier, position in compiled.tiers]
    if member.first_purchase and compiled.firsts:
        exact += [(position, rule, rule.points * _EXACT) for rule, position in compiled.firsts]
    exact.sort()  # by position: positions are unique
    breakdown = _apportion(exact, _round(sum([c for _, _, c in exact]), ruleset.rounding))
    usage: tuple[tuple[str, int], ...] = ()
    if compiled.rule_caps or compiled.total_caps:
        usage = _apply_caps(compiled, breakdown, member.cap_used or _NO_USE)
    total = qualifying = 0
    for entry in breakdown:
        total += entry.points
        if entry.rule_id in compiled.qualifying:  # (a cap's id never is: its cut is taken from the rule's below)
            qualifying += entry.points
    for cap in compiled.qualifying_caps:
        qualifying += sum([e.points for e in breakdown if e.rule_id == cap])
    return Earning(
        points=total,
        breakdown=tuple(breakdown),
        ruleset_version=ruleset.version,
        cap_usage=usage,
        qualifying_points=max(0, min(qualifying, total)),
        eligible_units=eligible,
        excluded_units=split.excluded_total,
        non_earning_units=sum(split.non_earning_shares),
    )


def _below_minimum(compiled: CompiledRules, purchase: Basket) -> Earning:
    assert compiled.minimum is not None
    rule = compiled.minimum[0]
    return Earning(
        points=0,
        breakdown=(),
        ruleset_version=compiled.ruleset.version,
        cap_usage=tuple((cap.id, 0) for cap in compiled.rule_caps + compiled.total_caps),
        notes=(f"{rule.id}: the amount {purchase.amount} is below the minimum order {rule.amount}",),
    )


_TIER_EXTRAS: dict[Decimal, int] = {}


def _tier_extra(multiplier: Decimal) -> int:
    """(multiplier − 1) × 10**6, checked: a tier multiplier is more than 0 (loyalty/tiers.py), of at
    most 6 decimals; below 1, the tier entry is negative (the tier earns less than the base)."""
    extra = _TIER_EXTRAS.get(multiplier)
    if extra is None:
        extra = rate_of(multiplier, "tier", "the member's tier multiplier") - RATE_SCALE
        if extra <= -RATE_SCALE:
            raise ValueError(f"a tier multiplier is more than 0, not {multiplier}")
        if len(_TIER_EXTRAS) < 1024:  # a ladder has a handful of multipliers
            _TIER_EXTRAS[multiplier] = extra
    return extra


def evaluate_many(ruleset: RuleSet | CompiledRules, purchases: Iterable[tuple[Basket, MemberContext]]) -> list[Earning]:
    """:func:`evaluate` of each (purchase, member) with the rules compiled once."""
    compiled = ruleset if isinstance(ruleset, CompiledRules) else compile_rules(ruleset)
    return [evaluate(compiled, purchase, member) for purchase, member in purchases]


def _line_contributions(
    compiled: CompiledRules, purchase: Basket, eligible: tuple[int, ...]
) -> list[tuple[int, EarningRule, int]]:
    line_rules = compiled.line_rules
    live: tuple[bool, ...] | list[bool] = compiled.always
    if compiled.windows:
        local = purchase.purchased_at.astimezone(compiled.zone)
        live = list(live)
        for i, window in compiled.windows:
            live[i] = in_window(window, local)
    money = [0] * len(line_rules)
    lines = purchase.lines
    for i, units in enumerate(eligible):
        if units:
            for r in _matched(compiled, lines[i]) if lines else compiled.everywhere:
                money[r] += units
    rate = compiled.rate
    return [
        (line_rule.position, line_rule.rule, units * rate * line_rule.extra)
        for line_rule, units, on in zip(line_rules, money, live, strict=True)
        if units and on and line_rule.extra
    ]


def _matched(compiled: CompiledRules, line: Line) -> tuple[int, ...]:
    """The line rules that name the line (by SKU, category or label) or every line, each once;
    remembered per (SKU, category, labels): a catalogue repeats itself."""
    key = (line.sku, line.category, line.labels)
    found = compiled.matches.get(key)
    if found is None:
        indices = set(compiled.everywhere)
        indices.update(compiled.by_sku.get(line.sku, ()))
        if line.category is not None:
            indices.update(compiled.by_category.get(line.category, ()))
        for label in line.labels:
            indices.update(compiled.by_label.get(label, ()))
        found = tuple(sorted(indices))
        if len(compiled.matches) < _MATCHES_KEPT:
            compiled.matches[key] = found
    return found


def _round(exact: int, rounding: Rounding) -> int:
    whole, rest = divmod(exact, _EXACT)
    if rounding == "down" or not rest:
        return whole
    twice = 2 * rest
    if twice > _EXACT or (twice == _EXACT and (rounding == "half_up" or whole % 2)):
        return whole + 1
    return whole


def _apportion(exact: list[tuple[int, EarningRule, int]], points: int) -> list[Entry]:
    """``points`` shared out to the contributions: floors, then one each to the largest
    fractions, ties to the rule listed first; entries of 0 points are left out."""
    parts = [divmod(contribution, _EXACT) for _, _, contribution in exact]
    floors = [whole for whole, _ in parts]
    left = points - sum(floors)
    if left:
        for _, i in sorted([(-rest, i) for i, (_, rest) in enumerate(parts)])[:left]:
            floors[i] += 1
    return [
        Entry(rule.id, rule.version, rule.kind, whole)
        for (_, rule, _), whole in zip(exact, floors, strict=True)
        if whole
    ]


def _apply_caps(compiled: CompiledRules, entries: list[Entry], used: Mapping[str, int]) -> tuple[tuple[str, int], ...]:
    """Appends to ``entries`` what the caps take away; answers what the purchase counts towards each cap."""
    usage: list[tuple[str, int]] = []
    left: dict[str, int] = {}  # per capped rule, its points after the caps so far
    for cap in compiled.rule_caps:
        rule_id = cap.rule_id or ""
        got = left.get(rule_id)
        if got is None:
            got = sum([entry.points for entry in entries if entry.rule_id == rule_id])
        room = max(0, cap.limit - used.get(cap.id, 0))
        if got > room:
            entries.append(Entry(cap.id, cap.version, cap.kind, room - got))
            got = room
        left[rule_id] = got
    # what the member got of the rule (a negative tier entry frees no room)
    usage += [(cap.id, max(0, left[cap.rule_id or ""])) for cap in compiled.rule_caps]
    total = sum([entry.points for entry in entries])
    if total < 0:  # a tier below 1 takes its share of points a cap already took: never below nothing
        _lift_tiers(entries, -total)
        total = 0
    for cap in compiled.total_caps:
        room = max(0, cap.limit - used.get(cap.id, 0))
        if total > room:
            entries.append(Entry(cap.id, cap.version, cap.kind, room - total))
            total = room
    usage += [(cap.id, total) for cap in compiled.total_caps]
    return tuple(usage)


def _lift_tiers(entries: list[Entry], short: int) -> None:
    for i, entry in enumerate(entries):
        if short and entry.kind == "tier" and entry.points < 0:
            lifted = min(short, -entry.points)
            entries[i] = entry._replace(points=entry.points + lifted)
            short -= lifted
    entries[:] = [entry for entry in entries if entry.points]


# -------------------------------------------------------------------------------- cap periods


def period_bounds(period: Period, at: datetime, time_zone: str) -> tuple[datetime, datetime]:
    """The calendar period (day, ISO week from Monday, month, year) in ``time_zone`` that holds
    the instant ``at``: (start, end) as aware datetimes in that zone, start included, end excluded.
    What a cap's :attr:`MemberContext.cap_used` sums over."""
    zone = ZoneInfo(time_zone)
    first, last = _period_days(period, at.astimezone(zone).date())
    return datetime.combine(first, time(), zone), datetime.combine(last, time(), zone)


def _period_days(period: Period, day: date) -> tuple[date, date]:
    if period == "day":
        return day, day + timedelta(days=1)
    if period == "week":
        first = day - timedelta(days=day.weekday())
        return first, first + timedelta(days=7)
    if period == "month":
        first = day.replace(day=1)
        return first, date(first.year + first.month // 12, first.month % 12 + 1, 1)
    if period == "year":
        return date(day.year, 1, 1), date(day.year + 1, 1, 1)
    raise ValueError(f"period must be one of {', '.join(PERIODS)}, not {period!r}")


# ------------------------------------------------------------------------------------- groups


@dataclass(frozen=True, slots=True)
class MemberPurchase:
    """A purchase with its member: ``member`` is whatever identifies them (the customer's id)."""

    member: Hashable
    basket: Basket
    context: MemberContext


def evaluate_group(rules: RuleSet | CompiledRules, purchases: Iterable[MemberPurchase]) -> list[Earning]:
    """:func:`evaluate` of each purchase, in the order given, with the rules compiled once, and
    what one purchase of a member changes for the next of the same group carried over: a cap's
    usage within its period (starting, at the member's first purchase of the group in that
    period, from what the context says they had got before) and the first purchase (only the
    first of the member's purchases in the group can be one)."""
    compiled = rules if isinstance(rules, CompiledRules) else compile_rules(rules)
    caps = compiled.rule_caps + compiled.total_caps
    used: dict[tuple[Hashable, str, date], int] = {}
    seen: set[Hashable] = set()
    earnings = []
    for item in purchases:
        context = item.context
        if context.first_purchase and item.member in seen:
            context = replace(context, first_purchase=False)
        seen.add(item.member)
        keys: dict[str, tuple[Hashable, str, date]] = {}
        if caps:
            day = item.basket.purchased_at.astimezone(compiled.zone).date()
            cap_used = {}
            for cap in caps:
                key = keys[cap.id] = (item.member, cap.id, _period_days(cap.period, day)[0])
                if key not in used:
                    used[key] = context.cap_used.get(cap.id, 0)
                cap_used[cap.id] = used[key]
            context = replace(context, cap_used=cap_used)
        earning = evaluate(compiled, item.basket, context)
        for cap_id, points in earning.cap_usage:
            used[keys[cap_id]] += points
        earnings.append(earning)
    return earnings
