"""The restore outbox (migration 0022 outbox_restores): points of a till capture that a refund
gives back, minted again by the capturing partner's minter with ``CoalitionPoints.restore``
(network/restores.py), at the capture's own reimbursement rate, never more than it burned.

One row per (give-back, capture): a refund's give-back (``points_give_backs``) is split over the
holds captured for the purchase, since the contract bounds each capture on its own. ``status``
queued -> sent -> confirmed | failed, as the reversal outbox's.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Enum, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from network.store.base import Base, UTCDateTime, utcnow
from network.store.chain_tables import ReversalStatus


class OutboxRestore(Base):
    """``restore(ref, customer, points, refund_ref)`` to send with the partner's minter key, once
    the capture's burn (``redemption_pk``) is on chain."""

    __tablename__ = "outbox_restores"
    __table_args__ = (Index("ix_outbox_restores_status_partner", "status", "partner_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    partner_id: Mapped[int] = mapped_column(Integer)
    give_back_id: Mapped[int] = mapped_column(ForeignKey("points_give_backs.id"), index=True)
    redemption_pk: Mapped[int] = mapped_column(ForeignKey("redemptions.id"), index=True)  # the capture's burn
    customer: Mapped[str] = mapped_column(String(42))
    ref: Mapped[str] = mapped_column(String(66))  # the capture's (its Redeemed event's), bytes32 hex
    refund_ref: Mapped[str] = mapped_column(String(66))  # the refund's, bytes32 hex (network.restores.refund_ref)
    points: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[ReversalStatus] = mapped_column(
        Enum(ReversalStatus, native_enum=False, length=16), default=ReversalStatus.QUEUED
    )
    tx_id: Mapped[int | None] = mapped_column(ForeignKey("chain_txs.id"), index=True)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
