"""Synthesized settlement events for bench/settlement_curve.py: the store rows the indexer
(network/indexer.py) would write for a period of earns, redemptions and refund clawbacks, written
straight into ``chain_events`` and ``ledger_entries`` instead of being mined, and the on-chain
exposure those earns would have reserved in ``Clearing``, set with ``anvil_setStorageAt``.

What is real and what is not:

- the blocks are real (mined empty on the bench's anvil, so the indexer has indexed them); every
  row carries its block's real number, hash and timestamp;
- the rows are exactly what ``EventIndexer`` writes per transaction: an earn (a batch of one
  purchase) is ``Transfer`` (mint) + ``Clearing.IssuanceReserved`` + ``Earned`` and one ledger
  entry; a redemption ``Transfer`` (burn) + ``Redeemed`` and one ledger entry; a clawback
  ``Transfer`` (burn) + ``Clearing.ReversalRecorded`` + ``Reversed`` and one ledger entry. Args
  are JSON-encoded by the same SQLAlchemy column type; purchase words and Merkle roots are real
  (``encode_purchase``, ``leaf``); transaction hashes are random, customers drawn from a pool;
- the events were never emitted: customers' point balances on chain do not include them. What
  ``Clearing.settle`` reads is made consistent: each partner's exposure is raised by the value of
  its synthesized issuance and its pending credit by the value of its synthesized reversals (what
  ``reserveIssuance``/``recordReversal`` would have done), so that settling brings both back to
  where they were, and the partners' real deposits cover the exposure.
"""

from __future__ import annotations

import json
import os
import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from eth_utils import keccak, to_checksum_address
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from network.purchases import encode_purchase, leaf
from network.store import ChainEvent, LedgerEntry

ZERO = "0x0000000000000000000000000000000000000000"
EARN_SHARE, REDEEM_SHARE = 0.64, 0.35  # the rest: refund clawbacks (Reversed)
EVENTS_PER_BLOCK = 500  # anvil mines 10k empty blocks superlinearly slowly (2.4 s for 1k, 108 s for 10k)
CHUNK = 20_000


@dataclass(frozen=True, slots=True)
class SynthPartner:
    id: int
    issue_price: int
    reimbursement_rate: int


@dataclass
class Expected:
    """What the synthesized events add up to, per partner: the statement must say the same."""

    issued: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    reversed: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    redeemed: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    issued_value: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    reversed_value: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    redeemed_value: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def lines(self) -> list[tuple[int, int, int, int, int, int, int]]:
        ids = sorted(set(self.issued) | set(self.reversed) | set(self.redeemed))
        return [
            (
                p,
                self.issued[p],
                self.reversed[p],
                self.redeemed[p],
                self.issued_value[p],
                self.reversed_value[p],
                self.redeemed_value[p],
            )
            for p in ids
        ]


@dataclass
class Synthesizer:
    """Keeps what must carry over between periods: seqs, batch ids, the customers' pool."""

    partners: list[SynthPartner]
    chain_id: int
    next_batch_id: int
    seed: int = 7
    customers_pool: int = 50_000
    rng: random.Random = field(init=False)
    customers: list[str] = field(init=False)
    seq: dict[int, int] = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.customers = [to_checksum_address(self.rng.randbytes(20)) for _ in range(self.customers_pool)]
        self.seq = defaultdict(int)

    def write(
        self,
        sessions: sessionmaker[Session],
        blocks: list[tuple[int, str, int]],
        n: int,
        exposure: dict[int, int],
        pending: dict[int, int],
    ) -> Expected:
        """Writes ``n`` settlement events (Earned/Redeemed/Reversed) spread over ``blocks``
        (number, hash, timestamp), with their companion rows; ``exposure`` and ``pending`` are each
        partner's on-chain exposure and pending credit before them (the IssuanceReserved and
        ReversalRecorded rows carry their running values)."""
        rng, expected = self.rng, Expected()
        weights = [1 / (i + 1) ** 0.8 for i in range(len(self.partners))]  # a few big partners, a long tail
        chosen = rng.choices(self.partners, weights=weights, k=n)
        running, credits = dict(exposure), dict(pending)
        recent: dict[int, list[tuple[int, bytes, str, int, int]]] = defaultdict(list)  # batch, word, customer, seq, pts
        events: list[dict[str, Any]] = []
        ledger: list[dict[str, Any]] = []
        per_block = max(1, -(-n // len(blocks)))
        first_batch = self.next_batch_id
        with sessions() as session, session.begin():
            dialect = session.get_bind().dialect.name
            cursor = session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
            if dialect == "sqlite":
                cursor.execute("PRAGMA cache_size=-262144")  # 256 MiB for this connection: the random tx_hash index
            for i, partner in enumerate(chosen):
                number, block_hash, timestamp = blocks[i // per_block]
                log_index = (i % per_block) * 3
                base = {"chain_id": self.chain_id, "block_number": number, "block_time": timestamp}
                tx_hash = "0x" + os.urandom(32).hex()
                r = rng.random()
                pid = partner.id
                if r >= EARN_SHARE + REDEEM_SHARE and recent[pid]:
                    batch_id, word, customer, seq, bought = rng.choice(recent[pid])
                    points = rng.randint(1, bought)
                    value = points * partner.issue_price
                    credits[pid] += value
                    rows = [
                        ("CoalitionPoints", "Transfer", {"from": customer, "to": ZERO, "value": points}),
                        (
                            "Clearing",
                            "ReversalRecorded",
                            {"partnerId": pid, "value": value, "pendingCredit": credits[pid]},
                        ),
                        (
                            "CoalitionPoints",
                            "Reversed",
                            {
                                "partnerId": pid,
                                "customer": customer,
                                "batchId": batch_id,
                                "seq": seq,
                                "points": points,
                                "issuePrice": partner.issue_price,
                            },
                        ),
                    ]
                    ledger.append(
                        {
                            **base,
                            "tx_hash": tx_hash,
                            "log_index": log_index + 2,
                            "item": 0,
                            "kind": "reversed",
                            "customer": customer,
                            "partner_id": pid,
                            "seq": seq,
                            "points": -points,
                            "rate": partner.issue_price,
                            "ref": str(batch_id),
                        }
                    )
                    expected.reversed[pid] += points
                    expected.reversed_value[pid] += value
                    expected.counts["Reversed"] += 1
                elif r >= EARN_SHARE and r < EARN_SHARE + REDEEM_SHARE:
                    customer = rng.choice(self.customers)
                    points = 25 * rng.randint(1, 10)
                    ref = "0x" + rng.randbytes(32).hex()
                    rate = partner.reimbursement_rate
                    redeemed = {"partnerId": pid, "customer": customer, "ref": ref, "points": points}
                    rows = [
                        ("CoalitionPoints", "Transfer", {"from": customer, "to": ZERO, "value": points}),
                        (
                            "CoalitionPoints",
                            "Redeemed",
                            redeemed | {"reimbursementRate": rate},
                        ),
                    ]
                    ledger.append(
                        {
                            **base,
                            "tx_hash": tx_hash,
                            "log_index": log_index + 1,
                            "item": 0,
                            "kind": "redeemed",
                            "customer": customer,
                            "partner_id": pid,
                            "seq": None,
                            "points": -points,
                            "rate": rate,
                            "ref": ref,
                        }
                    )
                    expected.redeemed[pid] += points
                    expected.redeemed_value[pid] += points * rate
                    expected.counts["Redeemed"] += 1
                else:
                    customer = rng.choice(self.customers)
                    points = int(rng.expovariate(1 / 120)) + 1
                    self.seq[pid] += 1
                    seq, batch_id = self.seq[pid], self.next_batch_id
                    self.next_batch_id += 1
                    word = ((int(customer, 16) << 96) | (seq << 48) | points).to_bytes(32, "big")
                    if batch_id == first_batch:  # the layout is encode_purchase's
                        assert word == encode_purchase(customer, seq, points)
                    value = points * partner.issue_price
                    running[pid] += value
                    rows = [
                        ("CoalitionPoints", "Transfer", {"from": ZERO, "to": customer, "value": points}),
                        ("Clearing", "IssuanceReserved", {"partnerId": pid, "value": value, "exposure": running[pid]}),
                        (
                            "CoalitionPoints",
                            "Earned",
                            {
                                "partnerId": pid,
                                "batchId": batch_id,
                                "issuePrice": partner.issue_price,
                                "root": "0x" + leaf(word).hex(),
                                "points": points,
                                "purchases": ["0x" + word.hex()],
                            },
                        ),
                    ]
                    ledger.append(
                        {
                            **base,
                            "tx_hash": tx_hash,
                            "log_index": log_index + 2,
                            "item": 0,
                            "kind": "earned",
                            "customer": customer,
                            "partner_id": pid,
                            "seq": seq,
                            "points": points,
                            "rate": partner.issue_price,
                            "ref": str(batch_id),
                        }
                    )
                    if len(recent[pid]) < 64:
                        recent[pid].append((batch_id, word, customer, seq, points))
                    else:
                        recent[pid][rng.randrange(64)] = (batch_id, word, customer, seq, points)
                    expected.issued[pid] += points
                    expected.issued_value[pid] += value
                    expected.counts["Earned"] += 1
                expected.counts["chain_event_rows"] += len(rows)
                expected.counts["ledger_rows"] += 1
                for j, (contract, name, args) in enumerate(rows):
                    events.append(
                        {
                            **base,
                            "block_hash": block_hash,
                            "tx_hash": tx_hash,
                            "log_index": log_index + j,
                            "contract": contract,
                            "name": name,
                            "partner_id": args.get("partnerId"),
                            "customer": args.get("customer"),
                            "args": args,
                        }
                    )
                if len(events) >= CHUNK:
                    _insert(cursor, dialect, ChainEvent.__tablename__, events)
                    _insert(cursor, dialect, LedgerEntry.__tablename__, ledger)
                    events, ledger = [], []
            if events:
                _insert(cursor, dialect, ChainEvent.__tablename__, events)
            if ledger:
                _insert(cursor, dialect, LedgerEntry.__tablename__, ledger)
        return expected


def _insert(cursor: Any, dialect: str, table: str, rows: list[dict[str, Any]]) -> None:
    """Plain DB-API rows, five times faster than the ORM's insert: SQLite's executemany, PostgreSQL's
    COPY; the JSON args serialised as the store's JSON column type does (``json.dumps`` with its defaults)."""
    if not rows:
        return
    columns = list(rows[0])
    at = columns.index("args") if "args" in columns else -1
    values = [tuple(json.dumps(v) if i == at else v for i, v in enumerate(r.values())) for r in rows]
    if dialect == "postgresql":
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in values:
                copy.write_row(row)
        return
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    cursor.executemany(sql, values)


# ---------------------------------------------------------------------- chain state


def mapping_slot(w3: Web3, clearing: Any, getter: str, partner_id: int, candidates: range = range(32)) -> int:
    """The storage slot of the ``Clearing`` mapping that the view ``getter`` (``exposureOf``,
    ``pendingCreditOf``) reads, found by writing a marker at each candidate's key for
    ``partner_id`` until the view reads it, and putting every value back."""
    address = clearing.address
    for slot in candidates:
        key = _mapping_key(partner_id, slot)
        before = w3.eth.get_storage_at(address, key)
        marker = 0x5EED_0000_0000_1234
        _set_storage(w3, address, key, marker)
        found = int(getattr(clearing.functions, getter)(partner_id).call()) == marker
        _set_storage(w3, address, key, int.from_bytes(before, "big"))
        if found:
            return slot
    raise LookupError(f"the mapping behind Clearing.{getter} is not in the candidate slots")


def set_mapping(w3: Web3, clearing: Any, getter: str, slot: int, partner_id: int, value: int) -> None:
    _set_storage(w3, clearing.address, _mapping_key(partner_id, slot), value)
    assert int(getattr(clearing.functions, getter)(partner_id).call()) == value


def _mapping_key(key: int, slot: int) -> bytes:
    return keccak(key.to_bytes(32, "big") + slot.to_bytes(32, "big"))


def _set_storage(w3: Web3, address: str, key: bytes, value: int) -> None:
    w3.provider.make_request("anvil_setStorageAt", [address, "0x" + key.hex(), "0x" + value.to_bytes(32, "big").hex()])


def mine_blocks(w3: Web3, count: int) -> list[tuple[int, str, int]]:
    """Mines ``count`` empty blocks and returns them as (number, hash, timestamp)."""
    miner = Web3(Web3.HTTPProvider(w3.provider.endpoint_uri, request_kwargs={"timeout": 300}))  # type: ignore[attr-defined]
    first = int(w3.eth.block_number) + 1
    for done in range(0, count, 250):  # a loaded anvil mines a few hundred empty blocks a second
        miner.provider.make_request("anvil_mine", [hex(min(250, count - done)), "0x0"])  # type: ignore[arg-type]
    numbers = list(range(first, first + count))
    blocks: list[tuple[int, str, int]] = []
    for i in range(0, count, 500):
        with miner.batch_requests() as batch:
            for number in numbers[i : i + 500]:
                batch.add(miner.eth.get_block(number))
            for block in batch.execute():
                blocks.append((int(block["number"]), block["hash"].to_0x_hex(), int(block["timestamp"])))
    return blocks
