"""Webhook delivery with backoff, and the webhook consumer of domain events run by the beat.

``deliver(id)`` sends one delivery (gateway/services/webhooks.py recorded it). It first claims
the delivery with a conditional UPDATE (still pending, same attempt count, due), which also
pushes its next attempt past the request's timeout, so two workers, a redelivered message and
the sweep never POST the same attempt twice at once. A 2xx marks it delivered; anything else
counts an attempt and schedules the next one after an exponential backoff with jitter, until
``webhook_max_attempts``, after which it is failed (kept, listed in the endpoint's deliveries).
A delivered delivery is never sent again. A worker that dies between the POST and the UPDATE
makes the partner see the event twice: at-least-once is inherent, hence the event ids.

The POST goes through gateway/webhook_http.py: only to checked public addresses (resolved and
checked at each connection, connected to the address checked), no redirects, and what the
partner sees of a failure is its status code and a coarse class (``last_error``), never an
exception's text or the response's bytes. A signing secret that does not open for its row
(moved from another row, or a wrong key) is never replaced by anything: the attempt fails as
``signing-secret-unusable``, logged as an error, until the partner rotates the secret.

``sweep`` (beat, every 5 s) first runs the webhook consumer (gateway/services/webhooks.py
``publish``: the domain events after its cursor become deliveries), then enqueues every due
delivery. ``publish`` runs the consumer on demand, after a commit that wrote events.
"""

from __future__ import annotations

import json
import logging
import random
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import httpx
from celery.signals import worker_process_init
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gateway.services import webhooks as service
from gateway.settings import GatewaySettings
from gateway.tasks import context
from gateway.tasks.app import celery_app, max_countdown_s
from gateway.webhook_http import DeliveryError, make_client, send
from network.store import WebhookDelivery, WebhookEndpoint
from partners.webhooks import EVENT_ID_HEADER, EVENT_TYPE_HEADER, SIGNATURE_HEADER, sign

log = logging.getLogger(__name__)
SWEEP_LIMIT = 1_000


def backoff_s(attempts: int, settings: GatewaySettings, rng: random.Random | None = None) -> float:
    """Wait before attempt ``attempts + 1``: base × 2^(attempts−1), capped, then "equal jitter"
    (a uniform draw in its upper half) so that retries of many deliveries do not come in step."""
    cap = min(settings.webhook_backoff_cap_s, float(max_countdown_s(settings)))
    delay = min(cap, settings.webhook_backoff_base_s * 2 ** max(attempts - 1, 0))
    return (rng or random).uniform(delay / 2, delay)


@lru_cache
def _http() -> httpx.Client:
    settings = context.settings()
    return make_client(allow_loopback=settings.webhook_allow_loopback, timeout_s=settings.webhook_timeout_s)


@worker_process_init.connect
def _fresh_process(**_: object) -> None:
    _http.cache_clear()


def _now() -> datetime:
    return datetime.now(UTC)


def _claim(session: Session, delivery: WebhookDelivery, settings: GatewaySettings) -> bool:
    now = _now()
    lease = now + timedelta(seconds=settings.webhook_timeout_s + 30)
    claimed = session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery.id,
            WebhookDelivery.status == "pending",
            WebhookDelivery.attempts == delivery.attempts,
            WebhookDelivery.next_attempt_at <= now,
        )
        .values(next_attempt_at=lease)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.commit()
    return claimed == 1


def _record(session: Session, delivery_id: int, attempts: int, **values: Any) -> bool:
    done = session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.status == "pending",
            WebhookDelivery.attempts == attempts,
        )
        .values(attempts=attempts + 1, updated_at=_now(), **values)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.commit()
    return done == 1


def post(url: str, secret: str, delivery: WebhookDelivery) -> tuple[int | None, DeliveryError | None]:
    """POSTs the signed event: (HTTP status or None, None when 2xx else the error class)."""
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(secret, body),
        EVENT_ID_HEADER: delivery.event_id,
        EVENT_TYPE_HEADER: delivery.event_type,
    }
    return send(_http(), url, body, headers, allow_loopback=context.settings().webhook_allow_loopback)


@celery_app.task(name="gateway.tasks.webhooks.deliver")
def deliver(delivery_id: int) -> str:
    """One attempt of one delivery (see module doc). Returns what happened, for logs and tests."""
    settings = context.settings()
    with context.sessions()() as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        if delivery is None or delivery.status != "pending":
            return "done"
        endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
        attempts = delivery.attempts
        if not _claim(session, delivery, settings):
            return "not-due"
        if endpoint is None or endpoint.status != "active":
            _record(session, delivery_id, attempts, status="failed", last_error="endpoint-deleted")
            return "failed"
        code: int | None = None
        error: DeliveryError | None
        try:
            secret = service.endpoint_secret(endpoint, str(settings.secrets_key))
        except ValueError:
            log.error("webhook delivery %s not sent: its signing secret does not open", delivery_id, exc_info=True)
            error = "signing-secret-unusable"
        else:
            code, error = post(endpoint.url, secret, delivery)
        if error is None:
            _record(session, delivery_id, attempts, status="delivered", last_status_code=code, delivered_at=_now())
            return "delivered"
        if attempts + 1 >= settings.webhook_max_attempts:
            _record(session, delivery_id, attempts, status="failed", last_status_code=code, last_error=error)
            return "failed"
        wait = backoff_s(attempts + 1, settings)
        if _record(
            session,
            delivery_id,
            attempts,
            last_status_code=code,
            last_error=error,
            next_attempt_at=_now() + timedelta(seconds=wait),
        ):
            deliver.apply_async((delivery_id,), countdown=min(wait, max_countdown_s(settings)))
        return "retry"


@celery_app.task(name="gateway.tasks.webhooks.publish")
def publish() -> int:
    """The webhook consumer, now: new events become deliveries, which are enqueued."""
    read, created = service.publish(context.sessions())
    service.kick(created)
    return read


@celery_app.task(name="gateway.tasks.webhooks.sweep")
def sweep() -> dict[str, int]:
    """Beat: the webhook consumer, then every due delivery enqueued."""
    published = publish()
    with context.sessions()() as session:
        due = list(
            session.scalars(
                select(WebhookDelivery.id)
                .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= _now())
                .order_by(WebhookDelivery.next_attempt_at)
                .limit(SWEEP_LIMIT)
            )
        )
    for delivery_id in due:
        deliver.delay(delivery_id)
    return {"notified": published, "enqueued": len(due)}
