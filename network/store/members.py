"""The loyalty program's members (migration 0021 members): who enrolled, how, with which
referral codes; the enrolment requests partners (and customers on ``/me``) made, for their
replay; the erasures of personal data done; and the bulk imports run.

A member is a customer (network/store/customers.py) enrolled in the program: :class:`Member`
holds the customer's own referral code (to share) and the code they enrolled with. An
enrolment request is kept by (partner, ref) with the hash of its normalized content, so the
same request answers the same member again and another one is refused. An erasure is recorded
without the data it erased (who asked, when, what kind of rows and how many).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

import network.store.customers  # noqa: F401  (members reference customers and partners)
from network.store.base import Base, UTCDateTime, utcnow

_ID = BigInteger().with_variant(Integer, "sqlite")


class Member(Base):
    """A customer enrolled in the program. ``referral_code``: their own code to share (None once
    erased); ``referred_by_id``/``referred_by_code``: whose code they enrolled with (the id
    stays after an erasure, for a campaign's count; the code does not)."""

    __tablename__ = "members"

    customer_id: Mapped[int] = mapped_column(_ID, ForeignKey("customers.id"), primary_key=True)
    referral_code: Mapped[str | None] = mapped_column(String(16), unique=True)
    referred_by_id: Mapped[int | None] = mapped_column(_ID, ForeignKey("customers.id"), index=True)
    referred_by_code: Mapped[str | None] = mapped_column(String(16))
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class MemberEnrolment(Base):
    """One enrolment request: by partner ``partner_id`` of its customer ``ref`` (source "api" or
    "import"), or by the customer on ``/me`` (``partner_id`` and ``ref`` None, source "me").
    ``request_hash``: SHA-256 of the request's normalized content (loyalty/members.py)."""

    __tablename__ = "member_enrolments"
    __table_args__ = (UniqueConstraint("partner_id", "ref", name="uq_member_enrolments_partner_ref"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"))
    ref: Mapped[str | None] = mapped_column(String(64))
    customer_id: Mapped[int] = mapped_column(_ID, ForeignKey("customers.id"), index=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(8))  # api | import | me
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CustomerErasure(Base):
    """An erasure of a customer's personal data: who asked (``requested_by``: customer |
    operator), when, and what was erased (``erased``: a kind of row -> how many), never the
    data itself. Irreversible: nothing reads it back into a profile."""

    __tablename__ = "customer_erasures"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    customer_id: Mapped[int] = mapped_column(_ID, ForeignKey("customers.id"), index=True)
    requested_by: Mapped[str] = mapped_column(String(16))
    erased: Mapped[dict] = mapped_column(JSON)
    erased_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class MemberImport(Base):
    """One bulk import of a partner's customers from CSV: its counts (the refused rows' report
    was answered to the caller and is not kept: it quotes personal data)."""

    __tablename__ = "member_imports"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    requested_by: Mapped[str] = mapped_column(String(16))  # partner | operator
    dry_run: Mapped[bool] = mapped_column(Boolean)
    rows: Mapped[int] = mapped_column(Integer)
    enrolled: Mapped[int] = mapped_column(Integer)
    unchanged: Mapped[int] = mapped_column(Integer)
    refused: Mapped[int] = mapped_column(Integer)
    duration_ms: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
