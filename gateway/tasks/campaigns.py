"""Campaigns' scheduled and transition triggers as a Celery task (gateway/services/campaigns_scheduled.py
holds the logic).

``fire_due`` (beat, ``COALITION_CAMPAIGN_TRIGGERS_EVERY_S``): the birthdays and win-back lapses due
in the last ``COALITION_CAMPAIGN_BACKFILL_DAYS`` days, then the new ``segment.changed`` events;
the funders whose outboxes have new awards get their drains started. Safe to run twice or at
once: each occurrence is a unique exposure, and only a run that wrote it gives its points.
"""

from __future__ import annotations

import logging

from gateway import enqueue
from gateway.services import campaigns_scheduled
from gateway.tasks import context
from gateway.tasks.app import celery_app
from network.store import utcnow

log = logging.getLogger(__name__)


@celery_app.task(name="gateway.tasks.campaigns.fire_due")
def fire_due() -> dict[str, int]:
    settings = context.settings()
    done = campaigns_scheduled.run_due(
        context.sessions(), now=utcnow(), backfill_days=settings.campaign_backfill_days, chain_id=settings.chain_id
    )
    for funder in sorted(done.funders):
        enqueue.drain_partner(funder)
    if done.exposed:
        log.info("campaign triggers: %s", done.as_dict())
    return done.as_dict()
