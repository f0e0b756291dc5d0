"""Reminders of points expiry (migration 0023 ``expiry_reminders``): one row per holder, expiry
time and reminder (days before it), so that each is told once; a new expiry time after activity
has rows of its own, so its reminders come due again. ``event_id`` is the ``points.expiring``
event that told it (null: passed over, a nearer reminder was due at the same run).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from network.store.base import Base, UTCDateTime, utcnow


class ExpiryReminder(Base):
    """A ``points.expiring`` reminder of one holder's expiry time, ``days_before`` it."""

    __tablename__ = "expiry_reminders"
    __table_args__ = (
        UniqueConstraint("chain_id", "holder", "expires_at", "days_before", name="uq_expiry_reminders_once"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    holder: Mapped[str] = mapped_column(String(42), index=True)
    expires_at: Mapped[int] = mapped_column(BigInteger)  # Unix seconds, the contract's expiresAtOf
    days_before: Mapped[int] = mapped_column(Integer)
    points: Mapped[int] = mapped_column(BigInteger)
    event_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
