"""The message log: a partner's own messages (``/v1/messages``), every message and the delivery
rates for the operator (``/v1/operator/messages``). Thin: gateway/services/message_log.py reads."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from sqlalchemy.orm import Session

from gateway.deps import CurrentPartner, OperatorDep, SessionDep
from gateway.problems import problem_responses
from gateway.routes.customer_common import Cursor, Limit
from gateway.schemas import Ident
from gateway.schemas_messages import (
    DeliveryRate,
    DeliveryStats,
    MessageDetail,
    MessageLogEntry,
    MessagePage,
    MessagePublic,
)
from gateway.services import message_log
from gateway.timeutil import as_utc, utc_instant
from loyalty.messages.kinds import KINDS
from network.store import Message, MessageEvent

router = APIRouter(tags=["messages"])

Status = Literal["queued", "sending", "sent", "delivered", "bounced", "failed", "suppressed"]
StatusQ = Annotated[Status | None, Query(description="Only the messages in this status", examples=["suppressed"])]
KindQ = Annotated[
    Literal[tuple(KINDS)] | None,  # type: ignore[valid-type]
    Query(description="Only the messages of this kind", examples=["reward_ready"]),
]
Since = Annotated[
    datetime | None,
    Query(description="Only the messages planned at or after this instant", examples=["2026-12-01T00:00:00Z"]),
]
Until = Annotated[
    datetime | None,
    Query(description="Only the messages planned before this instant", examples=["2026-12-06T00:00:00Z"]),
]
MessageId = Annotated[int, Path(ge=1, lt=2**62, description="The message's id", examples=[42])]


def _instant(value: datetime | None) -> datetime | None:
    return None if value is None else utc_instant(value)


def public(message: Message, ref: str | None) -> MessagePublic:
    return MessagePublic(
        id=message.id,
        kind=message.kind,
        category=message.category,
        customer_id=message.customer_id,
        customer_ref=ref,
        partner_id=message.partner_id,
        channel=message.channel,
        address=message.address,
        locale=message.locale,
        status=message.status,
        reason=message.reason,
        send_after=as_utc(message.send_after),
        attempts=message.attempts,
        created_at=as_utc(message.created_at),
        sent_at=None if message.sent_at is None else as_utc(message.sent_at),
        data=message.data or {},
    )


def detail(message: Message, ref: str | None, log: list[MessageEvent]) -> MessageDetail:
    entries = [MessageLogEntry(status=e.status, detail=e.detail, at=as_utc(e.at)) for e in log]
    return MessageDetail(**public(message, ref).model_dump(), log=entries)


def _page(
    session: Session,
    partner_id: int | None,
    status: str | None,
    kind: str | None,
    customer_id: int | None,
    since: datetime | None,
    until: datetime | None,
    cursor: int | None,
    limit: int,
) -> MessagePage:
    """A page of the log (a partner's own messages, or every one: ``partner_id`` None)."""
    page = message_log.page(
        session,
        partner_id=partner_id,
        status=status,
        kind=kind,
        customer_id=customer_id,
        since=_instant(since),
        until=_instant(until),
        cursor=cursor,
        limit=limit,
    )
    return MessagePage(messages=[public(m, r) for m, r in page.messages], next_cursor=page.next_cursor)


@router.get(
    "/v1/messages",
    response_model=MessagePage,
    summary="Your messages to your customers, newest first",
    responses=problem_responses("unauthorized", "not-found", "validation-error"),
)
def list_messages(
    partner: CurrentPartner,
    session: SessionDep,
    status: StatusQ = None,
    kind: KindQ = None,
    ref: Annotated[Ident | None, Query(description="Only the messages to this customer of yours")] = None,
    since: Since = None,
    until: Until = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> MessagePage:
    """The messages sent (or planned, or suppressed) on your behalf, a page at a time
    (``cursor``); a ref of no customer of yours is 404."""
    customer = None if ref is None else message_log.customer_of_ref(session, partner_id=partner.id, ref=ref)
    return _page(session, partner.id, status, kind, customer, since, until, cursor, limit)


@router.get(
    "/v1/messages/{message_id}",
    response_model=MessageDetail,
    summary="One of your messages and its log",
    responses=problem_responses("unauthorized", "not-found", "validation-error"),
)
def get_message(message_id: MessageId, partner: CurrentPartner, session: SessionDep) -> MessageDetail:
    """The message (yours only: another partner's is 404) and every change of its status."""
    return detail(*message_log.one(session, message_id=message_id, partner_id=partner.id))


@router.get(
    "/v1/operator/messages",
    response_model=MessagePage,
    summary="Every message, newest first",
    tags=["operator"],
    responses=problem_responses("unauthorized", "validation-error", "rate-limited"),
)
def operator_messages(
    _: OperatorDep,
    session: SessionDep,
    status: StatusQ = None,
    kind: KindQ = None,
    customer_id: Annotated[int | None, Query(ge=1, lt=2**62)] = None,
    since: Since = None,
    until: Until = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> MessagePage:
    """Every partner's and the coalition's own messages, a page at a time (``cursor``)."""
    return _page(session, None, status, kind, customer_id, since, until, cursor, limit)


@router.get(
    "/v1/operator/messages/stats",
    response_model=DeliveryStats,
    summary="Delivery rates per kind and channel over a period",
    tags=["operator"],
    responses=problem_responses("unauthorized", "validation-error", "rate-limited"),
)
def operator_message_stats(
    _: OperatorDep, session: SessionDep, since: Since = None, until: Until = None
) -> DeliveryStats:
    """Messages planned in the period per kind and channel: queued, sent, delivered, bounced,
    failed, suppressed (by reason) and the delivery rate."""
    since, until = _instant(since), _instant(until)
    found = message_log.rates(session, since=since, until=until)
    return DeliveryStats(since=since, until=until, rates=[DeliveryRate(**r) for r in found])


@router.get(
    "/v1/operator/messages/{message_id}",
    response_model=MessageDetail,
    summary="Any message and its log",
    tags=["operator"],
    responses=problem_responses("unauthorized", "not-found", "validation-error", "rate-limited"),
)
def operator_message(message_id: MessageId, _: OperatorDep, session: SessionDep) -> MessageDetail:
    """The message and every change of its status."""
    return detail(*message_log.one(session, message_id=message_id, partner_id=None))
