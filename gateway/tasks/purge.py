"""Beat: deletes expired wallet challenges, customer and operator sessions and sign-in links, and
domain events past ``event_retention_days`` that every consumer has read
(gateway/services/purge.py); safe to run twice, or at once on two workers."""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import timedelta

from gateway.services.purge import purge_expired
from gateway.tasks import context
from gateway.tasks.app import celery_app

log = logging.getLogger(__name__)


@celery_app.task(name="gateway.tasks.purge.purge")
def purge() -> dict[str, int]:
    """Returns how many rows of each kind it deleted."""
    days = context.settings().event_retention_days
    retention = timedelta(days=days) if days else None
    purged = asdict(purge_expired(context.sessions(), event_retention=retention))
    if any(purged.values()):
        log.info("purged expired rows: %s", purged)
    return purged
