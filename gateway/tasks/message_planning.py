"""The message planner as Celery tasks (gateway/services/message_planner.py and message_schedule.py
hold the logic; send18's sender sends what they queue).

``plan`` (beat, ``COALITION_MESSAGES_PLAN_EVERY_S``): the planner's consumer, domain events ->
messages. ``schedule`` (beat, ``COALITION_MESSAGES_SCHEDULE_EVERY_S``): the daily points digests of
the days that ended and the tiers at risk. Each enqueues a run of the sender (gateway/tasks/messages.py)
when it has read or planned something. Both are safe to run twice or at once: a message is one
row per (occurrence, customer, channel) and the consumer's cursor moves with what it wrote.
"""

from __future__ import annotations

import logging

from gateway import enqueue
from gateway.services import message_planner, message_schedule
from gateway.tasks import context
from gateway.tasks.app import celery_app

log = logging.getLogger(__name__)


@celery_app.task(name="gateway.tasks.message_planning.plan")
def plan() -> dict[str, int]:
    """Beat: the planner's consumer."""
    settings = context.settings()
    policy = message_planner.Policy.of(settings)
    read = message_planner.consume(context.sessions(), policy=policy, now=message_planner.clock(settings))
    if read:  # what it planned is sent now, not at the sender's next beat
        enqueue.send_messages()
    return {"read": read}


@celery_app.task(name="gateway.tasks.message_planning.schedule")
def schedule() -> dict[str, int]:
    """Beat: the daily digests and the tiers at risk, back-filling the runs missed."""
    settings = context.settings()
    done = message_schedule.run(
        context.sessions(),
        policy=message_planner.Policy.of(settings),
        now=message_planner.clock(settings),
        backfill_days=settings.messages_backfill_days,
        at_risk_days=settings.messages_tier_at_risk_days,
        trial_ending_days=settings.messages_trial_ending_days,
    )
    if done.messages:
        enqueue.send_messages()
        log.info(
            "messages scheduled: %d digests, %d tiers at risk, %d messages", done.digests, done.at_risk, done.messages
        )
    return {
        "digests": done.digests, "at_risk": done.at_risk, "trials_ending": done.trials_ending,
        "messages": done.messages,
    }  # fmt: skip
