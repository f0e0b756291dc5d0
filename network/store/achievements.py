"""Achievements (migration 0033): the badges an operator defines, who holds which, and the record
of every award and revocation.

:class:`Achievement` is a badge and its rule (loyalty/campaigns/achievements.py, as JSON).
:class:`MemberAchievement` is one per badge and member once awarded: ``status`` awarded, or
revoked when a refund undid what earned it (awarded again if the member earns it back).
:class:`AchievementEvent` records each award and revocation, with the event that caused it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

import network.store.customers  # noqa: F401  (members' badges reference customers)
from network.store.base import Base, UTCDateTime, utcnow

_ID = BigInteger().with_variant(Integer, "sqlite")


class Achievement(Base):
    """A badge: a unique ``slug``, a name and description shown to members, its ``rule``, and
    whether it is awarded now (``active``; an inactive badge keeps the awards made)."""

    __tablename__ = "achievements"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    description: Mapped[str] = mapped_column(Text)
    rule: Mapped[dict] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class MemberAchievement(Base):
    """``customer_id`` holds (``status`` awarded) or held (revoked) ``achievement_id``."""

    __tablename__ = "member_achievements"
    __table_args__ = (UniqueConstraint("achievement_id", "customer_id", name="uq_member_achievements_badge_member"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    achievement_id: Mapped[int] = mapped_column(ForeignKey("achievements.id"))
    customer_id: Mapped[int] = mapped_column(_ID, ForeignKey("customers.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    awarded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AchievementEvent(Base):
    """One award or revocation (``kind``), and what caused it (``cause``: the domain event's id)."""

    __tablename__ = "achievement_events"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    achievement_id: Mapped[int] = mapped_column(ForeignKey("achievements.id"), index=True)
    customer_id: Mapped[int] = mapped_column(_ID, ForeignKey("customers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    cause: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
