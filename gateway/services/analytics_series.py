"""Analytics over time, in the database, for the dashboard's charts (gateway/services/analytics.py
holds the KPIs): the points issued, redeemed, reversed and expired per UTC day or ISO week, and the
segment moves between a scope's two latest RFM snapshots.

The points are the KPIs' (``ledger_entries`` by kind, a partner's own movements, expiry
coalition-wide only), so a period's series adds up to its ``points_*`` figures. The database sums
per UTC day (``block_time // 86400``); Python folds at most a year of days into weeks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from gateway.services.analytics import bounds
from gateway.services.rfm import latest_day
from network.store import COALITION, LedgerEntry, RfmRun, RfmSnapshot

DAY = 86_400
KINDS = ("earned", "redeemed", "reversed", "expired")
NONE = "(none)"  # a member new to the snapshot: moved from no segment
Grain = Literal["day", "week"]


@dataclass(frozen=True, slots=True)
class PointsSeries:
    grain: Grain
    labels: list[str]  # the first day of each bucket (a week: its Monday, or the period's first day)
    issued: list[int]
    redeemed: list[int]
    reversed: list[int]
    expired: list[int] | None  # coalition-wide only


@dataclass(frozen=True, slots=True)
class SegmentMoves:
    day: date | None  # the snapshot moved to (the scope's latest on or before the period's end)
    previous: date | None  # the snapshot moved from
    moves: list[dict[str, object]] = field(default_factory=list)  # {"from", "to", "members"}, most first


def grain_for(start: date, end: date) -> Grain:
    """Days up to about two months, weeks beyond."""
    return "day" if (end - start).days < 62 else "week"


def bucket(day: date, start: date, grain: Grain) -> date:
    """The bucket a day falls in: itself, or its ISO week's Monday (not before ``start``)."""
    return day if grain == "day" else max(start, day - timedelta(days=day.weekday()))


def points_series(
    session: Session, *, start: date, end: date, chain_id: int, partner_id: int | None = None, grain: Grain = "day"
) -> PointsSeries:
    """Points issued / redeemed / reversed / expired per day or week of ``start..end`` (UTC)."""
    lo, hi = bounds(start, end)
    where = [LedgerEntry.chain_id == chain_id, LedgerEntry.kind.in_(KINDS),
             LedgerEntry.block_time >= int(lo.timestamp()), LedgerEntry.block_time < int(hi.timestamp())]  # fmt: skip
    if partner_id is not None:
        where.append(LedgerEntry.partner_id == partner_id)
    days = (LedgerEntry.block_time // DAY).label("d")
    rows = session.execute(
        select(days, LedgerEntry.kind, func.sum(LedgerEntry.points)).where(*where).group_by(days, LedgerEntry.kind)
    )
    labels: list[date] = []
    d = start
    while d <= end:
        b = bucket(d, start, grain)
        if not labels or labels[-1] != b:
            labels.append(b)
        d += timedelta(days=1)
    index = {b: i for i, b in enumerate(labels)}
    sums = {k: [0] * len(labels) for k in KINDS}
    epoch = date(1970, 1, 1)
    for n, kind, total in rows:
        day = epoch + timedelta(days=int(n))
        sums[str(kind)][index[bucket(day, start, grain)]] += abs(int(total or 0))
    return PointsSeries(
        grain=grain,
        labels=[b.isoformat() for b in labels],
        issued=sums["earned"],
        redeemed=sums["redeemed"],
        reversed=sums["reversed"],
        expired=None if partner_id is not None else sums["expired"],
    )


def segment_moves(session: Session, *, scope: int = COALITION, on_or_before: date | None = None) -> SegmentMoves:
    """Members per (from, to) segment between the scope's latest snapshot on or before
    ``on_or_before`` and the one before it; a member new to the later one moves from ``(none)``
    (these add up to that snapshot's ``rfm_runs.changes``). Members who left the snapshot (erased,
    or whose purchases were all refunded) are not moves."""
    day = latest_day(session, scope=scope, on_or_before=on_or_before)
    if day is None:
        return SegmentMoves(None, None)
    previous = session.scalar(select(func.max(RfmRun.day)).where(RfmRun.scope == scope, RfmRun.day < day))
    if previous is None:
        return SegmentMoves(day, None)
    new, old = RfmSnapshot.__table__.alias("new"), RfmSnapshot.__table__.alias("old")
    from_segment = func.coalesce(old.c.segment, NONE)
    rows = session.execute(
        select(from_segment, new.c.segment, func.count())
        .select_from(new)
        .join(
            old, and_(old.c.day == previous, old.c.scope == scope, old.c.customer_id == new.c.customer_id), isouter=True
        )
        .where(new.c.day == day, new.c.scope == scope)
        .where(old.c.segment.is_(None) | (old.c.segment != new.c.segment))
        .group_by(from_segment, new.c.segment)
    )
    moves = sorted(
        ({"from": str(a), "to": str(b), "members": int(n)} for a, b, n in rows),
        key=lambda m: (-int(str(m["members"])), str(m["from"]), str(m["to"])),
    )
    return SegmentMoves(day, previous, moves)
