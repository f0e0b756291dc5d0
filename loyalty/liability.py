"""The coalition's liability over time: the points outstanding at the end of each business day and
their value at the reimbursement rates, from chain events alone (pure: no store, no chain, no HTTP).

Points outstanding are the points token's total supply: issued (``Earned``) + restored (``Restored``)
- redeemed (``Redeemed``) - reversed (``Reversed``) - expired (``Expired``). A transfer between
wallets moves points, it does not change how many are outstanding.

Their value (the rule): a point can be redeemed at any partner, so what the operator would owe if
every outstanding point were redeemed lies between the lowest and the highest reimbursement rate
of the partners active at the day's end (``PartnerOnboarded`` / ``PartnerRerated`` set a partner's
rate, ``PartnerSuspended`` / ``PartnerReactivated`` its status). The value is shown as that range,
``value_low`` .. ``value_high`` (settlement-token base units), exact integers; with no active
partner there is no rate and no value.

Expired points leave the liability the moment they expire; nobody is reimbursed for them
(loyalty/expiry.py): the breakage stays with the operator.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

# a movement's kind and its sign on the points outstanding
SIGNS = {"earned": 1, "restored": 1, "redeemed": -1, "reversed": -1, "expired": -1}
RATE_EVENTS = ("PartnerOnboarded", "PartnerRerated", "PartnerSuspended", "PartnerReactivated")
VALUE_RULE = (
    "points outstanding = issued + restored - redeemed - reversed - expired (the total supply); their value "
    "lies between the lowest and the highest reimbursement rate of the partners active at the day's end"
)


@dataclass(frozen=True, slots=True)
class Movement:
    """Points that entered or left the supply at Unix time ``at`` (``points`` > 0; the kind gives the sign)."""

    at: int
    kind: str
    points: int


@dataclass(frozen=True, slots=True)
class RateEvent:
    """A registry event at ``at``: ``rate`` for onboarded/rerated, None for suspended/reactivated."""

    at: int
    order: tuple[int, int]  # (block, log index): the chain's order inside one second
    partner_id: int
    name: str
    rate: int | None = None


@dataclass(frozen=True, slots=True)
class LiabilityDay:
    """One business day: ``end`` is the Unix time its next day starts."""

    day: str
    end: int
    outstanding: int
    issued: int
    redeemed: int
    reversed: int
    restored: int
    expired: int
    rate_low: int | None
    rate_high: int | None

    @property
    def value_low(self) -> int | None:
        return None if self.rate_low is None else self.outstanding * self.rate_low

    @property
    def value_high(self) -> int | None:
        return None if self.rate_high is None else self.outstanding * self.rate_high


def business_days(start: date, end: date, tz: str) -> list[tuple[str, int, int]]:
    """The days ``start..end`` of time zone ``tz``: (YYYY-MM-DD, first second, the next day's first
    second) as Unix times (local midnights, so a day of a DST change has 23 or 25 hours)."""
    zone = ZoneInfo(tz)

    def midnight(d: date) -> int:
        return int(datetime.combine(d, time(), zone).astimezone(UTC).timestamp())

    dates = [start + timedelta(days=i) for i in range((end - start).days + 2)]
    return [(d.isoformat(), midnight(d), midnight(after)) for d, after in itertools.pairwise(dates)]


def active_rates(events: Iterable[RateEvent], until: int) -> dict[int, int]:
    """The reimbursement rate of every partner active just before ``until``, by partner id."""
    rate: dict[int, int] = {}
    active: dict[int, bool] = {}
    for ev in sorted((e for e in events if e.at < until), key=lambda e: (e.at, e.order)):
        if ev.name in ("PartnerOnboarded", "PartnerRerated"):
            if ev.rate is None:
                raise ValueError(f"{ev.name} without a rate: {ev}")
            rate[ev.partner_id] = ev.rate
            active.setdefault(ev.partner_id, True)
        elif ev.name == "PartnerSuspended":
            active[ev.partner_id] = False
        elif ev.name == "PartnerReactivated":
            active[ev.partner_id] = True
        else:
            raise ValueError(f"not a rate event: {ev.name}")
    return {pid: r for pid, r in rate.items() if active.get(pid)}


def liability_by_day(
    days: Sequence[tuple[str, int, int]],
    movements: Iterable[Movement],
    rate_events: Iterable[RateEvent],
    *,
    opening: int = 0,
) -> list[LiabilityDay]:
    """Per day (``(name, start, end)`` Unix times, consecutive, ``end`` exclusive): the points that
    moved in it by kind and, at its end, the points outstanding and their rates. ``opening``: the
    points outstanding when the first day starts; ``movements`` before it add to it, later ones
    are ignored."""
    if any(days[i][2] != days[i + 1][1] for i in range(len(days) - 1)):
        raise ValueError("the days must follow each other")
    events = list(rate_events)
    per_day: list[dict[str, int]] = [dict.fromkeys(SIGNS, 0) for _ in days]
    first = days[0][1] if days else 0
    for m in movements:
        if m.kind not in SIGNS:
            raise ValueError(f"not a supply movement: {m.kind}")
        if m.points < 0:
            raise ValueError(f"negative points in {m}")
        if m.at < first:
            opening += SIGNS[m.kind] * m.points
            continue
        i = _day_of(days, m.at)
        if i is not None:
            per_day[i][m.kind] += m.points
    out: list[LiabilityDay] = []
    outstanding = opening
    for (name, _, end), moved in zip(days, per_day, strict=True):
        outstanding += sum(SIGNS[k] * v for k, v in moved.items())
        rates = active_rates(events, end)
        out.append(
            LiabilityDay(
                day=name,
                end=end,
                outstanding=outstanding,
                issued=moved["earned"],
                redeemed=moved["redeemed"],
                reversed=moved["reversed"],
                restored=moved["restored"],
                expired=moved["expired"],
                rate_low=min(rates.values()) if rates else None,
                rate_high=max(rates.values()) if rates else None,
            )
        )
    return out


def _day_of(days: Sequence[tuple[str, int, int]], at: int) -> int | None:
    lo, hi = 0, len(days)
    while lo < hi:  # the first day that ends after ``at``
        mid = (lo + hi) // 2
        if days[mid][2] <= at:
            lo = mid + 1
        else:
            hi = mid
    return lo if lo < len(days) and days[lo][1] <= at else None
