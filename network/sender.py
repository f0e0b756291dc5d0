"""The transaction sender of one partner's minter key: drains the outbox into `earnBatch`
transactions, fast, without ever losing or doubling a purchase.

This module is the outbox side: which purchases go into which transaction, and what became of
each purchase once its transaction's receipt is in. The transactions themselves (signing,
storing, broadcasting, nonces, fees, stuck replacement, recovery, receipts) are the key's
driver, ``network.transactions``, which calls the hooks of the earn batches
(``network.earn_results.EarnBatchFlow``), of the reversals (``network.reversals.ReversalFlow``) and
of the restores (``network.restores.RestoreFlow``).

- Batches by size and by time (``batch_max_size``, ``batch_max_wait_s``), with up to
  ``max_in_flight`` transactions pipelined on consecutive nonces, so throughput grows with load.
- A batch's items are stored with their signed transaction before it is broadcast; after a crash
  the same bytes are sent again, never re-signed under a new nonce.
- Receipts are followed to ``confirmations``; each item ends minted, skipped (its seq was
  minted before) or failed with the decoded revert reason.
- Each batch is packed within the partner's issuance headroom (``Clearing.headroomOf``, less what
  its own unmined transactions reserve): a purchase that does not fit is held, not sent, and the
  others go (network/headroom.py); held purchases go back to the queue as the headroom returns,
  and fail only after ``held_purchase_timeout_s``. A batch that still hits the bound (a
  withdrawal raced it) goes back to the queue, never to failed.
- Items follow their transaction: to its replacement when it is stuck, back to sent when the
  node lost the block that mined it, back to the queue when its nonce went to another transaction.
- After its earn batches, sends the partner's queued reversals (refunds' clawbacks,
  network/reversals.py), one ``reverse`` transaction each, through the same key and nonces; then
  its queued restores whose capture is burned (points paid at a till given back by a refund,
  network/restores.py), one ``restore`` transaction each.
- Re-synchronises with the chain on start, after a broadcast refused for its nonce, and when the
  node's head goes backwards (a restart that lost blocks).
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial

from eth_account.signers.local import LocalAccount
from eth_utils import event_abi_to_log_topic
from sqlalchemy import Row, select, update
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from network.contracts import CoalitionContracts, encode_earn_batch_items, load_abi
from network.earn_results import EarnBatchFlow
from network.errors import ChainError, TransientRpcError
from network.headroom import fit_to_headroom, held_reason
from network.locks import KeyLock
from network.outbox import (
    OUTBOX,
    fail_held_since,
    has_held,
    held_items,
    hold_items,
    mark_sent,
    ready_batch,
    requeue_held,
    unmined_points,
)
from network.outcomes import purchases_settled, refunds_settled
from network.restores import KIND as RESTORE_KIND
from network.restores import RestoreFlow, encode_restore, ready_restores
from network.reversals import KIND as REVERSE_KIND
from network.reversals import ReversalFlow, ReversalNotReady, reversal_calldata
from network.revert import decode_revert
from network.settings import ChainSettings
from network.store import ChainTransaction, OutboxRestore, OutboxReversal, PurchaseStatus, ReversalStatus, utcnow
from network.transactions import KeyTransactions, decode_raw_transaction

__all__ = ["EarnSender", "StepReport", "batch_gas", "decode_raw_transaction"]

log = logging.getLogger(__name__)
KIND = "earn_batch"


def batch_gas(n: int, block_gas_limit: int) -> int:
    """Gas limit of an earn batch: above the measured worst case (new holders: ~27.7k per
    purchase at 100, ~170k for one), never above the block's limit. Unused gas is not paid."""
    return min(200_000 + 30_000 * n, block_gas_limit)


@dataclass
class StepReport:
    sent_txs: int = 0
    sent_items: int = 0
    held_items: int = 0
    confirmed_txs: int = 0
    replaced_txs: int = 0
    rebroadcast_txs: int = 0
    results: dict[PurchaseStatus, int] = field(default_factory=lambda: defaultdict(int))


class EarnSender:
    """The only driver of one minter key (enforced by ``lock``)."""

    def __init__(
        self,
        *,
        w3: Web3,
        contracts: CoalitionContracts,
        account: LocalAccount,
        sessions: sessionmaker[Session],
        settings: ChainSettings,
        lock: KeyLock | None = None,
    ) -> None:
        self.w3 = w3
        self.contracts = contracts
        self.account = account
        self.address = account.address
        self.sessions = sessions
        self.settings = settings
        self.lock = lock
        self.points_address = contracts.book.address("CoalitionPoints")
        self.chain_id = settings.chain_id
        self.partner_id = 0
        topics = {
            item["name"]: "0x" + event_abi_to_log_topic(item).hex()
            for item in load_abi("CoalitionPoints")
            if item["type"] == "event"
        }
        self.earn_batches = EarnBatchFlow(
            points_address=self.points_address, earned_topic=topics["Earned"], skipped_topic=topics["PurchaseSkipped"]
        )
        self.transactions = KeyTransactions(
            w3=w3,
            account=account,
            to=self.points_address,
            kind=KIND,
            sessions=sessions,
            settings=settings,
            flows={KIND: self.earn_batches, REVERSE_KIND: ReversalFlow(), RESTORE_KIND: RestoreFlow()},
        )
        self._block_gas_limit = 30_000_000
        self._head: tuple[int, str] | None = None
        self._started = False

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> EarnSender:
        if self.lock is not None:
            self.lock.acquire()
        rpc = self.transactions.rpc
        chain_id = rpc(lambda: self.w3.eth.chain_id)
        if chain_id != self.chain_id:
            raise ChainError(f"the node is chain {chain_id}, the settings say {self.chain_id}")
        self.partner_id = rpc(lambda: self.contracts.partner_id_of(self.address))
        if self.partner_id == 0:
            raise ChainError(f"{self.address} is no partner's minter key in the registry")
        self.transactions.refresh_priority_fee()
        self.recover()
        self._started = True
        return self

    def stop(self) -> None:
        if self.lock is not None:
            self.lock.release()

    def run(self, stop: threading.Event, idle_s: float = 0.01) -> None:
        """Steps until ``stop`` is set; rides out node outages."""
        while not stop.is_set():
            try:
                report = self.step()
            except TransientRpcError as exc:
                log.warning("node unreachable, retrying: %s", exc)
                stop.wait(0.5)
                continue
            if not report.sent_txs and not report.confirmed_txs:
                stop.wait(idle_s)

    def recover(self) -> None:
        """Re-synchronises stored transactions and the local nonce with the chain; the items of a
        transaction gone from the chain are reopened, those of a dropped one queued again."""
        self.transactions.recover()

    # ------------------------------------------------------------------ one step

    def _hold_lease(self) -> None:
        """Extends the key's lease, or raises ``SenderLockedError`` if it expired and may be
        another's: before every nonce signed, since a step can outlast the lease."""
        if self.lock is not None:
            self.lock.refresh()

    def step(self) -> StepReport:
        self._hold_lease()
        report = StepReport()
        block = self.transactions.rpc(lambda: self.w3.eth.get_block("latest"))
        head = (int(block["number"]), block["hash"].to_0x_hex())
        self._block_gas_limit = int(block["gasLimit"])
        base_fee = int(block.get("baseFeePerGas") or 0)
        if self._head is not None and self._head_moved_back(head):
            log.warning("node head went back from %s to %s: re-synchronising", self._head[0], head[0])
            self.recover()
        elif self.transactions.needs_resync:
            log.warning("the node said a nonce of ours was used already: re-synchronising")
            self.recover()
        self._head = head
        with self.sessions() as session:
            self._track_receipts(session, head[0], report)
            self._handle_stuck(session, base_fee, report)
            self._send_ready(session, base_fee, report)
        return report

    def _head_moved_back(self, head: tuple[int, str]) -> bool:
        assert self._head is not None
        if head[0] < self._head[0]:
            return True
        if head[0] == self._head[0]:
            return head[1] != self._head[1]
        try:
            seen = self.transactions.rpc(lambda: self.w3.eth.get_block(self._head[0]))  # type: ignore[index]
        except TransientRpcError:
            return False
        return seen is None or seen["hash"].to_0x_hex() != self._head[1]

    # ------------------------------------------------------------------ receipts

    def _track_receipts(self, session: Session, head: int, report: StepReport) -> None:
        """The driver follows the receipts; the flows' hooks settle the purchases and reversals."""
        self.earn_batches.results.clear()
        report.confirmed_txs += self.transactions.follow_receipts(session, head)
        for status, n in self.earn_batches.results.items():
            report.results[status] += n

    # ------------------------------------------------------------------ stuck transactions

    def _handle_stuck(self, session: Session, base_fee: int, report: StepReport) -> None:
        unstuck = self.transactions.handle_stuck(session, base_fee)
        report.rebroadcast_txs += unstuck.rebroadcast
        report.replaced_txs += unstuck.replaced

    # ------------------------------------------------------------------ sending

    def _send_ready(self, session: Session, base_fee: int, report: StepReport) -> None:
        in_flight = self.transactions.in_flight(session)
        headroom: list[int] | None = None  # [value the partner may still issue, issue price], read when needed
        if in_flight < self.settings.max_in_flight and has_held(session, self.partner_id):
            headroom = self._headroom(session)
            self._release_held(session, headroom)
        while in_flight < self.settings.max_in_flight:
            items = ready_batch(
                session,
                partner_id=self.partner_id,
                max_size=self.settings.batch_max_size,
                max_wait_s=self.settings.batch_max_wait_s,
            )
            if not items:
                break
            if headroom is None:
                headroom = self._headroom(session)
            left, price = headroom
            fits, held = fit_to_headroom(items, price, left)
            if held:
                hold_items(session, [i.id for i in held], held_reason(left - sum(i.points for i in fits) * price))
                session.commit()
                report.held_items += len(held)
            if not fits:
                continue  # the held items left the queue: the next ones may still fit
            items = fits
            try:
                data = encode_earn_batch_items((i.customer, i.seq, i.points) for i in items)
            except ValueError:
                self._fail_malformed(session, items)  # never sent; the rest go in the next batch
                continue
            headroom[0] -= sum(i.points for i in items) * price
            self._hold_lease()
            tx = self.transactions.sign_next(
                session, data=data, gas=batch_gas(len(items), self._block_gas_limit), base_fee=base_fee
            )
            try:
                mark_sent(session, [i.id for i in items], tx.id)
            except BaseException:
                session.rollback()  # neither the transaction nor its nonce is taken
                raise
            session.commit()  # stored before broadcast: a crash from here on resends these bytes
            self.transactions.advance_nonce()
            self._broadcast(tx)
            session.commit()
            in_flight += 1
            report.sent_txs += 1
            report.sent_items += len(items)
        self._send_reversals(session, base_fee, in_flight, report)
        self._send_restores(session, base_fee, report)

    # ------------------------------------------------------------------ the issuance bound

    def _headroom(self, session: Session) -> list[int]:
        """[value the partner may still issue, issue price]: the chain's headroom at the latest
        block, less what this key's unmined transactions will reserve when they are mined."""
        headroom, price = self.transactions.rpc(lambda: self.contracts.issuance_headroom(self.partner_id))
        return [max(headroom - unmined_points(session, self.partner_id) * price, 0), price]

    def _release_held(self, session: Session, headroom: list[int]) -> None:
        """Fails the purchases held longer than ``held_purchase_timeout_s``; puts back in the
        queue, oldest first, the held purchases that fit the headroom now."""
        fail_held_since(session, self.partner_id, utcnow() - timedelta(seconds=self.settings.held_purchase_timeout_s))
        held = held_items(session, self.partner_id, limit=self.settings.batch_max_size * 4)
        fits, _ = fit_to_headroom(held, headroom[1], headroom[0])
        requeue_held(session, [i.id for i in fits])
        session.commit()

    def _fail_malformed(self, session: Session, items: Sequence[Row[tuple[int, int, int, str, int]]]) -> None:
        """Fails the queued items that do not fit a purchase word (written by something that
        skipped ``outbox.enqueue``'s checks), so that they cannot block the queue. Judged one by
        one by the same encoder as the batch, so that the next batch goes through."""
        for i in items:
            try:
                encode_earn_batch_items([(i.customer, i.seq, i.points)])
            except ValueError as exc:
                session.execute(
                    update(OUTBOX)
                    .where(OUTBOX.c.id == i.id, OUTBOX.c.status == PurchaseStatus.QUEUED)
                    .values(status=PurchaseStatus.FAILED, error=f"not a purchase word: {exc}")
                )
        purchases_settled(session, outbox_ids=[i.id for i in items])
        session.commit()

    def _send_reversals(self, session: Session, base_fee: int, in_flight: int, report: StepReport) -> None:
        """One ``reverse`` transaction per queued reversal, after the earn batches. A reversal the
        chain refuses in simulation (e.g. the customer spent the points) fails without a
        transaction, with the decoded reason; one refused once mined fails the same way."""
        queued = session.scalars(
            select(OutboxReversal)
            .where(OutboxReversal.partner_id == self.partner_id, OutboxReversal.status == ReversalStatus.QUEUED)
            .order_by(OutboxReversal.id)
            .limit(max(self.settings.max_in_flight - in_flight, 0))
        ).all()
        for item in queued:
            try:
                data = reversal_calldata(session, item, self._receipt_events)
            except ReversalNotReady as exc:
                item.status, item.error = ReversalStatus.FAILED, str(exc)
                refunds_settled(session, reversal_ids=[item.id])
                session.commit()
                continue
            refused = partial(refunds_settled, session, reversal_ids=[item.id])
            if self._send_one(session, item, data, base_fee, REVERSE_KIND, on_refused=refused):
                report.sent_txs += 1

    def _send_restores(self, session: Session, base_fee: int, report: StepReport) -> None:
        """One ``restore`` transaction per queued restore whose capture is burned, after the
        reversals. A restore the chain refuses in simulation fails without a transaction, with the
        decoded reason; one refused once mined fails the same way."""
        queued = ready_restores(session, self.partner_id, self.settings.max_in_flight)
        if session.dirty:
            session.commit()  # the restores of failed captures, failed with them
        if not queued:
            return
        room = max(self.settings.max_in_flight - self.transactions.in_flight(session), 0)
        for item in queued[:room]:
            if self._send_one(session, item, encode_restore(item), base_fee, RESTORE_KIND):
                report.sent_txs += 1

    def _send_one(
        self,
        session: Session,
        item: OutboxReversal | OutboxRestore,
        data: bytes,
        base_fee: int,
        kind: str,
        *,
        on_refused: Callable[[], object] | None = None,
    ) -> bool:
        """Sends one outbox row (a reversal, a restore) as its own transaction: simulated first
        (a revert there fails the row with the decoded reason and ``on_refused``'s writes in one
        commit, and returns False), then signed, stored and committed before it is broadcast."""
        call = {"from": self.address, "to": self.points_address, "data": data}
        try:
            gas = self.transactions.rpc(lambda c=call: self.w3.eth.estimate_gas(c))  # type: ignore[arg-type]
        except TransientRpcError:
            raise
        except Exception as exc:  # a revert in simulation: the chain says no
            item.status, item.error = ReversalStatus.FAILED, decode_revert(exc)
            if on_refused is not None:
                on_refused()
            session.commit()
            return False
        self._hold_lease()
        tx = self.transactions.sign_next(
            session,
            data=data,
            gas=min(gas * 3 // 2 + 20_000, self._block_gas_limit),
            base_fee=base_fee,
            kind=kind,
        )
        item.status, item.tx_id, item.attempts = ReversalStatus.SENT, tx.id, item.attempts + 1
        session.commit()  # stored before broadcast, like a batch
        self.transactions.advance_nonce()
        self._broadcast(tx)
        session.commit()
        return True

    def _receipt_events(self, tx_hash: str) -> list:  # type: ignore[type-arg]
        reply = self.transactions.rpc(lambda: self.w3.provider.make_request("eth_getTransactionReceipt", [tx_hash]))
        raw = reply.get("result") or {}
        return [self.contracts.decoder.decode(log) for log in raw.get("logs", [])]

    def _broadcast(self, tx: ChainTransaction) -> None:
        """Broadcasts a newly stored batch. Its own method so that a test can crash the sender
        between storing a transaction and broadcasting it."""
        self.transactions.broadcast(tx)
