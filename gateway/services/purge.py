"""Deleting what has expired and can never be used again: wallet challenges past their expiry
(used or not: a challenge is refused once expired), customer sessions and operator sessions past
theirs, one-time sign-in links past theirs (used or not). Run by beat (gateway/tasks/purge.py);
idempotent: a second run finds nothing.

Deleted in batches of ``batch`` rows per statement and table, each batch its own transaction,
so that a long backlog never holds the store's write lock for long.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from network.store import CustomerSession, OperatorSession, SignInLink, WalletChallenge, utcnow

BATCH = 5_000
EXPIRING: tuple[Any, ...] = (WalletChallenge, CustomerSession, OperatorSession, SignInLink)  # id and expires_at


@dataclass(frozen=True)
class Purged:
    challenges: int
    customer_sessions: int
    operator_sessions: int
    sign_in_links: int = 0


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


def purge_expired(sessions: sessionmaker[Session], *, now: datetime | None = None, batch: int = BATCH) -> Purged:
    """Deletes every challenge and session expired at ``now`` (default: the current time)."""
    now = now or utcnow()
    counts = [_purge_table(sessions, model, now, batch) for model in EXPIRING]
    return Purged(*counts)
