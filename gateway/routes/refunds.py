"""Partner API: refunds of purchases, whose points are clawed back on chain."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Response, status
from pydantic import BaseModel, ConfigDict, Field

from gateway.deps import ChainDep, CurrentPartner, SessionDep, SettingsDep
from gateway.problems import problem_responses
from gateway.schemas import Amount, FailurePublic, Ident, Strict
from gateway.services import refunds as service
from network.store import Refund

router = APIRouter(prefix="/v1/purchases/{purchase_id}/refunds", tags=["refunds"])


def refund_deadlines(chain: ChainDep) -> Callable[[int], int]:
    """A batch's refund deadline (Unix time) as the points contract says, read when needed."""
    points = chain.contracts.points.functions
    return lambda batch_id: int(points.refundDeadlineOf(batch_id).call())


class RefundCreate(Strict):
    """A refund of a confirmed purchase, whole or in part."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"refund_id": "refund-1042-1", "amount": "10.00", "reason": "one item returned"}]
        }
    )

    refund_id: Ident = Field(
        description="The partner's own id of the refund; the idempotency key", examples=["refund-1042-1"]
    )
    amount: Amount | None = Field(
        default=None,
        description="Absent: every point of the purchase not refunded yet. Present: amount × the purchase's "
        "points per unit, rounded down (the rest of the purchase's amount takes every point left).",
    )
    reason: str | None = Field(default=None, max_length=200, description="Why, in the partner's words (kept as is)")


class RefundPublic(BaseModel):
    """A refund and where it stands."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "refund_id": "refund-1042-1",
                    "purchase_id": "order-1042",
                    "status": "accepted",
                    "amount": "10.00",
                    "points": 15,
                    "reason": "one item returned",
                    "customer_wallet": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
                    "tx_hash": None,
                    "failure_reason": None,
                    "failure": None,
                    "created_at": "2026-11-24T09:15:00Z",
                    "status_url": "https://gateway.example.com/v1/purchases/order-1042/refunds/refund-1042-1",
                }
            ]
        }
    )

    refund_id: str = Field(description="The partner's own id of the refund")
    purchase_id: str = Field(description="The refunded purchase")
    status: Literal["accepted", "submitted", "confirmed", "failed"] = Field(
        description="accepted (stored), submitted (the clawback is sent), confirmed (clawed back on chain), failed "
        "(see failure)"
    )
    amount: Decimal | None = Field(description="The amount refunded; null: the rest of the purchase")
    points: int = Field(description="Points clawed back")
    reason: str | None = Field(description="The partner's reason")
    customer_wallet: str = Field(description="The wallet the points are taken back from")
    tx_hash: str | None = Field(description="The clawback transaction, once sent")
    failure_reason: str | None = Field(description="Why it failed (e.g. the customer spent the points); else null")
    failure: FailurePublic | None = Field(
        default=None,
        description="Why it failed, as a problem of the catalogue (type, title, detail); else null",
    )
    created_at: datetime = Field(description="When it was accepted (UTC)")
    status_url: str = Field(description="Where to GET the refund's state")


def _public(session: SessionDep, refund: Refund, base_url: str) -> RefundPublic:
    event = service.refund_event(session, refund)
    url = f"{base_url}/v1/purchases/{event['purchase_id']}/refunds/{refund.refund_id}"
    return RefundPublic(**event, status_url=url)


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RefundPublic,
    summary="Refund a confirmed purchase, fully or in part: its points are clawed back on chain",
    responses=problem_responses(
        "unauthorized",
        "rate-limited",
        "not-found",
        "idempotency-conflict",
        "purchase-not-confirmed",
        "refund-exceeds-purchase",
        "refund-window-closed",
        "validation-error",
    ),
)
def post_refund(
    purchase_id: Ident,
    body: RefundCreate,
    partner: CurrentPartner,
    session: SessionDep,
    settings: SettingsDep,
    deadlines: Annotated[Callable[[int], int], Depends(refund_deadlines)],
    response: Response,
) -> RefundPublic:
    """Idempotent on ``refund_id`` (same id and body: the first answer; another body: 409). The
    purchase must be confirmed (409 ``purchase-not-confirmed`` before: its batch is not known
    yet). The answer is 202; follow ``status_url``: accepted, submitted, then confirmed, or
    failed with a reason (e.g. the customer spent the points already). Webhooks
    ``refund.confirmed`` / ``refund.failed`` tell the same. After the refund window of the
    purchase's batch (on chain), 409 ``refund-window-closed``."""
    refund, _created = service.accept_refund(
        session,
        partner=partner,
        purchase_id=purchase_id,
        refund_id=body.refund_id,
        amount=body.amount,
        reason=body.reason,
        refund_deadline=deadlines,
    )
    answer = _public(session, refund, settings.public_url)
    response.headers["Location"] = answer.status_url.removeprefix(settings.public_url)
    session.commit()  # releases the connection before the answer is serialized in another worker thread
    return answer


@router.get(
    "",
    response_model=list[RefundPublic],
    summary="The refunds of a purchase",
    responses=problem_responses("unauthorized", "rate-limited", "not-found", "validation-error"),
)
def list_refunds(
    purchase_id: Ident, partner: CurrentPartner, session: SessionDep, settings: SettingsDep
) -> list[RefundPublic]:
    """Every refund of the purchase, oldest first, each with where it stands."""
    refunds = service.list_refunds(session, partner=partner, purchase_id=purchase_id)
    answer = [_public(session, r, settings.public_url) for r in refunds]
    session.commit()
    return answer


@router.get(
    "/{refund_id}",
    response_model=RefundPublic,
    summary="Where a refund stands",
    responses=problem_responses("unauthorized", "rate-limited", "not-found", "validation-error"),
)
def get_refund(
    purchase_id: Ident, refund_id: Ident, partner: CurrentPartner, session: SessionDep, settings: SettingsDep
) -> RefundPublic:
    """The refund as POST answered it, with where it stands now (accepted, submitted, confirmed or
    failed with a reason)."""
    refund = service.get_refund(session, partner=partner, purchase_id=purchase_id, refund_id=refund_id)
    answer = _public(session, refund, settings.public_url)
    session.commit()
    return answer
