"""The daily RFM snapshot, computed in the database (loyalty/rfm.py's rule, in SQL that runs on SQLite
and PostgreSQL), and what the APIs read of it.

:func:`snapshot` writes, for one UTC day and every scope (the coalition, then each partner), each
member's values, scores and segment (``rfm_snapshots``) with one ``INSERT ... SELECT``: the counted
purchases net of refunds per member, read from the members' totals (``member_partner_totals``,
network/store/analytics_totals.py, kept up to date where purchases and refunds are written) except
for the few members with a purchase or refund at or after the day's end, recomputed from their
own purchases (:func:`per_member`; the same figures as :func:`counted` grouped per member),
ranked with ``RANK()`` and ``COUNT(*) OVER ()`` (not ``NTILE``, which splits equal values across
tiles), scored ``1 + 5 * (rank - 1) / n`` in integer
arithmetic, the segment by a ``CASE`` over the grid. Then a ``segment.changed`` event per member
whose segment differs from the scope's previous snapshot (none for the first one), and the scope's
:class:`RfmRun` row, all in one transaction: a scope is done once, whole; a run that stopped resumes
with the scopes still missing, and two runs at once write each scope once (the run row's key).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, and_, case, func, insert, literal, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from loyalty.rfm import GRID, SEGMENTS
from network.store import (
    COALITION,
    CustomerLink,
    CustomerWallet,
    Member,
    MemberPartnerTotal,
    OutboxPurchase,
    Partner,
    Purchase,
    PurchaseStatus,
    Refund,
    RfmRun,
    RfmSnapshot,
)
from network.store.analytics_totals import catch_up, net_amount, purchase_status, refunds_by_purchase
from network.store.events import event_row, record_many

log = logging.getLogger(__name__)
EVENT = "segment.changed"
EVENT_CHUNK = 5_000
CONFIRMED = (PurchaseStatus.MINTED, PurchaseStatus.SKIPPED)
UNITS = 10_000  # amounts are Numeric(20, 4): whole numbers of ten-thousandths


def day_end(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), dtime(), tzinfo=UTC)


def utc_day(column: Any, dialect: str) -> ColumnElement[Any]:
    """The UTC day of a timestamp column, on either backend."""
    if dialect == "postgresql":
        return func.date(func.timezone("UTC", column))
    return func.date(column)


def counted(
    *, end: datetime, partner_id: int | None, since: datetime | None = None, customers: Select[Any] | None = None
) -> Select[Any]:
    """One row per purchase that counts as of ``end`` (confirmed, net amount above zero): its
    customer, time, net amount in ten-thousandths (``units``: whole numbers, which SQLite adds up
    exactly, where its sums of decimal amounts are floating-point) and net points; ``since``: only
    those made from then on; ``customers`` (a SELECT of customer ids): only theirs, read by the
    purchases' wallet index. A refund whose reversal did not fail takes its amount off (a refund
    without an amount: everything)."""
    refund_where = [Refund.created_at < end]
    wallets = None
    if customers is not None:
        wallets = select(CustomerWallet.address).where(CustomerWallet.customer_id.in_(customers))
        refund_where.append(Refund.purchase_pk.in_(select(Purchase.id).where(Purchase.customer_wallet.in_(wallets))))
    if partner_id is not None:
        refund_where.append(Refund.partner_id == partner_id)
    refunds = refunds_by_purchase(*refund_where)
    # the status through coalesce: an expression no index serves, so that SQLite reads purchases by
    # time (or partner and time) and looks their outbox rows up, never all confirmed rows first
    status = purchase_status()
    where = [status.in_(CONFIRMED), Member.erased_at.is_(None)]
    if wallets is None:
        where.append(Purchase.purchased_at < end)
        if partner_id is not None:
            where.append(Purchase.partner_id == partner_id)
    else:  # written so that no index serves them: SQLite reads the few customers' purchases by wallet
        where.append(func.coalesce(Purchase.purchased_at, Purchase.purchased_at) < end)
        if partner_id is not None:
            where.append(Purchase.partner_id + 0 == partner_id)
    if since is not None:
        where.append(Purchase.purchased_at >= since)
    if wallets is not None:
        where.append(Purchase.customer_wallet.in_(wallets))
    inner = (
        select(
            CustomerWallet.customer_id.label("customer_id"),
            Purchase.partner_id.label("partner_id"),
            Purchase.purchased_at.label("at"),
            Purchase.currency.label("currency"),
            func.round(net_amount(refunds) * UNITS).label("units"),
            (Purchase.points - func.coalesce(refunds.c.points, 0)).label("points"),
        )
        .join(OutboxPurchase, OutboxPurchase.id == Purchase.outbox_id)
        .join(CustomerWallet, CustomerWallet.address == Purchase.customer_wallet)
        .outerjoin(Member, Member.customer_id == CustomerWallet.customer_id)
        .outerjoin(refunds, refunds.c.pk == Purchase.id)
        .where(*where)
        .subquery("p")
    )
    return select(inner).where(inner.c.units > 0)


def late(*, end: datetime, partner_id: int | None) -> Select[Any]:
    """The customers with a purchase made, or a refund recorded, at or after ``end`` (in the
    partner's scope): their totals as of now are not those as of ``end``."""
    bought = select(Purchase.customer_wallet.label("w")).where(Purchase.purchased_at >= end)
    refunded = (
        select(Purchase.customer_wallet.label("w"))
        .select_from(Refund)
        .join(Purchase, Purchase.id == Refund.purchase_pk)
        .where(Refund.created_at >= end)
    )
    if partner_id is not None:
        bought = bought.where(Purchase.partner_id == partner_id)
        refunded = refunded.where(Refund.partner_id == partner_id)
    wallets = bought.union(refunded).subquery("lw")
    return select(CustomerWallet.customer_id).where(CustomerWallet.address.in_(select(wallets.c.w))).distinct()


def per_member(*, end: datetime, scope: int) -> Select[Any]:
    """(customer_id, last, frequency, monetary) of every member with a counted purchase as of
    ``end`` in the scope: from the members' totals (network/store/analytics_totals.py), except for
    the members with purchases or refunds at or after ``end``, recomputed from their purchases
    (``counted``). Monetary: net points coalition-wide, else net units of the partner's currency."""
    partner_id = None if scope == COALITION else scope
    late_ids = late(end=end, partner_id=partner_id).cte("late")  # a CTE: SQLite's parser nests no deeper
    changed = select(late_ids.c.customer_id)
    t = MemberPartnerTotal
    # an anti-join (not NOT IN, which PostgreSQL cannot turn into one)
    where = [Member.erased_at.is_(None), late_ids.c.customer_id.is_(None)]
    if partner_id is not None:
        where.append(t.partner_id == partner_id)
    kept = (
        select(
            t.customer_id.label("customer_id"),
            func.max(t.last_at).label("last"),
            func.sum(t.purchases).label("frequency"),
            func.sum(t.points if partner_id is None else t.units).label("monetary"),
        )
        .outerjoin(Member, Member.customer_id == t.customer_id)
        .outerjoin(late_ids, late_ids.c.customer_id == t.customer_id)
        .where(*where)
        .group_by(t.customer_id)
    )
    p = counted(end=end, partner_id=partner_id, customers=changed).subquery("c")
    redone = select(
        p.c.customer_id,
        func.max(p.c.at).label("last"),
        func.count().label("frequency"),
        func.sum(p.c.points if partner_id is None else p.c.units).label("monetary"),
    ).group_by(p.c.customer_id)
    return kept.union_all(redone)


def scored(*, day: date, scope: int, dialect: str) -> Select[Any]:
    """The snapshot's rows of one scope, as a SELECT (the columns of ``rfm_snapshots``)."""
    both = per_member(end=day_end(day), scope=scope).subquery("b")
    per = select(
        both.c.customer_id,
        utc_day(both.c.last, dialect).label("last_day"),
        both.c.frequency.label("frequency"),
        both.c.monetary.label("monetary"),
    ).subquery("a")
    n = func.count().over()
    ranked = select(
        per,
        (func.rank().over(order_by=per.c.last_day) - 1).label("rr"),
        (func.rank().over(order_by=per.c.frequency) - 1).label("rf"),
        (func.rank().over(order_by=per.c.monetary) - 1).label("rm"),
        n.label("n"),
    ).subquery("k")
    scores = select(
        ranked.c.customer_id,
        ranked.c.last_day,
        ranked.c.frequency,
        (ranked.c.monetary if scope == COALITION else ranked.c.monetary / UNITS).label("monetary"),
        (1 + (5 * ranked.c.rr) // ranked.c.n).label("r"),
        (1 + (5 * ranked.c.rf) // ranked.c.n).label("f"),
        (1 + (5 * ranked.c.rm) // ranked.c.n).label("m"),
    ).subquery("s")
    grid = {r * 10 + fm_: GRID[5 - r][fm_ - 1] for r in range(1, 6) for fm_ in range(1, 6)}
    segment = case(grid, value=scores.c.r * 10 + (scores.c.f + scores.c.m + 1) // 2, else_=literal("?"))
    return select(
        literal(day).label("day"),
        literal(scope).label("scope"),
        scores.c.customer_id,
        scores.c.last_day,
        scores.c.frequency,
        scores.c.monetary,
        scores.c.r,
        scores.c.f,
        scores.c.m,
        segment.label("segment"),
    )


COLUMNS = ["day", "scope", "customer_id", "last_day", "frequency", "monetary", "r", "f", "m", "segment"]


@dataclass(frozen=True, slots=True)
class ScopeRun:
    scope: int
    members: int
    changes: int
    seconds: float
    skipped: bool = False


def scopes(session: Session) -> list[int]:
    """The coalition, then every partner."""
    return [COALITION, *(int(i) for i in session.scalars(select(Partner.id).order_by(Partner.id)))]


def snapshot_scope(session: Session, *, day: date, scope: int, now: datetime | None = None) -> ScopeRun:
    """One scope's snapshot of ``day`` and its events, in the caller's transaction (the caller
    commits); skipped when the scope's run row exists."""
    if session.get(RfmRun, (day, scope)) is not None:
        return ScopeRun(scope, 0, 0, 0.0, skipped=True)
    started = time.perf_counter()
    dialect = session.get_bind().dialect.name
    session.execute(insert(RfmSnapshot).from_select(COLUMNS, scored(day=day, scope=scope, dialect=dialect)))
    members = int(session.scalar(select(func.count()).where(RfmSnapshot.day == day, RfmSnapshot.scope == scope)) or 0)
    changes = _changes(session, day=day, scope=scope, at=now)
    seconds = time.perf_counter() - started
    session.add(RfmRun(day=day, scope=scope, members=members, changes=changes, seconds=Decimal(f"{seconds:.3f}")))
    session.flush()
    return ScopeRun(scope, members, changes, seconds)


def _changes(session: Session, *, day: date, scope: int, at: datetime | None) -> int:
    prev = session.scalar(select(func.max(RfmRun.day)).where(RfmRun.scope == scope, RfmRun.day < day))
    if prev is None:
        return 0
    new, old = RfmSnapshot.__table__.alias("new"), RfmSnapshot.__table__.alias("old")
    moved = (
        select(new.c.customer_id, old.c.segment, new.c.segment)
        .join(old, and_(old.c.day == prev, old.c.scope == scope, old.c.customer_id == new.c.customer_id), isouter=True)
        .where(new.c.day == day, new.c.scope == scope)
        .where((old.c.segment.is_(None)) | (old.c.segment != new.c.segment))
        .order_by(new.c.customer_id)
        .limit(EVENT_CHUNK)
    )
    payload_scope = "coalition" if scope == COALITION else "partner"
    count, after_id = 0, 0
    while True:  # a chunk of members at a time, by id: memory stays bounded, reads and writes do not interleave
        rows = session.execute(moved.where(new.c.customer_id > after_id)).all()
        batch = [
            event_row(
                EVENT,
                payload={"customer_id": int(c), "scope": payload_scope, "day": day.isoformat(), "from": a, "to": b},
                partner_id=None if scope == COALITION else scope,
                at=at,
            )
            for c, a, b in rows
        ]
        count += len(record_many(session, batch))
        if len(rows) < EVENT_CHUNK:
            return count
        after_id = int(rows[-1][0])


def refresh_statistics(session: Session) -> None:
    """The planner's statistics (``ANALYZE``, sampled): without them SQLite reads purchases by the
    outbox's status index instead of by time (10x slower on the KPIs' periods), and PostgreSQL,
    whose autovacuum lags behind a bulk load, reads every purchase to recompute the few members
    changed after the day's end."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("PRAGMA analysis_limit = 1000"))
    session.execute(text("ANALYZE"))
    session.commit()


def snapshot(sessions: sessionmaker[Session], *, day: date, budget_s: float | None = None) -> list[ScopeRun]:
    """Every scope's snapshot of ``day`` still missing, one transaction each (the planner's
    statistics refreshed first on SQLite); stops between scopes once ``budget_s`` is spent (the
    next run resumes)."""
    started = time.monotonic()
    with sessions() as session:
        todo = scopes(session)
        if any(session.get(RfmRun, (day, s)) is None for s in todo):
            catch_up(session)  # purchases and refunds written by other paths than the services'
            session.commit()
            refresh_statistics(session)
    runs = []
    for scope in todo:
        if budget_s is not None and time.monotonic() - started > budget_s:
            break
        with sessions() as session:
            try:
                run = snapshot_scope(session, day=day, scope=scope)
                session.commit()
            except IntegrityError:  # another run wrote this scope first
                session.rollback()
                run = ScopeRun(scope, 0, 0, 0.0, skipped=True)
        runs.append(run)
    return runs


def snapshot_due(
    sessions: sessionmaker[Session], *, now: Callable[[], datetime], budget_s: float | None = None
) -> list[ScopeRun]:
    """The beat's call: the snapshot of the last complete UTC day."""
    return snapshot(sessions, day=now().astimezone(UTC).date() - timedelta(days=1), budget_s=budget_s)


# ---------------------------------------------------------------------- reading


@dataclass(frozen=True, slots=True)
class SegmentSizes:
    day: date
    members: int
    changes: int
    sizes: dict[str, int]


@dataclass(frozen=True, slots=True)
class MemberRfm:
    customer_id: int
    day: date
    recency_days: int
    frequency: int
    monetary: Decimal
    r: int
    f: int
    m: int
    segment: str


def latest_day(session: Session, *, scope: int, on_or_before: date | None = None) -> date | None:
    where = [RfmRun.scope == scope]
    if on_or_before is not None:
        where.append(RfmRun.day <= on_or_before)
    return session.scalar(select(func.max(RfmRun.day)).where(*where))


def segment_sizes(session: Session, *, scope: int, day: date | None = None) -> SegmentSizes | None:
    """The segments' sizes in the scope's latest snapshot (on or before ``day``); None without one."""
    found = latest_day(session, scope=scope, on_or_before=day)
    if found is None:
        return None
    run = session.get(RfmRun, (found, scope))
    assert run is not None
    rows = session.execute(
        select(RfmSnapshot.segment, func.count())
        .where(RfmSnapshot.day == found, RfmSnapshot.scope == scope)
        .group_by(RfmSnapshot.segment)
    )
    sizes = dict.fromkeys(SEGMENTS, 0) | {str(s): int(c) for s, c in rows}
    return SegmentSizes(found, int(run.members), int(run.changes), sizes)


def member_rfm(session: Session, *, scope: int, customer_id: int) -> MemberRfm | None:
    """The member's row in the scope's latest snapshot; None when they are not in it."""
    found = latest_day(session, scope=scope)
    row = None if found is None else session.get(RfmSnapshot, (found, scope, customer_id))
    if row is None:
        return None
    return MemberRfm(
        customer_id=customer_id,
        day=row.day,
        recency_days=(row.day - row.last_day).days,
        frequency=int(row.frequency),
        monetary=Decimal(row.monetary),
        r=int(row.r),
        f=int(row.f),
        m=int(row.m),
        segment=str(row.segment),
    )


def customer_of_ref(session: Session, *, partner_id: int, ref: str) -> int | None:
    return session.scalar(
        select(CustomerLink.customer_id).where(CustomerLink.partner_id == partner_id, CustomerLink.ref == ref)
    )
