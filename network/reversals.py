"""The reversal outbox: refunds whose points the issuing partner's minter claws back on chain.

A reversal is written by the gateway in the refund's database transaction (so an accepted
refund is never lost) and sent by the partner's sender after its earn batches
(network/sender.py): one ``CoalitionPoints.reverse`` transaction per reversal, signed and
stored before it is broadcast like every transaction of the key. The contract caps what is
reversed per purchase (``reversedPoints`` ≤ minted), so a resend after a crash can only
revert, never claw back twice.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Enum, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, Session, mapped_column

from network.store import Base, utcnow


class ReversalStatus(enum.StrEnum):
    QUEUED = "queued"  # accepted, waiting for the partner's sender
    SENT = "sent"  # in a signed transaction that is not yet confirmed
    CONFIRMED = "confirmed"  # reversed on chain
    FAILED = "failed"  # will not be reversed; see error (e.g. the customer spent the points)


class OutboxReversal(Base):
    """Points of one minted purchase to claw back (a full or partial refund)."""

    __tablename__ = "outbox_reversals"
    __table_args__ = (Index("ix_outbox_reversals_status_partner", "status", "partner_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    partner_id: Mapped[int] = mapped_column(Integer)
    purchase_outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox_purchases.id"), index=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    customer: Mapped[str] = mapped_column(String(42))
    points: Mapped[int] = mapped_column(BigInteger)  # points to reverse (≤ the purchase's)
    status: Mapped[ReversalStatus] = mapped_column(
        Enum(ReversalStatus, native_enum=False, length=16), default=ReversalStatus.QUEUED
    )
    tx_id: Mapped[int | None] = mapped_column(ForeignKey("chain_txs.id"), index=True)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


def enqueue_reversal(
    session: Session, *, partner_id: int, purchase_outbox_id: int, seq: int, customer: str, points: int
) -> OutboxReversal:
    """Adds a reversal to the caller's transaction (the caller commits)."""
    if points <= 0:
        raise ValueError("a reversal claws back at least one point")
    item = OutboxReversal(
        partner_id=partner_id,
        purchase_outbox_id=purchase_outbox_id,
        seq=seq,
        customer=customer,
        points=points,
        status=ReversalStatus.QUEUED,
    )
    session.add(item)
    session.flush()
    return item
