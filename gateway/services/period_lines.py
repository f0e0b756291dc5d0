"""A settlement period's lines from the store: the indexed ``Earned``/``Redeemed``/``Reversed``/``Restored``
events of its block range, summed per (kind, partner) by the database when it can do so exactly,
event by event otherwise. The maths are loyalty/settlement.py's; the settling is settlement.py's.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Numeric, case, cast, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType

from loyalty.expiry import Expiry, points_expired
from loyalty.settlement import KindTotal, PartnerLine, PointsEvent, lines_from_totals, partner_lines
from loyalty.statement import FeePayment
from network.store import ChainEvent, MembershipPayment

log = logging.getLogger(__name__)
SETTLEMENT_EVENTS = {
    "Earned": ("earned", "issuePrice"),
    "Redeemed": ("redeemed", "reimbursementRate"),
    "Reversed": ("reversed", "issuePrice"),
    "Restored": ("restored", "reimbursementRate"),
}


def _period_filter(chain_id: int, from_block: int, to_block: int) -> tuple[ColumnElement[bool], ...]:
    return (
        ChainEvent.chain_id == chain_id,
        ChainEvent.contract == "CoalitionPoints",
        ChainEvent.name.in_(SETTLEMENT_EVENTS),
        ChainEvent.block_number >= from_block,
        ChainEvent.block_number <= to_block,
    )


def period_events(session: Session, chain_id: int, from_block: int, to_block: int) -> Iterator[PointsEvent]:
    """The period's settlement-relevant events from the store, one by one, as plain records."""
    rows = session.execute(
        select(ChainEvent.name, ChainEvent.args)
        .where(*_period_filter(chain_id, from_block, to_block))
        .order_by(ChainEvent.block_number, ChainEvent.log_index)
        .execution_options(yield_per=10_000)
    )
    for name, a in rows:
        kind, rate = SETTLEMENT_EVENTS[name]
        yield PointsEvent(kind, int(a["partnerId"]), int(a["points"]), int(a[rate]))  # type: ignore[arg-type]


def has_period_events(session: Session, chain_id: int, from_block: int, to_block: int) -> bool:
    """Whether the range holds anything a statement counts: a settlement event, or an expiry."""
    for where in (_period_filter(chain_id, from_block, to_block), _expired_filter(chain_id, from_block, to_block)):
        if session.scalar(select(ChainEvent.id).where(*where).limit(1)) is not None:
            return True
    return False


def period_totals(session: Session, chain_id: int, from_block: int, to_block: int) -> list[KindTotal] | None:
    """The period's events summed per (kind, partner) by the database (GROUP BY), exactly:
    the amounts are read from the events' JSON args as integers (SQLite) or NUMERIC (PostgreSQL).
    None when the database could not add them up exactly (SQLite past 64-bit integers): the
    caller then adds them up event by event (:func:`period_events`)."""
    dialect = session.get_bind().dialect.name

    def arg(key: str) -> ColumnElement[Any]:
        if dialect == "sqlite":
            return func.json_extract(ChainEvent.args, f"$.{key}", type_=NullType())
        return cast(ChainEvent.args[key].as_string(), Numeric(78, 0))

    points = arg("points")
    rate = case((ChainEvent.name.in_(("Redeemed", "Restored")), arg("reimbursementRate")), else_=arg("issuePrice"))
    query = (
        select(
            ChainEvent.name,
            ChainEvent.partner_id,  # the indexer's copy of args.partnerId, an indexed column
            func.sum(points, type_=NullType()),
            func.sum(points * rate, type_=NullType()),
            func.min(points, type_=NullType()),
            func.min(rate, type_=NullType()),
        )
        .where(*_period_filter(chain_id, from_block, to_block))
        .group_by(ChainEvent.name, ChainEvent.partner_id)
    )
    try:
        rows = session.execute(query).all()
    except OperationalError as exc:  # SQLite: "integer overflow" in sum(); the transaction goes on
        log.info("the database could not sum the period exactly (%s); summing event by event", exc.orig)
        return None
    totals = []
    for name, partner_id, points_sum, value_sum, min_points, min_rate in rows:
        numbers = [_exact(v) for v in (partner_id, points_sum, value_sum, min_points, min_rate)]
        if None in numbers:
            log.info("the database summed period %s..%s inexactly; summing event by event", from_block, to_block)
            return None
        pid, points_total, value_total, lowest_points, lowest_rate = numbers
        if lowest_points < 0 or lowest_rate < 0:  # type: ignore[operator]
            raise ValueError(f"negative points or rate in the {name} events of partner {pid}")
        totals.append(KindTotal(SETTLEMENT_EVENTS[name][0], pid, points_total, value_total))  # type: ignore[arg-type]
    return totals


def _exact(value: object) -> int | None:
    """An integer from the database, or None if it is not one exactly (a float: SQLite's REAL)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    return None


def period_lines(session: Session, chain_id: int, from_block: int, to_block: int) -> list[PartnerLine]:
    """The period's partner lines: summed by the database, or event by event when it cannot be exact."""
    totals = period_totals(session, chain_id, from_block, to_block)
    if totals is None:
        return partner_lines(period_events(session, chain_id, from_block, to_block))
    return lines_from_totals(totals)


def period_points_expired(session: Session, chain_id: int, from_block: int, to_block: int) -> int:
    """The period's expired points (breakage, loyalty/expiry.py): the sum of its indexed ``Expired``
    events, by the database when it can sum exactly, event by event otherwise."""
    where = _expired_filter(chain_id, from_block, to_block)
    if session.get_bind().dialect.name == "sqlite":
        points: ColumnElement[Any] = func.json_extract(ChainEvent.args, "$.points", type_=NullType())
    else:
        points = cast(ChainEvent.args["points"].as_string(), Numeric(78, 0))
    try:
        total = _exact(session.scalar(select(func.coalesce(func.sum(points, type_=NullType()), 0)).where(*where)))
    except OperationalError as exc:  # SQLite: "integer overflow" in sum()
        log.info("the database could not sum the period's expiries exactly (%s); summing event by event", exc.orig)
        total = None
    if total is not None:
        return total
    rows = session.execute(select(ChainEvent.args).where(*where).execution_options(yield_per=10_000)).scalars()
    return points_expired(Expiry(str(a["holder"]), int(a["points"]), int(a["expiresAt"])) for a in rows)


def _expired_filter(chain_id: int, from_block: int, to_block: int) -> tuple[ColumnElement[bool], ...]:
    return (
        ChainEvent.chain_id == chain_id,
        ChainEvent.contract == "CoalitionPoints",
        ChainEvent.name == "Expired",
        ChainEvent.block_number >= from_block,
        ChainEvent.block_number <= to_block,
    )


def period_fees(session: Session, *, after: datetime | None, through: datetime) -> list[FeePayment]:
    """The membership fees reported in a period: the successful payments whose reported time is
    after ``after`` (None: since the beginning) and at most ``through``. Added up by
    loyalty/statement.py in Decimal (SQLite's NUMERIC sums are floats)."""
    query = select(
        MembershipPayment.partner_id,
        MembershipPayment.plan_id,
        MembershipPayment.currency,
        MembershipPayment.amount,
        MembershipPayment.coalition_amount,
    ).where(MembershipPayment.outcome == "succeeded", MembershipPayment.at <= through)
    if after is not None:
        query = query.where(MembershipPayment.at > after)
    rows = session.execute(query.order_by(MembershipPayment.id).execution_options(yield_per=10_000))
    return [
        FeePayment(int(pid), int(plan), str(cur), Decimal(amount), Decimal(share))
        for pid, plan, cur, amount, share in rows
    ]
