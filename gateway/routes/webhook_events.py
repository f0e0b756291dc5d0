"""The OpenAPI ``webhooks`` section: what the gateway POSTs to a partner's endpoint for each
event type, its headers and the answer it expects. Documentation only (``app.webhooks``):
nothing here is served. The bodies are gateway/schemas_webhooks.py.
"""

# no `from __future__ import annotations`: FastAPI reads the body model of each generated
# function from its annotations, which must be the classes themselves

from typing import Annotated, Any

from fastapi import APIRouter, Header

from gateway.schemas_webhooks import EVENT_MODELS
from partners.webhooks import DEFAULT_TOLERANCE_S, EVENT_ID_HEADER, EVENT_TYPE_HEADER, SIGNATURE_HEADER

router = APIRouter(tags=["webhook events"])

Signature = Annotated[
    str,
    Header(
        alias=SIGNATURE_HEADER,
        description="t=<unix time>,v1=<hex HMAC-SHA256 of '<t>.<raw body>' keyed with the endpoint's secret>. "
        f"Verify it on the raw bytes and refuse a t older than {DEFAULT_TOLERANCE_S} s (partners/webhooks.py "
        "`verify` does both).",
        examples=["t=1795428007,v1=5b0e4c9f2d7a41c8b3e6f0a9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9"],
    ),
]
EventId = Annotated[
    str,
    Header(
        alias=EVENT_ID_HEADER,
        description="The event's id (also `id` in the body), the same on every retry: dedupe on it",
        examples=["evt_5f0c3b2a9d8e4f6a8b7c6d5e4f3a2b1c"],
    ),
]
EventType = Annotated[
    str,
    Header(alias=EVENT_TYPE_HEADER, description="The event type (also `type` in the body)"),
]
ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"description": "Any 2xx acknowledges the event; the body of the answer is ignored"},
    "default": {
        "description": "Anything else, or no answer within COALITION_WEBHOOK_TIMEOUT_S (10 s), is retried with "
        "exponential backoff, up to COALITION_WEBHOOK_MAX_ATTEMPTS attempts (8) in all; GET "
        "/v1/webhooks/{endpoint_id}/deliveries shows each delivery's state"
    },
}
DELIVERY = (
    "POSTed as JSON to every endpoint of yours subscribed to this type, signed with the endpoint's secret "
    "(the `Coalition-Signature` header). Delivery is at least once and in no guaranteed order: dedupe on the "
    "event id, and read the current state from the API when the order matters."
)
# events that are not sent to every subscribed endpoint
DELIVERY_OF = {
    "webhook.test": "POSTed as JSON, on request (POST /v1/webhooks/{endpoint_id}/test), to that endpoint only, "
    "whatever types it subscribed to; signed, delivered and retried like every other event, under the same "
    "address policy at delivery. Use it to check your receiver and its signature check before real events.",
}


def _document(event_type: str) -> None:
    model = EVENT_MODELS[event_type]

    def receive(
        body: model,  # type: ignore[valid-type]
        signature: Signature,
        event_id: EventId,
        event_type_header: EventType,
    ) -> None:
        """Documentation only."""

    summary = (model.__doc__ or event_type).strip().splitlines()[0]
    router.post(
        event_type,
        summary=summary,
        description=f"{summary}\n\n{DELIVERY_OF.get(event_type, DELIVERY)}",
        operation_id=f"webhook_{event_type.replace('.', '_')}",
        responses=ANSWERS,
    )(receive)


for _event_type in EVENT_MODELS:
    _document(_event_type)
