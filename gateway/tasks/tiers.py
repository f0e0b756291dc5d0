"""Tiers as Celery tasks (gateway/services/tiers.py, tier_recalculation.py hold the logic).

``sweep`` (beat, ``COALITION_TIERS_EVERY_S``): the tier consumer (confirmed purchases and refunds
become qualifying movements, members move up at once), then every ladder recalculation still
running is enqueued. ``review`` (beat, ``COALITION_TIER_REVIEW_EVERY_S``): the members whose review
verdict or manual tier's end is due. ``recalculate(run_id)``: a run's chunks, each committed with
its cursor, until it is done or the time budget is spent (the sweep enqueues it again; one task
per run at a time, a marker in Redis). All are
safe to run twice or at once: what is written moves a cursor or a state that the next run reads.
"""

from __future__ import annotations

import logging
import time

from gateway import enqueue
from gateway.connections import redis_client
from gateway.services import tier_recalculation, tiers, webhooks
from gateway.tasks import context
from gateway.tasks.app import celery_app

log = logging.getLogger(__name__)
RECALCULATION_BUDGET_S = 60.0  # below enqueue.TIER_RECALCULATION_MARKER_S


@celery_app.task(name="gateway.tasks.tiers.sweep")
def sweep() -> dict[str, int]:
    """Beat: the tier consumer, then running recalculations enqueued."""
    read, events = tiers.consume(context.sessions(), now=tiers.clock(context.settings()))
    webhooks.publish_soon(events)
    with context.sessions()() as session:
        pending = tier_recalculation.runs_pending(session)
    for run_id in pending:
        enqueue.recalculate_tiers(run_id)
    return {"read": read, "changes": len(events), "recalculations": len(pending)}


@celery_app.task(name="gateway.tasks.tiers.review")
def review() -> dict[str, int]:
    """Beat: every member whose review verdict or manual tier's end is due, brought up to now."""
    reviewed, events = tiers.review_due(context.sessions(), now=tiers.clock(context.settings()))
    webhooks.publish_soon(events)
    if events:
        log.info("tier review: %d members reviewed, %d tier changes", reviewed, len(events))
    return {"reviewed": reviewed, "changes": len(events)}


@celery_app.task(name="gateway.tasks.tiers.recalculate")
def recalculate(run_id: int) -> str:
    """Chunks of the run until it is done (or the budget is spent: the sweep enqueues it again)."""
    settings = context.settings()
    started = time.monotonic()
    try:
        while time.monotonic() - started < RECALCULATION_BUDGET_S:
            with context.sessions()() as session:
                done, events = tier_recalculation.run_chunk(
                    session, run_id=run_id, size=settings.tier_recalculation_chunk
                )
                session.commit()
            webhooks.publish_soon(events)
            if done:
                return "done"
        return "continues"
    finally:  # the next sweep may start it again
        redis_client().delete(enqueue.tier_recalculation_key(settings.chain_id, run_id))
