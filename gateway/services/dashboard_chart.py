"""The dashboard's chart in business time: per day of a date range (days of the display time
zone), the points of confirmed purchases by their purchase date (``purchases.purchased_at``),
the points of redemptions by the day they were asked for, and at the end of each day the
outstanding points (the liability: issued + restored − redeemed − reversed − expired on chain, the
total supply; gateway/services/liability.py), the points expired each day, and the partners'
funds in ``Clearing`` (Deposited − Withdrawn + PartnerSettled nets), both from the indexed events.

The database adds everything up (GROUP BY per hour, and one sum for what came before the range);
Python only folds the hours into the zone's days (a zone with a half-hour offset puts half an
hour in the neighbouring day) and runs the cumulative sums over at most 24 rows a day.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Numeric, case, cast, func, select
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType

from gateway.services.dashboard_format import zone
from gateway.services.date_range import DEFAULT_DAYS, MAX_DAYS, RangeError, check_range
from gateway.services.liability import liability
from network.store import ChainEvent, OutboxPurchase, Purchase, PurchaseStatus, Redemption

HOUR = 3_600
CONFIRMED = (PurchaseStatus.MINTED, PurchaseStatus.SKIPPED)
REDEEMED = ("burned", "fulfilled")
FUNDS_EVENTS = ("Deposited", "Withdrawn", "PartnerSettled")


@dataclass
class Chart:
    start: date
    end: date
    tz: str
    partner_id: int | None
    days: list[str] = field(default_factory=list)
    issued: list[int] = field(default_factory=list)  # points of confirmed purchases, by purchase date
    redeemed: list[int] = field(default_factory=list)  # points of redemptions burned or fulfilled
    liability: list[int] = field(default_factory=list)  # outstanding points at the end of the day, net of expiry
    expired: list[int] = field(default_factory=list)  # points expired in the day (breakage: the operator's)
    funds: list[int] = field(default_factory=list)  # partners' funds in Clearing at the end of the day, base units

    def as_json(self) -> dict[str, Any]:
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "time_zone": self.tz,
            "partner_id": self.partner_id,
            "days": self.days,
            "issued": self.issued,
            "redeemed": self.redeemed,
            "liability": self.liability,
            "expired": self.expired,
            "funds": [str(v) for v in self.funds],  # base units as decimal strings: may pass 2**53
        }


def _epoch(session: Session, column: Any) -> ColumnElement[Any]:
    """Seconds since the epoch of a UTC timestamp column, in the database's own dialect."""
    if session.get_bind().dialect.name == "sqlite":
        return cast(func.strftime("%s", column), BigInteger)
    return cast(func.extract("epoch", column), BigInteger)


def _arg(session: Session, key: str) -> ColumnElement[Any]:
    """An integer argument of an indexed event (stored in its JSON ``args``), exactly."""
    if session.get_bind().dialect.name == "sqlite":
        return func.json_extract(ChainEvent.args, f"$.{key}", type_=NullType())
    return cast(ChainEvent.args[key].as_string(), Numeric(78, 0))


def bounds(start: date, end: date, tz: str) -> tuple[int, int]:
    """The range's first second and the second after its end, as Unix times (local midnights)."""
    first = datetime.combine(start, time(), zone(tz)).astimezone(UTC)
    after = datetime.combine(end + timedelta(days=1), time(), zone(tz)).astimezone(UTC)
    return int(first.timestamp()), int(after.timestamp())


def default_range(session: Session, tz: str, today: date, partner_id: int | None = None) -> tuple[date, date]:
    """The last ``DEFAULT_DAYS`` days to ``today``, widened to every purchase date there is (a
    simulated month may lie ahead or behind), at most ``MAX_DAYS`` ending with the latest."""
    query = select(func.min(Purchase.purchased_at), func.max(Purchase.purchased_at))
    if partner_id is not None:
        query = query.where(Purchase.partner_id == partner_id)
    first, last = session.execute(query).one()
    start, end = today - timedelta(days=DEFAULT_DAYS - 1), today
    if first is not None:
        start = min(start, _local_day(first, tz))
        end = max(end, _local_day(last, tz))
    return max(start, end - timedelta(days=MAX_DAYS - 1)), end


def _local_day(moment: datetime, tz: str) -> date:
    at = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return at.astimezone(zone(tz)).date()


def chart(session: Session, *, chain_id: int, start: date, end: date, tz: str, partner_id: int | None = None) -> Chart:
    """The chart's four series over ``start..end`` (days of ``tz``), for one partner or all."""
    check_range(start, end)
    lo, hi = bounds(start, end, tz)
    out = Chart(start=start, end=end, tz=tz, partner_id=partner_id)
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    out.days = [d.isoformat() for d in days]

    def fold(rows: Any) -> dict[date, int]:
        per_day: dict[date, int] = defaultdict(int)
        for hour, total in rows:
            per_day[datetime.fromtimestamp(int(hour) * HOUR, zone(tz)).date()] += int(total or 0)
        return per_day

    # purchases by purchase date, confirmed only
    at = _epoch(session, Purchase.purchased_at)
    q = (
        select((at // HOUR).label("h"), func.sum(Purchase.points))
        .join(OutboxPurchase, OutboxPurchase.id == Purchase.outbox_id)
        .where(OutboxPurchase.status.in_(CONFIRMED), at >= lo, at < hi)
        .group_by("h")
    )
    if partner_id is not None:
        q = q.where(Purchase.partner_id == partner_id)
    issued = fold(session.execute(q))

    # redemptions by the day they were asked for
    at = _epoch(session, Redemption.created_at)
    q = (
        select((at // HOUR).label("h"), func.sum(Redemption.points))
        .where(Redemption.status.in_(REDEEMED), at >= lo, at < hi)
        .group_by("h")
    )
    if partner_id is not None:
        q = q.where(Redemption.partner_id == partner_id)
    redeemed = fold(session.execute(q))

    # outstanding points net of expiry, and the points expired each day (gateway/services/liability.py)
    owed = liability(session, chain_id=chain_id, start=start, end=end, tz=tz, partner_id=partner_id)

    # partners' funds: deposits, withdrawals and settled nets
    value = case(
        (ChainEvent.name == "Deposited", _arg(session, "amount")),
        (ChainEvent.name == "Withdrawn", -_arg(session, "amount")),
        else_=_arg(session, "net"),
    )
    fwhere = [ChainEvent.chain_id == chain_id, ChainEvent.contract == "Clearing", ChainEvent.name.in_(FUNDS_EVENTS)]
    if partner_id is not None:
        fwhere.append(ChainEvent.partner_id == partner_id)
    before_funds = int(session.scalar(select(func.sum(value)).where(*fwhere, ChainEvent.block_time < lo)) or 0)
    fhour = (ChainEvent.block_time // HOUR).label("h")
    funds_moves = fold(
        session.execute(
            select(fhour, func.sum(value))
            .where(*fwhere, ChainEvent.block_time >= lo, ChainEvent.block_time < hi)
            .group_by(fhour)
        )
    )
    session.commit()

    funds = before_funds
    for d, day in zip(days, owed, strict=True):
        funds += funds_moves.get(d, 0)
        out.issued.append(issued.get(d, 0))
        out.redeemed.append(redeemed.get(d, 0))
        out.liability.append(day.outstanding)
        out.expired.append(day.expired)
        out.funds.append(funds)
    return out


def requested(
    session: Session, *, chain_id: int, tz: str, start: str | None, end: str | None, partner_id: int | None = None
) -> Chart:
    """The chart of a range as a page or a client asked for it (``YYYY-MM-DD``, days of ``tz``);
    a bound left out takes the default range's. RangeError for a date that is not one, a
    reversed range or one too long."""
    today = datetime.now(zone(tz)).date()
    first, last = default_range(session, tz, today, partner_id)
    try:
        lo = date.fromisoformat(start) if start else None
        hi = date.fromisoformat(end) if end else None
    except ValueError as exc:
        raise RangeError(f"dates are written YYYY-MM-DD: {exc}") from exc
    if lo is None and hi is not None:
        lo = max(first, hi - timedelta(days=MAX_DAYS - 1)) if first <= hi else hi - timedelta(days=DEFAULT_DAYS - 1)
    if hi is None and lo is not None:
        hi = max(last, lo)
        hi = min(hi, lo + timedelta(days=MAX_DAYS - 1))
    return chart(session, chain_id=chain_id, start=lo or first, end=hi or last, tz=tz, partner_id=partner_id)
