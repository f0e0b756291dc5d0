"""Partner API: purchases earn points."""

from __future__ import annotations

import logging
from decimal import Decimal

from fastapi import APIRouter, Response, status
from kombu.exceptions import KombuError
from redis.exceptions import RedisError
from sqlalchemy.orm import Session

from gateway.deps import CurrentPartner, SessionDep, SettingsDep
from gateway.errors import NotFound, problem_responses
from gateway.models import Purchase
from gateway.schemas import EarnRule, Ident, PurchaseCreate, PurchasePublic
from gateway.services import purchases as service
from gateway.tasks.earn import request_drain
from gateway.timeutil import as_utc

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/purchases", tags=["purchases"])


def _public(session: Session, purchase: Purchase, base_url: str) -> PurchasePublic:
    name, tx_hash, batch_id, reason = service.status_of(session, purchase)
    return PurchasePublic(
        purchase_id=purchase.purchase_id,
        status=name,
        customer_wallet=purchase.customer_wallet,  # type: ignore[arg-type]
        amount=purchase.amount,
        currency=purchase.currency,
        points=purchase.points,
        rule=EarnRule(**purchase.rule),
        seq=purchase.seq,
        purchased_at=as_utc(purchase.purchased_at),
        accepted_at=as_utc(purchase.created_at),
        tx_hash=tx_hash,
        batch_id=batch_id,
        failure_reason=reason,
        status_url=f"{base_url}/v1/purchases/{purchase.purchase_id}",
    )


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=PurchasePublic,
    summary="Post a purchase: its points are minted to the customer",
    responses=problem_responses(
        "unauthorized",
        "idempotency-conflict",
        "partner-suspended",
        "validation-error",
        "customer-not-linked",
        "currency-not-accepted",
        "no-points",
        "amount-too-large",
    ),
)
def post_purchase(
    body: PurchaseCreate, partner: CurrentPartner, session: SessionDep, settings: SettingsDep, response: Response
) -> PurchasePublic:
    """Idempotent on ``purchase_id``: the same id with the same body returns the first answer;
    with another body it is refused (409). The answer is 202: the points are minted in the
    next batch; follow ``status_url`` (accepted, submitted, confirmed, or failed with a reason)."""
    purchase, created = service.accept_purchase(
        session, partner=partner, body=body, max_amount=Decimal(settings.max_purchase_amount)
    )
    response.headers["Location"] = f"/v1/purchases/{purchase.purchase_id}"
    answer = _public(session, purchase, settings.public_url)
    session.commit()  # releases the connection before the answer is serialized in another worker thread
    if created and settings.earn_start_on_accept:
        _start_drain(partner.id)
    return answer


def _start_drain(partner_id: int) -> None:
    """Starts the partner's drain now rather than at the next beat tick (lower latency). Best
    effort: the purchase is stored already, and beat's dispatch finds it if this fails."""
    try:
        request_drain(partner_id)
    except (RedisError, KombuError, OSError) as exc:
        log.warning("could not start the drain of partner %s now (beat will): %s", partner_id, exc)


@router.get(
    "/{purchase_id}",
    response_model=PurchasePublic,
    summary="Where a purchase stands",
    responses=problem_responses("unauthorized", "not-found", "validation-error"),
)
def get_purchase(
    purchase_id: Ident, partner: CurrentPartner, session: SessionDep, settings: SettingsDep
) -> PurchasePublic:
    purchase = service.get_purchase(session, partner=partner, purchase_id=purchase_id)
    if purchase is None:
        raise NotFound(f"no purchase {purchase_id!r} of this partner")
    answer = _public(session, purchase, settings.public_url)
    session.commit()  # releases the connection before the answer is serialized in another worker thread
    return answer
