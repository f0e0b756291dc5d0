"""The burn protocol of a reward redemption: burn the points, then fulfil (voucher), then notify.

A plain module: the Celery task (gateway/tasks/redemptions.py) calls ``advance(pk, ...)`` with
the redemption's id, the store's sessions and a way to reach the relayer key (``RelayerKey``:
its calls of the points contract, network/relayer.py, its Redis lease and its driver's chain
settings). ``advance`` is idempotent over at-least-once delivery (acks_late): it reads the
stored status and does the next step, each step guarded by a conditional UPDATE on the status.

- Burn: the relayer key's transactions (kind ``burn``) go through the one transaction driver
  (network/transactions.py ``KeyTransactions``): signed once, stored before they are
  broadcast, the same bytes resent, nonces recovered, fees bumped, receipts followed. The
  driver of the key is whichever task holds its lease (``Burns``): it recovers the key first
  (stored burns not mined are sent again as the same bytes, in nonce order), then burns not
  only its own redemption but every other one still ``accepted`` (oldest first,
  ``BURN_BATCH`` at a time, for up to ``BURN_BUDGET_S``): each is estimated (a burn that would
  revert fails at once) and signed on consecutive nonces, all are stored in one database
  transaction (each redemption ``burning``, pointing at its transaction), then broadcast in
  nonce order and followed to their receipts together, and each burned one is fulfilled. With
  ``COALITION_BURNS_PER_TRANSACTION`` > 1 (issue 22; default 100) a transaction carries up to that
  many consents (``redeemBatchWithSignatures``: one nonce, ~26,000 gas a redemption): no estimate
  per redemption; a consent the chain cannot redeem is skipped there, and its redemption refused
  as a revert would be once the receipt's ``RedemptionSkipped`` says why. With several relayer
  keys (``COALITION_RELAYER_KEYS``) each is its own driver, lease and nonces, and burns its share
  of the redemptions (id mod the number of keys; a stored burn stays with the key that signed
  it, ``key_of``), so that several holders sign, send and follow at once. A
  task waiting for the lease stops waiting when its redemption was burned by the holder; a
  task whose redemption is ``burning`` follows the key's receipts until it is final.
- What the driver tells of a burn (``BurnFlow``, the hooks of kind ``burn``): confirmed ->
  burned (then fulfilled); replaced by a fee bump -> the redemption points at the
  replacement; lost (its block gone from the chain) -> burning again while the driver resends
  it; dropped (its nonce went to another transaction) -> burned if the ``Redeemed`` event of
  its ref is on chain (anyone may relay the same consent), failed if the consent's nonce is
  used, else accepted, to be signed again; reverted -> failed with the decoded reason and its
  stock released, in one transaction, unless the ``Redeemed`` event of its ref is on chain
  (burned by another transaction: then burned by that one, and fulfilled).
- Fulfil: a voucher code, stored with status fulfilled and the webhook in one transaction.
- Anything transient (node, Redis, database busy, lease taken too long) raises: the task
  retries it with backoff; a refusal of the chain (a revert) never raises, it is a status.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gateway.services import redemptions as service
from gateway.services import webhooks
from network.errors import ChainError, SenderLockedError
from network.locks import KeyLock
from network.receipts import Receipt
from network.relayer import BurnRefused, Relayer, batch_calldata, batch_results, signed_redeem
from network.settings import ChainSettings
from network.store import ChainTransaction, Redemption
from network.transactions import KeyTransactions

log = logging.getLogger(__name__)
BURN_KIND = "burn"  # ChainTransaction.kind of the relayer key's burns
LOCK_WAIT_S = 15.0  # how long a task waits for the relayer's lease before it retries later
RECEIPT_WAIT_S = 20.0  # a burn not mined by then is followed by the next run
BURN_BATCH = 16  # transactions signed, stored and in flight together under one hold of the lease
BURN_BUDGET_S = 3.0  # a holder starts no new batch after this (others wait on the lease meanwhile)


class BurnPending(Exception):
    """The burn is sent but not mined yet: look again later."""


@dataclass(frozen=True, slots=True)
class RelayerKey:
    """What burning needs of the relayer key: its calls of the points contract, its lease (one
    driver of its nonces at a time) and the chain settings of its driver (confirmations, fee
    bumps, RPC retries)."""

    relayer: Relayer
    lock: KeyLock
    settings: ChainSettings


def advance(pk: int, *, sessions: sessionmaker[Session], connect: Callable[[], Sequence[RelayerKey]]) -> str:
    """The next steps of redemption ``pk``: its burn (``connect()`` gives the relayer keys,
    asked for only when a burn is due; ``key_of`` picks the one that burns it), then its
    fulfilment. Returns the status it was left in ("missing" if there is no such redemption);
    raises BurnPending while its burn is not mined, and whatever is transient."""
    status = status_of(sessions, pk)
    if status in service.IN_FLIGHT:
        keys = connect()
        index = key_of(sessions, pk, [k.relayer.address for k in keys])
        burn(sessions=sessions, key=keys[index], pk=pk, share=(index, len(keys)))
        status = status_of(sessions, pk)
    if status == "burned":
        fulfil(sessions, [pk])
        status = status_of(sessions, pk)
    return status or "missing"


def status_of(sessions: sessionmaker[Session], pk: int) -> str | None:
    with sessions() as session:
        return session.scalar(select(Redemption.status).where(Redemption.id == pk))


def key_of(sessions: sessionmaker[Session], pk: int, addresses: list[str]) -> int:
    """Which of the relayer keys (their ``addresses``, in order) drives the burn of redemption
    ``pk``: the key that signed its stored burn, if one is stored and still among them (only its
    driver follows that nonce); else its share, ``pk`` mod how many keys there are."""
    if len(addresses) > 1:
        with sessions() as session:
            sender = session.scalar(
                select(ChainTransaction.sender)
                .join(Redemption, Redemption.tx_hash == ChainTransaction.tx_hash)
                .where(Redemption.id == pk)
            )
        lowered = [a.lower() for a in addresses]
        if sender is not None and sender.lower() in lowered:
            return lowered.index(sender.lower())
    return pk % len(addresses)


def fulfil(sessions: sessionmaker[Session], pks: list[int]) -> None:
    """Issues the voucher of each burned redemption of ``pks`` (once: guarded by its status)."""
    for pk in pks:
        with sessions() as session:
            webhooks.publish_soon(service.mark_fulfilled(session, pk))


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


def burn(*, sessions: sessionmaker[Session], key: RelayerKey, pk: int, share: tuple[int, int] = (0, 1)) -> None:
    """Burns redemption ``pk`` under the relayer key's lease (taken here, released on return):
    the key recovered, then ``pk`` burned with every other accepted one of the key's ``share``
    (index, keys) the holder can take along, or, signed before, followed until its burn is final."""
    if not _acquire(sessions, key.lock, pk):
        return
    try:
        burns = Burns(sessions=sessions, relayer=key.relayer, lease=key.lock, settings=key.settings, share=share)
        burns.recover()
        status = status_of(sessions, pk)
        if status == "burning" and burns.follow({pk}):
            status = status_of(sessions, pk)
            if status == "burning":
                raise BurnPending(f"burn of redemption {pk} sent but not mined yet")
        if status == "accepted":  # nothing signed yet (or its burn dropped: its nonce went to another transaction)
            burns.burn_batches(pk)
    finally:
        key.lock.release()


class BurnFlow:
    """The hooks (``network.transactions.TxFlow``) of the relayer key's ``burn`` transactions:
    each moves the redemption that points at the transaction (``Redemption.tx_hash``). They run
    in the driver's database transaction and do not commit; what must happen once it is
    committed (the vouchers of the burned, the webhooks of the failed) is kept for ``take()``."""

    def __init__(self, relayer: Relayer) -> None:
        self.relayer = relayer
        self.burned: list[int] = []  # redemptions burned: fulfilled once committed
        self.events: list[str] = []  # events written that a webhook listens to: published once committed

    def on_confirmed(
        self, session: Session, carried: list[ChainTransaction], mined: ChainTransaction, receipt: Receipt
    ) -> None:
        """Each redemption of the mined burn is burned, unless the transaction was a batch that
        skipped its consent (``RedemptionSkipped`` of its ref): then refused as a revert would be
        (burned by whoever relayed it first if its ``Redeemed`` is on chain, else failed, saying why)."""
        skipped = batch_results(receipt.logs, points_address=self.relayer.points_address).skipped
        for r in self._pointing_at(session, carried):
            why = skipped.get(r.ref.lower())
            if why is not None:
                service.repoint_burn(session, old=[t.tx_hash for t in carried], new=mined.tx_hash)
                self.refused(session, r, BurnRefused(f"skipped by batch {mined.tx_hash}: {why}"))
            elif service.mark_burned(session, r.id, tx_hash=mined.tx_hash, block_number=receipt.block_number):
                self.burned.append(r.id)

    def on_reverted(self, session: Session, carried: list[ChainTransaction], mined: ChainTransaction) -> None:
        for r in self._pointing_at(session, carried):
            service.repoint_burn(session, old=[t.tx_hash for t in carried], new=mined.tx_hash)
            self.refused(session, r, BurnRefused(f"reverted in {mined.tx_hash}: {mined.error}"))

    def on_replaced(self, session: Session, old: ChainTransaction, new: ChainTransaction) -> None:
        service.repoint_burn(session, old=[old.tx_hash], new=new.tx_hash)

    def on_lost(self, session: Session, group: list[ChainTransaction]) -> None:
        reopened = service.reopen_burned(session, tx_hashes=[t.tx_hash for t in group])
        if reopened:
            log.warning("nonce %s: its burn lost with its block; %d burning again", group[0].nonce, reopened)

    def on_dropped(self, session: Session, group: list[ChainTransaction], why: str) -> None:
        for r in self._pointing_at(session, group):
            if r.status != "burning":
                continue
            found = self.relayer.find_redeemed(r)
            if found is not None:
                log.info("redemption %s: its burn dropped (%s), but burned by %s", r.id, why, found.tx_hash)
                if service.mark_burned(session, r.id, tx_hash=found.tx_hash, block_number=found.block_number):
                    self.burned.append(r.id)
            elif self.relayer.consent_used(r):
                self.events += service.mark_failed(
                    session, r.id, "burn refused: the consent's nonce was used by another transaction"
                )
            else:
                log.info("redemption %s: its burn dropped (%s); signing it again", r.id, why)
                service.mark_unsigned(session, r.id)

    def refused(self, session: Session, r: Redemption, refused: BurnRefused) -> None:
        """A burn the chain refuses (its estimate or its own transaction reverted): was the
        redemption burned anyway, its consent relayed by someone else (the nonce is then used,
        and the estimate reverts)? If the ``Redeemed`` event of its ref is on chain, it is
        burned by that transaction; else failed with the reason and its stock released. Never
        fails a redemption whose points are gone."""
        found = self.relayer.find_redeemed(r)  # ChainError: the task retries
        if found is not None:
            log.info("redemption %s: burned by %s (its consent relayed by someone else)", r.id, found.tx_hash)
            if service.mark_burned(session, r.id, tx_hash=found.tx_hash, block_number=found.block_number):
                self.burned.append(r.id)
            return
        self.events += service.mark_failed(session, r.id, f"burn refused: {refused}")

    def take(self) -> tuple[list[int], list[str]]:
        """What the hooks left to do after their commit: (redemptions to fulfil, events to publish)."""
        burned, events = self.burned, self.events
        self.burned, self.events = [], []
        return burned, events

    @staticmethod
    def _pointing_at(session: Session, txs: list[ChainTransaction]) -> list[Redemption]:
        query = select(Redemption).where(Redemption.tx_hash.in_([t.tx_hash for t in txs]))
        return list(session.scalars(query.execution_options(populate_existing=True)))


class Burns:
    """The relayer key's burns while its lease is held: the key's ``KeyTransactions`` with
    ``BurnFlow`` as the hooks of kind ``burn``. ``recover()`` first, then ``burn_batches()``
    or ``follow()``; ``sign()`` and ``send()`` are the two halves of a batch's start."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        relayer: Relayer,
        lease: KeyLock,
        settings: ChainSettings,
        share: tuple[int, int] = (0, 1),
    ) -> None:
        self.sessions = sessions
        self.share = share  # (this key's index, how many relayer keys): it burns the redemptions id mod keys = index
        self.relayer = relayer
        self.lease = lease
        self.settings = settings
        self.flow = BurnFlow(relayer)
        self.driver = KeyTransactions(
            w3=relayer.w3,
            account=relayer.account,
            to=relayer.points_address,
            kind=BURN_KIND,
            sessions=sessions,
            settings=settings,
            flows={BURN_KIND: self.flow},
        )

    def recover(self) -> None:
        """Re-synchronises the key with the chain (the driver's ``recover()``: stored burns not
        mined sent again, dropped and lost ones handed to the flow), then finishes what the
        hooks decided."""
        self.driver.refresh_priority_fee()
        self.driver.recover()
        self._finish()

    def burn_batches(self, pk: int) -> None:
        """Batches of accepted redemptions (``pk`` first) burned with several in flight, each
        burned one fulfilled, until none is left or the budget is spent. Raises BurnPending
        (the task retries) if ``pk`` itself was not mined."""
        deadline = time.monotonic() + BURN_BUDGET_S
        first: list[int] = [pk]
        index, keys = self.share
        mine = [Redemption.id % keys == index] if keys > 1 else []
        while True:
            with self.sessions() as session:
                batch = first + list(
                    session.scalars(
                        select(Redemption.id)
                        .where(Redemption.status == "accepted", Redemption.id.not_in(first), *mine)
                        .order_by(Redemption.id)
                        .limit(BURN_BATCH * self.settings.burns_per_transaction - len(first))
                    )
                )
            if not batch:
                return
            pending = self.burn_batch(batch)
            if pk in pending:
                raise BurnPending(f"burn of redemption {pk} sent but not mined yet")
            first = []
            if pending or len(batch) < BURN_BATCH * self.settings.burns_per_transaction or time.monotonic() > deadline:
                return  # pending: a transaction not mined, do not pile more on top of it

    def burn_batch(self, pks: list[int]) -> set[int]:
        """Signs and stores (``sign``), broadcasts (``send``), then follows (``follow``) the
        burns of ``pks``. Returns the pks whose burn is stored but not final yet."""
        txs = self.sign(pks)
        self.send(txs)
        return self.follow(set(pks))

    def sign(self, pks: list[int]) -> list[ChainTransaction]:
        """Estimates the burn of each accepted redemption of ``pks`` (one that would revert is
        refused at once: failed, or burned by whoever relayed its consent first), signs it on
        the key's next nonce and stores them all, each redemption ``burning`` and pointing at
        its transaction, in one database transaction. Returns the transactions stored, in nonce
        order (none is broadcast yet)."""
        if self.settings.burns_per_transaction > 1:
            return self.sign_batches(pks)
        signed: list[ChainTransaction] = []
        with self.sessions() as session:
            block = self.driver.rpc(lambda: self.relayer.w3.eth.get_block("latest"))
            base_fee = int(block.get("baseFeePerGas") or 0)
            for pk in pks:
                r = session.get(Redemption, pk, populate_existing=True)
                if r is None or r.status != "accepted":
                    continue
                try:
                    gas = self.relayer.estimate_gas(r)
                except BurnRefused as refused:
                    self.flow.refused(session, r, refused)
                    continue
                data = self.relayer.calldata(r)
                tx = self.driver.sign_next(session, data=data, gas=gas * 5 // 4 + 10_000, base_fee=base_fee)
                if not service.mark_burning(session, pk, tx_hash=tx.tx_hash, tx_nonce=tx.nonce):
                    session.delete(tx)  # moved on meanwhile: the nonce stays free for the next
                    session.flush()
                    continue
                self.driver.advance_nonce()
                signed.append(tx)
                self.lease.refresh()
            session.commit()  # stored before any is broadcast
            for tx in signed:
                session.expunge(tx)
        self._finish()
        return signed

    def sign_batches(self, pks: list[int]) -> list[ChainTransaction]:
        """``sign`` with ``burns_per_transaction`` > 1: the accepted redemptions of ``pks`` in
        batches of that many consents (``redeemBatchWithSignatures``), one transaction and one
        nonce each, every redemption of a batch ``burning`` and pointing at it; stored in one
        database transaction, none broadcast. A consent the chain cannot redeem is skipped there
        and refused when the receipt says so (``BurnFlow.on_confirmed``); a signature that no
        call can relay is refused at once, and so is a whole batch whose estimate reverts."""
        signed: list[ChainTransaction] = []
        size = self.settings.burns_per_transaction
        with self.sessions() as session:
            block = self.driver.rpc(lambda: self.relayer.w3.eth.get_block("latest"))
            base_fee = int(block.get("baseFeePerGas") or 0)
            batch: list[tuple[Redemption, tuple]] = []
            for pk in pks:
                r = session.get(Redemption, pk, populate_existing=True)
                if r is None or r.status != "accepted":
                    continue
                try:
                    batch.append((r, signed_redeem(r)))
                except BurnRefused as refused:
                    self.flow.refused(session, r, refused)
            for start in range(0, len(batch), size):
                chunk = batch[start : start + size]
                data = batch_calldata([item for _, item in chunk])
                try:
                    gas = self.relayer.estimate_data_gas(data)
                except BurnRefused as refused:
                    for r, _ in chunk:
                        self.flow.refused(session, r, refused)
                    continue
                tx = self.driver.sign_next(session, data=data, gas=gas * 5 // 4 + 10_000, base_fee=base_fee)
                moved = [service.mark_burning(session, r.id, tx_hash=tx.tx_hash, tx_nonce=tx.nonce) for r, _ in chunk]
                if not any(moved):
                    session.delete(tx)  # all moved on meanwhile: the nonce stays free for the next
                    session.flush()
                    continue
                self.driver.advance_nonce()
                signed.append(tx)
                self.lease.refresh()
            session.commit()  # stored before any is broadcast
            for tx in signed:
                session.expunge(tx)
        self._finish()
        return signed

    def send(self, txs: list[ChainTransaction]) -> None:
        """Broadcasts the stored ``txs`` in nonce order (the node keeps a transaction waiting
        until every lower nonce of its key is taken). A refusal stops the batch: the rest stay
        stored, and the driver sends them again (``follow``, the next ``recover``)."""
        with self.sessions() as session:
            for tx in txs:
                stored = session.get(ChainTransaction, tx.id)
                assert stored is not None
                try:
                    self.driver.broadcast(stored)
                except ChainError:
                    log.warning("burn %s (nonce %s) not broadcast; the driver resends it", tx.tx_hash, tx.nonce)
                    break
                finally:
                    session.commit()
                self.lease.refresh()

    def follow(self, pks: set[int], timeout_s: float = RECEIPT_WAIT_S) -> set[int]:
        """Steps the driver (receipts, stuck transactions resent or their fees bumped, the key
        recovered when the node said a nonce is used) until no redemption of ``pks`` waits for
        its burn, or ``timeout_s`` passed. Returns those still waiting (accepted or burning)."""
        deadline = time.monotonic() + timeout_s
        delay = 0.005
        while True:
            with self.sessions() as session:
                block = self.driver.rpc(lambda: self.relayer.w3.eth.get_block("latest"))
                self.driver.follow_receipts(session, int(block["number"]))
                self._finish()
                waiting = set(
                    session.scalars(select(Redemption.id).where(Redemption.id.in_(pks), Redemption.status == "burning"))
                )
                if not waiting or time.monotonic() > deadline:
                    accepted = select(Redemption.id).where(Redemption.id.in_(pks), Redemption.status == "accepted")
                    return waiting | set(session.scalars(accepted))
                self.driver.handle_stuck(session, int(block.get("baseFeePerGas") or 0))
            if self.driver.needs_resync:
                self.recover()
            self.lease.refresh()
            time.sleep(delay)
            delay = min(delay * 2, 0.25)

    def _finish(self) -> None:
        """After a commit of the driver's: the vouchers of the redemptions its hooks burned, the
        webhooks of those they failed."""
        burned, events = self.flow.take()
        webhooks.publish_soon(events)
        fulfil(self.sessions, burned)
