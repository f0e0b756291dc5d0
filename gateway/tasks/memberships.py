"""Paid memberships as a Celery task (gateway/services/memberships.py holds the logic).

``sweep`` (beat, ``COALITION_MEMBERSHIP_SWEEP_EVERY_S``): what time alone does to subscriptions
due by now (a renewal not reported by the period's end: past due; a grace run out or a cancelled
period ended: lapsed), a transaction per batch. Safe to run twice or at once: a subscription is
read locked (skipped when another run holds it) and a second run finds nothing due.
"""

from __future__ import annotations

from gateway.services import memberships, tiers, webhooks
from gateway.tasks import context
from gateway.tasks.app import celery_app


@celery_app.task(name="gateway.tasks.memberships.sweep")
def sweep() -> dict[str, int]:
    """Beat: subscriptions moved on by time alone, a batch per transaction."""
    settings = context.settings()
    now = tiers.clock(settings)
    written: list[str] = []
    while True:
        with context.sessions()() as session:
            events = memberships.sweep(session, now=now, grace_days=settings.membership_grace_days)
            session.commit()
        written += events
        if len(events) < memberships.SWEEP_BATCH:
            break
    webhooks.publish_soon(written)
    return {"changes": len(written)}
