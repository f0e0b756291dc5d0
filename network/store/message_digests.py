"""The daily points digest's running tally (migration 0025 ``message_digests``): the points a
customer earned on each of their days (the calendar day in their time zone when the purchase
was confirmed), added up by the message planner as it reads ``purchase.confirmed`` events, in the
same transaction as its cursor (so each purchase counts once). A day whose end has passed is
planned as one ``points_earned`` message (``planned_at`` set); a day missed while beat was down
is planned by the next run (gateway/services/message_schedule.py)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer
from sqlalchemy.orm import Mapped, mapped_column

from network.store.base import Base, UTCDateTime, utcnow

_ID = BigInteger().with_variant(Integer, "sqlite")


class MessageDigest(Base):
    """``customer_id``'s ``points`` from ``purchases`` confirmed purchases on ``day`` (their zone)."""

    __tablename__ = "message_digests"
    __table_args__ = (Index("ix_message_digests_pending", "planned_at", "day"),)

    customer_id: Mapped[int] = mapped_column(_ID, ForeignKey("customers.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    points: Mapped[int] = mapped_column(BigInteger, default=0)
    purchases: Mapped[int] = mapped_column(Integer, default=0)
    planned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
