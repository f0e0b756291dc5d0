"""Messages to customers (migration 0024 ``messages``): one row per message the coalition decided
to send, the log of what happened to each, and the addresses a channel must no longer use.

``messages``: exactly one row per (occurrence, customer, channel): ``occurrence`` is what the
message is one of (a domain event's ``event_id``, or ``<kind>:<customer id>:<day>`` for a daily
digest), so that a trigger replayed after a crash finds its row and adds none. The row keeps the
template's variables (``data``), not the rendered text: the text is rendered when it is sent, in the
customer's ``locale`` resolved at planning. ``status``: ``queued`` (waiting for ``send_after``: quiet
hours, a retry's backoff), ``sending`` (a sender holds it until ``claimed_until``), ``sent``,
``delivered`` / ``bounced`` (where the channel tells), ``failed`` (gave up, ``reason``),
``suppressed`` (never sent: no consent, unsubscribed, a frequency cap, a suppressed address, no
address; ``reason`` says which). ``address`` is personal data (scrubbed on erasure).

``message_events``: the log of one message, a row per change of status with a detail (the SMTP
reply, the provider's answer, the reason).

``message_suppressions``: an address a channel must not use any more (a hard bounce, a complaint,
an SMS ``STOP``), whoever the customer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from network.store.base import Base, UTCDateTime, utcnow

_ID = BigInteger().with_variant(Integer, "sqlite")

MESSAGE_STATUSES = ("queued", "sending", "sent", "delivered", "bounced", "failed", "suppressed")
FINAL_STATUSES = frozenset({"sent", "delivered", "bounced", "failed", "suppressed"})


class Message(Base):
    """One message to one customer on one channel (see the module's docstring)."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("occurrence", "customer_id", "channel", name="uq_messages_once"),
        Index("ix_messages_due", "status", "send_after"),
        Index("ix_messages_customer", "customer_id", "created_at"),
        Index("ix_messages_partner", "partner_id", "id"),
        Index("ix_messages_created_at", "created_at"),  # migration 0025: the log's periods, the delivery rates
    )

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    occurrence: Mapped[str] = mapped_column(String(96))
    kind: Mapped[str] = mapped_column(String(40))  # loyalty/messages/kinds.py KINDS
    category: Mapped[str] = mapped_column(String(16))  # transactional | marketing
    customer_id: Mapped[int] = mapped_column(_ID, ForeignKey("customers.id"))
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"))  # None: the coalition's own
    channel: Mapped[str] = mapped_column(String(8))  # email | sms | push
    address: Mapped[str | None] = mapped_column(String(254))
    locale: Mapped[str] = mapped_column(String(35))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    reason: Mapped[str | None] = mapped_column(String(64))
    send_after: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    provider_ref: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class MessageEvent(Base):
    """One line of a message's log: its new ``status`` and what said so (``detail``)."""

    __tablename__ = "message_events"
    __table_args__ = (Index("ix_message_events_message_id", "message_id", "id"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    message_id: Mapped[int] = mapped_column(_ID, ForeignKey("messages.id"))
    status: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class MessageSuppression(Base):
    """An ``address`` that ``channel`` must not use: ``reason`` hard-bounce | complaint | stop."""

    __tablename__ = "message_suppressions"
    __table_args__ = (UniqueConstraint("channel", "address", name="uq_message_suppressions_address"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    channel: Mapped[str] = mapped_column(String(8))
    address: Mapped[str] = mapped_column(String(254))
    reason: Mapped[str] = mapped_column(String(32))
    message_id: Mapped[int | None] = mapped_column(_ID)  # the message that taught it, if one did
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
