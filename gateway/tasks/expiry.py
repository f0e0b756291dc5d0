"""The expiry sweep and the expiry reminders as Celery tasks (the jobs: gateway/services/expiry_sweep.py,
gateway/services/expiry_reminders.py).

``sweep`` (beat, every ``expiry_sweep_every_s``) takes no argument: it holds one lease in Redis so
that one sweep drives the sweeper's key at a time (a second finds it taken and does nothing), and
runs the sweeper once. A run killed halfway leaves its signed batches stored: the next run sends
them again as the same bytes, waits for them and for the indexer, and plans what is still due.
"""

from __future__ import annotations

import logging

from gateway.services import expiry_reminders as reminders
from gateway.services import webhooks
from gateway.services.expiry_schedule import indexed_time
from gateway.services.expiry_sweep import Sweeper
from gateway.tasks import context
from gateway.tasks.app import celery_app
from network.errors import SenderLockedError, TransientRpcError
from network.locks import RedisLease

log = logging.getLogger(__name__)
LEASE_MS = 20_000  # a killed sweep's hold expires after this; renewed between batches and while waiting


@celery_app.task(name="gateway.tasks.expiry.sweep", acks_late=True)
def sweep() -> dict[str, object]:
    """Beat: burns the points of every holder past its expiry time (idempotent)."""
    settings = context.settings()
    lease = RedisLease(context.redis_client(), f"coalition:expiry-sweep:{settings.chain_id}", ttl_ms=LEASE_MS)
    try:
        lease.acquire()
    except SenderLockedError:
        return {"result": "busy"}
    try:
        chain = context.chain()
        run = Sweeper(
            w3=chain.w3,
            points=str(chain.contracts.points.address),
            account=context.sweeper_account(),
            sessions=context.sessions(),
            settings=settings.model_copy(update={"chain_id": chain.contracts.book.chain_id}),
            batch_size=settings.expiry_sweep_batch,
            budget_s=max(settings.task_time_limit_s - 60, 10),
            refresh=lease.refresh,
        ).run()
        log.info("expiry sweep: %s", run)
        return {"result": run.status, "due": run.due, "sent": run.holders_sent, "batches": run.batches}
    except TransientRpcError as exc:
        log.warning("expiry sweep: chain unreachable, the next tick retries: %s", exc)
        return {"result": "chain unreachable"}
    finally:
        lease.release()


@celery_app.task(name="gateway.tasks.expiry.remind")
def remind() -> dict[str, object]:
    """Beat: writes the ``points.expiring`` reminders due at the time of the last indexed block (a
    holder's activity in blocks not indexed yet is not known), then asks for their webhooks (each
    reminder once: a second run finds it recorded)."""
    settings = context.settings()
    with context.sessions()() as session:
        try:
            chain = context.chain()
            chain_id = chain.contracts.book.chain_id
            now = indexed_time(session, chain.w3, chain_id)  # what the store knows of every holder is as of then
        except TransientRpcError as exc:
            log.warning("expiry reminders: chain unreachable, the next tick retries: %s", exc)
            return {"result": "chain unreachable"}
        if now is None:
            return {"result": "nothing indexed yet"}
        events = reminders.remind(session, chain_id=chain_id, now=now, days_before=settings.expiry_reminder_days)
        session.commit()
    webhooks.publish_soon(events)
    return {"result": "ok", "reminders": len(events)}
