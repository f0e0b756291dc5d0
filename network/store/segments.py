"""Operator-defined segments (migration 0029 ``segments``): a name, a description, the condition
(loyalty/segments.py's JSON language, checked before it is stored) and who owns it. The members of
a segment are never stored: gateway/services/segments.py compiles the condition to one SELECT.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from network.store.base import Base, UTCDateTime, utcnow


class Segment(Base):
    """A saved condition on members; ``owner``: ``operator`` (the only owner so far)."""

    __tablename__ = "segments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    condition: Mapped[dict] = mapped_column(JSON)
    owner: Mapped[str] = mapped_column(String(16), default="operator")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
