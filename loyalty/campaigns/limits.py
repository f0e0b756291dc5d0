"""A campaign's limits (pure): how many of the points a firing asks for it may give.

Every limit is a number of points left: the total budget (``budget_points`` − spent), the
period's budget, the member's in the period, and a member not awarded before needs a free place
under ``max_members``. A firing gets what it asks for cut to the least of what is left (0: nothing,
with the reason); the firings of one group are allotted in order, each seeing what the ones before
it took. The store's side reads the usage under the campaign row's lock (gateway/services/
campaigns.py), so what this allots is never more than what is left, whatever runs at the same time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from loyalty.campaigns.evaluation import Limits

EVER = date(1970, 1, 1)  # the period of a limit without one (a member's points in the whole campaign)
CAMPAIGN_LINE = 0  # customer id of the campaign's own line in campaign_spend


def period_start(period: str | None, at: datetime, zone: ZoneInfo) -> date:
    """The first day of the period (``day``, ``week`` from Monday, ``month``) holding ``at`` in ``zone``."""
    if period is None:
        return EVER
    day = at.astimezone(zone).date()
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


@dataclass
class Usage:
    """What a campaign has given so far, as read under its lock."""

    spent: int = 0
    members: int = 0
    period_spent: int = 0
    member_period: dict[int, int] = field(default_factory=dict)  # customer -> points in the period
    awarded_before: set[int] = field(default_factory=set)  # customers with an award already


@dataclass(frozen=True)
class Grant:
    points: int
    note: str | None = None  # why less than asked (or nothing)


def allot(limits: Limits, usage: Usage, asks: Sequence[tuple[int, int]]) -> list[Grant]:
    """The points given to each ``(customer_id, points asked)``, in order; ``usage`` is updated."""
    out = []
    for customer, asked in asks:
        left = [(asked, "")]
        if limits.budget_points is not None:
            left.append((limits.budget_points - usage.spent, "the campaign's budget is spent"))
        if limits.period_budget_points is not None:
            left.append((limits.period_budget_points - usage.period_spent, "the period's budget is spent"))
        if limits.member_period_points is not None:
            used = usage.member_period.get(customer, 0)
            left.append((limits.member_period_points - used, "the member's limit for the period is reached"))
        new_member = customer not in usage.awarded_before
        if new_member and limits.max_members is not None and usage.members >= limits.max_members:
            left.append((0, "the campaign's number of members is reached"))
        points, why = min(left, key=lambda pair: pair[0])
        points = max(points, 0)
        if asked <= 0:
            out.append(Grant(0, None))
            continue
        if points == 0:
            out.append(Grant(0, why))
            continue
        usage.spent += points
        usage.period_spent += points
        usage.member_period[customer] = usage.member_period.get(customer, 0) + points
        if new_member:
            usage.members += 1
            usage.awarded_before.add(customer)
        out.append(Grant(points, why if points < asked else None))
    return out
