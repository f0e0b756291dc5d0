"""The expiry sweep: how fast the job burns the points of due holders, and the gas per holder.

    .venv/bin/python -m bench.expiry_sweep [--holders 100000] [--batch-size 1000] [--port 8930]

On its own anvil (``tests.network.harness.make_harness``: automine, gas limit 60M), a new partner
mints ``holders`` new customers their points in pre-signed ``earnBatch`` transactions of 1,000
(bench/chain_ceiling.py), the indexer reads them into a fresh store, and anvil's clock is moved
past the expiry window (``evm_increaseTime`` + ``evm_mine``): every holder is due. The clock then
runs the job itself (gateway/services/expiry_sweep.py ``Sweeper.run``: due holders planned from the
store, ``expire`` batches of ``batch_size`` signed, stored, sent through the transaction driver
with the sweeper's key, followed to their receipts) and stops when every batch is confirmed. Gas
per holder is the batches' gas used over the holders burned. Then checked: the total supply fell
by exactly the points minted, and once the indexer has read the sweep, nobody is due and a second
run sends nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.chain_ceiling import TOTAL_SUPPLY, Rpc, _uint, blast, sign_all
from bench.earn_throughput import POINTS, machine, new_customers, new_partner
from gateway.services.expiry_schedule import due_holders
from gateway.services.expiry_sweep import Sweeper
from network.contracts import encode_earn_batch_items
from network.errors import ChainError
from network.indexer import EventIndexer
from network.keys import dev_account
from network.sender import batch_gas
from tests.network.harness import Harness, make_harness
from tests.pg import SQLITE, StoreKind

EARN_BATCH = 1_000
SWEEPER_DEV_INDEX = 9  # as gateway/tasks/context.py


def make_due_holders(h: Harness, holders: int) -> float:
    """Mints ``POINTS`` to ``holders`` new customers, indexes them, moves the clock past the
    window. Returns the seconds it took (not part of the measurement)."""
    t0 = time.perf_counter()
    minter, _partner_id = new_partner(h)
    points = h.contracts.points.address
    customers = new_customers(holders)
    block_gas = int(h.w3.eth.get_block("latest")["gasLimit"])
    calldatas, gas = [], []
    for b in range(0, holders, EARN_BATCH):
        chunk = customers[b : b + EARN_BATCH]
        calldatas.append(encode_earn_batch_items((c, b + i + 1, POINTS) for i, c in enumerate(chunk)))
        gas.append(batch_gas(len(chunk), block_gas))
    blast(h.node.url, sign_all(h, minter, points, calldatas, gas), 1)
    window = int(h.contracts.points.functions.expiryWindow().call())
    h.w3.provider.make_request("evm_increaseTime", [window + 86_400])  # type: ignore[arg-type]
    h.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    _index(h)
    return time.perf_counter() - t0


def _index(h: Harness) -> None:
    EventIndexer(w3=h.w3, contracts=h.contracts, sessions=h.sessions, settings=h.settings).run_until(
        h.w3.eth.block_number
    )


def measure(h: Harness, holders: int, batch_size: int) -> dict[str, Any]:
    rpc = Rpc(h.node.url)
    points = str(h.contracts.points.address)
    supply_before = _uint(rpc, points, TOTAL_SUPPLY)
    sweeper = Sweeper(
        w3=h.w3,
        points=points,
        account=dev_account(SWEEPER_DEV_INDEX, h.settings),
        sessions=h.sessions,
        settings=h.settings,
        batch_size=batch_size,
        budget_s=3_600,
    )
    t0 = time.perf_counter()
    run = sweeper.run()
    seconds = time.perf_counter() - t0
    burned = supply_before - _uint(rpc, points, TOTAL_SUPPLY)
    if run.status != "done" or run.holders_sent != holders or burned != holders * POINTS:
        raise ChainError(f"sweep {run}: burned {burned} points, expected {holders * POINTS}")
    _index(h)
    now = int(h.w3.eth.get_block("latest")["timestamp"])
    with h.sessions() as s:
        left = due_holders(s, h.settings.chain_id, now=now)
    again = sweeper.run()
    if left or again.status != "nothing due":
        raise ChainError(f"after the sweep: {len(left)} still due, a second run said {again}")
    return {
        "holders": holders,
        "batch_size": batch_size,
        "batches": run.batches,
        "seconds": round(seconds, 2),
        "holders_per_s": round(holders / seconds, 1),
        "gas_per_holder": round(run.gas_used / holders),
        "gas": run.gas_used,
    }


def run(*, port: int, holders: int = 100_000, batch_size: int = 1_000, store: StoreKind = SQLITE) -> dict[str, Any]:
    """Starts its own anvil on ``port``, makes the due holders, measures one sweep, stops it."""
    info = machine()
    with tempfile.TemporaryDirectory(prefix="bench-expiry-") as tmp:
        url = store.new_url(Path(tmp))
        h = make_harness(Path(tmp), port, database_url=url, stuck_after_s=600, indexer_chunk_blocks=20)
        try:
            setup_s = make_due_holders(h, holders)
            result = measure(h, holders, batch_size)
        finally:
            h.node.stop()
    info["load_avg_1m_at_end"] = round(os.getloadavg()[0], 2)
    node = f"anvil (automine, gas limit {h.settings.anvil_gas_limit:,})"
    return result | {"setup_s": round(setup_s, 1), "node": node, "store": store.name, "machine": info}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--holders", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=1_000)
    parser.add_argument("--port", type=int, default=8930)
    args = parser.parse_args(argv)
    result = run(port=args.port, holders=args.holders, batch_size=args.batch_size)
    print(json.dumps(result, indent=2))
    print(
        f"\nswept {result['holders']:,} due holders in {result['seconds']} s: {result['holders_per_s']:,} holders/s, "
        f"{result['gas_per_holder']:,} gas per holder (batches of {result['batch_size']:,}; "
        f"load {result['machine']['load_avg_1m']} at start, {result['machine']['load_avg_1m_at_end']} at end)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
