"""The expiry sweep (gateway/services/expiry_sweep.py) on a real anvil with a real store: it burns the
holders due by the indexed events and no one else, and a run killed between storing a batch and
sending it is finished by the next run from the store, with nothing burned twice or left behind.
Its own anvil on port 8640 (tests/ports.py shifts it per worker)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from eth_account import Account
from eth_utils import to_checksum_address
from sqlalchemy import func, select

from gateway.services.expiry_schedule import due_holders
from gateway.services.expiry_sweep import EXPIRE_KIND, Sweeper
from network.contracts import encode_earn_batch_items
from network.indexer import EventIndexer
from network.keys import dev_account
from network.node import port_in_use
from network.store import ChainEvent, ChainTransaction, LedgerEntry, TxStatus
from network.transactions import sign_transaction
from tests.network.harness import Harness, make_harness
from tests.ports import port_for_worker

PORT = port_for_worker(8640)
DAY = 86_400


class Killed(BaseException):
    """The worker dies here (SIGKILL: nothing after it runs)."""


def _sleep(h: Harness, seconds: int) -> None:
    h.w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
    h.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def _index(h: Harness) -> None:
    EventIndexer(w3=h.w3, contracts=h.contracts, sessions=h.sessions, settings=h.settings).run_until(
        h.w3.eth.block_number
    )


def _sweeper(h: Harness) -> Sweeper:
    return Sweeper(
        w3=h.w3,
        points=str(h.contracts.points.address),
        account=dev_account(9, h.settings),
        sessions=h.sessions,
        settings=h.settings,
        batch_size=7,
    )


def test_the_sweep_burns_the_due_holders_only_and_survives_a_crash_between_store_and_send(tmp_path: Path) -> None:
    if port_in_use(PORT):
        pytest.fail(f"port {PORT} is taken")
    h = make_harness(tmp_path, PORT, stuck_after_s=600)
    try:
        minter, treasury = Account.create(), Account.create()
        for a in (minter, treasury):
            h.w3.provider.make_request("anvil_setBalance", [a.address, hex(10**21)])  # type: ignore[arg-type]
        h.onboard(minter, treasury)
        points = h.contracts.points
        seq = iter(range(1, 10_000))

        def earn(customers: list[str], amount: int) -> None:
            data = encode_earn_batch_items((c, next(seq), amount) for c in customers)
            signed = sign_transaction(
                minter, chain_id=h.settings.chain_id, nonce=h.w3.eth.get_transaction_count(minter.address),
                to=points.address, data=data, gas=5_000_000, max_fee=100 * 10**9, priority=10**9,
            )  # fmt: skip
            receipt = h.w3.eth.wait_for_transaction_receipt(h.w3.eth.send_raw_transaction(signed.raw_tx))
            assert receipt["status"] == 1

        old = [to_checksum_address(os.urandom(20)) for _ in range(25)]
        earn(old, 10)
        window = int(points.functions.expiryWindow().call())
        _sleep(h, window - 10 * DAY)
        active_again, new = old[:5], [to_checksum_address(os.urandom(20)) for _ in range(10)]
        earn(active_again + new, 3)
        _sleep(h, 11 * DAY)
        due = sorted(old[5:])
        _index(h)
        with h.sessions() as s:
            now = int(h.w3.eth.get_block("latest")["timestamp"])
            assert due_holders(s, h.settings.chain_id, now=now) == due
        supply = points.functions.totalSupply().call()

        crashing = _sweeper(h)
        sends = 0

        def broadcast_then_die(tx: ChainTransaction) -> None:
            nonlocal sends
            sends += 1
            if sends == 2:
                raise Killed  # batch 2 is signed and stored, never sent
            type(crashing.driver).broadcast(crashing.driver, tx)

        crashing.driver.broadcast = broadcast_then_die  # type: ignore[method-assign]
        with pytest.raises(Killed):
            crashing.run()

        assert _sweeper(h).run().status == "waiting for the index"  # batch 2 sent again, both followed
        _index(h)
        finished = _sweeper(h).run()
        assert (finished.status, finished.due, finished.batches) == ("done", 6, 1)
        _index(h)
        assert _sweeper(h).run().status == "nothing due"

        assert supply - points.functions.totalSupply().call() == 20 * 10
        assert all(points.functions.balanceOf(c).call() == 0 for c in due)
        assert [points.functions.balanceOf(c).call() for c in active_again + new] == [13] * 5 + [3] * 10
        with h.sessions() as s:
            expired = s.scalars(select(ChainEvent.customer).where(ChainEvent.name == "Expired")).all()
            assert sorted(expired) == due  # one each
            sent = s.scalar(
                select(func.count()).where(
                    ChainTransaction.kind == EXPIRE_KIND, ChainTransaction.status == TxStatus.CONFIRMED
                )
            )
            assert sent == 3
            for c in old + new:  # the ledger still adds up to the chain (reconciliation's rule)
                ledger = s.scalar(
                    select(func.coalesce(func.sum(LedgerEntry.points), 0)).where(LedgerEntry.customer == c)
                )
                assert ledger == points.functions.balanceOf(c).call()
    finally:
        h.node.stop()
