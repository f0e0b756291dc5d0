"""The event indexer: turns the contracts' events into rows of the store, from a checkpoint,
once they have ``confirmations``, with no gap and no duplicate.

Each step reads one range of blocks and writes its events, its ledger entries, the hash of the
blocks it saw and the new checkpoint in one database transaction: a crash leaves either all of
it or none. Before each step the indexer checks that the last block it indexed is still on the
chain with the same hash; if not (a reorg, or a node restarted without its last blocks), it
rewinds to the newest block it saw that is still there, deletes what it wrote after it, and
reads forward again.
"""

from __future__ import annotations

import logging
from typing import Any

from eth_utils import event_abi_to_log_topic
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from network.contracts import CoalitionContracts, DecodedLog
from network.purchases import decode_purchase
from network.receipts import read_logs
from network.settings import ChainSettings
from network.store import ChainEvent, IndexedBlock, IndexerCheckpoint, LedgerEntry

log = logging.getLogger(__name__)
CHECKPOINT = "coalition"
ZERO = "0x0000000000000000000000000000000000000000"
OPTIONAL_COLUMNS: dict[str, Any] = {"partner_id": None, "seq": None, "rate": None, "ref": None}


class ReorgInProgress(Exception):
    """A log's block hash disagrees with the header read in the same step; try again."""


def ledger_entries(event: DecodedLog, chain_id: int, block_time: int) -> list[dict[str, Any]]:
    """The customer movements that one event stands for: rows of ``ledger_entries``, each with
    every column (one executemany takes them all)."""
    return [OPTIONAL_COLUMNS | row for row in _movements(event, chain_id, block_time)]


def _movements(event: DecodedLog, chain_id: int, block_time: int) -> list[dict[str, Any]]:
    a = event.args
    base = {
        "chain_id": chain_id,
        "block_number": event.block_number,
        "block_time": block_time,
        "tx_hash": event.tx_hash,
        "log_index": event.log_index,
    }
    if event.name == "Earned":
        entries = []
        for i, word in enumerate(a["purchases"]):
            p = decode_purchase(bytes.fromhex(word[2:]))
            entries.append(
                dict(
                    **base,
                    item=i,
                    kind="earned",
                    customer=p.customer,
                    partner_id=a["partnerId"],
                    seq=p.seq,
                    points=p.points,
                    rate=a["issuePrice"],
                    ref=str(a["batchId"]),
                )
            )
        return entries
    if event.name == "Redeemed":
        return [
            dict(
                **base,
                item=0,
                kind="redeemed",
                customer=a["customer"],
                partner_id=a["partnerId"],
                points=-a["points"],
                rate=a["reimbursementRate"],
                ref=a["ref"],
            )
        ]
    if event.name == "Restored":  # a till capture's points given back by a refund: ref is the capture's
        return [
            dict(
                **base,
                item=0,
                kind="restored",
                customer=a["customer"],
                partner_id=a["partnerId"],
                points=a["points"],
                rate=a["reimbursementRate"],
                ref=a["ref"],
            )
        ]
    if event.name == "Reversed":
        return [
            dict(
                **base,
                item=0,
                kind="reversed",
                customer=a["customer"],
                partner_id=a["partnerId"],
                seq=a["seq"],
                points=-a["points"],
                rate=a["issuePrice"],
                ref=str(a["batchId"]),
            )
        ]
    if event.name == "Expired":  # the holder's whole balance, burned after its expiry time
        return [dict(**base, item=0, kind="expired", customer=a["holder"], points=-a["points"])]
    if event.name == "Transfer" and event.contract == "CoalitionPoints" and ZERO not in (a["from"], a["to"]):
        return [
            dict(**base, item=0, kind="sent", customer=a["from"], points=-a["value"], ref=a["to"]),
            dict(**base, item=1, kind="received", customer=a["to"], points=a["value"], ref=a["from"]),
        ]
    return []


def earned_mints(logs: list[dict[str, Any]], points: str, earned: str, transfer: str) -> set[int]:
    """The positions in ``logs`` (raw, as ``eth_getLogs`` gives them) of the points token's
    mints (``Transfer`` from zero, ``points`` the token's address in lower case, ``earned`` and
    ``transfer`` the events' topics) in transactions whose ``Earned`` already carries them
    (customer and points in its purchase words): neither decoded nor stored, half the rows of
    batch ingestion. A mint of any other transaction (a restore, a clearing) is stored as before;
    every figure that reads earned points reads ``Earned`` (settlement, reconciliation, the ledger)."""

    def of_points(raw: dict[str, Any], topic: str) -> bool:
        topics = raw["topics"]
        return bool(topics) and topics[0].lower() == topic and raw["address"].lower() == points

    earning = {raw["transactionHash"] for raw in logs if of_points(raw, earned)}
    if not earning:
        return set()
    return {
        i
        for i, raw in enumerate(logs)
        if raw["transactionHash"] in earning and of_points(raw, transfer) and int(raw["topics"][1], 16) == 0
    }


class EventIndexer:
    def __init__(
        self, *, w3: Web3, contracts: CoalitionContracts, sessions: sessionmaker[Session], settings: ChainSettings
    ) -> None:
        self.w3 = w3
        self.contracts = contracts
        self.sessions = sessions
        self.settings = settings
        self.chain_id = contracts.book.chain_id
        self.start_block = contracts.book.deployed_at_block
        events = [i for i in contracts.points.abi if i["type"] == "event"]
        topics = {i["name"]: "0x" + event_abi_to_log_topic(i).hex() for i in events}
        self._mint_topics = (contracts.points.address.lower(), topics["Earned"], topics["Transfer"])

    def checkpoint(self, session: Session) -> int:
        cp = session.get(IndexerCheckpoint, (self.chain_id, CHECKPOINT))
        return cp.block_number if cp else self.start_block - 1

    def run_until(self, block: int, max_steps: int = 10_000) -> None:
        """Indexes until the checkpoint reaches ``block`` (tests and tools)."""
        for _ in range(max_steps):
            with self.sessions() as session:
                if self.checkpoint(session) >= block:
                    return
            self.step()
        raise TimeoutError(f"indexer did not reach block {block}")

    def step(self) -> int:
        """Indexes the next range of confirmed blocks; returns how many events it wrote."""
        head = self.w3.eth.block_number
        safe = head - (self.settings.confirmations - 1)
        try:
            with self.sessions() as session, session.begin():
                done = self._check_reorg(session, self.checkpoint(session))
                start, end = done + 1, min(safe, done + self.settings.indexer_chunk_blocks)
                if end < start:
                    return 0
                written = self._index_range(session, start, end)
                self._set_checkpoint(session, end)
                return written
        except ReorgInProgress as exc:  # the transaction rolled back: nothing of this step was written
            log.info("block %s changed while being read; retrying", exc)
            return 0

    def _index_range(self, session: Session, start: int, end: int) -> int:
        end_hash = self._headers([end])[end]["hash"]
        logs = read_logs(self.w3, start, end, self.contracts.decoder.addresses)
        parent = {start - 1} if start > self.start_block else set()
        numbers = sorted({int(entry["blockNumber"], 16) for entry in logs} | {end} | parent)
        headers = self._headers(numbers)
        # The chain may have changed since _check_reorg: the range must extend the block it
        # checked, and must not have changed while it was read (a block without our logs can).
        seen = session.get(IndexedBlock, (self.chain_id, start - 1)) if parent else None
        if seen is not None and seen.hash != headers[start - 1]["hash"]:
            raise ReorgInProgress(start - 1)
        if headers[end]["hash"] != end_hash:
            raise ReorgInProgress(end)
        event_rows: list[dict[str, Any]] = []
        entry_rows: list[dict[str, Any]] = []
        skipped = earned_mints(logs, *self._mint_topics)
        for i, raw in enumerate(logs):
            event = None if i in skipped else self.contracts.decoder.decode(raw)
            if event is None:
                continue
            header = headers[event.block_number]
            if header["hash"] != event.block_hash:
                raise ReorgInProgress(event.block_number)
            a = event.args
            event_rows.append(
                {
                    "chain_id": self.chain_id,
                    "block_number": event.block_number,
                    "block_hash": event.block_hash,
                    "block_time": header["timestamp"],
                    "tx_hash": event.tx_hash,
                    "log_index": event.log_index,
                    "contract": event.contract,
                    "name": event.name,
                    "partner_id": a.get("partnerId"),
                    "customer": a.get("customer", a.get("holder")),  # Expired names its customer holder
                    "args": a,
                }
            )
            entry_rows += ledger_entries(event, self.chain_id, header["timestamp"])
        # one executemany each (a thousand-purchase batch is a thousand Transfer logs)
        for table, rows in ((ChainEvent.__table__, event_rows), (LedgerEntry.__table__, entry_rows)):
            if rows:
                session.execute(insert(table), rows)
        written = len(event_rows)
        for number in numbers:
            session.merge(IndexedBlock(chain_id=self.chain_id, number=number, hash=headers[number]["hash"]))
        session.execute(
            delete(IndexedBlock).where(
                IndexedBlock.chain_id == self.chain_id,
                IndexedBlock.number < end - self.settings.indexer_reorg_depth,
                IndexedBlock.number != end,
            )
        )
        return written

    def _headers(self, numbers: list[int]) -> dict[int, dict[str, Any]]:
        headers: dict[int, dict[str, Any]] = {}
        for i in range(0, len(numbers), 200):
            chunk = numbers[i : i + 200]
            with self.w3.batch_requests() as batch:
                for n in chunk:
                    batch.add(self.w3.eth.get_block(n))
                blocks = batch.execute()
            for n, block in zip(chunk, blocks, strict=True):
                if block is None:
                    raise ReorgInProgress(n)
                headers[n] = {"hash": block["hash"].to_0x_hex(), "timestamp": int(block["timestamp"])}
        return headers

    def _check_reorg(self, session: Session, done: int) -> int:
        """The checkpoint, after rewinding past any block that is no longer on the chain."""
        if done < self.start_block:
            return done
        seen = session.scalars(
            select(IndexedBlock)
            .where(IndexedBlock.chain_id == self.chain_id, IndexedBlock.number <= done)
            .order_by(IndexedBlock.number.desc())
        )
        for block in seen:
            on_chain = self.w3.eth.get_block(block.number) if block.number <= self.w3.eth.block_number else None
            if on_chain is not None and on_chain["hash"].to_0x_hex() == block.hash:
                if block.number < done:
                    self._rewind(session, block.number, done)
                return block.number
        self._rewind(session, self.start_block - 1, done)
        return self.start_block - 1

    def _rewind(self, session: Session, to: int, done: int) -> None:
        log.warning("chain changed below block %s: rewinding the index to block %s", done, to)
        for table in (ChainEvent, LedgerEntry):
            session.execute(delete(table).where(table.chain_id == self.chain_id, table.block_number > to))
        session.execute(delete(IndexedBlock).where(IndexedBlock.chain_id == self.chain_id, IndexedBlock.number > to))
        self._set_checkpoint(session, to)

    def _set_checkpoint(self, session: Session, block: int) -> None:
        session.merge(IndexerCheckpoint(chain_id=self.chain_id, name=CHECKPOINT, block_number=block))
