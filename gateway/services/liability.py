"""The liability over time from the store: per business day (days of the display zone), the points
outstanding net of expiry and their value at the reimbursement rates (loyalty/liability.py's rule),
from the ledger the indexer derives from the chain's events and the registry's indexed events.

The database adds the movements up per quarter of an hour and kind (every time zone's offset is a
multiple of 15 minutes, so each quarter lies inside one local day) and sums what came before the
range; Python folds at most 96 rows a day. ``coalition/crosscheck.py`` recomputes the same figures
from ``eth_getLogs`` alone.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.services.dashboard_format import zone
from gateway.services.date_range import DEFAULT_DAYS, MAX_DAYS, RangeError, check_range
from loyalty.liability import RATE_EVENTS, SIGNS, LiabilityDay, Movement, RateEvent, business_days, liability_by_day
from network.store import ChainEvent, LedgerEntry

QUARTER = 900


def liability(
    session: Session, *, chain_id: int, start: date, end: date, tz: str, partner_id: int | None = None
) -> list[LiabilityDay]:
    """The liability per day of ``start..end`` (days of ``tz``); ``partner_id``: that partner's
    issuance net of its redemptions, reversals and restores only (an expiry is nobody's partner's)."""
    check_range(start, end)
    days = business_days(start, end, tz)
    lo, hi = days[0][1], days[-1][2]
    where = [LedgerEntry.chain_id == chain_id, LedgerEntry.kind.in_(tuple(SIGNS))]
    if partner_id is not None:
        where.append(LedgerEntry.partner_id == partner_id)
    opening = int(session.scalar(select(func.sum(LedgerEntry.points)).where(*where, LedgerEntry.block_time < lo)) or 0)
    quarter = (LedgerEntry.block_time // QUARTER).label("q")
    rows = session.execute(
        select(quarter, LedgerEntry.kind, func.sum(LedgerEntry.points))
        .where(*where, LedgerEntry.block_time >= lo, LedgerEntry.block_time < hi)
        .group_by(quarter, LedgerEntry.kind)
    )
    movements = [Movement(int(q) * QUARTER, str(kind), abs(int(total or 0))) for q, kind, total in rows]
    rates = session.execute(
        select(ChainEvent.block_time, ChainEvent.block_number, ChainEvent.log_index, ChainEvent.name, ChainEvent.args)
        .where(
            ChainEvent.chain_id == chain_id,
            ChainEvent.contract == "PartnerRegistry",
            ChainEvent.name.in_(RATE_EVENTS),
            ChainEvent.block_time < hi,
        )
        .order_by(ChainEvent.block_number, ChainEvent.log_index)
    )
    events = [
        RateEvent(int(t), (int(b), int(i)), int(a["partnerId"]), str(name), _rate(a)) for t, b, i, name, a in rates
    ]
    session.commit()
    return liability_by_day(days, movements, events, opening=opening)


def _rate(args: dict[str, object]) -> int | None:
    rate = args.get("reimbursementRate")
    return None if rate is None else int(str(rate))


def requested(session: Session, *, chain_id: int, tz: str, start: str | None, end: str | None) -> list[LiabilityDay]:
    """The liability of a range as a client asked for it (``YYYY-MM-DD``, days of ``tz``); a bound
    left out: the range ends today and is ``DEFAULT_DAYS`` long. RangeError for a date that is not
    one, a reversed range or one too long."""
    try:
        lo = date.fromisoformat(start) if start else None
        hi = date.fromisoformat(end) if end else None
    except ValueError as exc:
        raise RangeError(f"dates are written YYYY-MM-DD: {exc}") from exc
    if hi is None:
        today = datetime.now(zone(tz)).date()
        hi = today if lo is None else min(max(today, lo), lo + timedelta(days=MAX_DAYS - 1))
    if lo is None:
        lo = hi - timedelta(days=DEFAULT_DAYS - 1)
    return liability(session, chain_id=chain_id, start=lo, end=hi, tz=tz)
