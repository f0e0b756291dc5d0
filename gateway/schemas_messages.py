"""The message log (``GET /v1/messages``, ``GET /v1/messages/{message_id}``, and the operator's
``GET /v1/operator/messages``, ``GET /v1/operator/messages/stats``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Kind = Literal[
    "welcome",
    "email_confirmation",
    "points_earned",
    "tier_up",
    "tier_at_risk",
    "points_expiring",
    "reward_ready",
    "refund_done",
    "membership_trial_ending",
    "membership_renewed",
    "membership_payment_failed",
    "membership_lapsed",
]  # loyalty/messages/kinds.py KINDS (tests/gateway/test_message_planner_unit.py holds them in step)
Status = Literal["queued", "sending", "sent", "delivered", "bounced", "failed", "suppressed"]
_T = "2026-12-05T09:12:33Z"
EXAMPLE_MESSAGE: dict[str, Any] = {
    "id": 42,
    "kind": "reward_ready",
    "category": "transactional",
    "customer_id": 7,
    "customer_ref": "loyalty-0042",
    "partner_id": 1,
    "channel": "email",
    "address": "ada@example.com",
    "locale": "pl-PL",
    "status": "delivered",
    "reason": None,
    "send_after": _T,
    "attempts": 1,
    "created_at": _T,
    "sent_at": "2026-12-05T09:12:35Z",
    "data": {"first_name": "Ada", "reward": "Coffee voucher", "points": 300, "voucher_code": "V-93KD-2F"},
}
EXAMPLE_LOG = [
    {"status": "queued", "detail": "queued", "at": _T},
    {"status": "sent", "detail": "250 2.0.0 Ok: queued as 4F2A1", "at": "2026-12-05T09:12:35Z"},
]


class MessagePublic(BaseModel):
    """One message to one customer on one channel: what it is, where it stands."""

    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_MESSAGE]})

    id: int = Field(description="The message's id")
    kind: Kind = Field(description="The kind of message (loyalty/messages/kinds.py)")
    category: str = Field(description="transactional | marketing (marketing needs consent, counts to the caps)")
    customer_id: int = Field(description="The coalition's id of the customer")
    customer_ref: str | None = Field(description="Your ref of the customer (operator: null)")
    partner_id: int | None = Field(description="The partner it is sent for; null: the coalition's own")
    channel: str = Field(description="email | sms | push")
    address: str | None = Field(description="The address (email, phone, push token); null once erased")
    locale: str = Field(description="The locale it is written in (BCP 47), before the templates' fallback")
    status: Status = Field(description="Where it stands")
    reason: str | None = Field(
        description="Why it was suppressed or failed: no-consent, unconfirmed, opted-out, "
        "suppressed-address, frequency-cap, or the channel's error"
    )
    send_after: datetime = Field(description="Not sent before (UTC): the end of quiet hours, a retry's backoff")
    attempts: int = Field(description="Delivery attempts so far")
    created_at: datetime = Field(description="When it was planned (UTC)")
    sent_at: datetime | None = Field(description="When the channel accepted it (UTC)")
    data: dict[str, Any] = Field(description="The template's variables")


class MessageLogEntry(BaseModel):
    """One change of a message's status and what said so."""

    model_config = ConfigDict(json_schema_extra={"examples": EXAMPLE_LOG})

    status: Status = Field(description="The new status")
    detail: str | None = Field(description="The reason, the SMTP reply, the provider's answer")
    at: datetime = Field(description="When (UTC)")


class MessageDetail(MessagePublic):
    """A message and its log, oldest first."""

    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_MESSAGE | {"log": EXAMPLE_LOG}]})

    log: list[MessageLogEntry] = Field(description="Every change of status, oldest first")


class MessagePage(BaseModel):
    """A page of messages, newest first; ask for the next with ``cursor=next_cursor``."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"messages": [EXAMPLE_MESSAGE], "next_cursor": 42}]})

    messages: list[MessagePublic] = Field(description="The messages, newest first")
    next_cursor: int | None = Field(description="The cursor of the next page; null: the last page")


EXAMPLE_RATE = {
    "kind": "points_earned",
    "channel": "email",
    "total": 120,
    "queued": 3,
    "sending": 0,
    "sent": 40,
    "delivered": 60,
    "bounced": 2,
    "failed": 1,
    "suppressed": 14,
    "suppressed_by_reason": {"no-consent": 9, "frequency-cap": 5},
    "delivery_rate": 0.5714,
}


class DeliveryRate(BaseModel):
    """The messages of one kind on one channel planned in the period, by status."""

    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_RATE]})

    kind: Kind = Field(description="The kind of message")
    channel: str = Field(description="email | sms | push")
    total: int = Field(description="Messages planned")
    queued: int = Field(description="Waiting (quiet hours, backoff)")
    sending: int = Field(description="Held by a sender now")
    sent: int = Field(description="Accepted by the channel, no delivery report (yet)")
    delivered: int = Field(description="Delivered, where the channel tells")
    bounced: int = Field(description="Bounced")
    failed: int = Field(description="Given up")
    suppressed: int = Field(description="Never sent")
    suppressed_by_reason: dict[str, int] = Field(description="The suppressed ones by reason")
    delivery_rate: float | None = Field(description="(sent + delivered) / (total - suppressed); null if none went")


class DeliveryStats(BaseModel):
    """Delivery rates per kind and channel over a period (by the time messages were planned)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"since": _T, "until": "2026-12-06T09:12:33Z", "rates": [EXAMPLE_RATE]}]}
    )

    since: datetime | None = Field(description="From (UTC, included); null: the beginning")
    until: datetime | None = Field(description="To (UTC, excluded); null: now")
    rates: list[DeliveryRate] = Field(description="One entry per kind and channel, by kind then channel")
