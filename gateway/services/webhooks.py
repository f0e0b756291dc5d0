"""Webhooks: the event catalogue, recording events for delivery, and partners' endpoints.

An event is recorded by :func:`emit` inside the database transaction of the change it
reports (a confirmed purchase, a failed refund...), as one delivery row per active endpoint
of the partner that subscribed to its type: the event is never announced for a change that
was rolled back, nor lost for one that was committed. The webhook task
(gateway/tasks/webhooks.py) sends it later: the beat's ``sweep`` picks every delivery that is
due, and a caller may also :func:`kick` its deliveries right after its commit.

Signing secrets are stored encrypted (gateway/secrets_box.py: AES-256-GCM, a key derived from
``settings.secrets_key``), each bound to its row (the endpoint's and the partner's ids are the
associated data: a ciphertext moved to another row does not open), and shown to the partner
once, when created or rotated.

A URL is checked when it is registered (gateway/netpolicy.py: https to a public host), and the
addresses its host resolves to are checked again at every delivery (gateway/webhook_http.py).
"""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Literal, get_args

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from gateway import enqueue
from gateway.errors import NotFound, TooManyWebhooks, WebhookUrlNotAllowed
from gateway.netpolicy import UrlNotAllowed
from gateway.netpolicy import check_url as check_target
from gateway.secrets_box import NONCE_BYTES, Sealed, SecretsBoxError, open_sealed, seal
from gateway.webhook_http import DELIVERY_ERRORS, DeliveryError
from network.store import WebhookDelivery, WebhookEndpoint

log = logging.getLogger(__name__)

EventType = Literal[
    "purchase.confirmed",
    "purchase.failed",
    "refund.confirmed",
    "refund.failed",
    "redemption.fulfilled",
    "redemption.failed",
    "partner.funds_exhausted",
    "partner.funds_restored",
    "partner.headroom_low",
    "customer.custodial_release_requested",
    "customer.custodial_wallet_released",
    "webhook.test",  # only on demand, to one endpoint: POST /v1/webhooks/{id}/test
]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
MAX_ENDPOINTS_PER_PARTNER = 20
PURPOSE = "webhook-secret"


def emit(session: Session, partner_id: int, event_type: str, data: dict[str, Any]) -> list[int]:
    """Records an event for every active endpoint of the partner subscribed to ``event_type``,
    in the caller's transaction (the caller commits). Returns the new deliveries' ids (empty
    when no endpoint listens), for an optional :func:`kick` after the commit."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    endpoints = session.scalars(
        select(WebhookEndpoint).where(WebhookEndpoint.partner_id == partner_id, WebhookEndpoint.status == "active")
    ).all()
    targets = [e for e in endpoints if event_type in e.event_types]
    return [r.id for r in _record(session, partner_id, targets, event_type, data)]


def _record(
    session: Session, partner_id: int, targets: list[WebhookEndpoint], event_type: str, data: dict[str, Any]
) -> list[WebhookDelivery]:
    """One event, one pending delivery per target endpoint (flushed, not committed)."""
    if not targets:
        return []
    event_id = f"evt_{uuid.uuid4().hex}"
    now = datetime.now(UTC)
    payload = {
        "id": event_id,
        "type": event_type,
        "created_at": now.isoformat().replace("+00:00", "Z"),
        "partner_id": partner_id,
        "data": data,
    }
    rows = [
        WebhookDelivery(
            endpoint_id=e.id,
            partner_id=partner_id,
            event_id=event_id,
            event_type=event_type,
            payload=payload,
            status="pending",
            attempts=0,
            next_attempt_at=now,
        )
        for e in targets
    ]
    session.add_all(rows)
    session.flush()
    return rows


def emit_test(session: Session, *, partner_id: int, endpoint_id: int) -> WebhookDelivery:
    """A ``webhook.test`` event to this endpoint only, whatever it subscribed to: delivered,
    signed and retried like any other (the endpoint's address is checked at delivery), so the
    partner sees its integration receive and verify one. Commits; the caller may :func:`kick` it."""
    endpoint = get_endpoint(session, partner_id=partner_id, endpoint_id=endpoint_id)
    data = {
        "endpoint_id": endpoint.id,
        "url": endpoint.url,
        "message": "A test event, sent on request: verify its Coalition-Signature with the endpoint's secret",
    }
    (delivery,) = _record(session, partner_id, [endpoint], "webhook.test", data)
    session.commit()
    return delivery


def kick(ids: Iterable[int]) -> None:
    """Asks a worker to deliver now (after the commit that stored the deliveries). Optional:
    the beat's sweep delivers them anyway within seconds, so a broker hiccup is only logged."""
    enqueue.deliver_webhooks(ids)


# --- secrets at rest


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def secret_aad(endpoint_id: int, partner_id: int) -> bytes:
    """What a secret is bound to: its endpoint and that endpoint's partner (also written, frozen,
    in the migration that re-sealed the secrets of before, network/migrations/versions/0008_*)."""
    return f"webhook-endpoint:{endpoint_id}:partner:{partner_id}".encode()


def encrypt_secret(secret: str, secrets_key: str, *, endpoint_id: int, partner_id: int) -> bytes:
    """nonce | ciphertext+tag of the secret, sealed by gateway/secrets_box.py for this row."""
    sealed = seal(secrets_key, PURPOSE, secret.encode(), aad=secret_aad(endpoint_id, partner_id))
    return sealed.nonce + sealed.ciphertext


def decrypt_secret(blob: bytes, secrets_key: str, *, endpoint_id: int, partner_id: int) -> str:
    """Raises ValueError if the blob was altered, belongs to another row, or the key is not the
    one it was sealed with."""
    sealed = Sealed(blob[NONCE_BYTES:], blob[:NONCE_BYTES])
    try:
        return open_sealed(secrets_key, PURPOSE, sealed, aad=secret_aad(endpoint_id, partner_id)).decode()
    except SecretsBoxError as exc:
        raise ValueError(f"webhook endpoint {endpoint_id}: its signing secret does not open ({exc})") from exc


def endpoint_secret(endpoint: WebhookEndpoint, secrets_key: str) -> str:
    return decrypt_secret(
        endpoint.secret_encrypted, secrets_key, endpoint_id=endpoint.id, partner_id=endpoint.partner_id
    )


def _seal_for(endpoint: WebhookEndpoint, secret: str, secrets_key: str) -> None:
    endpoint.secret_encrypted = encrypt_secret(
        secret, secrets_key, endpoint_id=endpoint.id, partner_id=endpoint.partner_id
    )


# --- partners' endpoints


def check_url(url: str, *, allow_loopback: bool) -> str:
    """https to a public host (gateway/netpolicy.py); plain http and loopback only with
    ``webhook_allow_loopback`` (local development)."""
    try:
        return check_target(url, allow_loopback=allow_loopback)
    except UrlNotAllowed as exc:
        raise WebhookUrlNotAllowed(str(exc)) from None


def create_endpoint(
    session: Session, *, partner_id: int, url: str, event_types: list[str], description: str | None, settings: Any
) -> tuple[WebhookEndpoint, str]:
    """Stores a new endpoint; returns it and its signing secret (shown to the partner once)."""
    check_url(url, allow_loopback=settings.webhook_allow_loopback)
    active = session.scalar(
        select(func.count())
        .select_from(WebhookEndpoint)
        .where(WebhookEndpoint.partner_id == partner_id, WebhookEndpoint.status == "active")
    )
    if (active or 0) >= MAX_ENDPOINTS_PER_PARTNER:
        raise TooManyWebhooks(f"at most {MAX_ENDPOINTS_PER_PARTNER} endpoints; delete one first")
    secret = new_secret()
    endpoint = WebhookEndpoint(
        partner_id=partner_id,
        url=url,
        event_types=sorted(set(event_types)),
        description=description,
        secret_encrypted=b"",  # sealed below, once the row has its id
        status="active",
    )
    session.add(endpoint)
    session.flush()
    _seal_for(endpoint, secret, str(settings.secrets_key))
    session.commit()
    return endpoint, secret


def get_endpoint(session: Session, *, partner_id: int, endpoint_id: int) -> WebhookEndpoint:
    """The partner's own active endpoint; another partner's is as unknown as a missing one."""
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or endpoint.partner_id != partner_id or endpoint.status != "active":
        raise NotFound(f"no webhook endpoint {endpoint_id} of this partner")
    return endpoint


def list_endpoints(session: Session, *, partner_id: int) -> list[WebhookEndpoint]:
    return list(
        session.scalars(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.partner_id == partner_id, WebhookEndpoint.status == "active")
            .order_by(WebhookEndpoint.id)
        )
    )


def delete_endpoint(session: Session, *, partner_id: int, endpoint_id: int) -> None:
    """Stops deliveries to the endpoint; its pending ones fail. Kept (soft delete) so that its
    delivery history stays for support."""
    endpoint = get_endpoint(session, partner_id=partner_id, endpoint_id=endpoint_id)
    endpoint.status = "deleted"
    session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.status == "pending")
        .values(status="failed", last_error="endpoint-deleted")
    )
    session.commit()


def rotate_secret(
    session: Session, *, partner_id: int, endpoint_id: int, secrets_key: str
) -> tuple[WebhookEndpoint, str]:
    """A new signing secret, effective for the next attempt of every delivery."""
    endpoint = get_endpoint(session, partner_id=partner_id, endpoint_id=endpoint_id)
    secret = new_secret()
    _seal_for(endpoint, secret, secrets_key)
    session.commit()
    return endpoint, secret


def list_deliveries(
    session: Session, *, partner_id: int, endpoint_id: int, status: str | None, limit: int
) -> list[WebhookDelivery]:
    endpoint = get_endpoint(session, partner_id=partner_id, endpoint_id=endpoint_id)
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    return list(session.scalars(query.order_by(WebhookDelivery.id.desc()).limit(limit)))


def shown_error(delivery: WebhookDelivery) -> DeliveryError | None:
    """What the partner is shown of a delivery's last failure: its coarse class. Rows written
    before the classes (exception texts, response bytes) are shown as a class too."""
    error = delivery.last_error
    if error is None or error in DELIVERY_ERRORS:
        return error  # type: ignore[return-value]
    if error == "the endpoint was deleted":
        return "endpoint-deleted"
    return "http-status" if delivery.last_status_code is not None else "connection-error"
