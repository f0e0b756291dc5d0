"""The earn pipeline as Celery tasks: the outbox of each partner drained by its batching sender.

``dispatch`` (beat, every second) starts ``drain_partner`` for each partner with purchases that
are queued or not yet confirmed, and every ``HELD_RECHECK_S`` for a partner whose purchases are
held for lack of issuance headroom (network/headroom.py: the drain puts back in the queue those
that fit again); the partner (webhook ``partner.funds_exhausted``) and the operator (an alert) are
told once when its purchases start to be held, and the partner again when none is left
(``partner.funds_restored``). Every ``HEADROOM_CHECK_S`` it reads each active partner's headroom
and tells a partner once per episode when it falls below ``headroom_warning_ratio`` of
min(funds, limit) (``partner.headroom_low``), before purchases start to be held.
A drain holds the partner's minter key through a lease in Redis
(one driver per key, network/locks.py), runs the sender (network/sender.py) for up to
``earn_drain_budget_s``, then hands over: it enqueues its own successor if work is left. A
drain that finds the lease taken returns at once. A worker killed mid-drain leaves signed
transactions in the store and an expiring lease; the next drain recovers both (the sender's
``recover()``), and the contract's mint-once bitmap makes a resend harmless.
"""

from __future__ import annotations

import logging
import time

from sqlalchemy import func, select

from gateway import enqueue
from gateway.services import account, webhooks
from gateway.tasks import context
from gateway.tasks.app import celery_app
from network.errors import TransientRpcError
from network.headroom import FUNDS_EXHAUSTED
from network.locks import RedisKeyLock, SenderLockedError
from network.sender import EarnSender
from network.store import OperatorAlert, OutboxPurchase, OutboxReversal, Partner, PurchaseStatus, ReversalStatus
from network.store.events import record

log = logging.getLogger(__name__)
OPEN = (PurchaseStatus.QUEUED, PurchaseStatus.SENT)
REVERSALS_OPEN = (ReversalStatus.QUEUED, ReversalStatus.SENT)
IDLE_FIRST_S, IDLE_MAX_S = 0.01, 0.08  # a drain with nothing to do backs off between steps, up to this
HELD_RECHECK_S = 10  # how often a partner with held purchases is looked at again
HEADROOM_CHECK_S = 5  # how often every active partner's headroom is read from the chain


def partners_with_work() -> list[int]:
    """Partners with purchases to mint or confirm, or reversals (refunds) to send or confirm."""
    with context.sessions()() as session:
        earn = session.scalars(select(OutboxPurchase.partner_id).where(OutboxPurchase.status.in_(OPEN)).distinct())
        reverse = session.scalars(
            select(OutboxReversal.partner_id).where(OutboxReversal.status.in_(REVERSALS_OPEN)).distinct()
        )
        return sorted(set(earn) | set(reverse))


def _held_by_partner() -> dict[int, tuple[int, str]]:
    """partner id -> (purchases held, when the oldest was first held)."""
    with context.sessions()() as session:
        rows = session.execute(
            select(OutboxPurchase.partner_id, func.count(), func.min(OutboxPurchase.held_at))
            .where(OutboxPurchase.status == PurchaseStatus.HELD)
            .group_by(OutboxPurchase.partner_id)
        ).all()
        return {int(pid): (int(n), since.isoformat() if since else "") for pid, n, since in rows}


def _tell_held(held: dict[int, tuple[int, str]]) -> None:
    """Tells each partner once when its purchases start to be held (and the operator), and once
    when none is held any more; what was told lives in a Redis hash."""
    redis = context.redis_client()
    told_key = f"coalition:funds-exhausted:{context.settings().chain_id}"
    told = {int(pid) for pid in redis.hkeys(told_key)}
    new, restored = set(held) - told, told - set(held)
    if not new and not restored:
        return
    events: list[str] = []
    with context.sessions()() as session:
        for pid in sorted(new):
            count, since = held[pid]
            data = {"held_purchases": count, "held_since": since, "reason": FUNDS_EXHAUSTED}
            events.append(record(session, "partner.funds_exhausted", payload=data, partner_id=pid))
            session.add(
                OperatorAlert(
                    kind=FUNDS_EXHAUSTED,
                    message=f"partner {pid}: {count} purchase(s) held since {since}: its issuance headroom "
                    "(funds in Clearing, or its issuance limit) is used up; they are minted once it deposits "
                    "or a settlement frees its funds",
                    details={"partner_id": pid, **data},
                )
            )
        for pid in sorted(restored):
            events.append(record(session, "partner.funds_restored", payload={"held_purchases": 0}, partner_id=pid))
        session.commit()
    for pid in new:
        redis.hset(told_key, str(pid), held[pid][1])
    if restored:
        redis.hdel(told_key, *(str(pid) for pid in restored))
    webhooks.publish_soon(events)


def _low_headroom() -> dict[int, dict[str, str]]:
    """Active partners whose issuance headroom is below ``headroom_warning_ratio`` of
    min(funds, limit), read from the chain: partner id -> what the webhook says."""
    settings = context.settings()
    ratio = settings.headroom_warning_ratio
    if ratio <= 0:
        return {}
    with context.sessions()() as session:
        ids = list(session.scalars(select(Partner.id).where(Partner.status == "active").order_by(Partner.id)))
    chain = context.chain()
    low: dict[int, dict[str, str]] = {}
    for pid in ids:
        if not account.headroom_low(*account.read_headroom(chain, pid), ratio):
            continue  # the usual case: three reads, not the eight of the warning's figures
        m = account.read_money(chain, pid)
        if account.headroom_low(m.headroom, m.bound, ratio):
            low[pid] = {
                "issuance_headroom": str(m.headroom),
                "funds": str(m.funds),
                "issuance_limit": str(m.issuance_limit),
                "exposure": str(m.exposure),
                "warning_ratio": str(ratio),
                "token_symbol": m.token_symbol,
                "token_decimals": str(m.token_decimals),
            }
    return low


def _tell_headroom_low() -> None:
    """Tells each partner once when its headroom falls below the warning ratio (webhook
    ``partner.headroom_low``); the episode ends when it is above again (a deposit, a settlement,
    a higher limit), and a new fall is told again. Looked at every ``HEADROOM_CHECK_S`` (chain
    reads); what was told lives in a Redis hash, like ``partner.funds_exhausted``."""
    redis = context.redis_client()
    chain_id = context.settings().chain_id
    if not redis.set(f"coalition:headroom-check:{chain_id}", "1", nx=True, ex=HEADROOM_CHECK_S):
        return
    try:
        low = _low_headroom()
    except (TransientRpcError, *account.CHAIN_ERRORS) as exc:
        log.warning("headroom check skipped: the chain cannot be read (%s)", exc)
        return
    told_key = f"coalition:headroom-low:{chain_id}"
    told = {int(pid) for pid in redis.hkeys(told_key)}
    new, over = set(low) - told, told - set(low)
    events: list[str] = []
    if new:
        with context.sessions()() as session:
            for pid in sorted(new):
                events.append(record(session, "partner.headroom_low", payload=low[pid], partner_id=pid))
            session.commit()
        redis.hset(told_key, mapping={str(pid): low[pid]["issuance_headroom"] for pid in new})
    if over:
        redis.hdel(told_key, *(str(pid) for pid in over))
    webhooks.publish_soon(events)


def _request_recheck(partner_id: int) -> bool:
    """A drain of a partner with held purchases, at most every ``HELD_RECHECK_S``."""
    key = f"coalition:held-recheck:{context.settings().chain_id}:{partner_id}"
    return bool(context.redis_client().set(key, "1", nx=True, ex=HELD_RECHECK_S)) and enqueue.drain_partner(partner_id)


@celery_app.task(name="gateway.tasks.earn.dispatch")
def dispatch() -> int:
    """Beat: a drain for every partner with open purchases, a look at partners with held ones.
    Returns how many drains were enqueued."""
    busy = partners_with_work()
    held = _held_by_partner()
    _tell_held(held)
    _tell_headroom_low()
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
    try:
        sender.start()
    except SenderLockedError:
        return {"partner": partner_id, "result": "busy"}  # another worker drives this key right now
    sent = confirmed = steps = 0
    idle_s = IDLE_FIRST_S
    deadline = time.monotonic() + settings.earn_drain_budget_s
    try:
        while time.monotonic() < deadline:
            try:
                report = sender.step()
            except SenderLockedError as exc:  # the lease expired mid-step: whoever holds it now drives
                log.warning("partner %s: %s", partner_id, exc)
                return {"partner": partner_id, "result": "lost the key's lease", "steps": steps, "sent_items": sent}
            except TransientRpcError as exc:
                log.warning("partner %s: node unreachable, retrying: %s", partner_id, exc)
                time.sleep(0.5)
                continue
            steps += 1
            sent += report.sent_items
            confirmed += report.confirmed_txs
            if report.sent_txs or report.confirmed_txs:
                idle_s = IDLE_FIRST_S
                continue
            if partner_id not in partners_with_work():
                break
            time.sleep(idle_s)  # waiting for a batch to fill or a receipt: each idle step costs ~1 ms of CPU
            idle_s = min(idle_s * 2, IDLE_MAX_S, max(settings.batch_max_wait_s / 4, IDLE_FIRST_S))
    finally:
        sender.stop()
    if partner_id in partners_with_work():
        enqueue.drain_partner(partner_id)  # budget spent with work left: a successor takes over
    return {"partner": partner_id, "result": "drained", "steps": steps, "sent_items": sent, "confirmed_txs": confirmed}
