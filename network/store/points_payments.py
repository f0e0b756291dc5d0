"""Paying with points at the till (migration 0019 points_payments): a hold of a customer's
points, authorised in a card authorisation's time, then captured (its burn is a redemption of
``redemptions``, relayed like any other), released by the partner, or released by beat once
expired; and one row per wallet that authorisations and redemptions write first, so that two of
them on one wallet never both count the same points as free.

``points_holds.status``: authorised -> captured | released. A hold past ``expires_at`` holds
nothing any more, whatever its status says until beat releases it (``release_reason``
``expired``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from network.store.base import Base, UTCDateTime, utcnow


class PointsHold(Base):
    """Points of a customer held for a partner's till: ``points`` worth ``money_value`` (in the
    settlement token's base units, at ``point_value``, the partner's reimbursement rate then).
    A consent-signed hold keeps the customer's signature of a ``Redeem`` of exactly ``points``
    with the hold's ref; a custodial hold has none (the gateway signs at capture)."""

    __tablename__ = "points_holds"
    __table_args__ = (
        UniqueConstraint("partner_id", "hold_id", name="uq_points_holds_partner_hold"),
        UniqueConstraint("customer_wallet", "nonce", name="uq_points_holds_wallet_nonce"),
        Index("ix_points_holds_wallet_status", "customer_wallet", "status"),
        Index("ix_points_holds_status_expires", "status", "expires_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    hold_id: Mapped[str] = mapped_column(String(64))
    request_hash: Mapped[str] = mapped_column(String(64))
    customer_wallet: Mapped[str] = mapped_column(String(42))
    customer_ref: Mapped[str | None] = mapped_column(String(64))
    custodial: Mapped[bool] = mapped_column(Boolean, default=False)
    points: Mapped[int] = mapped_column(BigInteger)
    point_value: Mapped[int] = mapped_column(BigInteger)  # settlement base units per point
    money_value: Mapped[int] = mapped_column(BigInteger)  # points × point_value
    nonce: Mapped[str | None] = mapped_column(String(78))  # the signed consent's (uint256, decimal)
    deadline: Mapped[int | None] = mapped_column(BigInteger)
    signature: Mapped[bytes | None] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16), default="authorised")
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    purchase_id: Mapped[str | None] = mapped_column(String(64))  # the partner's purchase it was captured for
    capture_hash: Mapped[str | None] = mapped_column(String(64))
    captured_points: Mapped[int | None] = mapped_column(BigInteger)
    redemption_pk: Mapped[int | None] = mapped_column(ForeignKey("redemptions.id"))
    release_reason: Mapped[str | None] = mapped_column(String(16))  # partner | expired
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PointsWalletLock(Base):
    """One row per wallet that points were held or redeemed from: written first by every hold and
    redemption acceptance of that wallet, so that their balance checks run one after the other
    (PostgreSQL's row lock; SQLite's one writer)."""

    __tablename__ = "points_wallet_locks"

    wallet: Mapped[str] = mapped_column(String(42), primary_key=True)
    touched_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PointsGiveBack(Base):
    """Points a refund (``refund_pk``) gives back of a purchase paid partly with points: minted
    again by the partner's minter with ``CoalitionPoints.restore``, one ``outbox_restores`` row
    per hold captured for the purchase (each restore bounded on chain by its capture, valued at
    the capture's reimbursement rate); on chain, each ``Restored`` event carries the refund's ref.
    Give-backs before migration 0022 were earns of the partner's own sequence number ``seq``
    (``outbox_id``: the earn's item in the outbox); theirs are the only rows with a seq."""

    __tablename__ = "points_give_backs"
    __table_args__ = (UniqueConstraint("partner_id", "seq", name="uq_points_give_backs_partner_seq"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    refund_pk: Mapped[int] = mapped_column(ForeignKey("refunds.id"), unique=True)
    purchase_pk: Mapped[int] = mapped_column(ForeignKey("purchases.id"), index=True)
    customer_wallet: Mapped[str] = mapped_column(String(42))
    points: Mapped[int] = mapped_column(BigInteger)
    seq: Mapped[int | None] = mapped_column(BigInteger)  # before 0022 only
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox_purchases.id"))  # before 0022 only
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
