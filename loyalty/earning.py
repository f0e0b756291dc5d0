"""What a purchase earns under a partner's rules, and which rule gave which points (pure).

A partner's rules are a versioned :class:`RuleSet` of frozen rules, each with an id and a version
of its own. :func:`compile_rules` checks a rule set once and turns it into lookup tables; then
:func:`evaluate` takes a purchase (:class:`~loyalty.lines.Basket`) and what is known of the
member (:class:`MemberContext`) and answers an :class:`Earning`: the points (an int) and the
breakdown, one :class:`Entry` (rule id, rule version, kind, points) per rule that gave or took
points, which adds up to the points exactly. A group of purchases is evaluated with the rules
compiled once.

The rules (README "Loyalty rules" says the same to partners):

- ``base`` (:class:`BaseRate`, exactly one): points per unit of currency on what can earn
  (loyalty/lines.py: the lines no :class:`Exclusion` names, minus the part paid with points or
  gift cards). With no other rule, a purchase earns what it earned before rules existed:
  amount × points per unit, rounded down.
- ``multiplier`` (:class:`Multiplier`): the lines whose SKU, category or a label it names earn
  ``factor`` × the base rate; the rule's entry is the extra, (factor − 1) × their base points.
- ``bonus_window`` (:class:`BonusWindow`): the same, only while the purchase's time in the
  partner's time zone is in the window (dates, days of the week, hours; hours may cross midnight).
- ``tier`` (:class:`TierMultiplier`): (the member's tier multiplier − 1) × the purchase's base points.
- ``first_purchase`` (:class:`FirstPurchaseBonus`): fixed points on the member's first purchase here.
- ``minimum_order`` (:class:`MinimumOrder`): a purchase whose amount is below it earns nothing.
- ``exclusion`` (:class:`Exclusion`): the lines it names earn nothing (no entry).
- ``cap`` (:class:`Cap`): at most ``limit`` points per member per calendar period (day, ISO week,
  month, year in the partner's time zone), from one rule or from all; the member's points so far
  in the period are an input (:attr:`MemberContext.cap_used`), what this purchase adds is an
  output (:attr:`Earning.cap_usage`: for a cap on a rule, what the member got of that rule after
  every cap on it; for a cap on all, the purchase's points). Caps on rules apply first, in the
  order listed, then caps on all. A cap's entry is negative: what it took away.

Multipliers add, they do not compound: ×2 and ×3 on one line make ×4 (1 + 1 + 2), and each rule's
share shows in the breakdown. Factors are at least 1 (to earn less on a line, exclude it).

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

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import ClassVar, Literal, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from loyalty.lines import Basket, Line, eligibility, from_units, to_units

Rounding = Literal["down", "half_up", "half_even"]
Period = Literal["day", "week", "month", "year"]
ROUNDINGS: tuple[Rounding, ...] = ("down", "half_up", "half_even")
PERIODS: tuple[Period, ...] = ("day", "week", "month", "year")
RATE_DECIMALS = 6  # points per unit and factors: at most 6 decimals (the store's Numeric(18, 6))
_RATE = 10**RATE_DECIMALS
_EXACT = 10 ** (4 + 2 * RATE_DECIMALS)  # money units (10**-4) × rate (10**-6) × factor (10**-6): 1 point
_NO_USE: Mapping[str, int] = {}
_MATCHES_KEPT = 100_000  # (SKU, category, labels) whose matching line rules a compiled rule set remembers


class RulesInvalid(ValueError):
    """A rule set that cannot be compiled: ``rule`` is the id of the bad rule (or ``"ruleset"``)."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(f"{rule}: {message}")
        self.rule = rule


class CurrencyNotEarning(ValueError):
    """The purchase is in another currency than the rule set's."""


# ------------------------------------------------------------------------------------ the rules


@dataclass(frozen=True, slots=True)
class Scope:
    """Which lines a rule looks at: a line matches if its SKU, its category or one of its labels
    is named. An empty scope matches every line."""

    skus: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()
    labels: frozenset[str] = frozenset()

    @property
    def everything(self) -> bool:
        return not (self.skus or self.categories or self.labels)


EVERYTHING = Scope()


@dataclass(frozen=True, slots=True)
class BaseRate:
    kind: ClassVar[str] = "base"
    id: str
    version: int
    points_per_unit: Decimal
    qualifying: bool = True  # counts towards the member's tier (loyalty/tiers.py)


@dataclass(frozen=True, slots=True)
class Multiplier:
    kind: ClassVar[str] = "multiplier"
    id: str
    version: int
    factor: Decimal
    scope: Scope = EVERYTHING
    qualifying: bool = False


@dataclass(frozen=True, slots=True)
class BonusWindow:
    """A multiplier in force while the purchase's local time is within every condition given:
    ``starts_on``..``ends_on`` (dates, both included), ``weekdays`` (0 is Monday; empty: every
    day), ``hours`` (from, until): from included, until excluded; ``until`` before ``from`` crosses
    midnight (22:00-02:00), the day of the week being the one the local time falls on."""

    kind: ClassVar[str] = "bonus_window"
    id: str
    version: int
    factor: Decimal
    scope: Scope = EVERYTHING
    starts_on: date | None = None
    ends_on: date | None = None
    weekdays: frozenset[int] = frozenset()
    hours: tuple[time, time] | None = None
    qualifying: bool = False


@dataclass(frozen=True, slots=True)
class TierMultiplier:
    kind: ClassVar[str] = "tier"
    id: str
    version: int
    qualifying: bool = False


@dataclass(frozen=True, slots=True)
class FirstPurchaseBonus:
    kind: ClassVar[str] = "first_purchase"
    id: str
    version: int
    points: int
    qualifying: bool = False


@dataclass(frozen=True, slots=True)
class MinimumOrder:
    kind: ClassVar[str] = "minimum_order"
    id: str
    version: int
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Exclusion:
    kind: ClassVar[str] = "exclusion"
    id: str
    version: int
    scope: Scope


@dataclass(frozen=True, slots=True)
class Cap:
    """At most ``limit`` points per member per ``period``: from the rule ``rule_id``, or from the
    whole purchase (every rule, bonuses included) when it is None."""

    kind: ClassVar[str] = "cap"
    id: str
    version: int
    limit: int
    period: Period
    rule_id: str | None = None


Rule = BaseRate | Multiplier | BonusWindow | TierMultiplier | FirstPurchaseBonus | MinimumOrder | Exclusion | Cap
EarningRule = BaseRate | Multiplier | BonusWindow | TierMultiplier | FirstPurchaseBonus


@dataclass(frozen=True, slots=True)
class RuleSet:
    """A partner's rules as of one version (a new version for any change; each rule keeps its own
    version, raised when that rule changes)."""

    partner_id: int
    version: int
    currency: str
    time_zone: str
    rules: tuple[Rule, ...]
    rounding: Rounding = "down"


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


# ------------------------------------------------------------------------------ compiled rules


@dataclass(frozen=True, slots=True)
class _LineRule:
    rule: Multiplier | BonusWindow
    extra: int  # (factor − 1) × 10**6
    position: int


@dataclass(frozen=True, slots=True)
class CompiledRules:
    """A rule set checked and turned into lookup tables (:func:`compile_rules`): build it once
    per group of purchases."""

    ruleset: RuleSet
    zone: ZoneInfo
    base: BaseRate
    base_position: int
    rate: int  # points per unit × 10**6
    line_rules: tuple[_LineRule, ...]
    by_sku: Mapping[str, tuple[int, ...]]
    by_category: Mapping[str, tuple[int, ...]]
    by_label: Mapping[str, tuple[int, ...]]
    everywhere: tuple[int, ...]
    windows: tuple[tuple[int, BonusWindow], ...]  # (index in line_rules, window)
    always: tuple[bool, ...]  # per line rule: True for a multiplier, False for a window (checked per purchase)
    excluded_skus: frozenset[str]
    excluded_categories: frozenset[str]
    excluded_labels: frozenset[str]
    tiers: tuple[tuple[TierMultiplier, int], ...]
    firsts: tuple[tuple[FirstPurchaseBonus, int], ...]
    minimum: tuple[MinimumOrder, int] | None
    rule_caps: tuple[Cap, ...]
    total_caps: tuple[Cap, ...]
    qualifying: frozenset[str]
    qualifying_caps: tuple[str, ...]  # ids of the caps on a qualifying rule: their cuts lower the qualifying points
    matches: dict[tuple[str, str | None, frozenset[str]], tuple[int, ...]] = field(default_factory=dict)


def compile_rules(ruleset: RuleSet) -> CompiledRules:
    """Checks ``ruleset`` (raises :class:`RulesInvalid`) and builds its lookup tables."""
    if ruleset.rounding not in ROUNDINGS:
        raise RulesInvalid("ruleset", f"rounding must be one of {', '.join(ROUNDINGS)}, not {ruleset.rounding!r}")
    try:
        zone = ZoneInfo(ruleset.time_zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise RulesInvalid("ruleset", f"unknown time zone {ruleset.time_zone!r}") from exc
    ids = [rule.id for rule in ruleset.rules]
    if len(set(ids)) != len(ids) or not all(ids):
        raise RulesInvalid("ruleset", "every rule needs an id of its own")
    bases = [rule for rule in ruleset.rules if isinstance(rule, BaseRate)]
    if len(bases) != 1:
        raise RulesInvalid("ruleset", f"expected exactly one base rule, found {len(bases)}")
    earning_ids = {rule.id for rule in ruleset.rules if rule.kind not in ("minimum_order", "exclusion", "cap")}
    line_rules: list[_LineRule] = []
    by_sku: dict[str, list[int]] = {}
    by_category: dict[str, list[int]] = {}
    by_label: dict[str, list[int]] = {}
    everywhere, windows, tiers, firsts, rule_caps, total_caps = [], [], [], [], [], []
    excluded: tuple[set[str], set[str], set[str]] = (set(), set(), set())
    minimum: tuple[MinimumOrder, int] | None = None
    for position, rule in enumerate(ruleset.rules):
        if rule.version < 1:
            raise RulesInvalid(rule.id, f"version must be 1 or more, not {rule.version}")
        if isinstance(rule, (Multiplier, BonusWindow)):
            extra = _rate(rule.factor, rule.id, "factor") - _RATE
            if extra < 0:
                raise RulesInvalid(
                    rule.id, f"factor must be at least 1 (exclude lines to earn nothing), not {rule.factor}"
                )
            if isinstance(rule, BonusWindow):
                _check_window(rule)
            index = len(line_rules)
            line_rules.append(_LineRule(rule, extra, position))
            if rule.scope.everything:
                everywhere.append(index)
            for names, table in (
                (rule.scope.skus, by_sku),
                (rule.scope.categories, by_category),
                (rule.scope.labels, by_label),
            ):
                for name in names:
                    table.setdefault(name, []).append(index)
            if isinstance(rule, BonusWindow):
                windows.append((index, rule))
        elif isinstance(rule, TierMultiplier):
            tiers.append((rule, position))
        elif isinstance(rule, FirstPurchaseBonus):
            if rule.points < 0:
                raise RulesInvalid(rule.id, f"points must be 0 or more, not {rule.points}")
            firsts.append((rule, position))
        elif isinstance(rule, MinimumOrder):
            units = _units(rule.amount, rule.id)
            if minimum is None or units > _units(minimum[0].amount, minimum[0].id):
                minimum = (rule, units)
        elif isinstance(rule, Exclusion):
            if rule.scope.everything:
                raise RulesInvalid(rule.id, "an exclusion must name SKUs, categories or labels")
            excluded[0].update(rule.scope.skus)
            excluded[1].update(rule.scope.categories)
            excluded[2].update(rule.scope.labels)
        elif isinstance(rule, Cap):
            if rule.limit < 0 or rule.period not in PERIODS:
                raise RulesInvalid(rule.id, f"expected a limit of 0 or more per {'/'.join(PERIODS)}")
            if rule.rule_id is not None and rule.rule_id not in earning_ids:
                raise RulesInvalid(rule.id, f"caps {rule.rule_id!r}, which is not an earning rule of this set")
            (total_caps if rule.rule_id is None else rule_caps).append(rule)
        elif isinstance(rule, BaseRate):
            if _rate(rule.points_per_unit, rule.id, "points_per_unit") <= 0:
                raise RulesInvalid(rule.id, f"points per unit must be more than 0, not {rule.points_per_unit}")
        else:
            raise RulesInvalid(getattr(rule, "id", "ruleset"), f"unknown rule {rule!r}")
    qualifying = frozenset(
        r.id for r in ruleset.rules if r.kind not in ("minimum_order", "exclusion", "cap") and r.qualifying
    )
    return CompiledRules(
        ruleset=ruleset,
        zone=zone,
        base=bases[0],
        base_position=ruleset.rules.index(bases[0]),
        rate=_rate(bases[0].points_per_unit, bases[0].id, "points_per_unit"),
        line_rules=tuple(line_rules),
        by_sku={k: tuple(v) for k, v in by_sku.items()},
        by_category={k: tuple(v) for k, v in by_category.items()},
        by_label={k: tuple(v) for k, v in by_label.items()},
        everywhere=tuple(everywhere),
        windows=tuple(windows),
        always=tuple(not isinstance(lr.rule, BonusWindow) for lr in line_rules),
        excluded_skus=frozenset(excluded[0]),
        excluded_categories=frozenset(excluded[1]),
        excluded_labels=frozenset(excluded[2]),
        tiers=tuple(tiers),
        firsts=tuple(firsts),
        minimum=(minimum[0], _units(minimum[0].amount, minimum[0].id)) if minimum else None,
        rule_caps=tuple(rule_caps),
        total_caps=tuple(total_caps),
        qualifying=qualifying,
        qualifying_caps=tuple(cap.id for cap in rule_caps if cap.rule_id in qualifying),
    )


def _rate(value: Decimal, rule: str, name: str) -> int:
    try:
        scaled = value.scaleb(RATE_DECIMALS)
        as_int = int(scaled)
    except (InvalidOperation, ValueError, OverflowError, AttributeError) as exc:
        raise RulesInvalid(rule, f"{name} must be a decimal number, not {value!r}") from exc
    if as_int != scaled:
        raise RulesInvalid(rule, f"{name} has more than {RATE_DECIMALS} decimals: {value}")
    return as_int


def _units(value: Decimal, rule: str) -> int:
    try:
        return to_units(value, "amount")
    except ValueError as exc:
        raise RulesInvalid(rule, f"amount must be a decimal of at most 4 decimals, not {value!r}") from exc


def _check_window(rule: BonusWindow) -> None:
    if rule.starts_on and rule.ends_on and rule.ends_on < rule.starts_on:
        raise RulesInvalid(rule.id, f"ends on {rule.ends_on}, before it starts on {rule.starts_on}")
    if not all(isinstance(d, int) and 0 <= d <= 6 for d in rule.weekdays):
        raise RulesInvalid(rule.id, "weekdays are 0 (Monday) to 6 (Sunday)")
    if rule.hours is not None and (len(rule.hours) != 2 or rule.hours[0] == rule.hours[1]):
        raise RulesInvalid(rule.id, "hours are (from, until), two different times of day")


def _in_window(rule: BonusWindow, local: datetime) -> bool:
    day = local.date()
    if (rule.starts_on and day < rule.starts_on) or (rule.ends_on and day > rule.ends_on):
        return False
    if rule.weekdays and local.weekday() not in rule.weekdays:
        return False
    if rule.hours is None:
        return True
    start, until = rule.hours
    now = local.time()
    return start <= now < until if start < until else (now >= start or now < until)


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
    exact: list[tuple[int, EarningRule, int]] = [(compiled.base_position, compiled.base, eligible * rate * _RATE)]
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
    """(multiplier − 1) × 10**6, checked: a member's tier multiplier is at least 1, of at most 6 decimals."""
    extra = _TIER_EXTRAS.get(multiplier)
    if extra is None:
        extra = _rate(multiplier, "tier", "the member's tier multiplier") - _RATE
        if extra < 0:
            raise ValueError(f"a tier multiplier is at least 1, not {multiplier}")
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
            live[i] = _in_window(window, local)
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
        for i in sorted(range(len(parts)), key=lambda i: (-parts[i][1], i))[:left]:
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
    usage += [(cap.id, left[cap.rule_id or ""]) for cap in compiled.rule_caps]  # what the member got of the rule
    if compiled.total_caps:
        total = sum([entry.points for entry in entries])
        for cap in compiled.total_caps:
            room = max(0, cap.limit - used.get(cap.id, 0))
            if total > room:
                entries.append(Entry(cap.id, cap.version, cap.kind, room - total))
                total = room
        usage += [(cap.id, total) for cap in compiled.total_caps]
    return tuple(usage)


# -------------------------------------------------------------------------------- cap periods


def period_bounds(period: Period, at: datetime, time_zone: str) -> tuple[datetime, datetime]:
    """The calendar period (day, ISO week from Monday, month, year) in ``time_zone`` that holds
    the instant ``at``: (start, end) as aware datetimes in that zone, start included, end excluded.
    What a cap's :attr:`MemberContext.cap_used` sums over."""
    zone = ZoneInfo(time_zone)
    local = at.astimezone(zone)
    day = local.date()
    if period == "day":
        first, last = day, day + timedelta(days=1)
    elif period == "week":
        first = day - timedelta(days=day.weekday())
        last = first + timedelta(days=7)
    elif period == "month":
        first = day.replace(day=1)
        last = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    elif period == "year":
        first, last = date(day.year, 1, 1), date(day.year + 1, 1, 1)
    else:
        raise ValueError(f"period must be one of {', '.join(PERIODS)}, not {period!r}")
    return datetime.combine(first, time(), zone), datetime.combine(last, time(), zone)
