"""Achievements (pure): badges an operator defines, and a member's progress towards each.

A rule is one of three kinds, written as JSON:

- ``{"kind": "count", "purchases": n, "days": d}``: n purchases within some d consecutive days;
- ``{"kind": "streak", "weeks": n, "grace_weeks": g}``: purchases in n weeks of a run in which no
  more than g weeks in a row go without one (weeks are ISO weeks, Monday to Sunday, UTC; a missed
  week within the grace neither breaks the run nor counts towards it);
- ``{"kind": "partners", "partners": k}``: purchases at k distinct partners.

Progress is computed from the member's *visits*: confirmed purchases not refunded in full (the
caller nets refunds out). A badge is met when some stretch of those visits satisfies the rule, so
time passing never takes it back, but a refund that removes a visit it rested on does: the caller
recomputes after each refund and revokes what is no longer met.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

MAX_PURCHASES = 10_000
MAX_DAYS = 3_650
MAX_WEEKS = 520
MAX_GRACE_WEEKS = 8
MAX_PARTNERS = 1_000
_MONDAY = date(1970, 1, 5)  # the first Monday after the epoch: week numbers count from it


class AchievementRuleInvalid(ValueError):
    """A rule that is not one of the kinds above, or out of its bounds."""


@dataclass(frozen=True)
class CountRule:
    purchases: int
    days: int
    kind: Literal["count"] = "count"


@dataclass(frozen=True)
class StreakRule:
    weeks: int
    grace_weeks: int = 0
    kind: Literal["streak"] = "streak"


@dataclass(frozen=True)
class PartnersRule:
    partners: int
    kind: Literal["partners"] = "partners"


Rule = CountRule | StreakRule | PartnersRule


@dataclass(frozen=True, slots=True)
class Visit:
    """A confirmed purchase, not refunded in full: when, and at which partner."""

    at: datetime
    partner_id: int


@dataclass(frozen=True)
class Progress:
    """``value`` of ``target`` (capped at the target); ``met`` once the rule holds."""

    value: int
    target: int
    met: bool


def _int(raw: Mapping[str, Any], key: str, low: int, high: int, default: int | None = None) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise AchievementRuleInvalid(f"{key} must be an integer, not {value!r}")
    if not low <= value <= high:
        raise AchievementRuleInvalid(f"{key} must be between {low} and {high}, not {value}")
    return value


def parse_rule(raw: Mapping[str, Any]) -> Rule:
    """The rule of its JSON form; AchievementRuleInvalid names what is wrong."""
    kind = raw.get("kind")
    allowed = {"count": {"purchases", "days"}, "streak": {"weeks", "grace_weeks"}, "partners": {"partners"}}
    if kind not in allowed:
        raise AchievementRuleInvalid(f"kind must be one of count, streak, partners, not {kind!r}")
    extra = set(raw) - allowed[kind] - {"kind"}
    if extra:
        raise AchievementRuleInvalid(f"a {kind} rule has no field {sorted(extra)[0]!r}")
    if kind == "count":
        return CountRule(_int(raw, "purchases", 1, MAX_PURCHASES), _int(raw, "days", 1, MAX_DAYS))
    if kind == "streak":
        return StreakRule(_int(raw, "weeks", 2, MAX_WEEKS), _int(raw, "grace_weeks", 0, MAX_GRACE_WEEKS, 0))
    return PartnersRule(_int(raw, "partners", 2, MAX_PARTNERS))


def rule_json(rule: Rule) -> dict[str, Any]:
    if isinstance(rule, CountRule):
        return {"kind": "count", "purchases": rule.purchases, "days": rule.days}
    if isinstance(rule, StreakRule):
        return {"kind": "streak", "weeks": rule.weeks, "grace_weeks": rule.grace_weeks}
    return {"kind": "partners", "partners": rule.partners}


def week_of(at: datetime) -> int:
    """The ISO week (Monday to Sunday, UTC) of ``at``, as a number: consecutive weeks differ by 1."""
    day = (at.astimezone(UTC) if at.tzinfo else at).date()
    return (day - _MONDAY).days // 7


def best_window(times: Sequence[datetime], days: int) -> int:
    """The most visits within any ``days`` consecutive days (a window [t, t + days) )."""
    ordered = sorted(times)
    span, best, start = timedelta(days=days), 0, 0
    for end, at in enumerate(ordered):
        while at - ordered[start] >= span:
            start += 1
        best = max(best, end - start + 1)
    return best


def streaks(weeks: Iterable[int], grace: int) -> tuple[int, int, int | None]:
    """(longest run, last run, last active week) of the active ``weeks``, a run going on while no
    more than ``grace`` weeks in a row are without a purchase; a run's length counts active weeks."""
    active = sorted(set(weeks))
    longest = current = 0
    previous: int | None = None
    for week in active:
        current = current + 1 if previous is not None and week - previous <= grace + 1 else 1
        longest = max(longest, current)
        previous = week
    return longest, current, previous


def progress(rule: Rule, visits: Sequence[Visit], *, now: datetime) -> Progress:
    """Where a member stands on ``rule`` with these visits, at ``now``."""
    if isinstance(rule, CountRule):
        best = best_window([v.at for v in visits if v.at <= now], rule.days)
        return Progress(min(best, rule.purchases), rule.purchases, best >= rule.purchases)
    if isinstance(rule, StreakRule):
        longest, current, last = streaks((week_of(v.at) for v in visits if v.at <= now), rule.grace_weeks)
        if longest >= rule.weeks:
            return Progress(rule.weeks, rule.weeks, True)
        alive = last is not None and week_of(now) - last <= rule.grace_weeks + 1
        return Progress(current if alive else 0, rule.weeks, False)
    distinct = len({v.partner_id for v in visits if v.at <= now})
    return Progress(min(distinct, rule.partners), rule.partners, distinct >= rule.partners)
