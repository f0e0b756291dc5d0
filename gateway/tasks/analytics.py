"""Analytics as a Celery task (gateway/services/rfm.py holds the logic).

``snapshot`` (beat, ``COALITION_RFM_SNAPSHOT_EVERY_S``): the RFM snapshot of the last complete UTC
day, scope by scope (the coalition, then each partner), each in one transaction with its
``segment.changed`` events. A scope done is skipped, so the task is safe to run twice or at once,
and a run that stopped (its budget spent, a crash) is resumed by the next beat.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from gateway.services import rfm
from gateway.tasks import context
from gateway.tasks.app import celery_app

log = logging.getLogger(__name__)


@celery_app.task(name="gateway.tasks.analytics.snapshot", acks_late=True)
def snapshot() -> dict[str, int]:
    """Beat: the last complete day's RFM snapshot, the scopes still missing."""
    settings = context.settings()
    budget = min(settings.rfm_snapshot_budget_s, settings.task_time_limit_s / 2)
    runs = rfm.snapshot_due(context.sessions(), now=lambda: datetime.now(UTC), budget_s=budget)
    done = [r for r in runs if not r.skipped]
    if done:
        log.info("rfm snapshot: %d scopes, %d members, %d segment changes", len(done),
                 sum(r.members for r in done), sum(r.changes for r in done))  # fmt: skip
    return {"scopes": len(done), "members": sum(r.members for r in done), "changes": sum(r.changes for r in done)}
