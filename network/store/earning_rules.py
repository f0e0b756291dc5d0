"""A partner's earning rules in the store (migration 0020 earning_rules): the versions of its rule
set, and each member's points so far in the current period of each cap.

A rule set version is written once as a ``draft`` (its rules are loyalty/rules_json.py's JSON);
activating one makes it ``active`` and the partner's previous active version ``retired``, in one
transaction: a partner has at most one active version (a partial unique index says so on
PostgreSQL and SQLite alike). A partner without an active version earns by its rate
(``partners.points_per_unit``), exactly as before rule sets existed.

``earning_cap_usage`` holds, per (partner, member's wallet, cap id, first day of the cap's
period in the partner's time zone), the points the member got towards that cap: the purchase
writer reads it for the members of a group and adds what the group gave, in the group's
transaction.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Date, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

import network.store.tables  # noqa: F401  (rule sets reference the partners' table)
from network.store.base import Base, UTCDateTime, utcnow

_ID = BigInteger().with_variant(Integer, "sqlite")
RULESET_STATUSES = ("draft", "active", "retired")


class EarningRuleSet(Base):
    """One version of a partner's rule set; ``rules`` is ``loyalty.rules_json.ruleset_to_json``."""

    __tablename__ = "earning_rule_sets"
    __table_args__ = (
        UniqueConstraint("partner_id", "version", name="uq_earning_rule_sets_partner_version"),
        Index(
            "uq_earning_rule_sets_one_active",
            "partner_id",
            unique=True,
            postgresql_where=text("status = 'active'"),
            sqlite_where=text("status = 'active'"),
        ),
    )

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    version: Mapped[int] = mapped_column(Integer)
    rules: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64))
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    activated_by: Mapped[str | None] = mapped_column(String(64))
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class EarningCapUsage(Base):
    """A member's points towards one cap in one period (see the module doc)."""

    __tablename__ = "earning_cap_usage"

    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), primary_key=True)
    wallet: Mapped[str] = mapped_column(String(42), primary_key=True)
    cap_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    period_start: Mapped[date] = mapped_column(Date, primary_key=True)
    points: Mapped[int] = mapped_column(BigInteger, default=0)
