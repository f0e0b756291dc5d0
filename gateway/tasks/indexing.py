"""The event indexer as a beat task: indexes new blocks into the store (chain_events and the
customers' ledger), under a lease in Redis so that one worker indexes at a time."""

from __future__ import annotations

import time

from gateway.tasks import context
from gateway.tasks.app import celery_app
from network.indexer import EventIndexer
from network.locks import RedisLease, SenderLockedError

BUDGET_S = 10.0


@celery_app.task(name="gateway.tasks.indexing.index")
def index() -> int:
    """Indexes until caught up with the head (or for ``BUDGET_S``). Returns the events written."""
    settings = context.settings()
    lease = RedisLease(context.redis_client(), f"coalition:indexer:{settings.chain_id}", ttl_ms=30_000)
    try:
        lease.acquire()
    except SenderLockedError:
        return 0
    try:
        chain = context.chain()
        indexer = EventIndexer(w3=chain.w3, contracts=chain.contracts, sessions=context.sessions(), settings=settings)
        written, deadline = 0, time.monotonic() + BUDGET_S
        while time.monotonic() < deadline:
            lease.refresh()
            written += indexer.step()
            with context.sessions()() as session:
                if indexer.checkpoint(session) >= chain.w3.eth.block_number - (settings.confirmations - 1):
                    break
        return written
    finally:
        lease.release()
