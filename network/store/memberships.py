"""Paid membership plans in the store (migration 0034 memberships). The rules are
loyalty/memberships.py's (pure); gateway/services/memberships.py feeds them from these tables.

- ``membership_plans``: a plan, owned by a partner (``owner_partner_id``) or by the coalition
  (None); ``status`` ``active`` or ``retired`` (a retired plan takes no new subscriber).
- ``membership_plan_partners``: the partners that honour a plan (its owner honours it always).
- ``membership_subscriptions``: a customer's subscription, sold by ``seller_partner_id``;
  ``entitled_until`` (the period's end, or the grace's end while past due; None once lapsed) is
  what the perk check reads, by the index (customer_id, entitled_until).
- ``membership_trials``: one row per customer who ever had a trial (the key makes it once, ever).
- ``membership_payments``: what the selling partner's payment provider took or failed to take,
  as the partner reported it; (partner_id, provider_ref) is unique, so a report sent twice is
  recorded once. ``coalition_amount`` is the coalition's share of a fee that succeeded.
- ``membership_events``: each change of a subscription, with the domain event that told it.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

import network.store.customers  # noqa: F401  (subscriptions reference the customers' table)
from network.store.base import Base, UTCDateTime, utcnow

_ID = BigInteger().with_variant(Integer, "sqlite")


class MembershipPlan(Base):
    __tablename__ = "membership_plans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_partner_id: Mapped[int | None] = mapped_column(Integer, index=True)
    name: Mapped[str] = mapped_column(String(80))
    price: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    currency: Mapped[str] = mapped_column(String(3))
    period: Mapped[str] = mapped_column(String(8))  # monthly | yearly
    trial_days: Mapped[int] = mapped_column(Integer, default=0)
    earn_multiplier: Mapped[Decimal] = mapped_column(Numeric(6, 3), default=Decimal(1))
    tier_protection: Mapped[bool] = mapped_column(Boolean, default=False)
    members_only_skus: Mapped[list] = mapped_column(JSON, default=list)
    perks: Mapped[list] = mapped_column(JSON, default=list)
    coalition_share: Mapped[Decimal] = mapped_column(Numeric(5, 4), default=Decimal(0))
    status: Mapped[str] = mapped_column(String(8), default="active")  # active | retired
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class MembershipPlanPartner(Base):
    __tablename__ = "membership_plan_partners"

    plan_id: Mapped[int] = mapped_column(Integer, ForeignKey("membership_plans.id"), primary_key=True)
    partner_id: Mapped[int] = mapped_column(Integer, primary_key=True, index=True)


class MembershipSubscription(Base):
    __tablename__ = "membership_subscriptions"
    __table_args__ = (
        Index("ix_membership_subscriptions_customer_entitled", "customer_id", "entitled_until"),
        Index("ix_membership_subscriptions_status_due", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    customer_id: Mapped[int] = mapped_column(_ID, ForeignKey("customers.id"))
    plan_id: Mapped[int] = mapped_column(Integer, ForeignKey("membership_plans.id"), index=True)
    seller_partner_id: Mapped[int] = mapped_column(Integer, index=True)
    status: Mapped[str] = mapped_column(String(10))  # trialing | active | past_due | lapsed
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    period_start: Mapped[datetime] = mapped_column(UTCDateTime())
    period_end: Mapped[datetime] = mapped_column(UTCDateTime())
    anchor: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cycles: Mapped[int] = mapped_column(Integer, default=0)
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, default=False)
    grace_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    credit: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal(0))
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    entitled_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # when time alone changes it (the sweep)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class MembershipTrial(Base):
    __tablename__ = "membership_trials"

    customer_id: Mapped[int] = mapped_column(_ID, ForeignKey("customers.id"), primary_key=True)
    subscription_id: Mapped[int] = mapped_column(_ID)
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class MembershipPayment(Base):
    __tablename__ = "membership_payments"
    __table_args__ = (UniqueConstraint("partner_id", "provider_ref", name="uq_membership_payments_ref"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(_ID, ForeignKey("membership_subscriptions.id"), index=True)
    partner_id: Mapped[int] = mapped_column(Integer)
    plan_id: Mapped[int] = mapped_column(Integer)
    provider_ref: Mapped[str] = mapped_column(String(120))
    outcome: Mapped[str] = mapped_column(String(10))  # succeeded | failed
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    currency: Mapped[str] = mapped_column(String(3))
    coalition_amount: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal(0))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class MembershipEvent(Base):
    __tablename__ = "membership_events"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(_ID, ForeignKey("membership_subscriptions.id"), index=True)
    type: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    event_id: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict] = mapped_column(JSON)
