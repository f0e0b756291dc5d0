"""The one way to ask the workers for something now: a Celery task sent by its name.

Services, routes and tasks call these; none of them imports a task module to enqueue its task, so
the API process never loads the workers' code and no service depends on a task. Each call is a
shortcut, never the guarantee: what it asks for is stored already, and beat's sweeps
(``gateway/tasks/app.py``) find whatever a lost message or an unreachable broker left behind.
The Celery app (``gateway.tasks.app``) is loaded on the first call: a process that never
enqueues never builds it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from gateway.connections import redis_client
from gateway.settings import get_worker_settings

log = logging.getLogger(__name__)
DRAIN_PARTNER = "gateway.tasks.earn.drain_partner"
DELIVER_WEBHOOK = "gateway.tasks.webhooks.deliver"
PUBLISH_WEBHOOKS = "gateway.tasks.webhooks.publish"
SETTLE_PERIOD = "gateway.tasks.settlement.settle_period"
PROCESS_REDEMPTION = "gateway.tasks.redemptions.process"
RECALCULATE_TIERS = "gateway.tasks.tiers.recalculate"
SEND_MESSAGES = "gateway.tasks.messages.send_due"
TIER_RECALCULATION_MARKER_S = 120  # longer than one recalculation task's budget (gateway/tasks/tiers.py)
REDEMPTION_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2}


def send(name: str, *args: Any, **options: Any) -> None:
    """Sends the task ``name`` with ``args`` (Celery's routes apply: a drain goes to the earn queue)."""
    from gateway.tasks.app import celery_app  # built on first use (see the module's doc)

    celery_app.send_task(name, args=args, **options)


def drain_pending_key(chain_id: int, partner_id: int) -> str:
    """The Redis marker of a queued drain of the partner (cleared by the drain when it starts)."""
    return f"coalition:drain-pending:{chain_id}:{partner_id}"


def drain_partner(partner_id: int) -> bool:
    """Enqueues a drain of the partner's outbox unless one is queued already (a marker in Redis that
    the drain clears when it starts, and that expires soon in case the message is lost with a killed
    worker: a second drain is harmless, it finds the key's lease taken and returns). False if one was
    queued already."""
    settings = get_worker_settings()
    ttl = max(5, int(settings.earn_dispatch_every_s * 5))  # a lost message delays the next by this
    if not redis_client().set(drain_pending_key(settings.chain_id, partner_id), "1", nx=True, ex=ttl):
        return False
    send(DRAIN_PARTNER, partner_id)
    return True


def send_messages() -> None:
    """A run of the message sender now (the planner, after it queued messages; beat runs it anyway)."""
    send(SEND_MESSAGES)


def deliver_webhook(delivery_id: int, *, countdown: float | None = None) -> None:
    """One attempt of a stored webhook delivery, now or after ``countdown`` seconds."""
    send(DELIVER_WEBHOOK, delivery_id, countdown=countdown)


def deliver_webhooks(ids: Iterable[int]) -> None:
    """Deliveries stored and committed, sent now. Best effort: a broker hiccup is only logged, the
    beat's sweep sends them within seconds."""
    ids = list(ids)
    if not ids:
        return
    try:
        for delivery_id in ids:
            deliver_webhook(delivery_id)
    except Exception:  # the sweep is the guarantee, this is only a shortcut
        log.warning("could not enqueue webhook deliveries %s; the sweep will send them", ids, exc_info=True)


def publish_webhooks() -> None:
    """The webhook consumer run now, after a commit that wrote domain events. Best effort: the
    beat's sweep runs it within seconds, so a broker hiccup is only logged."""
    try:
        send(PUBLISH_WEBHOOKS)
    except Exception:  # the sweep is the guarantee, this is only a shortcut
        log.warning("could not enqueue the webhook consumer; the sweep will run it", exc_info=True)


def settle_period(period_id: int) -> bool:
    """The settlement of a planned period started now; False (logged) if the broker cannot be
    reached: beat's ``settle_due`` resumes open periods."""
    try:
        send(SETTLE_PERIOD, period_id)
    except Exception:
        log.warning("could not enqueue the settlement of period %s; settle_due will", period_id, exc_info=True)
        return False
    return True


def process_redemption(redemption_pk: int) -> bool:
    """A stored redemption processed now; False (logged) if the broker cannot be reached: the
    redemption is stored, and the sweep enqueues it later."""
    try:
        send(PROCESS_REDEMPTION, redemption_pk, retry=True, retry_policy=REDEMPTION_RETRY)
    except Exception:
        log.warning("could not enqueue redemption %s; the sweep will", redemption_pk, exc_info=True)
        return False
    return True


def tier_recalculation_key(chain_id: int, run_id: int) -> str:
    """The Redis marker of a queued or running tier recalculation task (cleared by the task when it
    stops, and expiring in case its worker died), so that beat's sweep starts one at a time."""
    return f"coalition:tier-recalculation:{chain_id}:{run_id}"


def recalculate_tiers(run_id: int) -> bool:
    """A tier ladder's recalculation run started now, unless a task of it is queued or running
    already; False (logged) if the broker cannot be reached: beat's ``tiers.sweep`` resumes every
    running one."""
    try:
        settings = get_worker_settings()
        key = tier_recalculation_key(settings.chain_id, run_id)
        if not redis_client().set(key, "1", nx=True, ex=TIER_RECALCULATION_MARKER_S):
            return True
        send(RECALCULATE_TIERS, run_id)
    except Exception:
        log.warning("could not enqueue tier recalculation %s; the sweep will", run_id, exc_info=True)
        return False
    return True
