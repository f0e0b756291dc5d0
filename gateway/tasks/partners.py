"""Partner changes scheduled on chain (prices, treasury, minter key) put in force once their
notice is over, as a beat task under a lease in Redis; the steps: gateway/services/partner_admin.py."""

from __future__ import annotations

import logging

from gateway.errors import ChainRejected, ChainUnavailable
from gateway.services import partner_admin
from gateway.tasks import context
from gateway.tasks.app import celery_app
from network.errors import TransientRpcError
from network.locks import RedisLease, SenderLockedError

log = logging.getLogger(__name__)


@celery_app.task(name="gateway.tasks.partners.apply_due_changes")
def apply_due_changes() -> dict[str, object]:
    """Applies every scheduled partner change that is due; returns the partners changed."""
    lease = RedisLease(context.redis_client(), f"coalition:partner-changes:{context.settings().chain_id}", 120_000)
    try:
        lease.acquire()
    except SenderLockedError:
        return {"result": "busy"}
    try:
        with context.sessions()() as session:
            return {"result": "ok", "applied": partner_admin.apply_due(session, context.chain())}
    except (TransientRpcError, ChainUnavailable) as exc:
        log.warning("apply_due_changes: chain unreachable, the next tick retries: %s", exc)
        return {"result": "chain unreachable"}
    except ChainRejected as exc:
        log.error("apply_due_changes: the chain refused a scheduled change: %s", exc)
        return {"result": "refused", "error": str(exc)}
    finally:
        lease.release()
