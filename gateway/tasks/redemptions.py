"""Reward redemption as Celery tasks: ``process`` takes a redemption's id and calls the burn
protocol (gateway/services/burns.py), which does its next steps; it retries whatever is left
undone (a burn not mined yet, a node, Redis or database that failed) with backoff: a final
outcome, a refused burn included, is a status, not an exception. ``sweep`` (beat) re-enqueues
redemptions left open longer than ``redemption_stuck_after_s`` (a lost message, a failed
enqueue at acceptance).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from celery import Task
from sqlalchemy import select

from gateway.services import burns
from gateway.services import redemptions as service
from gateway.settings import max_countdown_s
from gateway.tasks import context
from gateway.tasks.app import celery_app
from network.locks import RedisKeyLock
from network.relayer import Relayer
from network.store import Redemption

log = logging.getLogger(__name__)
SWEEP_LIMIT = 500


@celery_app.task(name="gateway.tasks.redemptions.process", bind=True, max_retries=30)
def process(self: Task, redemption_pk: int) -> str:
    """The next steps of one redemption; returns the status it was left in."""
    try:
        return burns.advance(redemption_pk, sessions=context.sessions(), connect=_connect)
    except Exception as exc:  # every failure here is retried: a final outcome is a status, not an exception
        countdown = min(0.5 * 2 ** min(self.request.retries, 10), max_countdown_s(context.settings()))
        log.warning("redemption %s: %s; retrying in %.1f s", redemption_pk, exc, countdown, exc_info=True)
        raise self.retry(exc=exc, countdown=countdown) from exc


def _connect() -> list[burns.RelayerKey]:
    """The relayer keys, in order: each its calls of the points contract, its lease in Redis (one
    driver of its nonces at a time) and the settings of its transaction driver."""
    settings, chain = context.settings(), context.chain()
    keys = []
    for account in context.relayer_accounts():
        relayer = Relayer(chain.w3, chain.contracts, account)
        lock = RedisKeyLock(context.redis_client(), relayer.address, settings.chain_id, ttl_ms=settings.key_lease_ms)
        keys.append(burns.RelayerKey(relayer=relayer, lock=lock, settings=settings))
    return keys


def enqueue(redemption_pk: int) -> bool:
    """Asks a worker to process the redemption now; False (logged) if the broker cannot be
    reached: the redemption is stored, and the sweep enqueues it later."""
    try:
        process.apply_async(
            (redemption_pk,), retry=True, retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.2}
        )
    except Exception:
        log.warning("could not enqueue redemption %s; the sweep will", redemption_pk, exc_info=True)
        return False
    return True


@celery_app.task(name="gateway.tasks.redemptions.sweep")
def sweep() -> int:
    """Beat: re-enqueues redemptions left open (accepted, burning, burned) for longer than
    ``redemption_stuck_after_s``, at most once per that period each. Returns how many."""
    settings = context.settings()
    cutoff = datetime.now(UTC) - timedelta(seconds=settings.redemption_stuck_after_s)
    with context.sessions()() as session:
        pks = list(
            session.scalars(
                select(Redemption.id)
                .where(Redemption.status.in_(service.OPEN), Redemption.updated_at < cutoff)
                .order_by(Redemption.id)
                .limit(SWEEP_LIMIT)
            )
        )
    ttl = max(1, int(settings.redemption_stuck_after_s))
    redis = context.redis_client()
    sent = 0
    for pk in pks:
        if redis.set(f"coalition:redemption-swept:{settings.chain_id}:{pk}", "1", nx=True, ex=ttl):
            process.delay(pk)
            sent += 1
    return sent
