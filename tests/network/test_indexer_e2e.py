"""End-to-end tests of the event indexer against a real anvil (each test on its own node).

The ground truth is always an independent re-scan of the chain: ``eth_getLogs`` over every
block for the four contract addresses. The indexed ``ChainEvent`` rows must be exactly that
set of logs, keyed by (block number, log index, transaction hash) -- no gap, no duplicate, no
row of a block that is no longer on the chain -- and the ledger must add up, per customer, to
the on-chain ``balanceOf``.

These tests start their own anvils on ports 8620-8629 (one per test) and do not use brownie.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_utils import event_abi_to_log_topic, to_checksum_address
from sqlalchemy import func, select

from network.deployments import CONTRACT_NAMES
from network.direct import transact
from network.indexer import EventIndexer
from network.keys import dev_account
from network.node import port_in_use
from network.outbox import enqueue
from network.purchases import decode_purchase, encode_purchase, merkle_proof
from network.sender import EarnSender
from network.signatures import SEQUENTIAL_NONCE_BASE, RedeemConsent, compact_signature, sign_redeem
from network.store import ChainEvent, IndexedBlock, IndexerCheckpoint, LedgerEntry, OutboxPurchase, PurchaseStatus
from tests.network.harness import Harness, make_harness
from tests.ports import port_for_worker

ISSUE_PRICE = 10_000
REIMBURSEMENT_RATE = 8_000
PORTS = {
    "own_restart": 8620,
    "anvil_restart": 8621,
    "crash": 8622,
    "crash_stepped": 8623,
    "confirmations": 8624,
    "ledger": 8625,
    "midway": 8626,
    "race_check": 8627,
    "race_logs": 8628,
}
PORTS = {name: port_for_worker(port) for name, port in PORTS.items()}  # tests/ports.py


# ---------------------------------------------------------------------------------- fixtures


@contextlib.contextmanager
def running_harness(tmp: Path, port: int, **settings: object) -> Iterator[Harness]:
    """A coalition on its own anvil; the node is always stopped (SIGTERM, then SIGKILL)."""
    if port_in_use(port):
        pytest.fail(f"port {port} is taken: a previous run left an anvil behind, or another suite uses it")
    # A quick batching sender: send whatever is queued at each step, no batch timer.
    settings = {"batch_max_wait_s": 0, "stuck_after_s": 600, **settings}
    h = make_harness(tmp, port, **settings)
    try:
        yield h
    finally:
        h.node.stop()


# ---------------------------------------------------------------------------------- helpers


class World:
    """Partner 1 (minter #2, treasury #3), its sender, and customers: anvil dev accounts #5-#9
    (they hold ETH, so they can redeem and transfer) plus fresh addresses."""

    def __init__(self, h: Harness) -> None:
        self.h = h
        self.minter, self.treasury = dev_account(2, h.settings), dev_account(3, h.settings)
        self.partner_id = h.onboard(
            self.minter, self.treasury, issue_price=ISSUE_PRICE, reimbursement_rate=REIMBURSEMENT_RATE
        )
        self.customers = [dev_account(i, h.settings) for i in range(5, 10)]
        self.next_seq = 1
        self.new_customers: list[str] = []
        self._sender: EarnSender | None = None

    @property
    def points(self):
        return self.h.contracts.points

    def sender(self) -> EarnSender:
        if self._sender is None:
            self._sender = EarnSender(
                w3=self.h.w3,
                contracts=self.h.contracts,
                account=self.minter,
                sessions=self.h.sessions,
                settings=self.h.settings,
            ).start()
        return self._sender

    def enqueue(self, customers: list[str], points: int = 5) -> list[int]:
        seqs = []
        with self.h.sessions() as s:
            for c in customers:
                enqueue(s, partner_id=self.partner_id, seq=self.next_seq, customer=c, points=points)
                seqs.append(self.next_seq)
                self.next_seq += 1
            s.commit()
        return seqs

    def earn(self, n_new: int = 0, dev_customers: bool = True, points: int = 5) -> None:
        """Earns through the outbox and the sender, until every item is minted."""
        fresh = [to_checksum_address(os.urandom(20)) for _ in range(n_new)]
        self.new_customers += fresh
        self.enqueue(([c.address for c in self.customers] if dev_customers else []) + fresh, points)
        self.drain()

    def drain(self, timeout_s: float = 60) -> None:
        sender = self.sender()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            sender.step()
            with self.h.sessions() as s:
                open_items = s.scalar(
                    select(func.count())
                    .select_from(OutboxPurchase)
                    .where(OutboxPurchase.status.in_((PurchaseStatus.QUEUED, PurchaseStatus.SENT)))
                )
                failed = s.scalar(
                    select(func.count())
                    .select_from(OutboxPurchase)
                    .where(OutboxPurchase.status.in_((PurchaseStatus.FAILED, PurchaseStatus.SKIPPED)))
                )
            assert failed == 0
            if open_items == 0:
                return
            time.sleep(0.01)
        raise AssertionError("the sender did not mint everything in time")

    def redeem(self, customer_index: int, points: int, ref: bytes | None = None) -> None:
        ref = ref or os.urandom(32)
        transact(self.h.w3, self.customers[customer_index], self.points.functions.redeem(self.partner_id, points, ref))

    def redeem_batch(self, points: int) -> None:
        """Issue 22: one batch of signed consents relayed by the minter key: customer 0's redeemed,
        then the same consent again (skipped: its nonce used); and customer 1 cancels a nonce."""
        c = self.customers[0]
        deadline = int(self.h.w3.eth.get_block("latest")["timestamp"]) + 3600
        consent = RedeemConsent(c.address, self.partner_id, points, os.urandom(32), SEQUENTIAL_NONCE_BASE, deadline)
        signature = sign_redeem(c.key, consent, chain_id=self.h.w3.eth.chain_id, points_address=self.points.address)
        item = (
            c.address,
            self.partner_id,
            False,
            points,
            consent.ref,
            consent.nonce,
            deadline,
            *compact_signature(signature),
        )
        transact(self.h.w3, self.minter, self.points.functions.redeemBatchWithSignatures([item, item]))
        transact(self.h.w3, self.customers[1], self.points.functions.cancelRedeemNonces(SEQUENTIAL_NONCE_BASE >> 8, 1))

    def transfer(self, src: int, dst: int, points: int) -> None:
        account = self.customers[src]
        transact(self.h.w3, account, self.points.functions.transfer(self.customers[dst].address, points))

    def all_customers(self) -> list[str]:
        return [c.address for c in self.customers] + self.new_customers


def indexer(h: Harness) -> EventIndexer:
    return EventIndexer(w3=h.w3, contracts=h.contracts, sessions=h.sessions, settings=h.settings)


def topic(h: Harness, name: str) -> str:
    abi = next(i for i in h.contracts.points.abi if i.get("type") == "event" and i.get("name") == name)
    return "0x" + event_abi_to_log_topic(abi).hex()


def rescan(h: Harness, to_block: int | None = None) -> list[tuple[int, int, str, str]]:
    """Every log of the four contracts from block 0: (block, log index, tx hash, block hash),
    but the points token's mints (``Transfer`` from zero) in transactions whose ``Earned``
    carries them (the indexer leaves those out, issue 22)."""
    to_block = h.w3.eth.block_number if to_block is None else to_block
    addresses = [h.book.address(n) for n in CONTRACT_NAMES]
    logs = h.w3.eth.get_logs({"fromBlock": 0, "toBlock": to_block, "address": addresses})
    points = h.contracts.points.address.lower()
    earned, transfer, zero = topic(h, "Earned"), topic(h, "Transfer"), "0x" + "00" * 32

    def is_points(x: dict, t: str) -> bool:
        return x["address"].lower() == points and x["topics"][0].to_0x_hex() == t

    earning = {x["transactionHash"] for x in logs if is_points(x, earned)}
    minted = [
        x
        for x in logs
        if is_points(x, transfer) and x["topics"][1].to_0x_hex() == zero and x["transactionHash"] in earning
    ]
    assert minted or not earning, "the earns mint: their Transfer logs are on chain"
    left_out = {id(x) for x in minted}
    return sorted(
        (int(x["blockNumber"]), int(x["logIndex"]), x["transactionHash"].to_0x_hex(), x["blockHash"].to_0x_hex())
        for x in logs
        if id(x) not in left_out
    )


def indexed(h: Harness) -> list[tuple[int, int, str, str]]:
    with h.sessions() as s:
        rows = s.execute(
            select(ChainEvent.block_number, ChainEvent.log_index, ChainEvent.tx_hash, ChainEvent.block_hash)
        ).all()
    return sorted(tuple(r) for r in rows)


def checkpoint(h: Harness) -> int:
    with h.sessions() as s:
        return indexer(h).checkpoint(s)


def assert_index_equals_rescan(h: Harness, to_block: int | None = None) -> list[tuple[int, int, str, str]]:
    """The indexed events are exactly the logs on the chain (up to ``to_block``, default the head)."""
    truth = rescan(h, to_block)
    mine = indexed(h)
    keys = [r[:3] for r in mine]
    duplicates = [k for k, n in Counter(keys).items() if n > 1]
    assert not duplicates, f"duplicated events: {duplicates[:5]}"
    truth_keys, mine_keys = {r[:3] for r in truth}, set(keys)
    missing, extra = sorted(truth_keys - mine_keys), sorted(mine_keys - truth_keys)
    assert not missing and not extra, (
        f"missing {len(missing)} (e.g. {missing[:3]}), extra {len(extra)} (e.g. {extra[:3]})"
    )
    assert mine == truth  # block hashes too: no row of a block that left the chain
    return truth


def assert_ledger_matches_balances(h: Harness, customers: list[str] = ()) -> dict[str, int]:
    """Per customer, the sum of the ledger entries is the on-chain balance, and the whole ledger
    adds up to the total supply."""
    with h.sessions() as s:
        rows = s.execute(
            select(LedgerEntry.customer, func.sum(LedgerEntry.points)).group_by(LedgerEntry.customer)
        ).all()
    sums: dict[str, int] = Counter()
    for customer, total in rows:
        sums[to_checksum_address(customer)] += int(total)
    every = set(sums) | {to_checksum_address(c) for c in customers}
    points = h.contracts.points
    with h.w3.batch_requests() as batch:
        ordered = sorted(every)
        for c in ordered:
            batch.add(points.functions.balanceOf(c))
        balances = dict(zip(ordered, (int(b) for b in batch.execute()), strict=True))
    wrong = {c: (sums.get(c, 0), balances[c]) for c in ordered if sums.get(c, 0) != balances[c]}
    assert not wrong, f"ledger sum != balanceOf for {len(wrong)} customers, e.g. {list(wrong.items())[:3]}"
    assert sum(sums.values()) == points.functions.totalSupply().call()
    return balances


def block_hashes(h: Harness, start: int, end: int) -> dict[int, str]:
    return {n: h.w3.eth.get_block(n)["hash"].to_0x_hex() for n in range(start, end + 1)}


def rewinds(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "network.indexer" and "rewinding" in r.getMessage()]


# ---------------------------------------------------------------------------------- tests


def test_indexer_resumes_after_its_own_restart(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="network.indexer")
    # Small chunks: many steps, each its own transaction, so a resume lands between chunks.
    with running_harness(tmp_path, PORTS["own_restart"], indexer_chunk_blocks=3, batch_max_size=20) as h:
        w = World(h)
        w.earn(n_new=45)  # 50 purchases in batches of 20: three earnBatch transactions
        w.redeem(0, 2)
        w.transfer(1, 2, 1)
        first = indexer(h)
        first.run_until(h.w3.eth.block_number)
        assert_index_equals_rescan(h)
        assert_ledger_matches_balances(h, w.all_customers())
        del first  # the indexer goes away; its store stays

        # More activity: earns through the sender, redemptions from customers' own keys.
        w.earn(n_new=30, points=7)
        for i in range(5):
            w.redeem(i, 3 + i)
        w.earn(n_new=10, dev_customers=False, points=11)
        w.redeem(4, 1)
        w.redeem_batch(2)
        head = h.w3.eth.block_number
        assert checkpoint(h) < head - 5

        second = indexer(h)
        second.run_until(head)
        assert second.step() == 0  # nothing new: no event written twice
        truth = assert_index_equals_rescan(h)
        assert checkpoint(h) == head
        assert_ledger_matches_balances(h, w.all_customers())
        assert not rewinds(caplog)
        with h.sessions() as s:
            names = Counter(n for (n,) in s.execute(select(ChainEvent.name)).all())
        assert names["Redeemed"] == 8 and names["Earned"] >= 5
        # a batch's skipped consent and a cancel are recorded as events, and move no points (the ledger
        # matched the balances above)
        assert names["RedemptionSkipped"] == 1 and names["RedeemNoncesCancelled"] == 1
        assert len(truth) == sum(names.values())


def test_indexer_step_that_fails_midway_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with running_harness(tmp_path, PORTS["midway"], batch_max_size=10) as h:
        w = World(h)
        w.earn(n_new=25)
        w.redeem(0, 1)
        idx = indexer(h)
        before = checkpoint(h)

        def crash(*_args, **_kwargs):
            raise RuntimeError("the indexer process dies before its checkpoint is written")

        monkeypatch.setattr(EventIndexer, "_set_checkpoint", crash)
        with pytest.raises(RuntimeError):
            idx.step()
        monkeypatch.undo()
        assert checkpoint(h) == before
        assert indexed(h) == []
        with h.sessions() as s:
            assert s.scalar(select(func.count()).select_from(LedgerEntry)) == 0
            assert s.scalar(select(func.count()).select_from(IndexedBlock)) == 0

        indexer(h).run_until(h.w3.eth.block_number)
        assert_index_equals_rescan(h)
        assert_ledger_matches_balances(h, w.all_customers())


def test_anvil_restart_from_state_file_leaves_no_gap_and_no_duplicate(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="network.indexer")
    with running_harness(tmp_path, PORTS["anvil_restart"], batch_max_size=25) as h:
        w = World(h)
        w.earn(n_new=40)
        w.redeem(0, 2)
        w.transfer(1, 3, 2)
        idx = indexer(h)
        idx.run_until(h.w3.eth.block_number)
        assert_index_equals_rescan(h)
        head_before = h.w3.eth.block_number
        hashes_before = block_hashes(h, 0, head_before)

        h.node.stop()  # SIGTERM: anvil dumps its state file
        h.node.start()  # same state file

        assert h.w3.eth.block_number == head_before
        assert block_hashes(h, 0, head_before) == hashes_before
        assert idx.step() == 0  # the same chain: nothing new, nothing rewound
        assert_index_equals_rescan(h)  # the reloaded node still serves the old logs

        w.earn(n_new=40, points=3)
        w.redeem(1, 4)
        w.redeem(2, 5)
        w.transfer(3, 4, 1)
        idx.run_until(h.w3.eth.block_number)
        truth = assert_index_equals_rescan(h)
        assert any(b > head_before for b, *_ in truth)
        assert block_hashes(h, 0, head_before) == hashes_before
        assert_ledger_matches_balances(h, w.all_customers())
        assert not rewinds(caplog)


@pytest.mark.parametrize("step_before_new_blocks", [False, True], ids=["new-blocks-first", "shorter-chain-first"])
def test_anvil_crash_loses_blocks_and_the_indexer_rewinds(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, step_before_new_blocks: bool
) -> None:
    caplog.set_level(logging.INFO, logger="network.indexer")
    port = PORTS["crash_stepped" if step_before_new_blocks else "crash"]
    # No periodic state dump: only a clean stop writes the state file, so exactly the blocks
    # made after the last stop()/start() are lost by kill().
    with running_harness(tmp_path, port, anvil_state_interval_s=0, batch_max_size=10) as h:
        w = World(h)
        # A: kept.
        w.earn(n_new=15)
        w.redeem(0, 2)
        idx = indexer(h)
        idx.run_until(h.w3.eth.block_number)
        h.node.stop()
        h.node.start()
        kept_head = h.w3.eth.block_number
        kept_hashes = block_hashes(h, 0, kept_head)
        kept_events = indexed(h)
        assert kept_events == rescan(h)

        # B: indexed, then lost.
        w.earn(n_new=25, points=9)  # 30 purchases in batches of 10: three blocks
        w.redeem(1, 3)
        w.transfer(2, 3, 1)
        lost_head = h.w3.eth.block_number
        assert lost_head >= kept_head + 5
        lost_hashes = block_hashes(h, kept_head + 1, lost_head)
        idx.run_until(lost_head)
        lost_events = [e for e in indexed(h) if e[0] > kept_head]
        assert lost_events and assert_index_equals_rescan(h)
        with h.sessions() as s:
            lost_ledger = s.scalar(
                select(func.count()).select_from(LedgerEntry).where(LedgerEntry.block_number > kept_head)
            )
        assert lost_ledger > 0

        h.node.kill()  # SIGKILL: no dump, blocks kept_head+1 .. lost_head are gone
        h.node.start()
        assert h.w3.eth.block_number == kept_head
        assert block_hashes(h, 0, kept_head) == kept_hashes

        if step_before_new_blocks:
            idx.step()  # the chain is now shorter than the checkpoint: rewind to kept_head
            assert checkpoint(h) == kept_head
            assert indexed(h) == kept_events
            assert rewinds(caplog)

        # C: different blocks at the same heights (customers redeem and transfer; the sender
        # is not stepped, so its lost transactions are not resent yet).
        for i in range(lost_head - kept_head + 2):
            if i % 2:
                w.transfer(i % 5, (i + 1) % 5, 1)
            else:
                w.redeem(i % 5, 1, ref=i.to_bytes(32, "big"))
        new_head = h.w3.eth.block_number
        assert new_head > lost_head
        new_hashes = block_hashes(h, kept_head + 1, lost_head)
        assert all(new_hashes[n] != lost_hashes[n] for n in lost_hashes)

        idx.step()
        assert rewinds(caplog)
        current = set(rescan(h))
        assert not [e for e in indexed(h) if e not in current], "rows of lost blocks are still in the store"
        lost_txs = {e[2] for e in lost_events}
        with h.sessions() as s:
            assert not s.scalar(select(func.count()).select_from(ChainEvent).where(ChainEvent.tx_hash.in_(lost_txs)))
            assert not s.scalar(select(func.count()).select_from(LedgerEntry).where(LedgerEntry.tx_hash.in_(lost_txs)))
        idx.run_until(new_head)
        assert idx.step() == 0
        assert_index_equals_rescan(h)
        assert_ledger_matches_balances(h, w.all_customers())

        # The sender notices the lost blocks and resends its signed transactions: the same tx
        # hashes are mined again, in other blocks; the indexer has each exactly once.
        w.drain()
        idx.run_until(h.w3.eth.block_number)
        truth = assert_index_equals_rescan(h)
        resent = {t for _, _, t, _ in truth} & lost_txs
        assert resent, "the sender's lost earnBatch transactions were mined again"
        assert_ledger_matches_balances(h, w.all_customers())
        with h.sessions() as s:
            assert s.scalar(select(IndexerCheckpoint.block_number)) == h.w3.eth.block_number


@pytest.mark.parametrize("when", ["after-the-reorg-check", "after-get-logs"])
def test_chain_change_during_a_step_is_not_missed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, when: str
) -> None:
    """The node loses blocks (crash) and makes others in the middle of one indexer step: after
    the step has checked its last block, or after it has read the logs of the new range."""
    caplog.set_level(logging.INFO, logger="network.indexer")
    port = PORTS["race_check" if when == "after-the-reorg-check" else "race_logs"]
    with running_harness(tmp_path, port, anvil_state_interval_s=0, batch_max_size=10) as h:
        w = World(h)
        w.earn(n_new=5)
        idx = indexer(h)
        idx.run_until(h.w3.eth.block_number)
        h.node.stop()
        h.node.start()
        kept = h.w3.eth.block_number
        if when == "after-the-reorg-check":
            for i in range(3):  # indexed, then lost
                w.redeem(i, 1)
            idx.run_until(h.w3.eth.block_number)
            for i in range(3, 5):  # not indexed yet, lost
                w.redeem(i, 1)
        else:
            for _ in range(3):  # blocks without events of ours, lost
                h.w3.provider.make_request("evm_mine", [])
        lost_head = h.w3.eth.block_number

        def crash_and_fork() -> None:
            h.node.kill()
            h.node.start()
            assert h.w3.eth.block_number == kept
            for i in range(lost_head - kept + 3):
                w.transfer(i % 5, (i + 1) % 5, 1)

        if when == "after-the-reorg-check":
            check = EventIndexer._check_reorg

            def check_then_fork(self, session, done):
                checked = check(self, session, done)
                crash_and_fork()
                return checked

            monkeypatch.setattr(EventIndexer, "_check_reorg", check_then_fork)
        else:
            get_logs = h.w3.eth.get_logs

            def get_logs_then_fork(params):
                logs = get_logs(params)
                crash_and_fork()
                return logs

            monkeypatch.setattr(h.w3.eth, "get_logs", get_logs_then_fork)
        idx.step()
        monkeypatch.undo()

        idx.run_until(h.w3.eth.block_number)
        idx.step()
        assert_index_equals_rescan(h)
        assert_ledger_matches_balances(h, w.all_customers())
        if when == "after-the-reorg-check":
            assert rewinds(caplog)


def test_confirmations_hold_back_recent_blocks(tmp_path: Path) -> None:
    with running_harness(tmp_path, PORTS["confirmations"], confirmations=3) as h:
        w = World(h)
        minter = w.minter
        # Direct earns (the sender would wait for 3 confirmations on an automining node).
        for i in range(4):
            word = encode_purchase(w.customers[i].address, 100 + i, 10)
            transact(h.w3, minter, w.points.functions.earn(word))
        head = h.w3.eth.block_number
        idx = indexer(h)
        idx.run_until(head - 2)
        assert idx.step() == 0  # the last two blocks have 1 and 2 confirmations: not yet
        assert checkpoint(h) == head - 2
        truth_all = rescan(h)
        assert {b for b, *_ in truth_all} >= {head - 1, head}  # there are events in them
        assert not [e for e in indexed(h) if e[0] > head - 2]
        assert_index_equals_rescan(h, head - 2)

        h.w3.provider.make_request("evm_mine", [])  # one more block: head-1 now has 3 confirmations
        assert idx.step() > 0
        assert checkpoint(h) == head - 1
        assert_index_equals_rescan(h, head - 1)
        h.w3.provider.make_request("evm_mine", [])
        idx.step()
        assert checkpoint(h) == head
        assert_index_equals_rescan(h, head)
        assert rescan(h) == rescan(h, head)  # the empty blocks added nothing
        assert_ledger_matches_balances(h, [c.address for c in w.customers])


def test_ledger_of_an_earned_batch_has_one_entry_per_purchase(tmp_path: Path) -> None:
    with running_harness(tmp_path, PORTS["ledger"], batch_max_size=500) as h:
        w = World(h)
        c5, c6, c7 = (c.address for c in w.customers[:3])
        fresh = [to_checksum_address(os.urandom(20)) for _ in range(6)]
        w.new_customers += fresh
        body = [(c5, 10), (c6, 20), (c7, 30), (c5, 40), *[(c, 5 + i) for i, c in enumerate(fresh)], (c6, 7)]
        seqs = []
        with h.sessions() as s:
            for customer, pts in body:
                enqueue(s, partner_id=w.partner_id, seq=w.next_seq, customer=customer, points=pts)
                seqs.append(w.next_seq)
                w.next_seq += 1
            s.commit()
        w.drain()  # one step: one earnBatch with all 11 purchases
        idx = indexer(h)
        idx.run_until(h.w3.eth.block_number)
        assert_index_equals_rescan(h)

        with h.sessions() as s:
            (earned,) = s.scalars(select(ChainEvent).where(ChainEvent.name == "Earned")).all()
            entries = s.scalars(
                select(LedgerEntry).where(LedgerEntry.kind == "earned").order_by(LedgerEntry.item)
            ).all()
        batch_id = int(earned.args["batchId"])
        words = [bytes.fromhex(x[2:]) for x in earned.args["purchases"]]
        assert len(words) == len(body) == len(entries)
        assert earned.args["points"] == sum(p for _, p in body)
        for i, (entry, (customer, pts), seq) in enumerate(zip(entries, body, seqs, strict=True)):
            assert (entry.block_number, entry.log_index, entry.tx_hash) == (
                earned.block_number,
                earned.log_index,
                earned.tx_hash,
            )
            assert entry.item == i
            assert (entry.customer, entry.seq, entry.points) == (customer, seq, pts)
            assert (entry.partner_id, entry.rate, entry.ref) == (w.partner_id, ISSUE_PRICE, str(batch_id))
            assert decode_purchase(words[i]) == decode_purchase(encode_purchase(customer, seq, pts))
            assert entry.block_time == earned.block_time

        # A batch with an already minted seq: that purchase is skipped, and gets no ledger entry.
        dup = encode_purchase(c7, seqs[2], 30)
        new = encode_purchase(c7, 10_000, 3)
        transact(h.w3, w.minter, w.points.functions.earnBatch([dup, new]))
        # A redemption, a reversal (refund of purchase #1 of the batch, in part) and a transfer.
        ref = b"\x01" * 32
        w.redeem(0, 15, ref=ref)
        proof = merkle_proof(words, 1)
        transact(h.w3, w.minter, w.points.functions.reverse(batch_id, words[1], ISSUE_PRICE, proof, 8))
        w.transfer(1, 2, 4)
        idx.run_until(h.w3.eth.block_number)
        assert_index_equals_rescan(h)

        with h.sessions() as s:
            names = Counter(n for (n,) in s.execute(select(ChainEvent.name)).all())
            assert names["PurchaseSkipped"] == 1 and names["Earned"] == 2
            skipped_batch = s.scalars(
                select(LedgerEntry).where(LedgerEntry.kind == "earned", LedgerEntry.seq.in_([seqs[2], 10_000]))
            ).all()
            assert sorted((e.seq, e.points, e.item) for e in skipped_batch) == [(seqs[2], 30, 2), (10_000, 3, 0)]
            (redeemed,) = s.scalars(select(LedgerEntry).where(LedgerEntry.kind == "redeemed")).all()
            assert (redeemed.customer, redeemed.points, redeemed.rate) == (c5, -15, REIMBURSEMENT_RATE)
            assert (redeemed.partner_id, redeemed.ref, redeemed.item) == (w.partner_id, "0x" + ref.hex(), 0)
            (reversed_,) = s.scalars(select(LedgerEntry).where(LedgerEntry.kind == "reversed")).all()
            assert (reversed_.customer, reversed_.points, reversed_.seq) == (c6, -8, seqs[1])
            assert (reversed_.rate, reversed_.ref) == (ISSUE_PRICE, str(batch_id))
            sent = s.scalars(select(LedgerEntry).where(LedgerEntry.kind.in_(("sent", "received")))).all()
            assert sorted((e.kind, e.customer, e.points, e.item, e.ref) for e in sent) == [
                ("received", c7, 4, 1, c6),
                ("sent", c6, -4, 0, c7),
            ]
            assert len({(e.block_number, e.log_index) for e in sent}) == 1
            # Mints and burns are not ledger entries of their own (Earned/Redeemed/Reversed are).
            kinds = Counter(k for (k,) in s.execute(select(LedgerEntry.kind)).all())
            assert kinds == {"earned": len(body) + 1, "redeemed": 1, "reversed": 1, "sent": 1, "received": 1}

        balances = assert_ledger_matches_balances(h, w.all_customers())
        assert balances[c5] == 10 + 40 - 15
        assert balances[c6] == 20 + 7 - 8 - 4
        assert balances[c7] == 30 + 3 + 4
