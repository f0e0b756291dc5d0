"""The transaction driver itself (network/transactions.py) against a real anvil: a flow of its
own (``Probe``, kind "probe") records which hooks the driver calls, so that what a flow sees
when its transaction is confirmed, reverted, replaced, lost or dropped is checked apart from
what the earn sender does with it (tests/network/test_sender_e2e.py). The node's answers to a
broadcast are read in one place (``send_raw``), checked here against anvil's own wording.

Every test runs its own anvil (ports 8600-8619, see conftest.py) and its own SQLite store.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from eth_utils import function_signature_to_4byte_selector
from sqlalchemy import select
from sqlalchemy.orm import Session

from network.direct import transact
from network.keys import dev_account
from network.store import ChainTransaction, TxStatus
from network.transactions import KeyTransactions, Receipt, Sent, send_raw
from tests.network.harness import Harness

KIND = "probe"
SUCCEEDS = function_signature_to_4byte_selector("totalSupply()")  # a view called in a transaction: no revert
REVERTS = bytes.fromhex("deadbeef")  # no such function and no fallback: reverts
GAS = 100_000
KEY_INDEX = 7  # a dev account that no other flow of the harness signs with


@dataclass
class Probe:
    """A flow that only records the hooks called, with the transactions they were given."""

    calls: list[tuple[str, Any]] = field(default_factory=list)

    def on_confirmed(
        self, session: Session, carried: list[ChainTransaction], mined: ChainTransaction, receipt: Receipt
    ) -> None:
        assert receipt.tx_hash == mined.tx_hash and receipt.succeeded
        self.calls.append(("confirmed", (sorted(t.id for t in carried), mined.tx_hash)))

    def on_reverted(self, session: Session, carried: list[ChainTransaction], mined: ChainTransaction) -> None:
        self.calls.append(("reverted", (sorted(t.id for t in carried), mined.tx_hash, mined.error)))

    def on_replaced(self, session: Session, old: ChainTransaction, new: ChainTransaction) -> None:
        self.calls.append(("replaced", (old.tx_hash, new.tx_hash)))

    def on_lost(self, session: Session, group: list[ChainTransaction]) -> None:
        self.calls.append(("lost", sorted(t.tx_hash for t in group)))

    def on_dropped(self, session: Session, group: list[ChainTransaction], why: str) -> None:
        self.calls.append(("dropped", (sorted(t.tx_hash for t in group), why)))

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


def driver(chain: Harness, probe: Probe, **settings: object) -> KeyTransactions:
    txs = KeyTransactions(
        w3=chain.w3,
        account=dev_account(KEY_INDEX, chain.settings),
        to=chain.contracts.points.address,
        kind=KIND,
        sessions=chain.sessions,
        settings=chain.settings.model_copy(update=settings),
        flows={KIND: probe},
    )
    txs.recover()
    return txs


def base_fee(chain: Harness) -> int:
    return int(chain.w3.eth.get_block("latest").get("baseFeePerGas") or 0)


def sign_and_store(txs: KeyTransactions, chain: Harness, data: bytes) -> ChainTransaction:
    """Signs on the next nonce and commits, as a flow does before any broadcast."""
    with chain.sessions() as session:
        tx = txs.sign_next(session, data=data, gas=GAS, base_fee=base_fee(chain))
        session.commit()
        session.expunge(tx)
    txs.advance_nonce()
    return tx


def send(txs: KeyTransactions, chain: Harness, data: bytes) -> ChainTransaction:
    tx = sign_and_store(txs, chain, data)
    with chain.sessions() as session:
        stored = session.get(ChainTransaction, tx.id)
        assert stored is not None
        txs.broadcast(stored)
        session.commit()
    return tx


def follow(txs: KeyTransactions, chain: Harness) -> int:
    with chain.sessions() as session:
        return txs.follow_receipts(session, chain.w3.eth.block_number)


def stored(chain: Harness) -> list[ChainTransaction]:
    with chain.sessions() as session:
        rows = list(session.scalars(select(ChainTransaction).order_by(ChainTransaction.id)))
        session.expunge_all()
        return rows


def automine(chain: Harness, on: bool) -> None:
    chain.w3.provider.make_request("evm_setAutomine", [on])  # type: ignore[arg-type]


def test_send_raw_reads_the_nodes_answers_in_one_place(chain: Harness) -> None:
    txs = driver(chain, Probe())
    automine(chain, False)
    first = sign_and_store(txs, chain, SUCCEEDS)
    assert send_raw(chain.w3, bytes(first.raw_tx)) is Sent.SENT
    assert send_raw(chain.w3, bytes(first.raw_tx)) is Sent.KNOWN  # a resend of the same bytes
    with chain.sessions() as session:  # the same nonce, the same fees: not a replacement
        same_fees = txs._sign(
            session,
            nonce=first.nonce,
            data=REVERTS,
            gas=GAS,
            max_fee=first.max_fee_per_gas,
            priority=first.max_priority_fee_per_gas,
            kind=KIND,
        )
        assert send_raw(chain.w3, bytes(same_fees.raw_tx)) is Sent.UNDERPRICED
        session.rollback()
    chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    automine(chain, True)
    assert send_raw(chain.w3, bytes(first.raw_tx)) in (Sent.NONCE_USED, Sent.KNOWN)  # mined: its nonce is taken


def test_a_stored_transaction_is_resent_as_the_same_bytes_and_its_flow_told_once_confirmed(chain: Harness) -> None:
    probe = Probe()
    txs = driver(chain, probe)
    tx = sign_and_store(txs, chain, SUCCEEDS)  # stored, then "crashed" before the broadcast
    assert chain.w3.eth.get_transaction_count(txs.address, "pending") == tx.nonce

    after_crash = driver(chain, probe)  # a new driver of the key: recover() sends the stored bytes
    assert follow(after_crash, chain) == 1
    mined = chain.w3.eth.get_transaction(tx.tx_hash)  # type: ignore[arg-type]
    assert bytes(mined["hash"]).hex() == tx.tx_hash[2:] and mined["nonce"] == tx.nonce
    assert probe.calls == [("confirmed", ([tx.id], tx.tx_hash))]
    assert [t.status for t in stored(chain)] == [TxStatus.CONFIRMED]
    assert follow(after_crash, chain) == 0  # final: never told twice


def test_a_reverted_transaction_calls_on_reverted_with_the_reason(chain: Harness) -> None:
    probe = Probe()
    txs = driver(chain, probe)
    tx = send(txs, chain, REVERTS)
    assert follow(txs, chain) == 1
    ((name, (carried, mined_hash, error)),) = probe.calls
    assert (name, carried, mined_hash) == ("reverted", [tx.id], tx.tx_hash)
    assert error
    assert stored(chain)[0].status == TxStatus.REVERTED


def test_a_nonce_taken_by_another_transaction_asks_for_recovery_and_drops_ours(chain: Harness) -> None:
    probe = Probe()
    txs = driver(chain, probe)
    account = dev_account(KEY_INDEX, chain.settings)
    transact(chain.w3, account, chain.contracts.points.functions.totalSupply())  # signed elsewhere: our nonce
    tx = send(txs, chain, SUCCEEDS)  # signed on the stale local nonce: "nonce too low"
    assert txs.needs_resync
    txs.recover()
    assert not txs.needs_resync
    assert probe.calls == [("dropped", ([tx.tx_hash], "its transaction was dropped"))]
    assert stored(chain)[0].status == TxStatus.DROPPED
    again = send(txs, chain, SUCCEEDS)  # the next nonce is the chain's
    assert again.nonce == tx.nonce + 1
    assert follow(txs, chain) == 1 and probe.names()[-1] == "confirmed"


def test_a_stuck_transaction_is_replaced_with_higher_fees_and_the_replacement_confirmed(chain: Harness) -> None:
    probe = Probe()
    txs = driver(chain, probe, stuck_after_s=0.01)
    automine(chain, False)
    try:
        tx = send(txs, chain, SUCCEEDS)
        time.sleep(0.05)
        with chain.sessions() as session:
            unstuck = txs.handle_stuck(session, base_fee(chain))
        assert (unstuck.rebroadcast, unstuck.replaced) == (0, 1)
        old, new = stored(chain)
        assert probe.calls == [("replaced", (tx.tx_hash, new.tx_hash))]
        assert new.nonce == old.nonce and new.replaces_id == old.id
        assert new.max_fee_per_gas >= old.max_fee_per_gas * 115 // 100
        chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    finally:
        automine(chain, True)
    assert follow(txs, chain) == 1
    assert probe.calls[-1] == ("confirmed", ([old.id, new.id], new.tx_hash))
    assert [t.status for t in stored(chain)] == [TxStatus.REPLACED, TxStatus.CONFIRMED]


def test_a_confirmed_transaction_whose_block_is_lost_is_reopened_resent_and_confirmed_again(chain: Harness) -> None:
    probe = Probe()
    txs = driver(chain, probe)
    snapshot = chain.w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    tx = send(txs, chain, SUCCEEDS)
    assert follow(txs, chain) == 1
    chain.w3.provider.make_request("evm_revert", [snapshot])  # type: ignore[arg-type]  # the node lost the block
    txs.recover()  # sees the confirmed transaction gone; the nonce is free again: the same bytes resent
    assert probe.names() == ["confirmed", "lost"]
    assert probe.calls[1] == ("lost", [tx.tx_hash])
    assert follow(txs, chain) == 1
    assert probe.calls[-1] == ("confirmed", ([tx.id], tx.tx_hash))
    assert [t.status for t in stored(chain)] == [TxStatus.CONFIRMED]
