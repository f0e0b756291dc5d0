"""The expiry sweep: burns the points of every holder past its expiry time, in batches of
``expire(address[])``, through the one transaction driver (network/transactions.py, kind
``expire``) with the sweeper's own key.

Who is due comes from the store's indexed events (gateway/services/expiry_schedule.py), never from
scanning the chain. A run:

1. recovers the key's driver: a batch signed before a crash or a node restart is sent again as the
   same bytes (or found mined), never signed again under a new nonce;
2. follows every batch in flight to its receipt (a stuck one is re-sent with higher fees);
3. waits, if need be, until the indexer has read the block of its last confirmed batch, so that the
   holders it burned are no longer due in the store;
4. plans the holders due at the chain's time and signs, stores, then sends a batch per
   ``batch_size`` of them, at most ``max_in_flight`` at once, until done or ``budget_s`` is spent
   (the next run goes on from the store).

Idempotent: ``expire`` skips a holder with nothing due (already swept, or active again since the
plan), so a batch sent twice, or a holder planned twice, burns nothing twice; a run that finds
nothing due sends nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from eth_abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_utils import function_signature_to_4byte_selector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from gateway.services.expiry_schedule import due_holders
from network.indexer import CHECKPOINT
from network.receipts import Receipt
from network.settings import ChainSettings
from network.store import ChainTransaction, IndexerCheckpoint, TxStatus
from network.transactions import KeyTransactions

log = logging.getLogger(__name__)
EXPIRE_KIND = "expire"
EXPIRE_SELECTOR = function_signature_to_4byte_selector("expire(address[])")
# gas of an expire batch: a due holder costs ~9,000 (a cold slot cleared, a Transfer and an Expired
# log, its calldata); the limit leaves room, unused gas is not paid
GAS_BASE, GAS_PER_HOLDER = 40_000, 12_000


def expire_calldata(holders: list[str]) -> bytes:
    """``expire(holders)`` encoded once, here."""
    return EXPIRE_SELECTOR + abi_encode(["address[]"], [holders])


def expire_gas(holders: int) -> int:
    return GAS_BASE + GAS_PER_HOLDER * holders


class ExpireFlow:
    """The hooks (``network.transactions.TxFlow``) of the sweeper's ``expire`` batches. A batch
    carries nothing the store must move: what it burned is read back by the indexer from its
    ``Expired`` events, and a batch that reverted, was dropped or lost its block leaves its
    holders due in the store, so the next run plans them again."""

    def on_confirmed(
        self, session: Session, carried: list[ChainTransaction], mined: ChainTransaction, receipt: Receipt
    ) -> None:
        log.info("expire batch %s mined in block %s (%s gas)", mined.tx_hash, receipt.block_number, receipt.gas_used)

    def on_reverted(self, session: Session, carried: list[ChainTransaction], mined: ChainTransaction) -> None:
        log.error("expire batch %s reverted: %s; its holders stay due", mined.tx_hash, mined.error)

    def on_replaced(self, session: Session, old: ChainTransaction, new: ChainTransaction) -> None:
        """Nothing to move: the same holders, higher fees."""

    def on_lost(self, session: Session, group: list[ChainTransaction]) -> None:
        """Nothing to undo: the driver resends it, and expire skips whoever is no longer due."""

    def on_dropped(self, session: Session, group: list[ChainTransaction], why: str) -> None:
        log.warning("expire batch %s dropped (%s); its holders stay due", group[-1].tx_hash, why)


@dataclass(frozen=True)
class SweepRun:
    """What one run did. ``status``: ``done`` (every due holder's batch final), ``nothing due``,
    ``waiting for the index`` (the last batches' blocks not indexed yet), ``in flight`` (batches
    not final within the run's time), ``partial`` (budget spent; the next run goes on)."""

    status: str
    due: int = 0
    holders_sent: int = 0
    batches: int = 0
    gas_used: int = 0


@dataclass
class Sweeper:
    """The sweeper key's driver over one chain and store."""

    w3: Web3
    points: str  # the CoalitionPoints address
    account: LocalAccount
    sessions: sessionmaker[Session]
    settings: ChainSettings
    batch_size: int
    budget_s: float = 300.0
    refresh: Callable[[], None] = lambda: None  # renews the caller's lease between batches

    def __post_init__(self) -> None:
        self.chain_id = self.settings.chain_id
        self.driver = KeyTransactions(
            w3=self.w3,
            account=self.account,
            to=self.points,
            kind=EXPIRE_KIND,
            sessions=self.sessions,
            settings=self.settings,
            flows={EXPIRE_KIND: ExpireFlow()},
        )

    def run(self) -> SweepRun:
        """One run (see the module's notice)."""
        started = time.monotonic()
        self.driver.refresh_priority_fee()
        self.driver.recover()
        with self.sessions() as session:
            if not self._drain(session, deadline=started + self.budget_s, keep=0):
                return SweepRun("in flight")
            if not self._indexed(session):
                return SweepRun("waiting for the index")
            now = int(self.w3.eth.get_block("latest")["timestamp"])
            due = due_holders(session, self.chain_id, now=now)
            session.commit()
            if not due:
                return SweepRun("nothing due")
            first_id = session.scalar(select(func.max(ChainTransaction.id))) or 0
            sent = batches = 0
            for i in range(0, len(due), self.batch_size):
                if time.monotonic() - started > self.budget_s:
                    break
                self._drain(session, deadline=started + self.budget_s, keep=self.settings.max_in_flight - 1)
                batch = due[i : i + self.batch_size]
                self._send(session, batch)
                sent, batches = sent + len(batch), batches + 1
                self.refresh()
            drained = self._drain(session, deadline=started + self.budget_s, keep=0)
            gas = session.scalar(
                select(func.coalesce(func.sum(ChainTransaction.gas_used), 0)).where(
                    ChainTransaction.id > first_id,
                    ChainTransaction.sender == self.account.address,
                    ChainTransaction.kind == EXPIRE_KIND,
                    ChainTransaction.status == TxStatus.CONFIRMED,
                )
            )
            status = "done" if drained and sent == len(due) else ("partial" if drained else "in flight")
            return SweepRun(status, due=len(due), holders_sent=sent, batches=batches, gas_used=int(gas or 0))

    def _send(self, session: Session, holders: list[str]) -> None:
        base_fee = int(self.w3.eth.get_block("latest").get("baseFeePerGas") or 0)
        tx = self.driver.sign_next(
            session, data=expire_calldata(holders), gas=expire_gas(len(holders)), base_fee=base_fee
        )
        session.commit()  # stored before it is broadcast
        self.driver.advance_nonce()
        self.driver.broadcast(tx)
        session.commit()

    def _drain(self, session: Session, *, deadline: float, keep: int) -> bool:
        """Follows receipts (and re-sends stuck batches) until at most ``keep`` nonces are in
        flight; False if ``deadline`` came first."""
        delay = 0.005
        while self.driver.in_flight(session) > keep:
            if time.monotonic() > deadline:
                return False
            self.refresh()
            if self.driver.needs_resync:
                self.driver.recover()
            block = self.w3.eth.get_block("latest")
            if not self.driver.follow_receipts(session, int(block["number"])):
                self.driver.handle_stuck(session, int(block.get("baseFeePerGas") or 0))
                time.sleep(delay)
                delay = min(delay * 2, 0.2)
        session.commit()
        return True

    def _indexed(self, session: Session) -> bool:
        """The indexer has read the block of the sweeper's last confirmed batch."""
        last = session.scalar(
            select(func.max(ChainTransaction.block_number)).where(
                ChainTransaction.sender == self.account.address,
                ChainTransaction.chain_id == self.chain_id,
                ChainTransaction.kind == EXPIRE_KIND,
                ChainTransaction.status == TxStatus.CONFIRMED,
            )
        )
        if last is None:
            return True
        cp = session.get(IndexerCheckpoint, (self.chain_id, CHECKPOINT))
        return cp is not None and cp.block_number >= last
