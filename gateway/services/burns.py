"""The burn protocol of a reward redemption: burn the points, then fulfil (voucher), then notify.

A plain module: the Celery task (gateway/tasks/redemptions.py) calls ``advance(pk, ...)`` with
the redemption's id, the store's sessions and a way to reach the relayer key (its ``Relayer``,
network/relayer.py, and the key's lease). ``advance`` is idempotent over at-least-once
delivery (acks_late): it reads the stored status and does the next step, each step guarded by
a conditional UPDATE on the status.

- Burn: ``redeemWithSignature`` sent by the relayer key under the key's Redis lease (one driver
  of its nonce at a time). The holder of the lease burns not only its own redemption but every
  other one still ``accepted`` (oldest first, ``BURN_BATCH`` at a time, for up to
  ``BURN_BUDGET_S``): each is estimated (a burn that would revert fails at once) and signed on
  consecutive nonces, all are stored in one database transaction, then broadcast in nonce order
  and followed to their receipts together, and each burned one is fulfilled. A task waiting for
  the lease stops waiting when its redemption was burned by the holder. The signed transaction
  is stored on the redemption before it is broadcast; a run that finds one stored looks for its
  receipt, else, if the node does not know it and the key's mined nonce has passed it, for the
  ``Redeemed`` event of the ref (burned by it after all) or the consent's nonce used (failed),
  else signs again; otherwise it rebroadcasts the same bytes (after the relayer's other stored
  burns of lower nonces, in order, which the node needs first). A burn that reverts (or would:
  the gas estimate says so) fails the redemption with the decoded reason and releases its stock,
  in one transaction, unless the ``Redeemed`` event of its ref is on chain: burned by another of
  the relayer's transactions, or by anyone else who relayed the same consent (anyone may call
  ``redeemWithSignature``); then it is marked burned by that transaction and fulfilled.
- Fulfil: a voucher code, stored with status fulfilled and the webhook in one transaction.
- Anything transient (node, Redis, database busy, lease taken too long) raises: the task
  retries it with backoff; a refusal of the chain (a revert) never raises, it is a status.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gateway.services import redemptions as service
from gateway.services import webhooks
from network.errors import ChainError, SenderLockedError
from network.locks import KeyLock
from network.relayer import BurnReceipt, BurnRefused, Relayer, SignedBurn
from network.store import Redemption

log = logging.getLogger(__name__)
LOCK_WAIT_S = 15.0  # how long a task waits for the relayer's lease before it retries later
RECEIPT_WAIT_S = 20.0  # a burn not mined by then is followed by the next run
BURN_BATCH = 16  # burns signed, stored and in flight together under one hold of the lease
BURN_BUDGET_S = 3.0  # a holder starts no new batch after this (others wait on the lease meanwhile)


class BurnPending(Exception):
    """The burn is sent but not mined yet: look again later."""


class Lease(Protocol):
    """What a burn needs of the relayer key's lease while it holds it: renewing it."""

    def refresh(self) -> None: ...


def advance(pk: int, *, sessions: sessionmaker[Session], connect: Callable[[], tuple[Relayer, KeyLock]]) -> str:
    """The next steps of redemption ``pk``: its burn (``connect()`` gives the relayer and its
    key's lease, asked for only when a burn is due), then its fulfilment. Returns the status it
    was left in ("missing" if there is no such redemption); raises BurnPending while its burn
    is not mined, and whatever is transient."""
    status = status_of(sessions, pk)
    if status in service.IN_FLIGHT:
        relayer, lock = connect()
        burn(sessions=sessions, relayer=relayer, lock=lock, pk=pk)
        status = status_of(sessions, pk)
    if status == "burned":
        with sessions() as session:
            webhooks.publish_soon(service.mark_fulfilled(session, pk))
        status = status_of(sessions, pk)
    return status or "missing"


def status_of(sessions: sessionmaker[Session], pk: int) -> str | None:
    with sessions() as session:
        return session.scalar(select(Redemption.status).where(Redemption.id == pk))


def _acquire(sessions: sessionmaker[Session], lock: KeyLock, pk: int) -> bool:
    """Takes the relayer's lease; False (lease not taken) as soon as the redemption is no longer
    waiting for a burn (the holder of the lease burned it with others)."""
    deadline = time.monotonic() + LOCK_WAIT_S
    delay = 0.005
    while True:
        try:
            lock.acquire()
            return True
        except SenderLockedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
            if status_of(sessions, pk) not in service.IN_FLIGHT:
                return False


def burn(*, sessions: sessionmaker[Session], relayer: Relayer, lock: KeyLock, pk: int) -> None:
    """Burns redemption ``pk`` under the relayer key's ``lock`` (taken here, released on
    return), with every other accepted one the holder can take along (``burn_batch``); a
    redemption signed before is followed by ``burn_stored``."""
    if not _acquire(sessions, lock, pk):
        return
    try:
        with sessions() as session:
            redemption = session.get(Redemption, pk)
            if redemption is None or redemption.status not in service.IN_FLIGHT:
                return  # another delivery of this task got here first
            if redemption.status == "accepted":  # nothing signed yet: burn it with the others waiting
                _burn_batches(session, relayer=relayer, lease=lock, pk=pk)
                return
            try:
                burn_stored(session, relayer=relayer, redemption=redemption, lease=lock)
            except BurnRefused as refused:
                _refused(session, relayer, pk, refused)  # burned elsewhere: the caller fulfils it
    finally:
        lock.release()


def _burn_batches(session: Session, *, relayer: Relayer, lease: Lease, pk: int) -> None:
    """Under the lease: batches of accepted redemptions (``pk`` first) burned with several in
    flight, each burned one fulfilled, until none is left or the budget is spent. Raises
    BurnPending (the task retries) if ``pk`` itself was not mined."""
    deadline = time.monotonic() + BURN_BUDGET_S
    first: list[int] = [pk]
    while True:
        batch = first + list(
            session.scalars(
                select(Redemption.id)
                .where(Redemption.status == "accepted", Redemption.id.not_in(first))
                .order_by(Redemption.id)
                .limit(BURN_BATCH - len(first))
            )
        )
        if not batch:
            return
        pending = burn_batch(session, relayer=relayer, lease=lease, pks=batch)
        if pk in pending:
            raise BurnPending(f"burn of redemption {pk} sent but not mined yet")
        first = []
        if pending or len(batch) < BURN_BATCH or time.monotonic() > deadline:
            return  # pending: a transaction not mined, do not pile more on top of it


def burn_batch(session: Session, *, relayer: Relayer, lease: Lease, pks: list[int]) -> set[int]:
    """Estimates, signs on consecutive nonces, stores (one transaction), broadcasts in nonce
    order, then follows every receipt. Returns the pks whose burn is stored but not known mined
    (their own tasks follow them)."""
    nonce, fees = relayer.next_nonce(), relayer.fees()
    signed: list[tuple[Redemption, SignedBurn]] = []
    for pk in pks:
        r = session.get(Redemption, pk, populate_existing=True)
        if r is None or r.status != "accepted":
            continue
        try:
            gas = relayer.estimate_gas(r)
        except BurnRefused as refused:
            if _refused(session, relayer, pk, refused):
                webhooks.publish_soon(service.mark_fulfilled(session, pk))
            continue
        signed.append((r, relayer.sign(r, gas, nonce=nonce + len(signed), fees=fees)))
        lease.refresh()
    stored = service.store_signed_burns(session, [(r.id, b.tx_hash, b.raw_tx, b.nonce) for r, b in signed])
    sent: list[tuple[Redemption, SignedBurn]] = []
    for r, burn in signed:
        if r.id not in stored:
            break  # a nonce gap from here on: the stored ones after it are resent by their tasks
        try:
            relayer.broadcast(burn.raw_tx)
        except ChainError:
            log.warning("redemption %s: burn not broadcast; its task resends it", r.id, exc_info=True)
            break
        sent.append((r, burn))
        lease.refresh()
    pending = stored - {r.id for r, _ in sent}
    for r, burn in sent:
        session.refresh(r)
        found = relayer.wait_receipt(burn.tx_hash, RECEIPT_WAIT_S, lease.refresh)
        if found is None:
            pending.add(r.id)
            continue
        try:
            _settle(session, relayer, r, found)
        except BurnRefused as refused:
            if not _refused(session, relayer, r.id, refused):
                continue
        webhooks.publish_soon(service.mark_fulfilled(session, r.id))
    return pending


def burn_stored(session: Session, *, relayer: Relayer, redemption: Redemption, lease: Lease) -> None:
    """Burns a redemption one at a time: its stored transaction followed (its receipt; the
    same bytes resent if the node forgot them; signed again only if its nonce went to another
    transaction that did not burn it), else a new one signed, stored and sent. Raises
    BurnRefused when the chain refuses it, BurnPending while it is not mined."""
    r = redemption
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
                    return _send_new(session, relayer, r, lease)
            else:  # the node forgot it (or it was never sent): the same bytes, after those it waits for
                _resend_stored(session, relayer, relayer.mined_nonce(), r.tx_nonce)
                relayer.broadcast(r.raw_tx)
        if found is None:
            found = relayer.wait_receipt(r.tx_hash, RECEIPT_WAIT_S, lease.refresh)
        return _settle(session, relayer, r, found)
    return _send_new(session, relayer, r, lease)


def _resend_stored(session: Session, relayer: Relayer, from_nonce: int, to_nonce: int) -> None:
    """Broadcasts again, in nonce order, the stored burns not yet known burned whose nonces lie
    in [from_nonce, to_nonce) (a batch cut off between storing and sending): the node keeps a
    transaction waiting until every lower nonce of its key is taken. Always safe: each is the
    stored transaction of its own redemption; a refusal is for that redemption's task to see."""
    raws = session.scalars(
        select(Redemption.raw_tx)
        .where(
            Redemption.status == "burning",
            Redemption.raw_tx.is_not(None),
            Redemption.tx_nonce >= from_nonce,
            Redemption.tx_nonce < to_nonce,
        )
        .order_by(Redemption.tx_nonce)
    )
    for raw in list(raws):
        try:
            relayer.broadcast(bytes(raw))  # type: ignore[arg-type]
        except ChainError:
            log.info("a stored burn was refused on resend; its own task follows it", exc_info=True)


def _send_new(session: Session, relayer: Relayer, r: Redemption, lease: Lease) -> None:
    gas = relayer.estimate_gas(r)  # BurnRefused: the contract would revert (expired, spent, paused...)
    signed = relayer.sign(r, gas)
    if not service.store_signed_burn(
        session, r.id, tx_hash=signed.tx_hash, raw_tx=signed.raw_tx, tx_nonce=signed.nonce
    ):
        return
    relayer.broadcast(signed.raw_tx)
    session.refresh(r)
    _settle(session, relayer, r, relayer.wait_receipt(signed.tx_hash, RECEIPT_WAIT_S, lease.refresh))


def _refused(session: Session, relayer: Relayer, pk: int, refused: BurnRefused) -> bool:
    """A burn the chain refuses (its estimate or its own transaction reverted): was the
    redemption burned anyway, its consent relayed by someone else (the nonce is then used, and
    the estimate reverts)? If the ``Redeemed`` event of its ref is on chain, it is marked burned
    by that transaction (True: the caller fulfils it); else failed with the reason and its
    stock released (False). Never fails a redemption whose points are gone."""
    r = session.get(Redemption, pk, populate_existing=True)
    found = relayer.find_redeemed(r) if r is not None else None  # ChainError: the task retries
    if found is not None:
        log.info("redemption %s: burned by %s (its consent relayed by someone else)", pk, found.tx_hash)
        service.mark_burned(session, pk, tx_hash=found.tx_hash, block_number=found.block_number)
        return True
    webhooks.publish_soon(service.mark_failed(session, pk, f"burn refused: {refused}"))
    return False


def _settle(session: Session, relayer: Relayer, r: Redemption, found: BurnReceipt | None) -> None:
    if found is None:
        raise BurnPending(f"burn {r.tx_hash} of redemption {r.id} not mined yet")
    if not found.succeeded:
        found = relayer.find_redeemed(r) or found  # burned by another transaction after all?
    if found.succeeded:
        service.mark_burned(session, r.id, tx_hash=found.tx_hash, block_number=found.block_number)
        return
    raise BurnRefused(f"reverted in {found.tx_hash}: {relayer.revert_reason(r, found.block_number)}")
