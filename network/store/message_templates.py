"""Partners' own message templates and brands (migration 0027 ``message_templates``).

``message_templates``: a partner's override of one (kind, channel, locale): the Jinja2 sources of
its parts (``subject``, ``text``, ``html``; null: the built-in part of loyalty/messages/templates).
``partner_id`` null is the coalition's own override (the operator's), used for the messages sent
in the coalition's name. One row per (partner, kind, channel, locale): a unique index for the
partners' rows and a partial one for the coalition's (a unique constraint would let many nulls
through). ``version`` counts the saves of the row.

``message_brands``: how a partner's messages look: the display ``name`` and two ``#rrggbb``
colours (``colour``: the header and buttons, ``accent``: the rule under the header). Null
``partner_id``: the coalition's own brand; ``owner`` (the partner's id, 0 for the coalition) is
unique, one brand each. A partner without a row has its name and the default
colours.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

import network.store.tables  # noqa: F401  (both reference the partners' table)
from network.store.base import Base, UTCDateTime, utcnow


class MessageTemplate(Base):
    """A partner's (or the coalition's, ``partner_id`` None) override of one kind, channel and locale."""

    __tablename__ = "message_templates"
    __table_args__ = (
        Index("uq_message_templates_partner", "partner_id", "kind", "channel", "locale", unique=True),
        Index(
            "uq_message_templates_coalition",
            "kind",
            "channel",
            "locale",
            unique=True,
            postgresql_where=text("partner_id IS NULL"),
            sqlite_where=text("partner_id IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"))
    kind: Mapped[str] = mapped_column(String(40))  # loyalty/messages/kinds.py KINDS
    channel: Mapped[str] = mapped_column(String(8))  # email | sms | push
    locale: Mapped[str] = mapped_column(String(8))  # en | pl | cs | ru
    subject: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str | None] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(64))


class MessageBrand(Base):
    """A partner's (or the coalition's) name and colours in its messages."""

    __tablename__ = "message_brands"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner: Mapped[int] = mapped_column(Integer, unique=True)  # the partner's id, 0 for the coalition
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"))
    name: Mapped[str] = mapped_column(String(80))
    colour: Mapped[str] = mapped_column(String(7))
    accent: Mapped[str] = mapped_column(String(7))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
