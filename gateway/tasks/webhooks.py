"""Webhook delivery as Celery tasks, and the webhook consumer of domain events run by the beat.

``deliver(id)`` makes one attempt of a stored delivery (gateway/services/webhook_delivery.py:
claimed, signed, POSTed, recorded) and enqueues the next attempt when the answer is a retry.
``sweep`` (beat, every 5 s) first runs the webhook consumer (gateway/services/webhooks.py
``publish``: the domain events after its cursor become deliveries), then enqueues every due
delivery. ``publish`` runs the consumer on demand, after a commit that wrote events.
"""

from __future__ import annotations

import logging
from functools import lru_cache

import httpx
from celery.signals import worker_process_init

from gateway import enqueue
from gateway.services import webhook_delivery
from gateway.services import webhooks as service
from gateway.tasks import context
from gateway.tasks.app import celery_app
from gateway.webhook_http import make_client

log = logging.getLogger(__name__)
SWEEP_LIMIT = 1_000


@lru_cache
def _http() -> httpx.Client:
    settings = context.settings()
    return make_client(allow_loopback=settings.webhook_allow_loopback, timeout_s=settings.webhook_timeout_s)


@worker_process_init.connect
def _fresh_process(**_: object) -> None:
    _http.cache_clear()


@celery_app.task(name="gateway.tasks.webhooks.deliver")
def deliver(delivery_id: int) -> str:
    """One attempt of one delivery, the next one enqueued on a retry. Returns what happened,
    for logs and tests."""
    done = webhook_delivery.attempt(
        delivery_id, sessions=context.sessions(), settings=context.settings(), client=_http()
    )
    if done.retry_in_s is not None:
        enqueue.deliver_webhook(delivery_id, countdown=done.retry_in_s)
    return done.result


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
    due = webhook_delivery.due(context.sessions(), limit=SWEEP_LIMIT)
    for delivery_id in due:
        enqueue.deliver_webhook(delivery_id)
    return {"notified": published, "enqueued": len(due)}
