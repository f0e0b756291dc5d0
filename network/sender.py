"""The transaction sender of one partner's minter key: drains the outbox into `earnBatch`
transactions, fast, without ever losing or doubling a purchase.

- Batches by size and by time (``batch_max_size``, ``batch_max_wait_s``), with up to
  ``max_in_flight`` transactions pipelined on consecutive nonces, so throughput grows with load.
- Every transaction is signed once and stored (hash and raw bytes) with its items before it is
  broadcast; after a crash the same bytes are sent again, never re-signed under a new nonce.
- Nonces are tracked locally and re-synchronised from the chain on start, after an RPC error
  that says they drifted, and when the node's head goes backwards (a restart that lost blocks).
- Receipts are followed to ``confirmations``; each item ends minted, skipped (its seq was
  minted before) or failed with the decoded revert reason.
- A transaction left in the pool for ``stuck_after_s`` is re-broadcast if the node forgot it,
  or replaced (same nonce, same calldata) with fees raised by ``fee_bump_percent`` (>= 10 %).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

import requests
from eth_account.signers.local import LocalAccount
from eth_account.typed_transactions import TypedTransaction
from eth_utils import event_abi_to_log_topic
from hexbytes import HexBytes
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3
from web3.exceptions import TransactionNotFound, Web3RPCError

from network.contracts import CoalitionContracts, encode_earn_batch, load_abi
from network.errors import ChainError, TransientRpcError
from network.locks import KeyLock
from network.outbox import ready_batch
from network.purchases import decode_purchase, encode_purchase
from network.revert import decode_revert
from network.settings import ChainSettings
from network.store import ChainTransaction, OutboxPurchase, PurchaseStatus, TxStatus, utcnow

log = logging.getLogger(__name__)
T = TypeVar("T")
GWEI = 10**9
OPEN = (TxStatus.PENDING, TxStatus.MINED)
KIND = "earn_batch"


def batch_gas(n: int, block_gas_limit: int) -> int:
    """Gas limit of an earn batch: above the measured worst case (new holders: ~27.7k per
    purchase at 100, ~170k for one), never above the block's limit. Unused gas is not paid."""
    return min(200_000 + 30_000 * n, block_gas_limit)


@dataclass
class StepReport:
    sent_txs: int = 0
    sent_items: int = 0
    confirmed_txs: int = 0
    replaced_txs: int = 0
    rebroadcast_txs: int = 0
    results: dict[PurchaseStatus, int] = field(default_factory=lambda: defaultdict(int))


@dataclass(frozen=True, slots=True)
class Receipt:
    tx_hash: str
    block_number: int
    block_hash: str
    gas_used: int
    succeeded: bool
    logs: list[dict[str, Any]]


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
        self._next_nonce = 0
        self._priority_fee = GWEI
        self._block_gas_limit = 30_000_000
        self._head: tuple[int, str] | None = None
        self._started = False
        self._result_topics = {
            "0x" + event_abi_to_log_topic(item).hex()
            for item in load_abi("CoalitionPoints")
            if item["type"] == "event" and item["name"] in ("Earned", "PurchaseSkipped")
        }
        self._resync = False  # a broadcast said "nonce too low": recover() at the next step

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> EarnSender:
        if self.lock is not None:
            self.lock.acquire()
        chain_id = self._rpc(lambda: self.w3.eth.chain_id)
        if chain_id != self.chain_id:
            raise ChainError(f"the node is chain {chain_id}, the settings say {self.chain_id}")
        self.partner_id = self._rpc(lambda: self.contracts.partner_id_of(self.address))
        if self.partner_id == 0:
            raise ChainError(f"{self.address} is no partner's minter key in the registry")
        try:
            self._priority_fee = max(int(self._rpc(lambda: self.w3.eth.max_priority_fee)), 1)
        except TransientRpcError:
            self._priority_fee = GWEI
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

    # ------------------------------------------------------------------ one step

    def step(self) -> StepReport:
        if self.lock is not None:
            self.lock.refresh()
        report = StepReport()
        block = self._rpc(lambda: self.w3.eth.get_block("latest"))
        head = (int(block["number"]), block["hash"].to_0x_hex())
        self._block_gas_limit = int(block["gasLimit"])
        base_fee = int(block.get("baseFeePerGas") or 0)
        if self._head is not None and self._head_moved_back(head):
            log.warning("node head went back from %s to %s: re-synchronising", self._head[0], head[0])
            self.recover()
        elif self._resync:
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
            seen = self._rpc(lambda: self.w3.eth.get_block(self._head[0]))  # type: ignore[index]
        except TransientRpcError:
            return False
        return seen is None or seen["hash"].to_0x_hex() != self._head[1]

    # ------------------------------------------------------------------ recovery

    def recover(self) -> None:
        """Re-synchronises stored transactions and the local nonce with the chain."""
        self._resync = False
        chain_nonce = self._rpc(lambda: self.w3.eth.get_transaction_count(self.address, "latest"))
        with self.sessions() as session, session.begin():
            txs = self._txs(session, (*OPEN, TxStatus.CONFIRMED, TxStatus.REVERTED), recent_only=True)
            for nonce, group in _by_nonce(txs).items():
                receipt = self._find_receipt(group)
                if receipt is not None:
                    continue  # mined and still there: tracked as usual
                if any(t.status in (TxStatus.CONFIRMED, TxStatus.REVERTED) for t in group):
                    log.warning("nonce %s: its mined transaction is gone from the chain (node lost blocks)", nonce)
                    for t in group:
                        if t.status in (TxStatus.CONFIRMED, TxStatus.REVERTED, TxStatus.MINED):
                            t.status, t.block_number, t.block_hash = TxStatus.PENDING, None, None
                    self._reopen_items(session, group)
                newest = max(group, key=lambda t: t.id)
                if nonce >= chain_nonce:
                    self._broadcast(newest)
                else:
                    # The nonce went to a transaction we do not know: ours will never be mined.
                    for t in group:
                        t.status, t.error = TxStatus.DROPPED, "nonce used by another transaction"
                    self._requeue_items(session, group, "its transaction was dropped")
            stored_max = max((t.nonce for t in txs if t.status in OPEN), default=-1)
        pending_nonce = self._rpc(lambda: self.w3.eth.get_transaction_count(self.address, "pending"))
        self._next_nonce = max(pending_nonce, stored_max + 1, chain_nonce)

    def _reopen_items(self, session: Session, group: list[ChainTransaction]) -> None:
        session.execute(
            update(OutboxPurchase)
            .where(OutboxPurchase.tx_id.in_([t.id for t in group]))
            .values(status=PurchaseStatus.SENT, batch_id=None, error=None)
        )
        newest = max(group, key=lambda t: t.id)
        session.execute(
            update(OutboxPurchase).where(OutboxPurchase.tx_id.in_([t.id for t in group])).values(tx_id=newest.id)
        )

    def _requeue_items(self, session: Session, group: list[ChainTransaction], why: str) -> None:
        session.execute(
            update(OutboxPurchase)
            .where(OutboxPurchase.tx_id.in_([t.id for t in group]))
            .values(status=PurchaseStatus.QUEUED, tx_id=None, batch_id=None, error=why)
        )

    # ------------------------------------------------------------------ receipts

    def _track_receipts(self, session: Session, head: int, report: StepReport) -> None:
        open_txs = self._txs(session, OPEN)
        for _nonce, group in sorted(_by_nonce(open_txs).items()):
            receipt = self._find_receipt(group)
            if receipt is None:
                continue
            mined = next(t for t in group if t.tx_hash == receipt.tx_hash)
            mined.block_number, mined.block_hash, mined.gas_used = (
                receipt.block_number,
                receipt.block_hash,
                receipt.gas_used,
            )
            if head - mined.block_number + 1 < self.settings.confirmations:
                mined.status = TxStatus.MINED
                continue
            with session.begin_nested():
                for t in group:
                    if t is not mined:
                        t.status = TxStatus.REPLACED
                if receipt.succeeded:
                    mined.status = TxStatus.CONFIRMED
                    self._settle_items(session, group, mined, receipt, report)
                else:
                    mined.status = TxStatus.REVERTED
                    mined.error = self._revert_reason(mined)
                    self._fail_items(session, group, mined.error, report)
            report.confirmed_txs += 1
        session.commit()

    def _settle_items(
        self,
        session: Session,
        group: list[ChainTransaction],
        mined: ChainTransaction,
        receipt: Receipt,
        report: StepReport,
    ) -> None:
        minted: dict[int, int] = {}
        skipped: set[int] = set()
        for raw in receipt.logs:
            # A batch's receipt holds a Transfer per purchase; decode only what settles the items.
            if not raw["topics"] or raw["topics"][0] not in self._result_topics:
                continue
            decoded = self.contracts.decoder.decode(raw)
            if decoded is None:
                continue
            if decoded.name == "Earned":
                for word in decoded.args["purchases"]:
                    minted[decode_purchase(bytes.fromhex(word[2:])).seq] = decoded.args["batchId"]
            elif decoded.name == "PurchaseSkipped":
                skipped.add(int(decoded.args["seq"]))
        items = session.scalars(select(OutboxPurchase).where(OutboxPurchase.tx_id.in_([t.id for t in group])))
        for item in items:
            item.tx_id = mined.id
            if item.seq in minted:
                item.status, item.batch_id, item.error = PurchaseStatus.MINTED, minted[item.seq], None
            elif item.seq in skipped:
                item.status, item.error = PurchaseStatus.SKIPPED, "seq already minted on chain before this transaction"
            else:
                item.status, item.error = PurchaseStatus.FAILED, f"not in the receipt of {mined.tx_hash}"
            report.results[item.status] += 1

    def _fail_items(self, session: Session, group: list[ChainTransaction], reason: str, report: StepReport) -> None:
        items = session.scalars(select(OutboxPurchase).where(OutboxPurchase.tx_id.in_([t.id for t in group])))
        for item in items:
            item.status, item.error = PurchaseStatus.FAILED, reason
            report.results[PurchaseStatus.FAILED] += 1

    def _revert_reason(self, tx: ChainTransaction) -> str:
        call = {"from": self.address, "to": self.points_address, "data": self._calldata(tx)}
        try:
            self.w3.eth.call(call, (tx.block_number or 1) - 1)
        except Exception as exc:
            return decode_revert(exc)
        return "reverted (no reason when replayed)"

    def _calldata(self, tx: ChainTransaction) -> bytes:
        return bytes(decode_raw_transaction(tx.raw_tx)["data"])

    # ------------------------------------------------------------------ stuck transactions

    def _handle_stuck(self, session: Session, base_fee: int, report: StepReport) -> None:
        cutoff = utcnow() - timedelta(seconds=self.settings.stuck_after_s)
        for _nonce, group in sorted(_by_nonce(self._txs(session, (TxStatus.PENDING,))).items()):
            newest = max(group, key=lambda t: t.id)
            sent_at = newest.broadcast_at
            if sent_at is not None and sent_at.tzinfo is None:
                sent_at = sent_at.replace(tzinfo=cutoff.tzinfo)
            if sent_at is not None and sent_at > cutoff:
                continue
            known = self._rpc(lambda h=newest.tx_hash: self._tx_known(h))
            if not known or sent_at is None:
                self._broadcast(newest)  # the node forgot it (or it was never sent): same bytes again
                report.rebroadcast_txs += 1
            else:
                self._replace(session, newest, base_fee)
                report.replaced_txs += 1
        session.commit()

    def _tx_known(self, tx_hash: str) -> bool:
        try:
            self.w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
        except TransactionNotFound:
            return False
        return True

    def _replace(self, session: Session, old: ChainTransaction, base_fee: int) -> ChainTransaction:
        bump = 100 + self.settings.fee_bump_percent
        priority = max(-(-old.max_priority_fee_per_gas * bump // 100), self._priority_fee)
        max_fee = max(-(-old.max_fee_per_gas * bump // 100), 2 * base_fee + priority)
        fields = decode_raw_transaction(old.raw_tx)
        new = self._sign(
            session,
            nonce=old.nonce,
            data=bytes(fields["data"]),
            gas=int(fields["gas"]),
            max_fee=max_fee,
            priority=priority,
            replaces=old,
        )
        session.execute(update(OutboxPurchase).where(OutboxPurchase.tx_id == old.id).values(tx_id=new.id))
        session.commit()
        log.info(
            "nonce %s stuck: replaced %s by %s (max fee %s -> %s)",
            old.nonce,
            old.tx_hash,
            new.tx_hash,
            old.max_fee_per_gas,
            max_fee,
        )
        self._broadcast(new)
        return new

    # ------------------------------------------------------------------ sending

    def _send_ready(self, session: Session, base_fee: int, report: StepReport) -> None:
        in_flight = len(self._txs(session, OPEN, newest_per_nonce=True))
        while in_flight < self.settings.max_in_flight:
            items = ready_batch(
                session,
                partner_id=self.partner_id,
                max_size=self.settings.batch_max_size,
                max_wait_s=self.settings.batch_max_wait_s,
            )
            if not items:
                return
            words = [encode_purchase(i.customer, i.seq, i.points) for i in items]
            tx = self._sign(
                session,
                nonce=self._next_nonce,
                data=encode_earn_batch(words),
                gas=batch_gas(len(words), self._block_gas_limit),
                max_fee=2 * base_fee + self._priority_fee,
                priority=self._priority_fee,
            )
            for item in items:
                item.status, item.tx_id, item.attempts = PurchaseStatus.SENT, tx.id, item.attempts + 1
            session.commit()  # stored before broadcast: a crash from here on resends these bytes
            self._next_nonce += 1
            self._broadcast(tx)
            session.commit()
            in_flight += 1
            report.sent_txs += 1
            report.sent_items += len(items)

    def _sign(
        self,
        session: Session,
        *,
        nonce: int,
        data: bytes,
        gas: int,
        max_fee: int,
        priority: int,
        replaces: ChainTransaction | None = None,
    ) -> ChainTransaction:
        signed = self.account.sign_transaction(
            {
                "type": 2,
                "chainId": self.chain_id,
                "nonce": nonce,
                "to": self.points_address,
                "value": 0,
                "data": data,
                "gas": gas,
                "maxFeePerGas": max_fee,
                "maxPriorityFeePerGas": priority,
            }
        )
        tx = ChainTransaction(
            chain_id=self.chain_id,
            sender=self.address,
            nonce=nonce,
            kind=KIND,
            tx_hash=signed.hash.to_0x_hex(),
            raw_tx=bytes(signed.raw_transaction),
            max_fee_per_gas=max_fee,
            max_priority_fee_per_gas=priority,
            status=TxStatus.PENDING,
            replaces_id=replaces.id if replaces else None,
        )
        session.add(tx)
        session.flush()
        return tx

    def _broadcast(self, tx: ChainTransaction) -> None:
        try:
            self._rpc(lambda: self.w3.eth.send_raw_transaction(tx.raw_tx))
        except Web3RPCError as exc:
            message = str(exc).lower()
            if "already known" in message or "already imported" in message:
                pass
            elif "nonce too low" in message:
                log.info("nonce %s already used on chain; the receipt or recovery will tell by whom", tx.nonce)
                self._resync = True
            elif "underpriced" in message:
                log.info("replacement %s underpriced; the next stuck check raises the fee again", tx.tx_hash)
            else:
                raise ChainError(f"node refused transaction {tx.tx_hash}: {exc}") from exc
        tx.broadcast_at = utcnow()

    # ------------------------------------------------------------------ helpers

    def _txs(
        self,
        session: Session,
        statuses: tuple[TxStatus, ...],
        *,
        recent_only: bool = False,
        newest_per_nonce: bool = False,
    ) -> list[ChainTransaction]:
        query = select(ChainTransaction).where(
            ChainTransaction.sender == self.address,
            ChainTransaction.chain_id == self.chain_id,
            ChainTransaction.status.in_(statuses),
        )
        if recent_only:
            query = query.order_by(ChainTransaction.id.desc()).limit(10 * self.settings.max_in_flight + 64)
        txs = list(session.scalars(query))
        if newest_per_nonce:
            txs = [max(g, key=lambda t: t.id) for g in _by_nonce(txs).values()]
        return txs

    def _find_receipt(self, group: list[ChainTransaction]) -> Receipt | None:
        """The receipt of whichever transaction of ``group`` was mined. Read raw: web3's
        formatting of every log of a 1,000-purchase batch costs more than the node's answer."""
        for t in sorted(group, key=lambda t: -t.id):
            reply = self._rpc(lambda h=t.tx_hash: self.w3.provider.make_request("eth_getTransactionReceipt", [h]))
            if "error" in reply:
                raise ChainError(f"eth_getTransactionReceipt({t.tx_hash}) failed: {reply['error']}")
            raw = reply.get("result")
            if raw:
                return Receipt(
                    tx_hash=raw["transactionHash"],
                    block_number=int(raw["blockNumber"], 16),
                    block_hash=raw["blockHash"],
                    gas_used=int(raw["gasUsed"], 16),
                    succeeded=int(raw["status"], 16) == 1,
                    logs=raw["logs"],
                )
        return None

    def _rpc(self, call: Callable[[], T]) -> T:
        """Runs ``call``, retrying transient RPC failures with backoff."""
        delay = 0.1
        for attempt in range(self.settings.rpc_retries + 1):
            try:
                return call()
            except (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError) as exc:
                if attempt == self.settings.rpc_retries:
                    raise TransientRpcError(f"RPC failed {attempt + 1} times: {exc}") from exc
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
        raise AssertionError("unreachable")


def decode_raw_transaction(raw: bytes) -> dict[str, Any]:
    """The fields of a signed typed transaction (nonce, gas, data, fees, ...)."""
    return TypedTransaction.from_bytes(HexBytes(raw)).as_dict()


def _by_nonce(txs: list[ChainTransaction]) -> dict[int, list[ChainTransaction]]:
    groups: dict[int, list[ChainTransaction]] = defaultdict(list)
    for t in txs:
        groups[t.nonce].append(t)
    return groups
