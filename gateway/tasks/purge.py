"""Beat: deletes expired wallet challenges and customer and operator sessions
(gateway/services/purge.py); safe to run twice, or at once on two workers."""

from __future__ import annotations

import logging
from dataclasses import asdict

from gateway.services.purge import purge_expired
from gateway.tasks import context
from gateway.tasks.app import celery_app

log = logging.getLogger(__name__)


@celery_app.task(name="gateway.tasks.purge.purge")
def purge() -> dict[str, int]:
    """Returns how many rows of each kind it deleted."""
    purged = asdict(purge_expired(context.sessions()))
    if any(purged.values()):
        log.info("purged expired rows: %s", purged)
    return purged
