"""The sender as a Celery task: ``send_due`` (beat, every ``messages_send_every_s``; and enqueued by
the planner when it has queued messages) claims and sends batches of due messages
(gateway/services/message_delivery.py) over one SMTP connection until none is due or its time
budget is spent; a run that stopped on its budget with work left enqueues the next one, so that
idle workers join in. Safe to run on several workers at once: each batch is claimed with a lease.
"""

from __future__ import annotations

import time
from functools import lru_cache

import httpx
from celery.signals import worker_process_init

from gateway import enqueue
from gateway.messaging import sms
from gateway.messaging.smtp import SmtpChannel
from gateway.services import message_delivery
from gateway.tasks import context
from gateway.tasks.app import celery_app

BUDGET_S = 20.0  # one run's time on the queue before it hands over (well inside the lease)


@lru_cache
def _http() -> httpx.Client:
    return sms.make_client(context.settings())


@worker_process_init.connect
def _fresh_process(**_: object) -> None:
    _http.cache_clear()


@celery_app.task(name="gateway.tasks.messages.send_due")
def send_due() -> dict[str, int]:
    """Due messages sent, batch after batch; answers the count of each result, for logs and tests."""
    settings = context.settings()
    totals: dict[str, int] = {}
    started = time.monotonic()
    full = False
    with SmtpChannel(settings) as smtp:
        while time.monotonic() - started < BUDGET_S:
            done = message_delivery.send_batch(
                context.sessions(), settings, smtp=smtp, http=_http(), renderer=message_delivery.default_renderer
            )
            for status, n in done.results.items():
                totals[status] = totals.get(status, 0) + n
            full = done.claimed >= settings.messages_batch
            if not full:
                break
    if full:
        enqueue.send_messages()
    return totals
