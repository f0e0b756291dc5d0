"""Churn risk as a Celery task (gateway/services/churn.py holds the logic).

``train_and_score`` (beat, ``COALITION_CHURN_MODEL_EVERY_S``): trains the model of today's cut-off
when it is missing, then scores every member as of the end of yesterday when that is not done. Each
step is skipped once done (a model per cut-off, a scoring per day), so the task is safe to run twice
or at once.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from gateway.services import churn
from gateway.tasks import context
from gateway.tasks.app import celery_app

log = logging.getLogger(__name__)


@celery_app.task(name="gateway.tasks.churn.train_and_score", acks_late=True)
def train_and_score() -> dict[str, int | bool | None]:
    """Beat: today's churn model if missing, yesterday's scores if missing."""
    settings = context.settings()
    done = churn.run(
        context.sessions(),
        now=lambda: datetime.now(UTC),
        churn_days=settings.churn_days,
        min_members=settings.churn_min_members,
        max_members=settings.churn_train_max,
    )
    if done.trained or done.scored is not None:
        log.info("churn: model %s, trained %s, %s members scored", done.model_id, done.trained, done.scored)
    return {"model_id": done.model_id, "trained": done.trained, "scored": done.scored}
