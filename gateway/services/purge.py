"""Deleting what has expired and can never be used again: wallet challenges past their expiry
(used or not: a challenge is refused once expired), customer sessions and operator sessions past
theirs, one-time sign-in links past theirs (used or not); and domain events older than the
retention that every consumer has read (network/store/events.py ``prune``). Run by beat
(gateway/tasks/purge.py); idempotent: a second run finds nothing.

Deleted in batches of ``batch`` rows per statement and table, each batch its own transaction,
so that a long backlog never holds the store's write lock for long.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from network.store import CustomerSession, OperatorSession, SignInLink, WalletChallenge, utcnow
from network.store.events import prune

BATCH = 5_000
EXPIRING: tuple[Any, ...] = (WalletChallenge, CustomerSession, OperatorSession, SignInLink)  # id and expires_at


@dataclass(frozen=True)
class Purged:
    challenges: int
    customer_sessions: int
    operator_sessions: int
    sign_in_links: int = 0
    events: int = 0


def _purge_table(sessions: sessionmaker[Session], model: Any, now: datetime, batch: int) -> int:
    deleted = 0
    while True:
        with sessions() as session:
            expired = select(model.id).where(model.expires_at <= now).limit(batch).scalar_subquery()
            count = session.execute(delete(model).where(model.id.in_(expired))).rowcount  # type: ignore[attr-defined]
            session.commit()
        deleted += count
        if count < batch:
            return deleted


def purge_expired(
    sessions: sessionmaker[Session],
    *,
    now: datetime | None = None,
    batch: int = BATCH,
    event_retention: timedelta | None = None,
) -> Purged:
    """Deletes every challenge and session expired at ``now`` (default: the current time), and,
    with an ``event_retention``, the domain events read by every consumer and older than it."""
    now = now or utcnow()
    counts = [_purge_table(sessions, model, now, batch) for model in EXPIRING]
    events = 0 if event_retention is None else _prune_events(sessions, now - event_retention, batch)
    return Purged(*counts, events=events)


def _prune_events(sessions: sessionmaker[Session], before: datetime, batch: int) -> int:
    deleted = 0
    while True:
        with sessions() as session:
            count = prune(session, before=before, limit=batch)
            session.commit()
        deleted += count
        if count < batch:
            return deleted
