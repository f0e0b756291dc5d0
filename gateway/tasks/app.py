"""The Celery app: broker and settings, delivery guarantees, queues and the beat schedule.

Exactly-once effects over at-least-once delivery:

- ``task_acks_late``: a message is acknowledged when its task has finished, not when it starts,
  and ``task_reject_on_worker_lost`` puts it back when the worker process dies (SIGKILL, OOM);
  ``worker_prefetch_multiplier=1`` keeps a dying worker from taking others' messages with it.
- Redis's ``visibility_timeout`` (the time after which an unacknowledged message is delivered
  again) is longer than the hard time limit of every task and than any retry countdown, so a
  slow task is never run twice at once because Redis thought its worker gone.
- Every task is idempotent: it reads what is stored, does the next step, and stores that step
  in the same database transaction as its effect (or, for the chain, stores the signed
  transaction before sending it, and looks for its receipt when it runs again).

Queues: ``earn`` (the long drains of each partner's minter key) apart from ``celery`` (everything
else), so that draining never starves redemptions, webhooks or settlement.
"""

from __future__ import annotations

from celery import Celery

from gateway.settings import WorkerSettings, get_worker_settings, redis_url

TASK_MODULES = [
    "gateway.tasks.earn",
    "gateway.tasks.indexing",
    "gateway.tasks.redemptions",
    "gateway.tasks.points_holds",
    "gateway.tasks.settlement",
    "gateway.tasks.reconciliation",
    "gateway.tasks.webhooks",
    "gateway.tasks.partners",
    "gateway.tasks.purge",
    "gateway.tasks.tiers",
    "gateway.tasks.memberships",
    "gateway.tasks.expiry",
    "gateway.tasks.messages",
    "gateway.tasks.analytics",
    "gateway.tasks.message_planning",
    "gateway.tasks.churn",
    "gateway.tasks.rewards",  # issue 20: referrals and achievements
    "gateway.tasks.campaigns",  # issue 20: scheduled and transition campaign triggers
]
EARN_QUEUE = "earn"
DEFAULT_QUEUE = "celery"


def make_celery(settings: WorkerSettings) -> Celery:
    url = redis_url(settings)
    if url is None:
        raise ValueError("COALITION_REDIS_URL must be set outside local mode")
    app = Celery("coalition", broker=url, backend=url, include=TASK_MODULES)
    if settings.task_time_limit_s >= settings.task_visibility_timeout_s:
        raise ValueError("the task time limit must be shorter than the visibility timeout")
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        task_time_limit=settings.task_time_limit_s,
        task_soft_time_limit=max(settings.task_time_limit_s - 30, settings.task_time_limit_s // 2),
        broker_transport_options={"visibility_timeout": settings.task_visibility_timeout_s},
        result_backend_transport_options={"visibility_timeout": settings.task_visibility_timeout_s},
        broker_connection_retry_on_startup=True,
        task_ignore_result=True,
        result_expires=3_600,
        task_serializer="json",
        accept_content=["json"],
        timezone="UTC",
        enable_utc=True,
        worker_hijack_root_logger=False,
        task_default_queue=DEFAULT_QUEUE,
        task_routes={"gateway.tasks.earn.drain_partner": {"queue": EARN_QUEUE}},
        beat_schedule=beat_schedule(settings),
    )
    return app


def beat_schedule(settings: WorkerSettings) -> dict[str, dict[str, object]]:
    """What beat starts: each task below is cheap when there is nothing to do, and safe to
    run twice (a run that finds the work taken or done does nothing)."""
    expires = {"expires": 60}  # a beat tick that waited a minute in the queue is stale: the next one comes
    return {
        "dispatch-earn": {
            "task": "gateway.tasks.earn.dispatch",
            "schedule": settings.earn_dispatch_every_s,
            "options": expires,
        },
        "index-chain": {"task": "gateway.tasks.indexing.index", "schedule": settings.index_every_s, "options": expires},
        "settle-due-periods": {
            "task": "gateway.tasks.settlement.settle_due",
            "schedule": min(60.0, settings.settlement_period_s / 4),
            "options": expires,
        },
        "reconcile": {
            "task": "gateway.tasks.reconciliation.reconcile",
            "schedule": settings.reconcile_every_s,
            "options": expires,
        },
        "webhooks-sweep": {"task": "gateway.tasks.webhooks.sweep", "schedule": 5.0, "options": expires},
        "redemptions-sweep": {"task": "gateway.tasks.redemptions.sweep", "schedule": 5.0, "options": expires},
        "apply-partner-changes": {
            "task": "gateway.tasks.partners.apply_due_changes",
            "schedule": settings.partner_changes_every_s,
            "options": expires,
        },
        "expire-points-holds": {
            "task": "gateway.tasks.points_holds.expire",
            "schedule": settings.points_hold_expire_every_s,
            "options": expires,
        },
        "purge-expired": {
            "task": "gateway.tasks.purge.purge",
            "schedule": settings.purge_every_s,
            "options": expires,
        },
        "expiry-sweep": {
            "task": "gateway.tasks.expiry.sweep",
            "schedule": settings.expiry_sweep_every_s,
            "options": expires,
        },
        "expiry-remind": {
            "task": "gateway.tasks.expiry.remind",
            "schedule": settings.expiry_remind_every_s,
            "options": expires,
        },
        "messages-send": {
            "task": "gateway.tasks.messages.send_due",
            "schedule": settings.messages_send_every_s,
            "options": expires,
        },
        "tiers-sweep": {"task": "gateway.tasks.tiers.sweep", "schedule": settings.tiers_every_s, "options": expires},
        "memberships-sweep": {
            "task": "gateway.tasks.memberships.sweep",
            "schedule": settings.membership_sweep_every_s,
            "options": expires,
        },
        "tiers-review": {
            "task": "gateway.tasks.tiers.review",
            "schedule": settings.tier_review_every_s,
            "options": expires,
        },
        "rfm-snapshot": {
            "task": "gateway.tasks.analytics.snapshot",
            "schedule": settings.rfm_snapshot_every_s,
            "options": expires,
        },
        "churn-model": {
            "task": "gateway.tasks.churn.train_and_score",
            "schedule": settings.churn_model_every_s,
            "options": expires,
        },
        "messages-plan": {
            "task": "gateway.tasks.message_planning.plan",
            "schedule": settings.messages_plan_every_s,
            "options": expires,
        },
        "messages-schedule": {
            "task": "gateway.tasks.message_planning.schedule",
            "schedule": settings.messages_schedule_every_s,
            "options": expires,
        },
        "referrals-qualify": {
            "task": "gateway.tasks.rewards.qualify_referrals",
            "schedule": settings.referrals_every_s,
            "options": expires,
        },
        "achievements-sweep": {
            "task": "gateway.tasks.rewards.achievements",
            "schedule": settings.achievements_every_s,
            "options": expires,
        },
        "campaign-triggers": {
            "task": "gateway.tasks.campaigns.fire_due",
            "schedule": settings.campaign_triggers_every_s,
            "options": expires,
        },
    }


celery_app = make_celery(get_worker_settings())
