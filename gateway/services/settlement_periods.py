"""The settlement periods as stored: one by its id, a page of them newest first. Planning and
settling a period is gateway/services/settlement.py."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.errors import NotFound
from network.store import SettlementPeriod

MAX_PERIOD_ID = 2**63  # period ids are BIGINT


def get_period(session: Session, *, period_id: int) -> SettlementPeriod:
    """The period ``period_id``; NotFound if there is none."""
    row = session.get(SettlementPeriod, period_id)
    if row is None:
        raise NotFound(f"no settlement period {period_id}")
    return row


def period_with_statement(session: Session, *, period_id: int) -> SettlementPeriod:
    """The period ``period_id`` once its statement is built; NotFound before, or for any other id."""
    row = session.get(SettlementPeriod, period_id) if 1 <= period_id < MAX_PERIOD_ID else None
    if row is None or row.statement is None:
        raise NotFound(f"no statement for period {period_id}")
    return row


def list_periods(session: Session, *, limit: int, before: int | None = None) -> list[SettlementPeriod]:
    """Up to ``limit`` periods, newest first; only ids below ``before`` when given."""
    query = select(SettlementPeriod).order_by(SettlementPeriod.period_id.desc()).limit(limit)
    if before is not None:
        query = query.where(SettlementPeriod.period_id < before)
    return list(session.scalars(query))
