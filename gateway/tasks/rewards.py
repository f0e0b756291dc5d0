"""Referrals and achievements as Celery tasks (gateway/services/referrals.py, achievements.py hold
the logic).

``qualify_referrals`` (beat, ``COALITION_REFERRALS_EVERY_S``): opens the new referrals, decides the
pending ones at the chain's time (a first purchase's refund deadline is the chain's) and queues
the bonuses of the qualified ones in the funders' outboxes, in one transaction; the earn drain
then mints them. ``achievements`` (beat, ``COALITION_ACHIEVEMENTS_EVERY_S``): the badge consumer.
Both are safe to run twice or at once (a decision moves a referral from pending once; the badge
consumer's cursor is serialised and its evaluation recomputes from the purchases).
"""

from __future__ import annotations

import logging

from gateway.services import achievements, referrals
from gateway.tasks import context
from gateway.tasks.app import celery_app
from network.store import utcnow

log = logging.getLogger(__name__)


@celery_app.task(name="gateway.tasks.rewards.qualify_referrals")
def qualify_referrals() -> dict[str, int]:
    chain = context.chain()
    points = chain.contracts.points.functions
    now_s = int(chain.w3.eth.get_block("latest")["timestamp"])
    with context.sessions()() as session:
        done = referrals.run(
            session,
            context.settings(),
            now_s=now_s,
            refund_deadline=lambda batch_id: int(points.refundDeadlineOf(batch_id).call()),
        )
        session.commit()
    if done.qualified or done.rejected:
        log.info("referrals: %d opened, %d qualified, %d rejected, %d bonuses queued", *done.__dict__.values())
    return dict(done.__dict__)


@celery_app.task(name="gateway.tasks.rewards.achievements")
def sweep_achievements() -> dict[str, int]:
    read, made = achievements.consume(context.sessions(), now=utcnow())
    return {"read": read, "changes": made}
