"""Rows of the messages tables written straight into a store (network/store/messages.py), for the
dashboard's message pages until the planner and the sender write them: customers, messages in every
status with their events, one of them planned before the period the tests look at. Also a Maildir's
mails as the embedded SMTP server keeps them."""

from __future__ import annotations

from datetime import datetime, timedelta
from email.message import EmailMessage

from sqlalchemy.orm import Session, sessionmaker

from network.store import Customer
from network.store.messages import Message, MessageEvent

# (kind, channel, status, reason, partner: 0 = the first partner given, None = the coalition's)
PLAN: list[tuple[str, str, str, str | None, int | None]] = [
    ("welcome", "email", "sent", None, 0),
    ("welcome", "email", "delivered", None, 0),
    ("welcome", "email", "bounced", "hard-bounce", 0),
    ("welcome", "email", "suppressed", "no-consent", 0),
    ("welcome", "sms", "sent", None, 0),
    ("welcome", "sms", "failed", "provider-rejected", 0),
    ("points_expiring", "email", "queued", None, None),
    ("points_expiring", "email", "suppressed", "opted-out", None),
    ("points_expiring", "email", "suppressed", "no-consent", None),
    ("points_expiring", "email", "sent", None, None),
    ("tier_up", "push", "sending", None, None),
]
OLD = ("welcome", "email", "sent", None, 0)  # planned 60 days before: outside the default period


def seed_messages(
    sessions: sessionmaker[Session], *, now: datetime, partners: list[int], label: str = "t"
) -> list[int]:
    """The rows of ``PLAN`` (and ``OLD``), each with a customer of its own and its events; their ids."""
    ids = []
    with sessions() as session:
        for i, (kind, channel, status, reason, partner) in enumerate([*PLAN, OLD]):
            at = now - timedelta(days=60) if i == len(PLAN) else now - timedelta(minutes=len(PLAN) - i)
            customer = Customer(created_at=at)
            session.add(customer)
            session.flush()
            address = f"c{customer.id}@example.com" if channel == "email" else f"+3361234{customer.id:04d}"
            message = Message(
                occurrence=f"{label}-{i}",
                kind=kind,
                category="transactional",
                customer_id=customer.id,
                partner_id=None if partner is None else partners[partner],
                channel=channel,
                address=address,
                locale="pl" if i % 2 else "en",
                data={"first_name": f"N{i}"},
                status=status,
                reason=reason,
                created_at=at,
                send_after=at,
                attempts=0 if status in ("queued", "suppressed") else 1,
                sent_at=at + timedelta(seconds=5) if status in ("sent", "delivered", "bounced") else None,
            )
            session.add(message)
            session.flush()
            session.add(MessageEvent(message_id=message.id, status="queued", detail="planned", at=at))
            if status != "queued":
                detail = reason or ("250 2.0.0 Ok: queued" if status != "sending" else "claimed")
                session.add(
                    MessageEvent(message_id=message.id, status=status, detail=detail, at=at + timedelta(seconds=5))
                )
            ids.append(message.id)
        session.commit()
    return ids


def mail(
    *, to: str, subject: str, language: str, kind: str, message_id: int | None = None, html: str | None = None
) -> EmailMessage:
    """A mail as the sender writes one: plain text and HTML, its kind, language and unsubscribe headers."""
    out = EmailMessage()
    out["From"] = "Coalition <no-reply@coalition.example>"
    out["To"] = to
    out["Subject"] = subject
    out["X-Coalition-Kind"] = kind
    if message_id is not None:
        out["X-Coalition-Message"] = str(message_id)
    out["List-Unsubscribe"] = "<https://coalition.example/v1/unsubscribe/TOKEN>"
    out["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    out.set_content(f"{subject}\n\nHello from the coalition.\n")
    out.add_alternative(
        html or f'<p style="color:#4f46e5">{subject}</p><p>Hello from the coalition.</p>', subtype="html"
    )
    out["Content-Language"] = language  # after the body: set before, it moves into the first part
    return out
