"""Campaigns in the store (migration 0032 campaigns): what a campaign is, who was exposed to it and
what it gave (issue 20).

``campaigns``: a funder (a partner; the coalition's own campaigns are funded by the partner named
by ``COALITION_HOUSE_PARTNER_ID``, a participant like any other), a trigger (``trigger_type`` and
its JSON ``trigger_params``), conditions and effects (JSON, loyalty/campaigns/evaluation.py's
language), limits (a points budget in total and per period, per member per period, a number of
members), a schedule, a status (``draft`` → ``running`` ⇄ ``paused`` → ``stopped``), the control
group's share (``holdout_bp``, basis points) and ``salt`` (loyalty/campaigns/assignment.py), and its
counters: ``spent_points`` (never above ``budget_points``: every award adds to it with one
conditional UPDATE under the row's lock), ``members_awarded`` and ``awards_count`` (the number of
the next award, part of its on-chain sequence number). ``version`` grows with every change of what
the campaign does, so the accept path's cache recompiles it.

``campaign_exposures``: one row per (campaign, customer, trigger occurrence), both arms, written
when the trigger fires (a control member is exposed without the effect). ``campaign_awards``: what
a treatment exposure gave: points minted by the funder's minter as their own purchase word, whose
``seq`` (loyalty/campaigns/attribution.py) names the campaign on chain. ``campaign_spend``: the
points given per (campaign, period) and per (campaign, customer, period) for the period limits
(``customer_id`` 0: the campaign's own line).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

import network.store.tables  # noqa: F401  (campaigns reference the partners' table)
from network.store.base import Base, UTCDateTime, utcnow

_ID = BigInteger().with_variant(Integer, "sqlite")
CAMPAIGN_STATUSES = ("draft", "running", "paused", "stopped")
ARMS = ("treatment", "control")


class Campaign(Base):
    """One campaign (see the module doc)."""

    __tablename__ = "campaigns"
    __table_args__ = (Index("ix_campaigns_status", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    funder_partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    owner: Mapped[str] = mapped_column(String(16), default="operator")  # operator | partner
    trigger_type: Mapped[str] = mapped_column(String(32))
    trigger_params: Mapped[dict] = mapped_column(JSON, default=dict)
    conditions: Mapped[dict] = mapped_column(JSON, default=dict)
    effects: Mapped[list] = mapped_column(JSON, default=list)
    budget_points: Mapped[int | None] = mapped_column(BigInteger)
    period: Mapped[str | None] = mapped_column(String(8))  # day | week | month
    period_budget_points: Mapped[int | None] = mapped_column(BigInteger)
    member_period_points: Mapped[int | None] = mapped_column(BigInteger)
    max_members: Mapped[int | None] = mapped_column(Integer)
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16), default="draft")
    holdout_bp: Mapped[int] = mapped_column(Integer, default=1000)
    salt: Mapped[str] = mapped_column(String(64))
    spent_points: Mapped[int] = mapped_column(BigInteger, default=0)
    members_awarded: Mapped[int] = mapped_column(Integer, default=0)
    awards_count: Mapped[int] = mapped_column(BigInteger, default=0)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CampaignExposure(Base):
    """A customer exposed to a campaign when its trigger fired: ``arm`` treatment or control."""

    __tablename__ = "campaign_exposures"
    __table_args__ = (
        UniqueConstraint("campaign_id", "customer_id", "trigger_ref", name="uq_campaign_exposures_occurrence"),
        Index("ix_campaign_exposures_campaign_arm", "campaign_id", "arm"),
    )

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    customer_id: Mapped[int] = mapped_column(_ID, ForeignKey("customers.id"), index=True)
    arm: Mapped[str] = mapped_column(String(16))
    fired_at: Mapped[datetime] = mapped_column(UTCDateTime())
    trigger_ref: Mapped[str] = mapped_column(String(160))  # purchase:<partner>:<purchase_id>, birthday:<year>, ...
    effect_note: Mapped[str | None] = mapped_column(String(200))  # why a treatment exposure gave nothing


class CampaignAward(Base):
    """Points a treatment exposure gave: an outbox entry of the funder at ``seq`` (the award range)."""

    __tablename__ = "campaign_awards"
    __table_args__ = (UniqueConstraint("funder_partner_id", "seq", name="uq_campaign_awards_funder_seq"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    exposure_id: Mapped[int] = mapped_column(_ID, ForeignKey("campaign_exposures.id"), unique=True)
    customer_id: Mapped[int] = mapped_column(_ID, ForeignKey("customers.id"))
    wallet: Mapped[str] = mapped_column(String(42))
    funder_partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    points: Mapped[int] = mapped_column(BigInteger)
    seq: Mapped[int] = mapped_column(BigInteger)
    outbox_id: Mapped[int | None] = mapped_column(_ID)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CampaignSpend(Base):
    """Points a campaign gave in one period: in all (``customer_id`` 0) and to one customer."""

    __tablename__ = "campaign_spend"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    customer_id: Mapped[int] = mapped_column(_ID, primary_key=True)
    period_start: Mapped[date] = mapped_column(Date, primary_key=True)
    points: Mapped[int] = mapped_column(BigInteger, default=0)
