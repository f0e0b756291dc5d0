"""The program's KPIs, computed in the database (aggregates, never rows loaded into Python), for one
partner (its own data) or the whole coalition, over a period of UTC days ``start..end``.

Purchases count as in RFM (gateway/services/rfm.py ``counted``): confirmed, net of the refunds
whose reversal did not fail, above zero, of members not erased. Points come from the ledger the
indexer derives from the chain's events (``ledger_entries``, the statement's movements). Each
figure's definition is in :data:`DEFINITIONS` (the README quotes it).

Cost: a period's figures read the purchases and ledger movements of the period by their time
indexes; the activity and churn figures need each member's last purchase ever, which the day's RFM
snapshot holds (read from it when the period ends on a snapshot's day: the API's default period
ends yesterday, the beat's day), else they are computed from every purchase.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import Select, and_, case, distinct, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from gateway.services.date_range import check_range
from gateway.services.liability import liability
from gateway.services.rfm import UNITS, counted
from network.store import COALITION, CustomerLink, LedgerEntry, Member, RfmRun, RfmSnapshot, TierState
from network.store.tiers import TierChangeRecord

DEFINITIONS = {
    "members_enrolled": "members not erased, enrolled before the period's end (a partner: those it has a ref of)",
    "members_new": "members not erased enrolled in the period",
    "active_30d": "members with a counted purchase in the 30 days before the period's end",
    "active_90d": "members with a counted purchase in the 90 days before the period's end",
    "purchases": "counted purchases in the period: confirmed, net amount above zero after refunds",
    "buyers": "members with a counted purchase in the period",
    "repeat_purchase_rate": "buyers with two counted purchases or more in the period / buyers",
    "average_basket": "net amount of the period's counted purchases / their number, per currency",
    "purchase_frequency": "counted purchases / buyers, in the period",
    "points_issued": "points earned (Earned) in the period",
    "points_redeemed": "points redeemed (Redeemed) in the period",
    "points_reversed": "points clawed back by refunds (Reversed) in the period",
    "points_expired": "points expired (Expired) in the period; coalition-wide only (nobody's partner's)",
    "redemption_rate": "points redeemed / points issued, in the period",
    "breakage_rate": "points expired / points issued, in the period; coalition-wide only",
    "outstanding_points": "points outstanding at the period's end: issued + restored - redeemed - reversed - expired",
    "outstanding_value": "outstanding points x the lowest .. highest reimbursement rate in force (token base units)",
    "churn_rate": "members whose last counted purchase is more than churn_days before the period's end / members "
    "with a counted purchase before it",
    "clv": "average basket x purchases per buyer per churn window (purchase frequency x churn_days / period days) "
    "x expected lifetime in churn windows (1 / churn rate); per currency, null without churn",
    "cohorts": "members enrolled in each month of the period, and how many of them had a counted purchase in each "
    "month since (month 0: the enrolment month)",
    "tiers": "members not erased per tier held; tier_moves: tier changes in the period per (from, to)",
    "flow": "points redeemed at B in the period, split over the partners A where the redeeming wallet earned its "
    "points (earned net of reversals before the period's end, pro rata)",
    "shared_members": "customers with a ref at both partners A and B",
}


class PeriodError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Kpis:
    start: date
    end: date
    partner_id: int | None
    churn_days: int
    members_enrolled: int
    members_new: int
    active_30d: int
    active_90d: int
    purchases: int
    buyers: int
    repeat_purchase_rate: float | None
    average_basket: dict[str, Decimal]
    purchase_frequency: float | None
    points_issued: int
    points_redeemed: int
    points_reversed: int
    points_expired: int | None
    redemption_rate: float | None
    breakage_rate: float | None
    outstanding_points: int
    outstanding_value_low: int | None
    outstanding_value_high: int | None
    churn_rate: float | None
    clv: dict[str, Decimal]
    cohorts: list[dict[str, Any]] = field(default_factory=list)
    tiers: dict[str, int] = field(default_factory=dict)
    tier_moves: list[dict[str, Any]] = field(default_factory=list)
    flow: list[dict[str, Any]] = field(default_factory=list)
    shared_members: list[dict[str, Any]] = field(default_factory=list)


def bounds(start: date, end: date) -> tuple[datetime, datetime]:
    check_range(start, end)
    return datetime(start.year, start.month, start.day, tzinfo=UTC), datetime(
        end.year, end.month, end.day, tzinfo=UTC
    ) + timedelta(days=1)


def _month(column: Any, dialect: str) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM")
    return func.strftime("%Y-%m", column)


def _ratio(a: float | int | None, b: float | int | None) -> float | None:
    return None if not b or a is None else float(a) / float(b)  # PostgreSQL's SUM of integers is numeric


def _members(partner_id: int | None) -> Select[Any]:
    """The members not erased (a partner: those it has a ref of), one row each."""
    q = select(Member.customer_id, Member.enrolled_at).where(Member.erased_at.is_(None))
    if partner_id is not None:
        linked = select(CustomerLink.customer_id).where(CustomerLink.partner_id == partner_id)
        q = q.where(Member.customer_id.in_(linked))
    return q


def kpis(
    session: Session, *, start: date, end: date, chain_id: int, churn_days: int, partner_id: int | None = None
) -> Kpis:
    """Every KPI of the period for the partner (None: the coalition)."""
    lo, hi = bounds(start, end)
    dialect = session.get_bind().dialect.name
    members = _members(partner_id).subquery("m")
    enrolled, new = session.execute(
        select(func.count(), func.count(case((members.c.enrolled_at >= lo, 1)))).where(members.c.enrolled_at < hi)
    ).one()

    ever, a30, a90, churned = recency(session, end=end, partner_id=partner_id, churn_days=churn_days)

    in_period = counted(end=hi, partner_id=partner_id, since=lo).subquery("q")
    per = (
        select(
            in_period.c.customer_id,
            in_period.c.currency,
            func.count().label("n"),
            func.sum(in_period.c.units).label("units"),
        )
        .group_by(in_period.c.customer_id, in_period.c.currency)
        .subquery("b")
    )
    buyers = purchases = repeat = 0
    totals: dict[str, list[Any]] = {}
    seen = 0
    for cur, n_buyers, n, n_repeat, amount in session.execute(
        select(
            per.c.currency, func.count(), func.sum(per.c.n), func.count(case((per.c.n >= 2, 1))), func.sum(per.c.units)
        ).group_by(per.c.currency)
    ):
        seen += 1
        buyers, purchases, repeat = buyers + int(n_buyers), purchases + int(n), repeat + int(n_repeat)
        totals[str(cur)] = [Decimal(int(amount)) / UNITS, int(n)]
    if seen > 1:  # a buyer in two currencies counts once
        per_buyer = (
            select(in_period.c.customer_id, func.count().label("n")).group_by(in_period.c.customer_id).subquery()
        )
        buyers, repeat = (
            int(v) for v in session.execute(select(func.count(), func.count(case((per_buyer.c.n >= 2, 1))))).one()
        )
    baskets = {cur: (total / n).quantize(Decimal("0.01"), ROUND_HALF_EVEN) for cur, (total, n) in totals.items()}

    where = [LedgerEntry.chain_id == chain_id, LedgerEntry.block_time >= int(lo.timestamp()),
             LedgerEntry.block_time < int(hi.timestamp())]  # fmt: skip
    if partner_id is not None:
        where.append(LedgerEntry.partner_id == partner_id)
    moved = {
        str(kind): abs(int(total or 0))
        for kind, total in session.execute(
            select(LedgerEntry.kind, func.sum(LedgerEntry.points))
            .where(*where, LedgerEntry.kind.in_(("earned", "redeemed", "reversed", "expired")))
            .group_by(LedgerEntry.kind)
        )
    }
    issued = moved.get("earned", 0)
    expired = None if partner_id is not None else moved.get("expired", 0)
    day = liability(session, chain_id=chain_id, start=end, end=end, tz="UTC", partner_id=partner_id)[-1]

    churn = _ratio(churned, ever)
    frequency = _ratio(purchases, buyers)
    period_days = (end - start).days + 1
    clv: dict[str, Decimal] = {}
    if churn and frequency:
        windows = Decimal(frequency) * churn_days / period_days / Decimal(churn)
        clv = {cur: (basket * windows).quantize(Decimal("0.01"), ROUND_HALF_EVEN) for cur, basket in baskets.items()}
    return Kpis(
        start=start,
        end=end,
        partner_id=partner_id,
        churn_days=churn_days,
        members_enrolled=int(enrolled),
        members_new=int(new),
        active_30d=int(a30),
        active_90d=int(a90),
        purchases=int(purchases),
        buyers=int(buyers),
        repeat_purchase_rate=_ratio(repeat, buyers),
        average_basket=baskets,
        purchase_frequency=frequency,
        points_issued=issued,
        points_redeemed=moved.get("redeemed", 0),
        points_reversed=moved.get("reversed", 0),
        points_expired=expired,
        redemption_rate=_ratio(moved.get("redeemed", 0), issued),
        breakage_rate=None if expired is None else _ratio(expired, issued),
        outstanding_points=day.outstanding,
        outstanding_value_low=day.value_low,
        outstanding_value_high=day.value_high,
        churn_rate=churn,
        clv=clv,
        cohorts=cohorts(session, lo=lo, hi=hi, partner_id=partner_id, dialect=dialect),
        tiers=tiers(session, partner_id=partner_id),
        tier_moves=tier_moves(session, lo=lo, hi=hi, partner_id=partner_id),
        flow=flow(session, lo=lo, hi=hi, chain_id=chain_id, partner_id=partner_id),
        shared_members=shared_members(session, partner_id=partner_id),
    )


def recency(session: Session, *, end: date, partner_id: int | None, churn_days: int) -> tuple[int, int, int, int]:
    """(members with a counted purchase, of them active in 30 days, in 90 days, churned) as of the
    end of ``end``: read from the RFM snapshot of that day when there is one (its ``last_day`` per
    member is exactly what is needed: the bounds fall on midnights), else from the purchases."""
    hi = bounds(end, end)[1]
    scope = COALITION if partner_id is None else partner_id
    cuts: list[Any] = [hi - timedelta(days=d) for d in (30, 90, churn_days)]
    if session.get(RfmRun, (end, scope)) is not None:
        last: Any = RfmSnapshot.last_day
        where: list[Any] = [RfmSnapshot.day == end, RfmSnapshot.scope == scope]
        cuts = [c.date() for c in cuts]  # at >= midnight of a day <=> its day >= that day
        source: Any = RfmSnapshot
    else:
        p = counted(end=hi, partner_id=partner_id).subquery("p")
        source = select(p.c.customer_id, func.max(p.c.at).label("last")).group_by(p.c.customer_id).subquery("l")
        last, where = source.c.last, []
    row = session.execute(
        select(
            func.count(),
            func.count(case((last >= cuts[0], 1))),
            func.count(case((last >= cuts[1], 1))),
            func.count(case((last < cuts[2], 1))),
        )
        .select_from(source)
        .where(*where)
    ).one()
    return int(row[0]), int(row[1]), int(row[2]), int(row[3])


def cohorts(
    session: Session, *, lo: datetime, hi: datetime, partner_id: int | None, dialect: str
) -> list[dict[str, Any]]:
    """Per enrolment month of the period: its size and its members buying in each month since."""
    members = _members(partner_id).where(Member.enrolled_at >= lo, Member.enrolled_at < hi).subquery("m")
    cohort = _month(members.c.enrolled_at, dialect)
    sizes = {str(k): int(v) for k, v in session.execute(select(cohort, func.count()).group_by(cohort))}
    first_month = datetime(lo.year, lo.month, 1, tzinfo=UTC)  # the months shown are the cohorts' and later
    p = counted(end=hi, partner_id=partner_id, since=first_month).subquery("p")
    month = _month(p.c.at, dialect)
    active: dict[str, dict[str, int]] = {}
    for c, m, n in session.execute(
        select(cohort, month, func.count(distinct(p.c.customer_id)))
        .join(members, members.c.customer_id == p.c.customer_id)
        .group_by(cohort, month)
    ):
        active.setdefault(str(c), {})[str(m)] = int(n)
    out = []
    last = _month_index(f"{(hi - timedelta(seconds=1)):%Y-%m}")
    for c in sorted(sizes):
        first = _month_index(str(c))
        by = active.get(str(c), {})
        counts = [by.get(_month_name(i), 0) for i in range(first, last + 1)]
        out.append({"cohort": str(c), "members": int(sizes[c]), "active": counts})
    return out


def _month_index(name: str) -> int:
    y, m = name.split("-")
    return int(y) * 12 + int(m) - 1


def _month_name(i: int) -> str:
    return f"{i // 12:04d}-{i % 12 + 1:02d}"


def tiers(session: Session, *, partner_id: int | None) -> dict[str, int]:
    members = _members(partner_id).subquery("m")
    rows = session.execute(
        select(TierState.tier, func.count())
        .join(members, members.c.customer_id == TierState.customer_id)
        .group_by(TierState.tier)
        .order_by(TierState.tier)
    )
    return {str(t): int(n) for t, n in rows}


def tier_moves(session: Session, *, lo: datetime, hi: datetime, partner_id: int | None) -> list[dict[str, Any]]:
    members = _members(partner_id).subquery("m")
    rows = session.execute(
        select(TierChangeRecord.from_tier, TierChangeRecord.to_tier, func.count())
        .join(members, members.c.customer_id == TierChangeRecord.customer_id)
        .where(TierChangeRecord.at >= lo, TierChangeRecord.at < hi)
        .group_by(TierChangeRecord.from_tier, TierChangeRecord.to_tier)
        .order_by(TierChangeRecord.from_tier, TierChangeRecord.to_tier)
    )
    return [{"from": str(a), "to": str(b), "members": int(n)} for a, b, n in rows]


def flow(
    session: Session, *, lo: datetime, hi: datetime, chain_id: int, partner_id: int | None
) -> list[dict[str, Any]]:
    """Rows (earned_at A, redeemed_at B, points): B's redemptions of the period split over A pro rata
    of where each redeeming wallet earned (net of reversals, before the period's end). Driven by the
    period's redeemers: their earnings are read by the ledger's customer index."""
    in_period = (
        LedgerEntry.chain_id == chain_id,
        LedgerEntry.kind == "redeemed",
        LedgerEntry.block_time >= int(lo.timestamp()),
        LedgerEntry.block_time < int(hi.timestamp()),
    )
    redeemed = (
        select(
            LedgerEntry.customer.label("w"),
            LedgerEntry.partner_id.label("b"),
            (-func.sum(LedgerEntry.points)).label("r"),
        )
        .where(*in_period)
        .group_by(LedgerEntry.customer, LedgerEntry.partner_id)
        .subquery("r")
    )
    wallets = select(LedgerEntry.customer.label("w")).where(*in_period).distinct().subquery("ws")
    grouped = (
        select(
            LedgerEntry.customer.label("w"), LedgerEntry.partner_id.label("a"), func.sum(LedgerEntry.points).label("e")
        )
        .select_from(wallets)
        .join(LedgerEntry, LedgerEntry.customer == wallets.c.w)
        .where(
            LedgerEntry.chain_id == chain_id,
            LedgerEntry.kind.in_(("earned", "reversed")),
            LedgerEntry.block_time < int(hi.timestamp()),
        )
        .group_by(LedgerEntry.customer, LedgerEntry.partner_id)
        .having(func.sum(LedgerEntry.points) > 0)
        .cte("g")
    )
    totals = select(grouped.c.w, func.sum(grouped.c.e).label("t")).group_by(grouped.c.w).subquery("t")
    q = (
        select(grouped.c.a, redeemed.c.b, func.sum(1.0 * redeemed.c.r * grouped.c.e / totals.c.t))
        .select_from(redeemed)
        .join(grouped, grouped.c.w == redeemed.c.w)
        .join(totals, totals.c.w == redeemed.c.w)
        .group_by(grouped.c.a, redeemed.c.b)
        .order_by(grouped.c.a, redeemed.c.b)
    )
    if partner_id is not None:
        q = q.where((grouped.c.a == partner_id) | (redeemed.c.b == partner_id))
    return [{"earned_at": int(a), "redeemed_at": int(b), "points": float(v)} for a, b, v in session.execute(q) if v]


def shared_members(session: Session, *, partner_id: int | None) -> list[dict[str, Any]]:
    """Rows (A, B, customers with a ref at both), A < B; a partner: the pairs it is in."""
    a, b = CustomerLink.__table__.alias("a"), CustomerLink.__table__.alias("b")
    q = (
        select(a.c.partner_id, b.c.partner_id, func.count(distinct(a.c.customer_id)))
        .join(b, and_(b.c.customer_id == a.c.customer_id, b.c.partner_id > a.c.partner_id))
        .group_by(a.c.partner_id, b.c.partner_id)
        .order_by(a.c.partner_id, b.c.partner_id)
    )
    if partner_id is not None:
        q = q.where((a.c.partner_id == partner_id) | (b.c.partner_id == partner_id))
    return [{"a": int(x), "b": int(y), "members": int(n)} for x, y, n in session.execute(q)]


def parse_period(start: str | None, end: str | None, *, today: date, default_days: int = 30) -> tuple[date, date]:
    """The period a client asked for (``YYYY-MM-DD``); defaults: ends yesterday, 30 days long."""
    try:
        hi = date.fromisoformat(end) if end else today - timedelta(days=1)
        lo = date.fromisoformat(start) if start else hi - timedelta(days=default_days - 1)
    except ValueError as exc:
        raise PeriodError(f"dates are written YYYY-MM-DD: {exc}") from exc
    try:
        check_range(lo, hi)
    except ValueError as exc:
        raise PeriodError(str(exc)) from exc
    return lo, hi
