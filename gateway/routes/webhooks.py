"""Partner API: webhook endpoints and their deliveries.

Each partner sees only its own endpoints: another partner's endpoint id answers 404, exactly
like one that does not exist. The signing secret is returned when an endpoint is created and
when its secret is rotated, never again (it is stored encrypted).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from gateway.deps import CurrentPartner, SessionDep, SettingsDep
from gateway.problems import problem_responses
from gateway.schemas import Strict
from gateway.services import webhooks as service
from gateway.services.webhooks import DeliveryError, EventType
from gateway.timeutil import as_utc
from network.store import WebhookDelivery, WebhookEndpoint

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

EndpointId = Annotated[int, Path(ge=1, lt=2**63)]


HOOK_URL = "https://pos.example.com/coalition/webhooks"
HOOK_EXAMPLE = {
    "id": 1,
    "url": HOOK_URL,
    "event_types": ["purchase.confirmed", "purchase.failed"],
    "description": "point of sale",
    "created_at": "2026-11-01T08:00:00Z",
}


class WebhookCreate(Strict):
    """An endpoint of the partner's to POST events to."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "url": HOOK_URL,
                    "event_types": ["purchase.confirmed", "purchase.failed"],
                    "description": "point of sale",
                }
            ]
        }
    )

    url: str = Field(
        min_length=8,
        max_length=2048,
        examples=[HOOK_URL],
        description="https, to a public host (not loopback, private or link-local); checked again at each delivery",
    )
    event_types: list[EventType] = Field(
        min_length=1, max_length=len(service.EVENT_TYPES), description="The event types to send (see `webhooks`)"
    )
    description: str | None = Field(default=None, max_length=200, description="A note of the partner's own")


class WebhookPublic(BaseModel):
    """A webhook endpoint of the partner's."""

    model_config = ConfigDict(json_schema_extra={"examples": [HOOK_EXAMPLE]})

    id: int = Field(description="The endpoint's id")
    url: str = Field(description="Where events are POSTed")
    event_types: list[EventType] = Field(description="The event types sent to it")
    description: str | None = Field(description="The partner's note")
    created_at: datetime = Field(description="When it was registered (UTC)")


class WebhookWithSecret(WebhookPublic):
    """A webhook endpoint with its signing secret (shown in this answer only)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{**HOOK_EXAMPLE, "secret": "whsec_Jx1vQ8nM3pR6tY9wB2eH5kL0sD4fG7aC1zX8uI3oP6q"}]
        }
    )

    secret: str = Field(
        description="Shown once: verify each delivery's Coalition-Signature with it (partners/webhooks.py)"
    )


class DeliveryPublic(BaseModel):
    """One event sent (or to be sent) to one endpoint."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 41,
                    "event_id": "evt_5f0c3b2a9d8e4f6a8b7c6d5e4f3a2b1c",
                    "event_type": "purchase.confirmed",
                    "status": "pending",
                    "attempts": 2,
                    "next_attempt_at": "2026-11-23T10:01:07Z",
                    "last_status_code": 503,
                    "last_error": "http-status",
                    "delivered_at": None,
                    "created_at": "2026-11-23T10:00:07Z",
                    "payload": {
                        "id": "evt_5f0c3b2a9d8e4f6a8b7c6d5e4f3a2b1c",
                        "type": "purchase.confirmed",
                        "created_at": "2026-11-23T10:00:07.250000Z",
                        "partner_id": 3,
                        "data": {"purchase_id": "order-1042", "status": "confirmed", "points": 63},
                    },
                }
            ]
        }
    )

    id: int = Field(description="The delivery's id")
    event_id: str = Field(description="The event's id (the Coalition-Event-Id header)")
    event_type: EventType = Field(description="The event's type")
    status: Literal["pending", "delivered", "failed"] = Field(
        description="pending (to be tried again at next_attempt_at), delivered (a 2xx answer), failed (every "
        "attempt failed, or the endpoint was deleted)"
    )
    attempts: int = Field(description="Attempts made so far")
    next_attempt_at: datetime | None = Field(description="When it is tried next, while pending (UTC)")
    last_status_code: int | None = Field(description="The endpoint's answer to the last attempt, if it answered")
    last_error: DeliveryError | None = Field(
        description="Why the last attempt failed, as a class only: http-status (see last_status_code), timeout, "
        "connection-refused, connection-error, tls-error, dns-error, address-not-allowed (the host is or resolves "
        "to a loopback, private, link-local or otherwise non-public address), signing-secret-unusable (rotate the "
        "secret), endpoint-deleted"
    )
    delivered_at: datetime | None = Field(description="When the endpoint acknowledged it (UTC)")
    created_at: datetime = Field(description="When the event was recorded (UTC)")
    payload: dict[str, Any] = Field(description="The body sent: the event (see the `webhooks` section)")


def _public(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "event_types": list(endpoint.event_types),
        "description": endpoint.description,
        "created_at": as_utc(endpoint.created_at),
    }


def _delivery(d: WebhookDelivery) -> DeliveryPublic:
    return DeliveryPublic(
        id=d.id,
        event_id=d.event_id,
        event_type=d.event_type,
        status=d.status,  # type: ignore[arg-type]
        attempts=d.attempts,
        next_attempt_at=as_utc(d.next_attempt_at) if d.status == "pending" else None,
        last_status_code=d.last_status_code,
        last_error=service.shown_error(d),
        delivered_at=as_utc(d.delivered_at) if d.delivered_at else None,
        created_at=as_utc(d.created_at),
        payload=d.payload,
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=WebhookWithSecret,
    summary="Register a webhook endpoint; its signing secret is in this answer only",
    responses=problem_responses(
        "unauthorized", "rate-limited", "validation-error", "webhook-url-not-allowed", "too-many-webhooks"
    ),
)
def create_webhook(
    body: WebhookCreate, partner: CurrentPartner, session: SessionDep, settings: SettingsDep, response: Response
) -> WebhookWithSecret:
    """Events of the chosen types are POSTed to ``url`` as JSON, signed (header
    ``Coalition-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``), with
    ``Coalition-Event-Id`` and ``Coalition-Event-Type``. Any non-2xx answer is retried with
    exponential backoff; delivery is at-least-once, so dedupe on the event id."""
    endpoint, secret = service.create_endpoint(
        session,
        partner_id=partner.id,
        url=body.url,
        event_types=list(body.event_types),
        description=body.description,
        settings=settings,
    )
    response.headers["Location"] = f"/v1/webhooks/{endpoint.id}"
    answer = WebhookWithSecret(**_public(endpoint), secret=secret)
    session.commit()
    return answer


@router.get(
    "",
    response_model=list[WebhookPublic],
    summary="This partner's webhook endpoints",
    responses=problem_responses("unauthorized", "rate-limited"),
)
def list_webhooks(partner: CurrentPartner, session: SessionDep) -> list[WebhookPublic]:
    """The partner's endpoints (their secrets are never shown again)."""
    answer = [WebhookPublic(**_public(e)) for e in service.list_endpoints(session, partner_id=partner.id)]
    session.commit()
    return answer


@router.get(
    "/{endpoint_id}",
    response_model=WebhookPublic,
    summary="One webhook endpoint",
    responses=problem_responses("unauthorized", "rate-limited", "not-found", "validation-error"),
)
def get_webhook(endpoint_id: EndpointId, partner: CurrentPartner, session: SessionDep) -> WebhookPublic:
    """One endpoint of the partner's; another partner's id is 404."""
    answer = WebhookPublic(**_public(service.get_endpoint(session, partner_id=partner.id, endpoint_id=endpoint_id)))
    session.commit()
    return answer


@router.delete(
    "/{endpoint_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a webhook endpoint: nothing more is sent to it, its pending deliveries fail",
    responses=problem_responses("unauthorized", "rate-limited", "not-found", "validation-error"),
)
def delete_webhook(endpoint_id: EndpointId, partner: CurrentPartner, session: SessionDep) -> Response:
    """Nothing more is sent to the endpoint; its pending deliveries are marked failed."""
    service.delete_endpoint(session, partner_id=partner.id, endpoint_id=endpoint_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{endpoint_id}/rotate-secret",
    response_model=WebhookWithSecret,
    summary="Replace the endpoint's signing secret; the new one is in this answer only",
    responses=problem_responses("unauthorized", "rate-limited", "not-found", "validation-error"),
)
def rotate_webhook_secret(
    endpoint_id: EndpointId, partner: CurrentPartner, session: SessionDep, settings: SettingsDep
) -> WebhookWithSecret:
    """Takes effect at once: every later attempt, including retries of older events, is signed
    with the new secret."""
    endpoint, secret = service.rotate_secret(
        session, partner_id=partner.id, endpoint_id=endpoint_id, secrets_key=str(settings.secrets_key)
    )
    answer = WebhookWithSecret(**_public(endpoint), secret=secret)
    session.commit()
    return answer


@router.post(
    "/{endpoint_id}/test",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeliveryPublic,
    summary="Send a webhook.test event to this endpoint now",
    responses=problem_responses("unauthorized", "rate-limited", "not-found", "validation-error"),
)
def send_test_webhook(endpoint_id: EndpointId, partner: CurrentPartner, session: SessionDep) -> DeliveryPublic:
    """Signed and delivered like every event (retried with backoff; follow it in the deliveries)."""
    delivery = service.emit_test(session, partner_id=partner.id, endpoint_id=endpoint_id)
    answer = _delivery(delivery)
    session.commit()
    service.kick([delivery.id])
    return answer


@router.get(
    "/{endpoint_id}/deliveries",
    response_model=list[DeliveryPublic],
    summary="The endpoint's latest deliveries, newest first: pending, delivered, or failed after every attempt",
    responses=problem_responses("unauthorized", "rate-limited", "not-found", "validation-error"),
)
def list_webhook_deliveries(
    endpoint_id: EndpointId,
    partner: CurrentPartner,
    session: SessionDep,
    delivery_status: Annotated[Literal["pending", "delivered", "failed"] | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[DeliveryPublic]:
    """Newest first, optionally only those in one status; each with its attempts, the endpoint's
    last answer (status code, or a class of error) and the payload sent."""
    deliveries = service.list_deliveries(
        session, partner_id=partner.id, endpoint_id=endpoint_id, status=delivery_status, limit=limit
    )
    answer = [_delivery(d) for d in deliveries]
    session.commit()
    return answer
