"""Beat: releases the points holds past their expiry (gateway/services/points_holds.py
``expire_due``); safe to run twice, or at once on two workers (a conditional update)."""

from __future__ import annotations

import logging

from gateway.services.points_holds import expire_due
from gateway.tasks import context
from gateway.tasks.app import celery_app

log = logging.getLogger(__name__)


@celery_app.task(name="gateway.tasks.points_holds.expire")
def expire() -> int:
    """Returns how many holds it released."""
    with context.sessions()() as session:
        released = expire_due(session)
    if released:
        log.info("released %d points holds at their expiry", released)
    return released
