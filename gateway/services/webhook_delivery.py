"""One attempt of a stored webhook delivery: claim it, sign and POST it, record what happened.

:func:`attempt` takes a delivery's id and returns what became of it (``Attempt``); the Celery
task (gateway/tasks/webhooks.py) calls it and, when the answer is a retry, enqueues the next
attempt. The delivery is first claimed with a conditional UPDATE (still pending, same attempt
count, due), which also pushes its next attempt past the request's timeout, so two workers, a
redelivered message and the sweep never POST the same attempt twice at once. A 2xx marks it
delivered; anything else counts an attempt and schedules the next one after an exponential
backoff with jitter, until ``webhook_max_attempts``, after which it is failed (kept, listed in
the endpoint's deliveries). A delivered delivery is never sent again. A worker that dies
between the POST and the UPDATE makes the partner see the event twice: at-least-once is
inherent, hence the event ids.

The POST goes through gateway/webhook_http.py: only to checked public addresses (resolved and
checked at each connection, connected to the address checked), no redirects, and what the
partner sees of a failure is its status code and a coarse class (``last_error``), never an
exception's text or the response's bytes. A signing secret that does not open for its row
(moved from another row, or a wrong key) is never replaced by anything: the attempt fails as
``signing-secret-unusable``, logged as an error, until the partner rotates the secret.
"""

from __future__ import annotations

import json
import logging
import random
from datetime import timedelta
from typing import Any, Literal, NamedTuple

import httpx
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from gateway.services.webhooks import endpoint_secret
from gateway.settings import WorkerSettings, max_countdown_s
from gateway.webhook_http import DeliveryError, send
from network.store import WebhookDelivery, WebhookEndpoint, utcnow
from partners.webhooks import EVENT_ID_HEADER, EVENT_TYPE_HEADER, SIGNATURE_HEADER, sign

log = logging.getLogger(__name__)
Result = Literal["done", "not-due", "delivered", "failed", "retry"]


class Attempt(NamedTuple):
    """What one attempt did; ``retry_in_s`` is set when the next attempt is due after it."""

    result: Result
    retry_in_s: float | None = None


def backoff_s(attempts: int, settings: WorkerSettings, rng: random.Random | None = None) -> float:
    """Wait before attempt ``attempts + 1``: base × 2^(attempts−1), capped, then "equal jitter"
    (a uniform draw in its upper half) so that retries of many deliveries do not come in step."""
    cap = min(settings.webhook_backoff_cap_s, float(max_countdown_s(settings)))
    delay = min(cap, settings.webhook_backoff_base_s * 2 ** max(attempts - 1, 0))
    return (rng or random).uniform(delay / 2, delay)


def attempt(
    delivery_id: int, *, sessions: sessionmaker[Session], settings: WorkerSettings, client: httpx.Client
) -> Attempt:
    """One attempt of one delivery (see the module doc), its POST sent with ``client``."""
    with sessions() as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        if delivery is None or delivery.status != "pending":
            return Attempt("done")
        endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
        attempts = delivery.attempts
        if not _claim(session, delivery, settings):
            return Attempt("not-due")
        if endpoint is None or endpoint.status != "active":
            _record(session, delivery_id, attempts, status="failed", last_error="endpoint-deleted")
            return Attempt("failed")
        code: int | None = None
        error: DeliveryError | None
        try:
            secret = endpoint_secret(endpoint, str(settings.secrets_key))
        except ValueError:
            log.error("webhook delivery %s not sent: its signing secret does not open", delivery_id, exc_info=True)
            error = "signing-secret-unusable"
        else:
            code, error = post(client, endpoint.url, secret, delivery, allow_loopback=settings.webhook_allow_loopback)
        if error is None:
            _record(session, delivery_id, attempts, status="delivered", last_status_code=code, delivered_at=utcnow())
            return Attempt("delivered")
        if attempts + 1 >= settings.webhook_max_attempts:
            _record(session, delivery_id, attempts, status="failed", last_status_code=code, last_error=error)
            return Attempt("failed")
        wait = backoff_s(attempts + 1, settings)
        recorded = _record(
            session,
            delivery_id,
            attempts,
            last_status_code=code,
            last_error=error,
            next_attempt_at=utcnow() + timedelta(seconds=wait),
        )
        return Attempt("retry", min(wait, max_countdown_s(settings)) if recorded else None)


def post(
    client: httpx.Client, url: str, secret: str, delivery: WebhookDelivery, *, allow_loopback: bool
) -> tuple[int | None, DeliveryError | None]:
    """POSTs the signed event: (HTTP status or None, None when 2xx else the error class)."""
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(secret, body),
        EVENT_ID_HEADER: delivery.event_id,
        EVENT_TYPE_HEADER: delivery.event_type,
    }
    return send(client, url, body, headers, allow_loopback=allow_loopback)


def due(sessions: sessionmaker[Session], *, limit: int) -> list[int]:
    """Pending deliveries whose next attempt is due, the longest waiting first."""
    with sessions() as session:
        return list(
            session.scalars(
                select(WebhookDelivery.id)
                .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= utcnow())
                .order_by(WebhookDelivery.next_attempt_at)
                .limit(limit)
            )
        )


def _claim(session: Session, delivery: WebhookDelivery, settings: WorkerSettings) -> bool:
    now = utcnow()
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
        .values(attempts=attempts + 1, updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.commit()
    return done == 1
