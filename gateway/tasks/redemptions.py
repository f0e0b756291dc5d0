"""Reward redemption as a Celery task: burn the points, then fulfil (voucher), then notify.

``process(redemption_pk)`` is idempotent over at-least-once delivery (acks_late): it reads the
stored status and does the next step, each step guarded by a conditional UPDATE on the status.

- Burn: ``redeemWithSignature`` sent by the relayer key under the key's Redis lease (one driver
  of its nonce at a time). The signed transaction is stored on the redemption before it is
  broadcast; a run that finds one stored looks for its receipt, else, if the node does not
  know it and the key's mined nonce has passed it, for the ``Redeemed`` event of the ref (burned
  by it after all) or the consent's nonce used (failed), else signs again; otherwise it
  rebroadcasts the same bytes. A burn that reverts (or would: the gas estimate says so) fails
  the redemption with the decoded reason and releases its stock, in one transaction.
- Fulfil: a voucher code, stored with status fulfilled and the webhook in one transaction.
- Anything transient (node, Redis, database busy, lease taken too long) is retried with
  backoff; ``sweep`` (beat) re-enqueues redemptions left open longer than
  ``redemption_stuck_after_s`` (a lost message, a failed enqueue at acceptance).
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

from celery import Task
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.models import Redemption
from gateway.relayer import BurnReceipt, BurnRefused, Relayer
from gateway.services import redemptions as service
from gateway.services import webhooks
from gateway.tasks import context
from gateway.tasks.app import celery_app, max_countdown_s
from network.errors import SenderLockedError
from network.locks import RedisKeyLock

log = logging.getLogger(__name__)
LOCK_WAIT_S = 15.0  # how long a task waits for the relayer's lease before it retries later
RECEIPT_WAIT_S = 20.0  # a burn not mined by then is followed by the next run
SWEEP_LIMIT = 500


class BurnPending(Exception):
    """The burn is sent but not mined yet: look again later."""


@celery_app.task(name="gateway.tasks.redemptions.process", bind=True, max_retries=30)
def process(self: Task, redemption_pk: int) -> str:
    """The next steps of one redemption; returns the status it was left in."""
    try:
        return advance(redemption_pk)
    except Exception as exc:  # every failure here is retried: a final outcome is a status, not an exception
        countdown = min(0.5 * 2 ** min(self.request.retries, 10), max_countdown_s(context.settings()))
        log.warning("redemption %s: %s; retrying in %.1f s", redemption_pk, exc, countdown, exc_info=True)
        raise self.retry(exc=exc, countdown=countdown) from exc


def advance(pk: int) -> str:
    status = _status(pk)
    if status in service.IN_FLIGHT:
        _burn(pk)
        status = _status(pk)
    if status == "burned":
        with context.sessions()() as session:
            webhooks.kick(service.mark_fulfilled(session, pk))
        status = _status(pk)
    return status or "missing"


def _status(pk: int) -> str | None:
    with context.sessions()() as session:
        return session.scalar(select(Redemption.status).where(Redemption.id == pk))


def _relayer() -> Relayer:
    chain = context.chain()
    return Relayer(chain.w3, chain.contracts, context.relayer_account(), context.settings().chain_id)


def _acquire(lock: RedisKeyLock) -> None:
    deadline = time.monotonic() + LOCK_WAIT_S
    delay = 0.005
    while True:
        try:
            lock.acquire()
            return
        except SenderLockedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.05)


def _burn(pk: int) -> None:
    settings = context.settings()
    relayer = _relayer()
    lock = RedisKeyLock(context.redis_client(), relayer.address, settings.chain_id, ttl_ms=settings.key_lease_ms)
    _acquire(lock)
    try:
        with context.sessions()() as session:
            redemption = session.get(Redemption, pk)
            if redemption is None or redemption.status not in service.IN_FLIGHT:
                return  # another delivery of this task got here first
            try:
                _burn_locked(session, relayer, redemption, lock)
            except BurnRefused as refused:
                webhooks.kick(service.mark_failed(session, pk, f"burn refused: {refused}"))
    finally:
        lock.release()


def _burn_locked(session: Session, relayer: Relayer, r: Redemption, lock: RedisKeyLock) -> None:
    if r.tx_hash is not None and r.raw_tx is not None and r.tx_nonce is not None:
        found = relayer.receipt(r.tx_hash)
        if found is None and not relayer.known(r.tx_hash):
            if relayer.mined_nonce() > r.tx_nonce:
                # our nonce went to another transaction: was this redemption burned anyway?
                found = relayer.find_redeemed(r)
                if found is None:
                    if relayer.consent_used(r):
                        raise BurnRefused("the consent's nonce was used by another transaction")
                    service.forget_signed_burn(session, r.id)
                    session.refresh(r)
                    return _send_new(session, relayer, r, lock)
            else:
                relayer.broadcast(r.raw_tx)  # the node forgot it (or it was never sent): the same bytes
        if found is None:
            found = relayer.wait_receipt(r.tx_hash, RECEIPT_WAIT_S, lock.refresh)
        return _settle(session, relayer, r, found)
    return _send_new(session, relayer, r, lock)


def _send_new(session: Session, relayer: Relayer, r: Redemption, lock: RedisKeyLock) -> None:
    gas = relayer.estimate_gas(r)  # BurnRefused: the contract would revert (expired, spent, paused...)
    signed = relayer.sign(r, gas)
    if not service.store_signed_burn(
        session, r.id, tx_hash=signed.tx_hash, raw_tx=signed.raw_tx, tx_nonce=signed.nonce
    ):
        return
    relayer.broadcast(signed.raw_tx)
    session.refresh(r)
    _settle(session, relayer, r, relayer.wait_receipt(signed.tx_hash, RECEIPT_WAIT_S, lock.refresh))


def _settle(session: Session, relayer: Relayer, r: Redemption, found: BurnReceipt | None) -> None:
    if found is None:
        raise BurnPending(f"burn {r.tx_hash} of redemption {r.id} not mined yet")
    if found.succeeded:
        service.mark_burned(session, r.id, tx_hash=found.tx_hash, block_number=found.block_number)
        return
    raise BurnRefused(f"reverted in {found.tx_hash}: {relayer.revert_reason(r, found.block_number)}")


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
