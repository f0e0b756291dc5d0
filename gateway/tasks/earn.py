"""The earn pipeline as Celery tasks: the outbox of each partner drained by its batching sender.

``dispatch`` (beat, every second) starts ``drain_partner`` for each partner with purchases that
are queued or not yet confirmed, and every ``HELD_RECHECK_S`` for a partner whose purchases are
held for lack of issuance headroom (network/headroom.py: the drain puts back in the queue those
that fit again); it also has partners told about their headroom (gateway/services/partner_funds.py:
``partner.funds_exhausted``, ``partner.funds_restored``, ``partner.headroom_low``, once per episode).
``drain_partner`` holds the partner's minter key through a lease in Redis (one driver per key,
network/locks.py) and runs its sender (network/drain.py) for up to ``earn_drain_budget_s``, then
hands over: it enqueues its own successor if work is left. A drain that finds the lease taken
returns at once. A worker killed mid-drain leaves signed transactions in the store and an
expiring lease; the next drain recovers both (the sender's ``recover()``), and the contract's
mint-once bitmap makes a resend harmless.
"""

from __future__ import annotations

import logging

from gateway import enqueue
from gateway.services import partner_funds, webhooks
from gateway.tasks import context
from gateway.tasks.app import celery_app
from network.drain import drain
from network.locks import RedisKeyLock
from network.outbox import held_by_partner, partners_with_work
from network.sender import EarnSender

log = logging.getLogger(__name__)
HELD_RECHECK_S = 10  # how often a partner with held purchases is looked at again


def _partners_with_work() -> list[int]:
    with context.sessions()() as session:
        return partners_with_work(session)


def _request_recheck(partner_id: int) -> bool:
    """A drain of a partner with held purchases, at most every ``HELD_RECHECK_S``."""
    key = f"coalition:held-recheck:{context.settings().chain_id}:{partner_id}"
    return bool(context.redis_client().set(key, "1", nx=True, ex=HELD_RECHECK_S)) and enqueue.drain_partner(partner_id)


@celery_app.task(name="gateway.tasks.earn.dispatch")
def dispatch() -> int:
    """Beat: a drain for every partner with open purchases, a look at partners with held ones
    and at every partner's headroom. Returns how many drains were enqueued."""
    settings, sessions, client = context.settings(), context.sessions(), context.redis_client()
    busy = _partners_with_work()
    with sessions() as session:
        held = held_by_partner(session)
    webhooks.publish_soon(partner_funds.tell_held(sessions, client, settings.chain_id, held))
    webhooks.publish_soon(
        partner_funds.tell_headroom_low(
            sessions, client, context.chain, chain_id=settings.chain_id, ratio=settings.headroom_warning_ratio
        )
    )
    drains = sum(enqueue.drain_partner(pid) for pid in busy)
    return drains + sum(_request_recheck(pid) for pid in held if pid not in busy)


@celery_app.task(name="gateway.tasks.earn.drain_partner")
def drain_partner(partner_id: int) -> dict[str, int | str]:
    """Sends and confirms the partner's outbox for up to the drain budget (see module doc)."""
    settings = context.settings()
    context.redis_client().delete(enqueue.drain_pending_key(settings.chain_id, partner_id))
    account = context.minter_account(partner_id)
    chain = context.chain()
    lock = RedisKeyLock(context.redis_client(), account.address, settings.chain_id, ttl_ms=settings.key_lease_ms)
    sender = EarnSender(
        w3=chain.w3,
        contracts=chain.contracts,
        account=account,
        sessions=context.sessions(),
        settings=settings,
        lock=lock,
    )
    done = drain(
        sender,
        budget_s=settings.earn_drain_budget_s,
        batch_max_wait_s=settings.batch_max_wait_s,
        has_work=lambda: partner_id in _partners_with_work(),
    )
    if done.result == "drained" and partner_id in _partners_with_work():
        enqueue.drain_partner(partner_id)  # budget spent with work left: a successor takes over
    return done.report(partner_id)
