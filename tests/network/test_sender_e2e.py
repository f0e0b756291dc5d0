"""End-to-end tests of the transaction sender (network/sender.py) against real anvils.

Every test runs its own anvil (ports 8600-8619, see conftest.py) and its own SQLite store, and
judges the sender by the chain itself: ``isMinted`` per seq, ``totalSupply``, each customer's
``balanceOf`` and the ``Earned`` events of every block, next to the rows of the store.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterable

import pytest
import requests
from eth_abi import encode as abi_encode
from eth_utils import event_abi_to_log_topic, function_signature_to_4byte_selector
from sqlalchemy import delete, func, insert, select

from network.contracts import load_abi
from network.direct import transact
from network.errors import SenderLockedError
from network.locks import FileKeyLock, RedisKeyLock
from network.purchases import Purchase, decode_purchase, encode_purchase, merkle_root
from network.sender import decode_raw_transaction
from network.store import ChainTransaction, OutboxPurchase, PurchaseStatus, TxStatus
from tests.network.harness import USD, Harness
from tests.network.senders import (
    Partner,
    PurchaseQueue,
    SenderProcesses,
    drain,
    item_statuses,
)

log = logging.getLogger(__name__)
IS_MINTED = function_signature_to_4byte_selector("isMinted(uint32,uint256)")
TOPICS = {
    item["name"]: "0x" + event_abi_to_log_topic(item).hex()
    for item in load_abi("CoalitionPoints")
    if item["type"] == "event"
}
EARNED_TOPIC = TOPICS["Earned"]


# ---------------------------------------------------------------------------------- chain truth


def earned_events(chain: Harness, from_block: int | None = None) -> list:
    """Every `Earned` event of CoalitionPoints, re-read from the chain (not from the store)."""
    logs = chain.w3.eth.get_logs(
        {
            "address": chain.contracts.points.address,
            "topics": [EARNED_TOPIC],
            "fromBlock": chain.book.deployed_at_block if from_block is None else from_block,
            "toBlock": "latest",
        }
    )
    return [chain.contracts.decoder.decode(raw) for raw in logs]


def receipt_events(chain: Harness, receipt, name: str) -> list:
    """The decoded ``name`` events of a receipt (decoding only those: a batch has a Transfer per item)."""
    topic = bytes.fromhex(TOPICS[name][2:])
    return [
        chain.contracts.decoder.decode(raw)
        for raw in receipt["logs"]
        if raw["topics"] and bytes(raw["topics"][0]) == topic
    ]


def event_purchases(event) -> list[Purchase]:
    return [decode_purchase(bytes.fromhex(word[2:])) for word in event.args["purchases"]]


def is_minted(chain: Harness, partner_id: int, seqs: Iterable[int]) -> dict[int, bool]:
    """``isMinted`` of many seqs, as raw JSON-RPC batches of ``eth_call`` (web3's contract
    machinery takes milliseconds per call)."""
    seqs = list(seqs)
    to = chain.contracts.points.address
    result: dict[int, bool] = {}
    for i in range(0, len(seqs), 500):
        chunk = seqs[i : i + 500]
        calls = [
            {
                "jsonrpc": "2.0",
                "id": n,
                "method": "eth_call",
                "params": [
                    {"to": to, "data": "0x" + (IS_MINTED + abi_encode(["uint32", "uint256"], [partner_id, seq])).hex()},
                    "latest",
                ],
            }
            for n, seq in enumerate(chunk)
        ]
        answers = sorted(requests.post(chain.node.url, json=calls, timeout=30).json(), key=lambda a: a["id"])
        assert all("result" in a for a in answers), answers[:3]
        result.update(zip(chunk, (int(a["result"], 16) == 1 for a in answers), strict=True))
    return result


def txs(chain: Harness, *statuses: TxStatus) -> list[ChainTransaction]:
    with chain.sessions() as session:
        query = select(ChainTransaction).order_by(ChainTransaction.id)
        if statuses:
            query = query.where(ChainTransaction.status.in_(statuses))
        return list(session.scalars(query))


def items(chain: Harness) -> dict[int, OutboxPurchase]:
    with chain.sessions() as session:
        return {i.seq: i for i in session.scalars(select(OutboxPurchase))}


def assert_minted_exactly_once(chain: Harness, partner: Partner, queue: PurchaseQueue) -> None:
    """The whole verdict: every queued purchase is on chain exactly once, and the store agrees."""
    pid, expected = partner.partner_id, {p.seq: p for p in queue.queued}
    points = chain.contracts.points

    # the store: every item is done, minted by us or (only if the chain has it) skipped
    rows = items(chain)
    assert set(rows) == set(expected)
    by_status = Counter(i.status for i in rows.values())
    assert set(by_status) <= {PurchaseStatus.MINTED, PurchaseStatus.SKIPPED}, f"items not all done: {by_status}"

    # the chain: each seq in exactly one Earned event, with the queued body
    minted_by_event: Counter[int] = Counter()
    event_of: dict[int, tuple[str, int]] = {}
    for event in earned_events(chain):
        assert event.args["partnerId"] == pid
        assert event.args["points"] == sum(p.points for p in event_purchases(event))
        for p in event_purchases(event):
            minted_by_event[p.seq] += 1
            event_of[p.seq] = (event.tx_hash, event.args["batchId"])
            assert p == expected[p.seq], f"seq {p.seq} minted with another body: {p} != {expected[p.seq]}"
    doubles = {seq: n for seq, n in minted_by_event.items() if n > 1}
    assert not doubles, f"seqs minted more than once: {sorted(doubles.items())[:20]}"
    assert set(minted_by_event) == set(expected), (
        f"missing on chain: {sorted(set(expected) - set(minted_by_event))[:20]}, "
        f"unexpected: {sorted(set(minted_by_event) - set(expected))[:20]}"
    )
    flags = is_minted(chain, pid, expected)
    assert all(flags.values()), f"isMinted false for {[s for s, f in flags.items() if not f][:20]}"
    assert not any(is_minted(chain, pid, [max(expected) + 1, max(expected) + 1000]).values())

    # balances: any double mint or loss would show here
    assert points.functions.totalSupply().call() == queue.expected_supply()
    for customer, balance in queue.expected_balances().items():
        assert points.functions.balanceOf(customer).call() == balance, customer

    # our transactions: one confirmed per nonce, no seq minted by two of them
    confirmed = txs(chain, TxStatus.CONFIRMED)
    nonces = Counter(t.nonce for t in confirmed)
    assert all(n == 1 for n in nonces.values()), f"nonces confirmed twice: {nonces.most_common(3)}"
    seq_tx: dict[int, str] = {}
    for tx in confirmed:
        receipt = chain.w3.eth.get_transaction_receipt(tx.tx_hash)
        assert receipt["status"] == 1 and receipt["blockHash"].to_0x_hex() == tx.block_hash
        for event in receipt_events(chain, receipt, "Earned"):
            for p in event_purchases(event):
                assert p.seq not in seq_tx, f"seq {p.seq} minted by {seq_tx[p.seq]} and {tx.tx_hash}"
                seq_tx[p.seq] = tx.tx_hash
    tx_hash_of = {t.id: t.tx_hash for t in txs(chain)}
    for seq, item in rows.items():
        if item.status == PurchaseStatus.MINTED:
            assert tx_hash_of[item.tx_id] == seq_tx[seq] == event_of[seq][0], f"seq {seq}: minted by another tx"
            assert item.batch_id == event_of[seq][1], f"seq {seq}: batch id {item.batch_id} != {event_of[seq][1]}"
        else:  # SKIPPED: the chain had minted it before (checked above), but not in this tx
            assert flags[seq] and tx_hash_of.get(item.tx_id) != event_of[seq][0]


# ---------------------------------------------------------------------------------- batching


def test_a_batch_mints_every_queued_purchase(chain, partner, purchases, make_sender):
    queued = purchases(250)
    sender = make_sender(batch_max_size=100)
    steps = drain(sender, chain)

    assert item_statuses(chain) == Counter({PurchaseStatus.MINTED: 250})
    confirmed = txs(chain, TxStatus.CONFIRMED)
    assert len(txs(chain)) == len(confirmed) == 3, "250 purchases, batches of at most 100: 3 transactions"
    assert [t.nonce for t in confirmed] == [0, 1, 2]
    rows = items(chain)
    batch_ids = {t.id: {rows[p.seq].batch_id for p in queued if rows[p.seq].tx_id == t.id} for t in confirmed}
    assert all(len(ids) == 1 and None not in ids for ids in batch_ids.values()), batch_ids
    assert sorted(ids.pop() for ids in batch_ids.values()) == [1, 2, 3]
    sizes = Counter(item.tx_id for item in rows.values())
    assert sorted(sizes.values()) == [50, 100, 100]
    # each batch's event lists its purchases in queue order (the Merkle root is over that order)
    for event in earned_events(chain):
        batch = event_purchases(event)
        assert [p.seq for p in batch] == sorted(p.seq for p in batch)
        assert event.args["root"] == "0x" + merkle_root([p.word() for p in batch]).hex()
    assert all(t.gas_used and t.block_number and t.broadcast_at for t in confirmed)
    assert_minted_exactly_once(chain, partner, purchases)
    log.info("250 purchases minted in %s steps", steps)


def test_a_row_that_is_no_purchase_word_fails_alone(chain, partner, purchases, make_sender):
    """A row written around enqueue()'s checks (e.g. a bulk insert) cannot block the queue."""
    purchases(5)
    with chain.sessions() as session:
        session.execute(
            insert(OutboxPurchase),
            [{"partner_id": partner.partner_id, "seq": 100, "customer": "0x" + "zz" * 20, "points": 1}],
        )
        session.commit()
    purchases(5, seq=101)
    drain(make_sender(batch_max_size=100), chain)

    assert item_statuses(chain) == Counter({PurchaseStatus.MINTED: 10, PurchaseStatus.FAILED: 1})
    with chain.sessions() as session:
        bad = session.scalar(select(OutboxPurchase).where(OutboxPurchase.seq == 100))
    assert bad.tx_id is None and "not a purchase word" in bad.error
    with chain.sessions() as session:  # the chain never saw it; the rest is judged as usual
        session.execute(delete(OutboxPurchase).where(OutboxPurchase.seq == 100))
        session.commit()
    assert_minted_exactly_once(chain, partner, purchases)


def test_duplicate_reference_does_not_sink_the_batch(chain, partner, purchases, make_sender):
    queued = purchases(40)
    already = queued[17]
    word = encode_purchase(already.customer, already.seq, already.points)
    transact(chain.w3, partner.minter, chain.contracts.points.functions.earn(word))  # minted outside the sender
    assert chain.contracts.points.functions.totalSupply().call() == already.points

    drain(make_sender(), chain)

    rows = items(chain)
    assert rows[already.seq].status == PurchaseStatus.SKIPPED
    assert "minted on chain before" in (rows[already.seq].error or "")
    assert Counter(i.status for i in rows.values()) == Counter({PurchaseStatus.MINTED: 39, PurchaseStatus.SKIPPED: 1})
    (tx,) = txs(chain)
    assert tx.status == TxStatus.CONFIRMED
    receipt = chain.w3.eth.get_transaction_receipt(tx.tx_hash)
    skipped = receipt_events(chain, receipt, "PurchaseSkipped")
    assert [e.args["seq"] for e in skipped] == [already.seq]
    assert chain.contracts.points.functions.totalSupply().call() == purchases.expected_supply()
    assert_minted_exactly_once(chain, partner, purchases)


# ---------------------------------------------------------------------------------- crashes


KILLS = 12
TOTAL = 3_000


def _count(chain: Harness, *statuses: PurchaseStatus) -> int:
    with chain.sessions() as session:
        return session.scalar(
            select(func.count()).select_from(OutboxPurchase).where(OutboxPurchase.status.in_(statuses))
        )


def _tx_count(chain: Harness) -> int:
    with chain.sessions() as session:
        return session.scalar(select(func.count()).select_from(ChainTransaction))


def _wait_exit(process: subprocess.Popen[bytes], timeout_s: float) -> int:
    try:
        return process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)
        raise AssertionError(f"sender process {process.pid} did not exit within {timeout_s} s") from None


def test_sender_killed_mid_batch_mints_every_queued_earn_exactly_once(
    chain, partner, purchases, sender_processes: SenderProcesses
):
    """A `python -m network sender` process is SIGKILLed at random moments, many times, while
    purchases keep arriving and blocks are mined at random intervals (so that transactions
    are in the pool, mined but not tracked, or only stored when the kill lands)."""
    seed = int(os.environ.get("SENDER_KILL_SEED") or random.randrange(1 << 32))  # to replay a failure
    rng = random.Random(seed)
    started = time.monotonic()
    settings = {"batch_max_size": 50, "max_in_flight": 4, "batch_max_wait_s": 0.05, "stuck_after_s": 2}
    w3 = chain.w3
    w3.provider.make_request("evm_setAutomine", [False])

    # A miner: a block every 100-600 ms, in the test's own thread-free loop below (`mine_for`).
    next_block = [time.monotonic()]

    def mine_for(seconds: float) -> None:
        end = time.monotonic() + seconds
        while (now := time.monotonic()) < end:
            if now >= next_block[0]:
                w3.provider.make_request("evm_mine", [])
                next_block[0] = now + rng.uniform(0.1, 0.6)
            time.sleep(0.01)

    purchases(1_200)
    chunk = (TOTAL - 1_200) // KILLS
    kills: list[dict[str, object]] = []
    for k in range(KILLS):
        process = sender_processes.spawn(**settings)
        txs_before, minted_before = _tx_count(chain), _count(chain, PurchaseStatus.MINTED)
        purchases(chunk if k < KILLS - 1 else TOTAL - len(purchases.queued))  # arrives while it runs
        if k % 4 == 3:
            mine_for(rng.uniform(0.0, 2.0))  # anywhere, also in its start-up and recovery
        else:  # once it is working, mid-batch
            deadline = time.monotonic() + 20
            while _tx_count(chain) == txs_before and _count(chain, PurchaseStatus.MINTED) == minted_before:
                assert process.poll() is None, (
                    f"sender exited with {process.returncode}:\n{sender_processes.log_tail()}"
                )
                assert time.monotonic() < deadline, f"sender made no progress:\n{sender_processes.log_tail()}"
                mine_for(0.02)
            mine_for(rng.uniform(0.0, 0.3))
        assert process.poll() is None, f"sender exited with {process.returncode}:\n{sender_processes.log_tail()}"
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        kills.append(
            {
                "sent_items": _count(chain, PurchaseStatus.SENT),
                "queued_items": _count(chain, PurchaseStatus.QUEUED),
                "open_txs": len(txs(chain, TxStatus.PENDING, TxStatus.MINED)),
            }
        )
        mine_for(rng.uniform(0.0, 0.3))  # blocks may be mined while no sender runs
    assert len(purchases.queued) == TOTAL

    # the last one runs to the end and is stopped cleanly
    process = sender_processes.spawn(**settings)
    sender_processes.wait_running(process)
    deadline = time.monotonic() + 30
    while _count(chain, PurchaseStatus.QUEUED, PurchaseStatus.SENT):
        assert process.poll() is None, f"sender exited with {process.returncode}:\n{sender_processes.log_tail()}"
        assert time.monotonic() < deadline, f"not drained: {dict(item_statuses(chain))}\n{sender_processes.log_tail()}"
        mine_for(0.05)
    process.send_signal(signal.SIGTERM)
    assert _wait_exit(process, 15) == 0, sender_processes.log_tail()
    elapsed = time.monotonic() - started

    mid_batch = sum(1 for k in kills if k["sent_items"])
    log.warning(
        "seed %s: %s kills (%s with items in flight) in %.1f s, %s transactions, items %s: %s",
        seed, len(kills), mid_batch, elapsed, len(txs(chain)), dict(item_statuses(chain)), kills,
    )  # fmt: skip
    assert mid_batch >= KILLS // 3, f"too few kills landed mid-batch (seed {seed}): {kills}"
    assert len(txs(chain)) >= TOTAL // 50, "batches of at most 50: many transactions"
    assert_minted_exactly_once(chain, partner, purchases)
    # nonces: the minter's every transaction is one of ours, each confirmed exactly once
    chain_nonce = chain.w3.eth.get_transaction_count(partner.minter.address)
    assert sorted(t.nonce for t in txs(chain, TxStatus.CONFIRMED)) == list(range(chain_nonce))
    # no bound on the whole run's time (speed is measured in make bench): each step above has its
    # own deadline for progress, which is what this test needs to fail on a sender that hangs


@pytest.mark.chain(anvil_state_interval_s=3600)  # a SIGKILL loses every block since the last clean stop
def test_nonce_is_resynchronised_after_a_crash_and_node_restart(chain, partner, purchases, make_sender):
    settings = {"batch_max_size": 50, "max_in_flight": 4}

    # 1. The sender process dies between storing a signed transaction and broadcasting it; the
    #    node is restarted cleanly (SIGTERM: state dumped); a new sender instance takes over.
    purchases(300)
    first = make_sender(**settings)

    class Crash(BaseException):
        pass

    broadcast, calls = first._broadcast, []

    def broadcast_then_crash(tx: ChainTransaction) -> None:
        calls.append(tx.nonce)
        if len(calls) == 3:
            raise Crash
        broadcast(tx)

    first._broadcast = broadcast_then_crash  # type: ignore[method-assign]
    with pytest.raises(Crash):
        first.step()
    assert [t.nonce for t in txs(chain)] == [0, 1, 2], "the third transaction is stored, not broadcast"
    head = chain.w3.eth.block_number
    chain.node.stop()
    chain.node.start()
    assert chain.w3.eth.block_number == head, "a clean stop keeps every block"
    assert chain.w3.eth.get_transaction_count(partner.minter.address) == 2

    second = make_sender(**settings)
    drain(second, chain)
    assert_minted_exactly_once(chain, partner, purchases)
    assert Counter(i.status for i in items(chain).values()) == Counter({PurchaseStatus.MINTED: 300})
    assert [t.nonce for t in txs(chain)] == list(range(6)), "the stored bytes were resent, not re-signed"
    assert all(t.status == TxStatus.CONFIRMED for t in txs(chain))

    # 2. The node crashes (SIGKILL) right after the sender saw more transactions confirmed: the
    #    restarted node has lost those blocks. The same sender notices and sends them again.
    chain.node.stop()
    chain.node.start()  # state dumped here; nothing after this survives a SIGKILL
    kept = chain.w3.eth.block_number
    purchases(200)
    drain(second, chain)
    lost = txs(chain)[6:]
    assert len(lost) == 4 and all(t.status == TxStatus.CONFIRMED for t in lost)
    head = chain.w3.eth.block_number
    assert head > kept
    hashes = [t.tx_hash for t in txs(chain)]
    chain.node.kill()
    chain.node.start()
    assert chain.w3.eth.block_number == kept < head, "the blocks after the last dump are gone"
    assert chain.w3.eth.get_transaction_count(partner.minter.address) == 6
    assert not any(is_minted(chain, partner.partner_id, range(301, 501)).values())

    steps = drain(second, chain)
    assert_minted_exactly_once(chain, partner, purchases)
    after = txs(chain)
    assert [t.tx_hash for t in after] == hashes and len(after) == 10, (
        "the lost transactions were resent as the same bytes, nothing re-signed"
    )
    assert all(t.status == TxStatus.CONFIRMED for t in after)
    assert sorted(t.nonce for t in after) == list(range(10))
    assert chain.w3.eth.get_transaction_count(partner.minter.address) == 10
    log.info("re-synchronised after the node lost %s blocks in %s steps", head - kept, steps)

    # 3. And it keeps going on the right nonces.
    purchases(60)
    drain(second, chain)
    assert_minted_exactly_once(chain, partner, purchases)
    assert sorted(t.nonce for t in txs(chain, TxStatus.CONFIRMED)) == list(range(12))


def test_nonce_used_outside_the_sender_is_resynchronised(chain, partner, purchases, make_sender):
    """The minter key sends a transaction the running sender does not know of (an operator's
    one-off earn): the sender's next transaction is refused ("nonce too low"); it must
    re-synchronise and send the purchases again, not wait for them forever."""
    queued = purchases(30)
    sender = make_sender()  # its local nonce is 0 from here on
    one_off = queued[4]
    transact(chain.w3, partner.minter, chain.contracts.points.functions.earn(one_off.word()))  # takes nonce 0

    drain(sender, chain, timeout_s=20)

    refused, *rest = txs(chain)
    assert (refused.nonce, refused.status) == (0, TxStatus.DROPPED)
    assert [(t.nonce, t.status) for t in rest] == [(1, TxStatus.CONFIRMED)]
    rows = items(chain)
    assert rows[one_off.seq].status == PurchaseStatus.SKIPPED
    assert Counter(i.status for i in rows.values()) == Counter({PurchaseStatus.MINTED: 29, PurchaseStatus.SKIPPED: 1})
    assert all(i.attempts == 2 for i in rows.values())
    assert_minted_exactly_once(chain, partner, purchases)


def test_two_drivers_signing_one_nonce_lose_no_purchase(chain, partner, purchases, make_sender):
    """What a lease that expired mid-step allows: a second driver of the key signs its own batch on
    the nonce the first has just used, before the first's transaction is confirmed. The nonce's
    mined transaction settles its own items; the other's items never reached the chain, so they go
    back to the queue and are minted later (failing them would drop accepted purchases)."""
    purchases(40)
    first = make_sender(batch_max_size=20, max_in_flight=1, confirmations=2)
    second = make_sender(batch_max_size=20, confirmations=2)  # started together: both sign nonce 0 next
    first.step()  # items 1-20 on nonce 0, mined at once, one confirmation
    second.step()  # sees it mined, not confirmed; signs items 21-40 on nonce 0 too: "nonce too low"
    assert Counter((t.nonce, t.status) for t in txs(chain)) == Counter([(0, TxStatus.MINED), (0, TxStatus.PENDING)])
    mine = lambda: chain.w3.provider.make_request("evm_mine", [])  # noqa: E731 (confirmations need blocks)
    mine()

    drain(second, chain, timeout_s=30, between=mine)

    assert Counter((t.nonce, t.status) for t in txs(chain)) == Counter(
        [(0, TxStatus.CONFIRMED), (0, TxStatus.REPLACED), (1, TxStatus.CONFIRMED)]
    )
    rows = items(chain)
    assert Counter(i.status for i in rows.values()) == Counter({PurchaseStatus.MINTED: 40})
    assert sorted(Counter(i.attempts for i in rows.values()).items()) == [(1, 20), (2, 20)]
    assert_minted_exactly_once(chain, partner, purchases)


# ---------------------------------------------------------------------------------- stuck


def test_stuck_transaction_is_replaced_and_mined(chain, partner, purchases, make_sender):
    w3 = chain.w3
    w3.provider.make_request("evm_setAutomine", [False])
    purchases(25)
    sender = make_sender(batch_max_size=10, stuck_after_s=0.5, fee_bump_percent=10)

    report = sender.step()
    assert (report.sent_txs, report.sent_items) == (3, 25)
    originals = txs(chain)
    assert [t.nonce for t in originals] == [0, 1, 2] and all(t.status == TxStatus.PENDING for t in originals)
    for t in originals:
        assert w3.eth.get_transaction(t.tx_hash)["blockNumber"] is None, "in the pool, not mined"
    assert sender.step().replaced_txs == 0, "not stuck yet"

    rounds = [originals]
    for _ in range(2):  # stuck twice: a replacement of the replacement
        time.sleep(0.6)
        report = sender.step()
        assert report.replaced_txs == 3 and report.sent_txs == 0
        new = txs(chain)[-3:]
        for old, tx in zip(rounds[-1], new, strict=True):
            assert tx.nonce == old.nonce and tx.replaces_id == old.id and tx.tx_hash != old.tx_hash
            assert tx.max_priority_fee_per_gas * 100 >= old.max_priority_fee_per_gas * 110
            assert tx.max_fee_per_gas * 100 >= old.max_fee_per_gas * 110
            old_fields = decode_raw_transaction(old.raw_tx)
            new_fields = decode_raw_transaction(tx.raw_tx)
            assert new_fields["data"] == old_fields["data"] and new_fields["gas"] == old_fields["gas"]
            assert new_fields["nonce"] == old.nonce
            assert w3.eth.get_transaction(tx.tx_hash)["blockNumber"] is None
        rounds.append(new)
        with chain.sessions() as session:
            tx_ids = set(session.scalars(select(OutboxPurchase.tx_id)))
        assert tx_ids == {t.id for t in new}, "the items follow their newest transaction"

    w3.provider.make_request("evm_mine", [])
    drain(sender, chain)

    final, superseded = rounds[-1], [t for r in rounds[:-1] for t in r]
    by_id = {t.id: t for t in txs(chain)}
    assert all(by_id[t.id].status == TxStatus.CONFIRMED for t in final)
    assert all(by_id[t.id].status == TxStatus.REPLACED for t in superseded)
    for t in superseded:  # never mined: gone from the chain and the pool
        with pytest.raises(Exception, match="not found"):
            w3.eth.get_transaction_receipt(t.tx_hash)
    assert_minted_exactly_once(chain, partner, purchases)
    assert Counter(i.status for i in items(chain).values()) == Counter({PurchaseStatus.MINTED: 25})


# ---------------------------------------------------------------------------------- locks


@pytest.mark.parametrize("kind", ["file", "redis"])
def test_two_senders_on_one_key_are_refused(request, kind, chain, partner, purchases, make_sender, sender_processes):
    address = partner.minter.address
    env: dict[str, object] = {}
    if kind == "file":
        # the lock directory of the sender processes (COALITION_LOCK_DIR, see conftest.py)
        def lock(**_: object):
            return FileKeyLock(sender_processes.state_dir, address, chain.settings.chain_id)
    else:
        import redis

        url = request.getfixturevalue("redis_url")
        env["redis_url"] = url
        client = redis.Redis.from_url(url)

        def lock(ttl_ms: int = 15_000):
            return RedisKeyLock(client, address, chain.settings.chain_id, ttl_ms=ttl_ms)

    # in one process: the second sender of the key does not start
    holder = make_sender(lock=lock())
    with pytest.raises(SenderLockedError):
        make_sender(lock=lock())
    # nor does a `python -m network sender` process
    refused = sender_processes.spawn(log_name="refused.log", **env)
    assert _wait_exit(refused, 30) != 0
    assert "SenderLockedError" in sender_processes.log_tail("refused.log")
    holder.stop()

    # the process holds it once it is free, and works
    purchases(20)
    process = sender_processes.spawn(log_name="holder.log", **env)
    sender_processes.wait_running(process)
    deadline = time.monotonic() + 30
    while _count(chain, PurchaseStatus.MINTED) < 20:
        assert process.poll() is None, sender_processes.log_tail("holder.log")
        assert time.monotonic() < deadline, sender_processes.log_tail("holder.log")
        time.sleep(0.05)
    with pytest.raises(SenderLockedError):
        make_sender(lock=lock())

    if kind == "file":
        process.send_signal(signal.SIGKILL)  # the kernel frees an flock with its process
        process.wait(10)
    else:
        process.send_signal(signal.SIGTERM)  # a clean stop releases the lease
        assert _wait_exit(process, 15) == 0
    successor = make_sender(lock=lock())
    successor.stop()

    if kind == "redis":
        # a holder whose lease expired (e.g. it hung) loses the key: it must stop sending
        first = make_sender(lock=lock(ttl_ms=300))
        time.sleep(0.5)
        second = make_sender(lock=lock())
        with pytest.raises(SenderLockedError):
            first.step()
        first.stop()  # releases nothing: the lease is the second's now
        with pytest.raises(SenderLockedError):
            make_sender(lock=lock())
        second.stop()
        make_sender(lock=lock()).stop()
    assert_minted_exactly_once(chain, partner, purchases)


# ---------------------------------------------------------------------------------- reverts


def _top_up(chain: Harness, partner: object, amount: int) -> None:
    c, treasury = chain.contracts, partner.treasury  # type: ignore[attr-defined]
    transact(chain.w3, chain.admin, c.token.functions.mint(treasury.address, amount))
    transact(chain.w3, treasury, c.token.functions.approve(c.clearing.address, amount))
    transact(chain.w3, treasury, c.clearing.functions.deposit(partner.partner_id, amount))  # type: ignore[attr-defined]


@pytest.mark.partner(deposit=1 * USD)  # funds for 100 points at the issue price of 0.01 cUSD
def test_purchases_beyond_the_headroom_are_held_and_the_rest_minted(chain, partner, purchases, make_sender):
    purchases(5, points=50)
    sender = make_sender()
    drain(sender, chain)

    assert txs(chain, TxStatus.REVERTED) == []  # nothing was sent that the bound refuses
    rows = items(chain)
    assert sorted(i.status for i in rows.values()) == ["held"] * 3 + ["minted"] * 2
    for item in rows.values():
        if item.status == PurchaseStatus.HELD:
            assert item.error.startswith("partner-funds-exhausted") and item.held_at is not None
            assert item.tx_id is None and item.batch_id is None
    assert chain.contracts.points.functions.totalSupply().call() == 100
    assert chain.contracts.clearing.functions.headroomOf(partner.partner_id).call() == 0

    _top_up(chain, partner, 1 * USD)  # room for 100 more points: two of the three held
    drain(sender, chain)
    assert sorted(i.status for i in items(chain).values()) == ["held"] + ["minted"] * 4
    _top_up(chain, partner, 1 * USD)
    drain(sender, chain)
    assert_minted_exactly_once(chain, partner, purchases)


@pytest.mark.partner(deposit=1 * USD)
def test_a_batch_that_still_hits_the_bound_goes_back_to_the_queue_not_to_failed(chain, partner, purchases, make_sender):
    purchases(5, points=50)
    sender = make_sender()
    # a withdrawal racing the sender, as the sender sees it: the headroom it read was larger than
    # what the chain has when the batch is mined
    real = sender.contracts.issuance_headroom
    sender.contracts.issuance_headroom = lambda pid: (10 * USD, real(pid)[1])  # type: ignore[method-assign]
    sender.step()  # signs and sends the batch of 5 (250 points) that the chain refuses
    sender.contracts.issuance_headroom = real  # type: ignore[method-assign]
    drain(sender, chain)
    reverted = txs(chain, TxStatus.REVERTED)
    assert len(reverted) == 1 and "ClearingIssuanceOverFunds" in (reverted[0].error or "")
    rows = items(chain)
    assert sorted(i.status for i in rows.values()) == ["held"] * 3 + ["minted"] * 2  # none failed with it
    assert all(i.tx_id != reverted[0].id for i in rows.values())


@pytest.mark.partner(deposit=1 * USD)
def test_held_purchases_fail_after_the_held_timeout(chain, partner, purchases, make_sender):
    purchases(3, points=80)
    # a timeout far longer than a drain takes on a loaded machine (0.5 s was not: they had failed
    # already when the test looked for them held), then a short one, as a restart with it would read
    sender = make_sender(held_purchase_timeout_s=600)
    drain(sender, chain)
    assert sorted(i.status for i in items(chain).values()) == ["held", "held", "minted"]
    sender.settings.held_purchase_timeout_s = 0.5
    time.sleep(0.6)
    sender.step()
    failed = [i for i in items(chain).values() if i.status == PurchaseStatus.FAILED]
    assert len(failed) == 2 and all(i.error.startswith("partner-funds-exhausted: held since") for i in failed)
    assert chain.contracts.points.functions.totalSupply().call() == 80
