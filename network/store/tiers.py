"""Coalition-wide tiers in the store (migration 0018 tiers): the ladder's versions, each member's
qualifying movements, tier state and tier changes, and the recalculation runs of a ladder change.

The rules are loyalty/tiers.py's (pure); gateway/services/tiers.py feeds them from these tables.

- ``tier_ladders``: one row per version of the ladder and its policy (JSON, as
  gateway/services/tier_ladders.py writes them); ``status`` is ``proposed``, ``active`` (one at a
  time) or ``retired``.
- ``tier_movements``: a change of a customer's qualifying points, from a confirmed purchase
  (``points`` >= 0) or refund (<= 0, counted at the purchase's time ``counts_at``); ``source`` is
  unique (``purchase:<partner>:<purchase_id>``, ``refund:<partner>:<refund_id>``), so recording
  the same event twice records one movement; a refund's ``refunded`` is its purchase's source.
- ``tier_states``: a member's tiers as of ``as_of`` (loyalty/tiers.py ``TierState``) on ladder
  ``ladder_version``; ``due_at`` is when something changes without a purchase (a review's verdict,
  a manual tier's end), for the review pass.
- ``tier_changes``: every change of the tier in force, with the domain event that told it.
- ``tier_recalculations``: a ladder change being applied, member by member in id order, resumable
  from ``cursor`` (the last member id done, written with that member's state).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

import network.store.customers  # noqa: F401  (states and movements reference the customers' table)
from network.store.base import Base, UTCDateTime, utcnow

_ID = BigInteger().with_variant(Integer, "sqlite")


class TierLadder(Base):
    """A version of the ladder (``tiers``: name, threshold, multiplier each) and its policy
    (``policy``: window, review, grace)."""

    __tablename__ = "tier_ladders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tiers: Mapped[list] = mapped_column(JSON)
    policy: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), index=True)  # proposed | active | retired
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class TierMovement(Base):
    """A change of a customer's qualifying points (loyalty/tiers.py ``Movement``)."""

    __tablename__ = "tier_movements"
    __table_args__ = (Index("ix_tier_movements_customer_counts_at", "customer_id", "counts_at"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    customer_id: Mapped[int] = mapped_column(_ID, ForeignKey("customers.id"))
    points: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(8))  # purchase | refund | bonus
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    counts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    source: Mapped[str] = mapped_column(String(160), unique=True)
    refunded: Mapped[str | None] = mapped_column(String(160), index=True)  # a refund's: its purchase's source
    partner_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TierState(Base):
    """A member's tiers as of ``as_of``; ``manual_*`` a tier set by hand until ``manual_until``."""

    __tablename__ = "tier_states"

    customer_id: Mapped[int] = mapped_column(_ID, ForeignKey("customers.id"), primary_key=True)
    ladder_version: Mapped[int] = mapped_column(Integer)
    tier: Mapped[str] = mapped_column(String(64))
    earned: Mapped[str] = mapped_column(String(64))
    since: Mapped[datetime] = mapped_column(UTCDateTime())
    as_of: Mapped[datetime] = mapped_column(UTCDateTime())
    manual_tier: Mapped[str | None] = mapped_column(String(64))
    manual_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    manual_set_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    review_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TierChangeRecord(Base):
    """A change of a member's tier in force, and the ``tier.changed`` event that told it."""

    __tablename__ = "tier_changes"
    __table_args__ = (Index("ix_tier_changes_customer_id", "customer_id", "id"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    customer_id: Mapped[int] = mapped_column(_ID, ForeignKey("customers.id"))
    from_tier: Mapped[str] = mapped_column(String(64))
    to_tier: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(16))  # qualified | review | manual | manual_ended | ladder
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    ladder_version: Mapped[int] = mapped_column(Integer)
    recalculation_id: Mapped[int | None] = mapped_column(Integer)
    event_id: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TierRecalculation(Base):
    """A ladder change applied to every member at ``at``, in id order; ``cursor``: the last member
    id done (None: none yet). ``status``: running | done | superseded (a later ladder was applied)."""

    __tablename__ = "tier_recalculations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    from_version: Mapped[int | None] = mapped_column(Integer)
    to_version: Mapped[int] = mapped_column(Integer, unique=True)
    status: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    cursor: Mapped[int | None] = mapped_column(BigInteger)
    members_done: Mapped[int] = mapped_column(BigInteger, default=0)
    moved_up: Mapped[int] = mapped_column(BigInteger, default=0)
    moved_down: Mapped[int] = mapped_column(BigInteger, default=0)
    changed: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
