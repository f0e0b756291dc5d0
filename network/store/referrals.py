"""Referrals (migration 0033): who referred whom, what became of it, and what it paid.

:class:`Referral` is one per referred member (the referee), made from ``members.referred_by_id``
by the qualification pass (gateway/services/referrals.py), pending until it is qualified or
rejected with a reason (loyalty/campaigns/referrals.py). :class:`ReferralEvent` is the audit
trail: enrolled, qualified, rejected (with the reason), awarded. :class:`ReferralAward` is the
bonus one beneficiary gets for one referral: the points minted through the partner's outbox under
a sequence number of its own (so the bonus is attributable on chain, like a purchase), at most
once per referral and beneficiary (a unique constraint).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

import network.store.chain_tables
import network.store.members
import network.store.tables  # noqa: F401  (and purchases)
from network.store.base import Base, UTCDateTime, utcnow

_ID = BigInteger().with_variant(Integer, "sqlite")


class Referral(Base):
    """``referrer_id`` referred ``referee_id``, who enrolled at ``partner_id`` (None: on /me).
    ``status``: pending | qualified | rejected (``reason`` then says why);
    ``first_purchase_pk``: the referee's first purchase, once there is one."""

    __tablename__ = "referrals"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    referee_id: Mapped[int] = mapped_column(_ID, ForeignKey("customers.id"), unique=True)
    referrer_id: Mapped[int] = mapped_column(_ID, ForeignKey("customers.id"), index=True)
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"))
    status: Mapped[str] = mapped_column(String(16), index=True)
    reason: Mapped[str | None] = mapped_column(String(32))
    first_purchase_pk: Mapped[int | None] = mapped_column(_ID, ForeignKey("purchases.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ReferralEvent(Base):
    """One line of the audit trail: ``kind`` enrolled | qualified | rejected | awarded."""

    __tablename__ = "referral_events"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    referral_id: Mapped[int] = mapped_column(_ID, ForeignKey("referrals.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ReferralAward(Base):
    """The bonus of one beneficiary (``role`` referrer | referee) for one referral: ``points`` to
    ``wallet``, minted by ``partner_id`` under its sequence number ``seq`` (outbox item
    ``outbox_id``)."""

    __tablename__ = "referral_awards"
    __table_args__ = (
        UniqueConstraint("referral_id", "beneficiary_id", name="uq_referral_awards_referral_beneficiary"),
        UniqueConstraint("partner_id", "seq", name="uq_referral_awards_partner_seq"),
    )

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    referral_id: Mapped[int] = mapped_column(_ID, ForeignKey("referrals.id"))
    beneficiary_id: Mapped[int] = mapped_column(_ID, ForeignKey("customers.id"), index=True)
    role: Mapped[str] = mapped_column(String(8))
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    seq: Mapped[int] = mapped_column(BigInteger)
    wallet: Mapped[str] = mapped_column(String(42))
    points: Mapped[int] = mapped_column(BigInteger)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox_purchases.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
