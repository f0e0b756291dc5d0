"""Webhooks: the event catalogue, the consumer that turns domain events into deliveries, and
partners' endpoints.

Every change a webhook tells of writes a domain event in its own database transaction
(network/store/events.py; purchase and refund outcomes by network/outcomes.py): the event is
never announced for a change that was rolled back, nor lost for one that was committed. The
webhook consumer (:func:`publish`, cursor ``webhooks``) reads the events after its cursor and
records, for each, one delivery row per active endpoint of its partner subscribed to its type
(:func:`emit`), the event's public id and time in the payload; deliveries and the cursor move
commit together, and an event whose deliveries exist already is skipped, so a re-read event is
never delivered twice. The webhook task (gateway/tasks/webhooks.py) sends deliveries later: the
beat's ``sweep`` runs the consumer and picks every delivery that is due, and a caller may ask
for both right after its commit (:func:`publish_soon`, :func:`kick`).

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
from sqlalchemy.orm import Session, sessionmaker

from gateway import enqueue
from gateway.errors import NotFound, TooManyWebhooks, WebhookUrlNotAllowed
from gateway.failures import failure_of
from gateway.netpolicy import UrlNotAllowed
from gateway.netpolicy import check_url as check_target
from gateway.secrets_box import NONCE_BYTES, Sealed, SecretsBoxError, open_sealed, seal
from gateway.webhook_http import DELIVERY_ERRORS, DeliveryError
from network.store import CustomerLink, WebhookDelivery, WebhookEndpoint
from network.store.events import Event, consume

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
    "tier.changed",
    "points.expiring",
    "membership.trial_started",  # issue 21: a subscription's changes, to the partner that sold it
    "membership.started",
    "membership.converted",
    "membership.renewed",
    "membership.payment_failed",
    "membership.past_due",
    "membership.cancelled",
    "membership.resumed",
    "membership.plan_changed",
    "membership.lapsed",
    "webhook.test",  # only on demand, to one endpoint: POST /v1/webhooks/{id}/test
]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
MAX_ENDPOINTS_PER_PARTNER = 20
PURPOSE = "webhook-secret"
CONSUMER = "webhooks"  # the webhook consumer's cursor (network/store/events.py)
PUBLISH_LIMIT = 20_000  # events read per run of the consumer (every 5 s: well above 1,500 purchases/s)
PUBLISH_RUNS = 5  # runs per publish, while a run finds a full read
# events about a customer rather than one partner's operation (no partner_id): told to every partner
# with a ref of the customer (``customer_id`` in the payload), the ref added as ``customer_ref``
CUSTOMER_EVENTS = frozenset({"tier.changed", "points.expiring"})


def emit(
    session: Session,
    partner_id: int,
    event_type: str,
    data: dict[str, Any],
    *,
    event_id: str | None = None,
    at: datetime | None = None,
    endpoints: list[WebhookEndpoint] | None = None,
) -> list[int]:
    """Records one event's deliveries: one per active endpoint of the partner subscribed to
    ``event_type`` (``endpoints``: the partner's active ones, if already read), in the caller's
    transaction (the caller commits). Returns the new deliveries' ids (empty when no endpoint
    listens), for an optional :func:`kick` after the commit."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    if endpoints is None:
        endpoints = _active_endpoints(session, [partner_id]).get(partner_id, [])
    targets = [e for e in endpoints if event_type in e.event_types]
    return [r.id for r in _record(session, partner_id, targets, event_type, data, event_id=event_id, at=at)]


def _active_endpoints(session: Session, partner_ids: Iterable[int]) -> dict[int, list[WebhookEndpoint]]:
    found: dict[int, list[WebhookEndpoint]] = {}
    for endpoint in session.scalars(
        select(WebhookEndpoint).where(
            WebhookEndpoint.partner_id.in_(set(partner_ids)), WebhookEndpoint.status == "active"
        )
    ):
        found.setdefault(endpoint.partner_id, []).append(endpoint)
    return found


def _record(
    session: Session,
    partner_id: int,
    targets: list[WebhookEndpoint],
    event_type: str,
    data: dict[str, Any],
    *,
    event_id: str | None = None,
    at: datetime | None = None,
) -> list[WebhookDelivery]:
    """One event, one pending delivery per target endpoint (flushed, not committed)."""
    if not targets:
        return []
    event_id = event_id or f"evt_{uuid.uuid4().hex}"
    now = datetime.now(UTC)
    created = (at or now).astimezone(UTC)
    payload = {
        "id": event_id,
        "type": event_type,
        "created_at": created.isoformat().replace("+00:00", "Z"),
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


# --- the webhook consumer of domain events


def webhook_data(event: Event) -> dict[str, Any]:
    """What a webhook says of a domain event: its payload, with the problem behind a failed
    purchase's or refund's reason (gateway/failures.py) for those."""
    kind = event.type.partition(".")[0]
    if kind not in ("purchase", "refund"):
        return dict(event.payload)
    status, reason = event.payload.get("status"), event.payload.get("failure_reason")
    found = failure_of(kind, reason, held=status == "held") if kind == "purchase" else failure_of(kind, reason)
    return {**event.payload, "failure": None if found is None else found.public()}


def listens(session: Session, partner_id: int, event_type: str) -> bool:
    """Whether an active endpoint of the partner is subscribed to ``event_type``."""
    return event_type in listening(session, partner_id).get(partner_id, set())


def listening(session: Session, partner_id: int | None = None) -> dict[int, set[str]]:
    """Event types each partner (or only ``partner_id``) has an active endpoint for."""
    query = select(WebhookEndpoint.partner_id, WebhookEndpoint.event_types).where(WebhookEndpoint.status == "active")
    if partner_id is not None:
        query = query.where(WebhookEndpoint.partner_id == partner_id)
    found: dict[int, set[str]] = {}
    for pid, types in session.execute(query):
        found.setdefault(pid, set()).update(types)
    return found


def publish(sessions: sessionmaker[Session], *, limit: int = PUBLISH_LIMIT) -> tuple[int, list[int]]:
    """One pass of the webhook consumer (see the module doc): (events read, new deliveries'
    ids, to :func:`kick` now that they are committed). Only the events some endpoint listens to
    are loaded."""
    with sessions() as session:
        heard = listening(session)
    created: list[int] = []

    def handle(session: Session, events: list[Event]) -> None:
        ids = [e.event_id for e in events]
        done: set[str] = set()  # handed over again (a run that rolled back after a read): delivered once all the same
        for start in range(0, len(ids), 5_000):
            chunk = ids[start : start + 5_000]
            done.update(session.scalars(select(WebhookDelivery.event_id).where(WebhookDelivery.event_id.in_(chunk))))
        audience = _customers_partners(session, [e for e in events if e.type in CUSTOMER_EVENTS])
        partner_ids = {e.partner_id for e in events if e.partner_id is not None}
        endpoints = _active_endpoints(session, partner_ids | {p for refs in audience.values() for p in refs})
        for event in events:
            if event.event_id in done:
                continue
            if event.type in CUSTOMER_EVENTS:
                for pid, ref in audience.get(event.event_id, {}).items():
                    data = {**webhook_data(event), "customer_ref": ref}
                    created.extend(
                        emit(
                            session,
                            pid,
                            event.type,
                            data,
                            event_id=event.event_id,
                            at=event.created_at,
                            endpoints=endpoints.get(pid, []),
                        )
                    )
                continue
            if event.partner_id is None:
                continue
            created.extend(
                emit(
                    session,
                    event.partner_id,
                    event.type,
                    webhook_data(event),
                    event_id=event.event_id,
                    at=event.created_at,
                    endpoints=endpoints.get(event.partner_id, []),
                )
            )

    def wants(event_type: str, partner_id: int | None) -> bool:
        if event_type in CUSTOMER_EVENTS:
            return any(event_type in types for types in heard.values())
        return partner_id is not None and event_type in heard.get(partner_id, ())

    read = 0
    for _ in range(PUBLISH_RUNS):
        n = consume(sessions, CONSUMER, handle, wants=wants, limit=limit)
        read += n
        if n < limit:
            break
    return read, created


def _customers_partners(session: Session, events: list[Event]) -> dict[str, dict[int, str]]:
    """Per customer event, the partners with a ref of its customer: {event id: {partner id: ref}}."""
    customers = {int(e.payload["customer_id"]) for e in events if e.payload.get("customer_id") is not None}
    refs: dict[int, dict[int, str]] = {}
    for start in range(0, len(customers), 5_000):
        chunk = sorted(customers)[start : start + 5_000]
        rows = session.execute(
            select(CustomerLink.customer_id, CustomerLink.partner_id, CustomerLink.ref)
            .where(CustomerLink.customer_id.in_(chunk))
            .order_by(CustomerLink.id)
        )
        for customer_id, partner_id, ref in rows:
            refs.setdefault(customer_id, {}).setdefault(partner_id, ref)
    return {e.event_id: refs.get(int(e.payload.get("customer_id") or 0), {}) for e in events}


def publish_soon(event_ids: Iterable[str]) -> None:
    """Asks a worker to run the webhook consumer now (after the commit that wrote the events).
    Optional: the beat's sweep runs it anyway within seconds, so a broker hiccup is only logged."""
    if not list(event_ids):
        return
    enqueue.publish_webhooks()


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
