"""Partner API: purchases earn points, one at a time or up to 1,000 in one request."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import ujson
from fastapi import APIRouter, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from gateway.deps import CurrentPartner, CurrentPartnerId, SessionDep, SettingsDep, purchase_writer_for
from gateway.errors import GatewayError, NotFound
from gateway.problems import error_body, field_errors, problem_body, problem_responses, validation_detail
from gateway.request_settings import settings_of
from gateway.schemas import (
    MAX_BATCH,
    Ident,
    PurchaseBatchCreate,
    PurchaseBatchOutcome,
    PurchaseCreate,
    PurchasePublic,
)
from gateway.services import purchases as service
from gateway.services.purchase_writer import PurchaseView, view_of

router = APIRouter(prefix="/v1/purchases", tags=["purchases"])
REPLAYED = "Idempotent-Replayed"  # on the answer to a duplicate: the first answer, replayed


class FastJSONResponse(JSONResponse):
    """Answers encoded by ujson: for a batch of 1,000 purchases the standard library's encoder
    took a tenth of the gateway's time. Only str, int, bool and None inside."""

    def render(self, content: Any) -> bytes:
        return ujson.dumps(content, ensure_ascii=False, escape_forward_slashes=False).encode()


def _public(view: PurchaseView, base_url: str) -> dict[str, Any]:
    """The JSON of a purchase (``PurchasePublic``), built without a second validation pass;
    ``breakdown`` only when the purchase has one (a purchase by the rate alone is answered as before)."""
    answer = {
        "purchase_id": view.purchase_id,
        "status": view.status,
        "customer_wallet": view.customer_wallet,
        "amount": str(view.amount),
        "currency": view.currency,
        "points": view.points,
        "rule": view.rule,
        "seq": view.seq,
        "purchased_at": view.purchased_at.isoformat().replace("+00:00", "Z"),
        "accepted_at": view.accepted_at.isoformat().replace("+00:00", "Z"),
        "tx_hash": view.tx_hash,
        "batch_id": view.batch_id,
        "failure_reason": view.failure_reason,
        "failure": view.failure,
        "status_url": f"{base_url}/v1/purchases/{view.purchase_id}",
    }
    if view.breakdown is not None:
        answer["breakdown"] = view.breakdown
    return answer


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=PurchasePublic,
    summary="Post a purchase: its points are minted to the customer",
    responses=problem_responses(
        "unauthorized",
        "rate-limited",
        "idempotency-conflict",
        "partner-suspended",
        "validation-error",
        "customer-not-linked",
        "currency-not-accepted",
        "no-points",
        "amount-too-large",
        "lines-mismatch",
        "lines-invalid",
        "content-too-large",
    ),
)
async def post_purchase(body: PurchaseCreate, partner_id: CurrentPartnerId, request: Request) -> Response:
    """Idempotent on ``purchase_id``: the same id with the same body is answered the first
    answer again, byte for byte (status ``accepted``, with the header ``Idempotent-Replayed:
    true``), whatever became of the purchase since; with another body it is refused (409). The
    answer is 202 once the purchase is stored: its points are minted in the next batch; follow
    ``status_url`` for where it stands (accepted, submitted, confirmed, or failed with a reason)."""
    settings = settings_of(request)
    writer = purchase_writer_for(settings)
    (outcome,) = await asyncio.wrap_future(writer.submit(partner_id, [body], Decimal(settings.max_purchase_amount)))
    if isinstance(outcome, BaseException):
        raise outcome
    headers = {"Location": f"/v1/purchases/{outcome.view.purchase_id}"}
    if not outcome.created:
        headers[REPLAYED] = "true"
    return FastJSONResponse(
        _public(outcome.view, settings.public_url), status_code=status.HTTP_202_ACCEPTED, headers=headers
    )


@router.post(
    "/batch",
    response_model=PurchaseBatchOutcome,
    summary=f"Post up to {MAX_BATCH} purchases at once (end-of-day files, e-shops)",
    responses=problem_responses("unauthorized", "rate-limited", "validation-error", "content-too-large"),
)
async def post_purchase_batch(body: PurchaseBatchCreate, partner_id: CurrentPartnerId, request: Request) -> Response:
    """Each purchase is handled as if it were posted alone to ``POST /v1/purchases``: its own
    idempotency on ``purchase_id``, its own validation and its own result, in the order given.
    One invalid or conflicting purchase does not hold back the others. The answer is 200 once
    every accepted purchase is stored; ``results[i].outcome`` is ``accepted`` (new), ``duplicate``
    (the same purchase posted before: its first answer, replayed) or ``rejected`` (with its problem)."""
    settings = settings_of(request)
    results: list[dict[str, Any] | None] = [None] * len(body.purchases)
    valid: list[tuple[int, PurchaseCreate]] = []
    for index, raw in enumerate(body.purchases):
        try:
            valid.append((index, PurchaseCreate.model_validate(raw)))
        except ValidationError as exc:
            purchase_id = raw.get("purchase_id") if isinstance(raw, dict) else None
            results[index] = _rejected(index, purchase_id if isinstance(purchase_id, str) else None, exc)
    writer = purchase_writer_for(settings)
    future = writer.submit(partner_id, [p for _, p in valid], Decimal(settings.max_purchase_amount))
    done = await asyncio.wrap_future(future)
    for (index, purchase), outcome in zip(valid, done, strict=True):
        if isinstance(outcome, GatewayError):
            results[index] = _rejected(index, purchase.purchase_id, outcome)
        elif isinstance(outcome, BaseException):
            raise outcome
        else:
            results[index] = {
                "index": index,
                "purchase_id": purchase.purchase_id,
                "outcome": "accepted" if outcome.created else "duplicate",
                "purchase": _public(outcome.view, settings.public_url),
                "problem": None,
            }
    counts = {"accepted": 0, "duplicate": 0, "rejected": 0}
    for result in results:
        assert result is not None
        counts[result["outcome"]] += 1
    return FastJSONResponse(
        {
            "accepted": counts["accepted"],
            "duplicates": counts["duplicate"],
            "rejected": counts["rejected"],
            "results": results,
        }
    )


def _rejected(index: int, purchase_id: str | None, exc: Exception) -> dict[str, Any]:
    if isinstance(exc, GatewayError):
        problem = error_body(exc)
    else:
        assert isinstance(exc, ValidationError)
        errors = field_errors(exc.errors())
        problem = problem_body("validation-error", validation_detail(errors), errors=errors)
    return {"index": index, "purchase_id": purchase_id, "outcome": "rejected", "purchase": None, "problem": problem}


@router.get(
    "/{purchase_id}",
    response_model=PurchasePublic,
    summary="Where a purchase stands",
    responses=problem_responses("unauthorized", "not-found", "validation-error"),
)
def get_purchase(purchase_id: Ident, partner: CurrentPartner, session: SessionDep, settings: SettingsDep) -> Response:
    """The purchase as POST answered it, with where it stands now: accepted, held, submitted, confirmed
    (with its transaction and batch) or failed (with the reason). Another partner's purchase id is 404."""
    purchase = service.get_purchase(session, partner=partner, purchase_id=purchase_id)
    if purchase is None:
        raise NotFound(f"no purchase {purchase_id!r} of this partner")
    answer = _public(view_of(session, purchase), settings.public_url)
    session.commit()  # releases the connection before the answer is serialized
    return JSONResponse(answer)
