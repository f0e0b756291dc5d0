"""Reconciliation of the store against the chain as a beat task (every
``settings.reconcile_every_s``), under a lease in Redis so that one worker reconciles at a time.
The comparison itself: gateway/services/reconciliation.py."""

from __future__ import annotations

import logging

from gateway.services import reconciliation as service
from gateway.tasks import context
from gateway.tasks.app import celery_app
from network.errors import TransientRpcError
from network.locks import RedisLease, SenderLockedError

log = logging.getLogger(__name__)


@celery_app.task(name="gateway.tasks.reconciliation.reconcile")
def reconcile() -> dict[str, object]:
    """Compares store and chain at the indexer's checkpoint and stores the report."""
    lease = RedisLease(context.redis_client(), f"coalition:reconcile:{context.settings().chain_id}", ttl_ms=120_000)
    try:
        lease.acquire()
    except SenderLockedError:
        return {"result": "busy"}
    try:
        with context.sessions()() as session:
            report = service.reconcile(session, context.chain())
            if report is None:
                return {"result": "nothing indexed yet"}
            return {"result": "ok" if report.ok else "differences", "report": report.id, "block": report.block_number}
    except TransientRpcError as exc:
        log.warning("reconcile: chain unreachable, the next tick retries: %s", exc)
        return {"result": "chain unreachable"}
    finally:
        lease.release()
