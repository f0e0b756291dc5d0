"""Operator-defined segments: their CRUD and the compiler of a condition (loyalty/segments.py) to one
SQL SELECT of customer ids, run by the database on SQLite and PostgreSQL (no row is read into Python
to be filtered).

Every leaf compiles to ``members.customer_id IN (SELECT customer_id ... WHERE <the comparison>)``:
a strict true or false, so ``not`` is exactly the complement and a member without the value (no
profile, no tier, no snapshot row) matches no leaf on it. The fields every member has a value of
(``has_email``, ``has_phone``, ``consent``: false without; ``points_balance``,
``partners_visited``: 0 without) are computed for every member. Erased members are never in a
segment. Where the values come from:

- profile fields: ``customer_profiles``; ``tier``: ``tier_states``;
- ``rfm_*``: the scope's last snapshot (``rfm_snapshots`` of the latest ``rfm_runs`` day);
- ``last_purchase``, ``partners_visited``: the counted purchases of gateway/services/rfm.py
  (confirmed, net of refunds above zero) up to now;
- ``points_balance``: the indexed ledger of the member's wallets; ``next_expiry``: the earliest
  expiry time of the member's wallets that hold points, the contract's ``expiresAtOf`` as the store
  knows it (the last movement after the last expiry plus the window in force at its position,
  from the indexed ``ExpiryWindowChanged`` events; loyalty/expiry_schedule.py's rule);
- ``consent``: the latest row of (channel, partner) is a grant, and for email a confirmed one;
- ``churn_risk``: the member's row of ``churn_scores`` (the latest daily scoring, gateway/services/churn.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, and_, case, false, func, literal, not_, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from gateway.errors import NotFound, SegmentExists, SegmentRefused
from gateway.services.rfm import counted
from loyalty.segments import All, Any_, Leaf, Node, Not, SegmentInvalid, parse
from network.store import (
    COALITION,
    ChainEvent,
    ChurnScore,
    CustomerConsent,
    CustomerProfile,
    CustomerWallet,
    LedgerEntry,
    Member,
    RfmRun,
    RfmSnapshot,
    Segment,
    TierState,
)

DAY_S = 86_400
PAGE_MAX = 1_000
OWNER = "operator"


def _start(d: date) -> datetime:
    return datetime.combine(d, time(), tzinfo=UTC)


def _epoch(d: date) -> int:
    return int(_start(d).timestamp())


@dataclass(frozen=True)
class Compiler:
    """Compiles parsed conditions as of ``now`` on ``chain_id``'s ledger; ``windows``: the expiry
    windows' changes ((block, log index), seconds), read once from the indexed events."""

    now: datetime
    chain_id: int
    windows: tuple[tuple[tuple[int, int], int], ...]

    def where(self, node: Node) -> ColumnElement[bool]:
        if isinstance(node, All):
            return and_(*(self.where(n) for n in node.nodes))
        if isinstance(node, Any_):
            return or_(*(self.where(n) for n in node.nodes))
        if isinstance(node, Not):
            return not_(self.where(node.node))
        return Member.customer_id.in_(self._leaf(node))

    def members(self, node: Node) -> Select[Any]:
        """The ids of the members, not erased, that the condition holds for."""
        return select(Member.customer_id).where(Member.erased_at.is_(None), self.where(node))

    # --- leaves: each a SELECT of the customer ids it holds for

    def _leaf(self, leaf: Leaf) -> Select[Any]:
        f = leaf.field
        if f in ("locale", "time_zone", "birthday_month"):
            col = {
                "locale": CustomerProfile.locale,
                "time_zone": CustomerProfile.time_zone,
                "birthday_month": func.extract("month", CustomerProfile.birthday),
            }[f]
            base = CustomerProfile.locale if f == "locale" else CustomerProfile.time_zone
            present = (CustomerProfile.birthday if f == "birthday_month" else base).is_not(None)
            return select(CustomerProfile.customer_id).where(present, _compare(col, leaf))
        if f == "country":
            return select(CustomerProfile.customer_id).where(CustomerProfile.locale.is_not(None), _country(leaf))
        if f in ("has_email", "has_phone"):
            col = CustomerProfile.email if f == "has_email" else CustomerProfile.phone
            having = select(CustomerProfile.customer_id).where(col.is_not(None), col != "")
            return _boolean(having, leaf)
        if f == "tier":
            return select(TierState.customer_id).where(_compare(TierState.tier, leaf))
        if f.startswith("rfm_"):
            scope = leaf.partner_id or COALITION
            col = {
                "rfm_segment": RfmSnapshot.segment,
                "rfm_r": RfmSnapshot.r,
                "rfm_f": RfmSnapshot.f,
                "rfm_m": RfmSnapshot.m,
            }[f]
            last = select(func.max(RfmRun.day)).where(RfmRun.scope == scope).scalar_subquery()
            return select(RfmSnapshot.customer_id).where(
                RfmSnapshot.scope == scope, RfmSnapshot.day == last, _compare(col, leaf)
            )
        if f == "last_purchase":
            p = counted(end=self.now, partner_id=leaf.partner_id).subquery("c")
            last = select(p.c.customer_id, func.max(p.c.at).label("at")).group_by(p.c.customer_id).subquery("l")
            return select(last.c.customer_id).where(self._when(last.c.at, leaf, seconds=False))
        if f == "partners_visited":
            p = counted(end=self.now, partner_id=None).subquery("c")
            per = (
                select(p.c.customer_id, func.count(func.distinct(p.c.partner_id)).label("n"))
                .group_by(p.c.customer_id)
                .subquery("v")
            )
            return _every_member(per, leaf)
        if f == "points_balance":
            per = (
                select(CustomerWallet.customer_id, func.sum(LedgerEntry.points).label("n"))
                .join(LedgerEntry, LedgerEntry.customer == CustomerWallet.address)
                .where(LedgerEntry.chain_id == self.chain_id)
                .group_by(CustomerWallet.customer_id)
                .subquery("b")
            )
            return _every_member(per, leaf)
        if f == "next_expiry":
            e = self._expiries()
            return select(e.c.customer_id).where(self._when(e.c.at, leaf, seconds=True))
        if f == "enrolled_at":
            return select(Member.customer_id).where(self._when(Member.enrolled_at, leaf, seconds=False))
        if f == "consent":
            return _boolean(_consenting(leaf.channel or "", leaf.partner_id), leaf)
        if f == "churn_risk":
            return select(ChurnScore.customer_id).where(_compare(ChurnScore.risk, leaf))
        raise AssertionError(f"no compiler for {f}")  # pragma: no cover: FIELDS and this list agree

    def _when(self, col: Any, leaf: Leaf, *, seconds: bool) -> ColumnElement[bool]:
        """A date leaf on a timestamp (``seconds``: Unix seconds) column: days are UTC days."""

        def at(d: date) -> Any:
            return _epoch(d) if seconds else _start(d)

        now: Any = int(self.now.timestamp()) if seconds else self.now
        v = leaf.value
        match leaf.op:
            case "<":
                return col < at(v)
            case "<=":
                return col < at(v + timedelta(days=1))
            case ">":
                return col >= at(v + timedelta(days=1))
            case ">=":
                return col >= at(v)
            case "between":
                return and_(col >= at(v[0]), col < at(v[1] + timedelta(days=1)))
        span: Any = v * DAY_S if seconds else timedelta(days=v)
        if seconds:  # next_expiry, the one date in the future: from now to now + N days
            return and_(col >= now, col < now + span)
        return and_(col >= now - span, col <= now)

    def _expiries(self) -> Any:
        """(customer_id, at): the earliest expiry time, in Unix seconds, of a member's wallets with points."""
        if not self.windows:  # the deployment is not indexed: nobody holds points the store knows of
            return select(Member.customer_id, literal(0).label("at")).where(false()).subquery("x")
        w0 = self.windows[0][1]
        window: Any = case(
            *(
                (
                    or_(
                        LedgerEntry.block_number > b,
                        and_(LedgerEntry.block_number == b, LedgerEntry.log_index >= i),
                    ),
                    w,
                )
                for (b, i), w in reversed(self.windows)
            ),
            else_=w0,
        )
        on_chain = LedgerEntry.chain_id == self.chain_id
        burned = (
            select(LedgerEntry.customer, func.max(LedgerEntry.block_number).label("block"))
            .where(on_chain, LedgerEntry.kind == "expired")
            .group_by(LedgerEntry.customer)
            .subquery("burned")
        )
        after_burn = or_(burned.c.block.is_(None), LedgerEntry.block_number > burned.c.block)
        moved = and_(LedgerEntry.kind != "expired", LedgerEntry.points != 0, after_burn)
        balance = func.sum(LedgerEntry.points)
        holders = (
            select(
                LedgerEntry.customer.label("holder"),
                func.max(case((moved, LedgerEntry.block_time + window), else_=None)).label("at"),
            )
            .outerjoin(burned, burned.c.customer == LedgerEntry.customer)
            .where(on_chain)
            .group_by(LedgerEntry.customer)
            .having(balance > 0)
            .subquery("h")
        )
        return (
            select(CustomerWallet.customer_id, func.min(holders.c.at).label("at"))
            .join(holders, holders.c.holder == CustomerWallet.address)
            .group_by(CustomerWallet.customer_id)
            .subquery("x")
        )


def _compare(col: Any, leaf: Leaf) -> ColumnElement[bool]:
    v = leaf.value
    match leaf.op:
        case "=":
            return col == v
        case "!=":
            return col != v
        case "in":
            return col.in_(v)
        case "not in":
            return col.not_in(v)
        case "<":
            return col < v
        case "<=":
            return col <= v
        case ">":
            return col > v
        case ">=":
            return col >= v
        case "between":
            return col.between(v[0], v[1])
    raise AssertionError(leaf.op)  # pragma: no cover: parse checked the operator


def _country(leaf: Leaf) -> ColumnElement[bool]:
    """The locale has the region (a two-letter subtag after the language) of the leaf's value(s)."""
    loc = func.upper(CustomerProfile.locale)

    def region(code: str) -> ColumnElement[bool]:
        return or_(loc.like(f"%-{code}"), loc.like(f"%-{code}-%"))

    has_region = or_(loc.like("%-__"), loc.like("%-__-%"))
    values = leaf.value if isinstance(leaf.value, tuple) else (leaf.value,)
    matched = or_(*(region(c) for c in values))
    return and_(has_region, matched) if leaf.op in ("=", "in") else and_(has_region, not_(matched))


def _boolean(having: Select[Any], leaf: Leaf) -> Select[Any]:
    """A boolean every member has a value of: ``having`` selects those for whom it is true."""
    wants = leaf.value if leaf.op == "=" else not leaf.value
    inner = Member.customer_id.in_(having)
    return select(Member.customer_id).where(inner if wants else not_(inner))


def _every_member(per: Any, leaf: Leaf) -> Select[Any]:
    """An integer every member has (0 without a row in ``per``: customer_id, n)."""
    n = func.coalesce(per.c.n, 0)
    return select(Member.customer_id).outerjoin(per, per.c.customer_id == Member.customer_id).where(_compare(n, leaf))


def _consenting(channel: str, partner_id: int | None) -> Select[Any]:
    scope = CustomerConsent.partner_id.is_(None) if partner_id is None else CustomerConsent.partner_id == partner_id
    latest = (
        select(func.max(CustomerConsent.id).label("id"))
        .where(CustomerConsent.channel == channel, scope)
        .group_by(CustomerConsent.customer_id)
        .subquery("latest")
    )
    confirmed = CustomerConsent.confirmed_at.is_not(None) if channel == "email" else literal(True)
    return (
        select(CustomerConsent.customer_id)
        .join(latest, latest.c.id == CustomerConsent.id)
        .where(CustomerConsent.granted.is_(True), confirmed)
    )


def compiler(session: Session, *, chain_id: int, now: datetime | None = None) -> Compiler:
    rows = session.execute(
        select(ChainEvent.block_number, ChainEvent.log_index, ChainEvent.args).where(
            ChainEvent.chain_id == chain_id, ChainEvent.name == "ExpiryWindowChanged"
        )
    )
    windows = tuple(sorted(((b, i), int(args["window"])) for b, i, args in rows))
    return Compiler(now=now or datetime.now(UTC), chain_id=chain_id, windows=windows)


# --- counting and paging


@dataclass(frozen=True)
class Page:
    count: int
    customer_ids: list[int]
    next_cursor: int | None


def checked(condition: Any) -> Node:
    """The parsed condition, or :class:`SegmentRefused` naming the bad node's path."""
    try:
        return parse(condition)
    except SegmentInvalid as exc:
        raise SegmentRefused(str(exc), path=exc.path) from None


def count(session: Session, *, condition: Any, chain_id: int, now: datetime | None = None) -> int:
    """How many members the condition holds for."""
    query = compiler(session, chain_id=chain_id, now=now).members(checked(condition)).subquery("m")
    return int(session.scalar(select(func.count()).select_from(query)) or 0)


def members(
    session: Session,
    *,
    condition: Any,
    chain_id: int,
    after: int | None = None,
    limit: int = 100,
    now: datetime | None = None,
) -> Page:
    """The count and a page of customer ids (ascending, after the cursor ``after``)."""
    limit = max(1, min(limit, PAGE_MAX))
    c = compiler(session, chain_id=chain_id, now=now)
    query = c.members(checked(condition))
    total = int(session.scalar(select(func.count()).select_from(query.subquery("m"))) or 0)
    if after is not None:
        query = query.where(Member.customer_id > after)
    ids = list(session.scalars(query.order_by(Member.customer_id).limit(limit + 1)))
    more = len(ids) > limit
    ids = ids[:limit]
    return Page(count=total, customer_ids=ids, next_cursor=ids[-1] if more and ids else None)


# --- the saved segments


def create(session: Session, *, name: str, description: str, condition: Any) -> Segment:
    checked(condition)
    _name_free(session, name, segment_id=None)
    segment = Segment(name=name, description=description, condition=condition, owner=OWNER)
    session.add(segment)
    session.flush()
    return segment


def get(session: Session, *, segment_id: int) -> Segment:
    segment = session.get(Segment, segment_id)
    if segment is None:
        raise NotFound(f"no segment {segment_id}")
    return segment


def listed(session: Session) -> list[Segment]:
    return list(session.scalars(select(Segment).order_by(Segment.id)))


def update(session: Session, *, segment_id: int, name: str, description: str, condition: Any) -> Segment:
    checked(condition)
    segment = get(session, segment_id=segment_id)
    _name_free(session, name, segment_id=segment_id)
    segment.name, segment.description, segment.condition = name, description, condition
    session.flush()
    return segment


def delete(session: Session, *, segment_id: int) -> None:
    session.delete(get(session, segment_id=segment_id))
    session.flush()


def _name_free(session: Session, name: str, *, segment_id: int | None) -> None:
    other = session.scalar(select(Segment.id).where(Segment.name == name))
    if other is not None and other != segment_id:
        raise SegmentExists(f"a segment named {name!r} exists already: choose another name")
