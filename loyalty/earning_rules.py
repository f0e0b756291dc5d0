"""A partner's earning rules: the kinds of rule, the versioned rule set, and its check (pure).

A partner's rules are a versioned :class:`RuleSet` of frozen rules, each with an id and a version
of its own (raised when that rule changes; the rule set's version is raised on any change).
:func:`compile_rules` checks a rule set once (:class:`RulesInvalid` names the bad rule) and turns
it into the lookup tables :func:`loyalty.earning.evaluate` runs on: build it once per group of
purchases. What each kind does (README "Loyalty rules" says the same to partners):

- ``base`` (:class:`BaseRate`, exactly one): points per unit of currency on what can earn
  (loyalty/lines.py: the lines no :class:`Exclusion` names, minus the part paid with points or
  gift cards). With no other rule, a purchase earns what it earned before rules existed:
  amount × points per unit, rounded down.
- ``multiplier`` (:class:`Multiplier`): the lines whose SKU, category or a label it names (all
  lines if it names none) earn ``factor`` × the base rate; the rule's entry is the extra,
  (factor − 1) × their base points.
- ``bonus_window`` (:class:`BonusWindow`): the same, only while the purchase's time in the
  partner's time zone is in the window (dates, days of the week, hours; hours may cross midnight).
- ``tier`` (:class:`TierMultiplier`): (the member's tier multiplier − 1) × the purchase's base points
  (negative for a tier whose multiplier is below 1).
- ``first_purchase`` (:class:`FirstPurchaseBonus`): fixed points on the member's first purchase here.
- ``minimum_order`` (:class:`MinimumOrder`): a purchase whose amount is below it earns nothing.
- ``exclusion`` (:class:`Exclusion`): the lines it names earn nothing (no entry).
- ``cap`` (:class:`Cap`): at most ``limit`` points per member per calendar period (day, ISO week,
  month, year in the partner's time zone), from one rule or from all; the member's points so far
  in the period are an input (``MemberContext.cap_used``), what this purchase adds is an output
  (``Earning.cap_usage``: for a cap on a rule, what the member got of that rule after every cap
  on it; for a cap on all, the purchase's points). Caps on rules apply first, in the order
  listed, then caps on all. A cap's entry is negative: what it took away.

Multipliers add, they do not compound: ×2 and ×3 on one line make ×4 (1 + 1 + 2), and each rule's
share shows in the breakdown. Factors are at least 1 (to earn less on a line, exclude it).
Rates and factors have at most 6 decimals, amounts at most 4. Each earning rule says whether its
points count towards the member's tier (``qualifying``: the base rate's do, bonuses' do not
unless the partner says so).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from loyalty.lines import to_units

Rounding = Literal["down", "half_up", "half_even"]
Period = Literal["day", "week", "month", "year"]
ROUNDINGS: tuple[Rounding, ...] = ("down", "half_up", "half_even")
PERIODS: tuple[Period, ...] = ("day", "week", "month", "year")
RATE_DECIMALS = 6  # points per unit and factors: at most 6 decimals (the store's Numeric(18, 6))
RATE_SCALE = 10**RATE_DECIMALS


class RulesInvalid(ValueError):
    """A rule set that cannot be compiled: ``rule`` is the id of the bad rule (or ``"ruleset"``)."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(f"{rule}: {message}")
        self.rule = rule


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


# ------------------------------------------------------------------------------ compiled rules


@dataclass(frozen=True, slots=True)
class LineRule:
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
    line_rules: tuple[LineRule, ...]
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
    line_rules: list[LineRule] = []
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
            extra = rate_of(rule.factor, rule.id, "factor") - RATE_SCALE
            if extra < 0:
                raise RulesInvalid(
                    rule.id, f"factor must be at least 1 (exclude lines to earn nothing), not {rule.factor}"
                )
            if isinstance(rule, BonusWindow):
                _check_window(rule)
            index = len(line_rules)
            line_rules.append(LineRule(rule, extra, position))
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
            if tiers:
                raise RulesInvalid(rule.id, f"a rule set has one tier rule, and {tiers[0][0].id!r} is one")
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
            if rate_of(rule.points_per_unit, rule.id, "points_per_unit") <= 0:
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
        rate=rate_of(bases[0].points_per_unit, bases[0].id, "points_per_unit"),
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


def rate_of(value: Decimal, rule: str, name: str) -> int:
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


def in_window(rule: BonusWindow, local: datetime) -> bool:
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
