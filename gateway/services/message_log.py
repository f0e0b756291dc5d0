"""The message log, read: a partner's own messages (or every message, for the operator), a page
at a time newest first, one message with its log, and the delivery rates per kind and channel
computed in SQL (one GROUP BY)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from gateway.errors import NotFound
from network.store import CustomerLink, Message, MessageEvent
from network.store.messages import MESSAGE_STATUSES


@dataclass(frozen=True, slots=True)
class Page:
    messages: list[tuple[Message, str | None]]  # (message, the partner's ref of its customer)
    next_cursor: int | None


def customer_of_ref(session: Session, *, partner_id: int, ref: str) -> int:
    customer = session.scalar(
        select(CustomerLink.customer_id).where(CustomerLink.partner_id == partner_id, CustomerLink.ref == ref)
    )
    if customer is None:
        raise NotFound(f"no customer {ref!r} of this partner")
    return int(customer)


def page(
    session: Session,
    *,
    partner_id: int | None,
    status: str | None = None,
    kind: str | None = None,
    customer_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: int | None = None,
    limit: int = 50,
) -> Page:
    """Messages newest first (``partner_id`` None: everyone's), filtered; ``cursor``: below that id."""
    query = select(Message)
    if partner_id is not None:
        query = query.where(Message.partner_id == partner_id)
    for column, value in ((Message.status, status), (Message.kind, kind), (Message.customer_id, customer_id)):
        if value is not None:
            query = query.where(column == value)
    if since is not None:
        query = query.where(Message.created_at >= since)
    if until is not None:
        query = query.where(Message.created_at < until)
    if cursor is not None:
        query = query.where(Message.id < cursor)
    rows = list(session.scalars(query.order_by(Message.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    refs: dict[int, str] = {}
    if partner_id is not None and rows:
        refs = dict(
            session.execute(
                select(CustomerLink.customer_id, CustomerLink.ref).where(
                    CustomerLink.partner_id == partner_id,
                    CustomerLink.customer_id.in_({m.customer_id for m in rows}),
                )
            ).all()
        )
    return Page([(m, refs.get(m.customer_id)) for m in rows], rows[-1].id if more else None)


def one(session: Session, *, message_id: int, partner_id: int | None) -> tuple[Message, str | None, list[MessageEvent]]:
    """A message (a partner's own only: NotFound otherwise), its customer's ref and its log."""
    message = session.get(Message, message_id)
    if message is None or (partner_id is not None and message.partner_id != partner_id):
        raise NotFound(f"no message {message_id}")
    ref = None
    if partner_id is not None:
        ref = session.scalar(
            select(CustomerLink.ref).where(
                CustomerLink.partner_id == partner_id, CustomerLink.customer_id == message.customer_id
            )
        )
    log = list(
        session.scalars(select(MessageEvent).where(MessageEvent.message_id == message_id).order_by(MessageEvent.id))
    )
    return message, ref, log


def rates(session: Session, *, since: datetime | None, until: datetime | None) -> list[dict[str, Any]]:
    """Per (kind, channel): messages planned in the period by status, the suppressed by reason, and
    the delivery rate ((sent + delivered) / what was not suppressed)."""
    counts = [func.sum(case((Message.status == s, 1), else_=0)).label(s) for s in MESSAGE_STATUSES]
    query = select(Message.kind, Message.channel, func.count().label("total"), *counts)
    reasons = select(Message.kind, Message.channel, Message.reason, func.count()).where(Message.status == "suppressed")
    if since is not None:
        query, reasons = query.where(Message.created_at >= since), reasons.where(Message.created_at >= since)
    if until is not None:
        query, reasons = query.where(Message.created_at < until), reasons.where(Message.created_at < until)
    by_reason: dict[tuple[str, str], dict[str, int]] = {}
    for kind, channel, reason, n in session.execute(reasons.group_by(Message.kind, Message.channel, Message.reason)):
        by_reason.setdefault((kind, channel), {})[reason or "unknown"] = int(n)
    found = []
    for row in session.execute(query.group_by(Message.kind, Message.channel).order_by(Message.kind, Message.channel)):
        values = {s: int(getattr(row, s) or 0) for s in MESSAGE_STATUSES}
        went = int(row.total) - values["suppressed"]
        found.append(
            {
                "kind": row.kind,
                "channel": row.channel,
                "total": int(row.total),
                **values,
                "suppressed_by_reason": by_reason.get((row.kind, row.channel), {}),
                "delivery_rate": round((values["sent"] + values["delivered"]) / went, 4) if went else None,
            }
        )
    return found
