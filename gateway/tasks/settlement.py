"""Settlement of periods between partners as Celery tasks (the maths: loyalty/settlement.py;
the steps: gateway/services/settlement.py).

``settle_due`` (beat) first finishes any period left open (a killed worker, a lost message),
then settles every ended period not yet settled, oldest first. ``settle_period`` settles one
planned period (the operator's "close the period now"). Both hold one lease in Redis, so only
one settlement runs at a time; ``settle_period`` finding it taken retries shortly after.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from gateway.services import settlement as service
from gateway.tasks import context
from gateway.tasks.app import celery_app
from network.errors import TransientRpcError
from network.locks import RedisLease, SenderLockedError
from network.store import SettlementPeriod

log = logging.getLogger(__name__)
LEASE_MS = 120_000  # longer than one settle step (a receipt is awaited up to 60 s); renewed between steps
MAX_PERIODS_PER_RUN = 24


def _lease() -> RedisLease:
    return RedisLease(context.redis_client(), f"coalition:settlement:{context.settings().chain_id}", ttl_ms=LEASE_MS)


@celery_app.task(
    name="gateway.tasks.settlement.settle_period",
    bind=True,
    max_retries=120,
    autoretry_for=(TransientRpcError,),  # the chain unreachable; never a revert (that is a failed period)
    retry_backoff=2,
    retry_backoff_max=10,
    retry_jitter=False,
)
def settle_period(self, period_id: int) -> dict[str, object]:  # noqa: ANN001  (Celery's bound task)
    """Settles one planned period (idempotent: a settled period is left as it is)."""
    lease = _lease()
    try:
        lease.acquire()
    except SenderLockedError as exc:
        raise self.retry(countdown=2, max_retries=120) from exc  # another settlement is running
    try:
        with context.sessions()() as session:
            row = service.settle(session, context.chain(), period_id, refresh=lease.refresh)
            return {"period_id": row.period_id, "status": row.status}
    finally:
        lease.release()


@celery_app.task(name="gateway.tasks.settlement.settle_due")
def settle_due() -> dict[str, object]:
    """Beat: resumes open periods, then settles every ended period (settings.settlement_period)."""
    lease = _lease()
    try:
        lease.acquire()
    except SenderLockedError:
        return {"result": "busy"}
    done: list[dict[str, object]] = []
    try:
        chain = context.chain()
        with context.sessions()() as session:
            open_ids = list(
                session.scalars(
                    select(SettlementPeriod.period_id)
                    .where(SettlementPeriod.status.in_(service.OPEN))
                    .order_by(SettlementPeriod.period_id)
                )
            )
            session.commit()
            for period_id in open_ids:
                row = service.settle(session, chain, period_id, refresh=lease.refresh)
                done.append({"period_id": row.period_id, "status": row.status})
            for _ in range(MAX_PERIODS_PER_RUN):
                planned = service.plan_scheduled(session, chain, context.settings().settlement_period_s)
                if planned is None:
                    break
                row = service.settle(session, chain, planned.period_id, refresh=lease.refresh)
                done.append({"period_id": row.period_id, "status": row.status})
                if row.status != "settled":
                    break
                lease.refresh()
    except TransientRpcError as exc:
        log.warning("settle_due: chain unreachable, the next tick retries: %s", exc)
    finally:
        lease.release()
    return {"result": "ok", "periods": done}
