"""Earn throughput: one transaction per purchase vs. the batching sender, on one real anvil.

    .venv/bin/python -m bench.earn_throughput [--naive 300] [--batched 20000] [--sizes 100,500,1000]
                                              [--in-flight 8] [--port 8630] [--profile]

Every way runs in the same process, each on a fresh node of its own (anvil, automine, no
periodic state dump: anvil mints slower as its state grows), as a new partner with its own
minter key, every purchase for a new customer address (so the gas is that of new holders),
seqs from 1.

- naive: ``earn(word)``, signed locally and sent, then its receipt waited for, before the next;
- naive (direct.transact): the same through ``network.direct.transact`` (gas estimate,
  nonce and chain id read per call), fewer purchases;
- sender: the purchases enqueued in the outbox (timed apart), then ``EarnSender.step()`` until
  every one is MINTED (confirmations=1); the clock runs from ``start()`` to the last MINTED.
  "sender CPU" is this process's CPU time over the same span (anvil runs apart): what the
  sender costs when it shares the machine's cores with the gateway and the node.

Prints a table and writes ``bench/earn_throughput.json``. ``--profile`` runs the sender of the
largest batch size under cProfile and prints where its time goes.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import platform
import pstats
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import function_signature_to_4byte_selector, to_checksum_address
from sqlalchemy import func, insert, select

from network.direct import transact
from network.outbox import enqueue
from network.purchases import encode_purchase
from network.sender import EarnSender
from network.settings import ChainSettings
from network.store import ChainTransaction, OutboxPurchase, PurchaseStatus, TxStatus
from tests.network.harness import Harness, make_harness

OUT = Path(__file__).resolve().parent / "earn_throughput.json"
EARN_SELECTOR = function_signature_to_4byte_selector("earn(bytes32)")
POINTS = 10
GWEI = 10**9


def machine() -> dict[str, Any]:
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    cpu = ""
    with contextlib.suppress(OSError):
        cpu = next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            "",
        )
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 2**20, 1),
        "cpu": cpu or platform.processor(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


def new_customers(n: int) -> list[str]:
    return [to_checksum_address(os.urandom(20)) for _ in range(n)]


def new_partner(h: Harness) -> tuple[LocalAccount, int]:
    """A partner with fresh minter and treasury keys (given ETH by anvil), funded in the clearing."""
    minter, treasury = Account.create(), Account.create()
    for a in (minter, treasury):
        h.w3.provider.make_request("anvil_setBalance", [a.address, hex(10**21)])
    return minter, h.onboard(minter, treasury)


def row(way: str, purchases: int, seconds: float, gas: int, **extra: Any) -> dict[str, Any]:
    return {
        "way": way,
        "purchases": purchases,
        "seconds": round(seconds, 3),
        "purchases_per_s": round(purchases / seconds, 1),
        "gas_per_purchase": round(gas / purchases),
        **extra,
    }


# ------------------------------------------------------------------------------------ naive


def naive_lean(h: Harness, n: int) -> dict[str, Any]:
    """One earn(word) per purchase: sign, send, wait for the receipt, next."""
    minter, _ = new_partner(h)
    w3, to = h.w3, h.contracts.points.address
    words = [encode_purchase(c, seq, POINTS) for seq, c in enumerate(new_customers(n), start=1)]
    nonce = w3.eth.get_transaction_count(minter.address)
    base_fee = int(w3.eth.get_block("latest").get("baseFeePerGas") or 0)
    gas = 0
    t0 = time.perf_counter()
    for word in words:
        signed = minter.sign_transaction(
            {
                "type": 2,
                "chainId": h.settings.chain_id,
                "nonce": nonce,
                "to": to,
                "value": 0,
                "data": EARN_SELECTOR + word,
                "gas": 300_000,
                "maxFeePerGas": 2 * base_fee + GWEI,
                "maxPriorityFeePerGas": GWEI,
            }
        )
        receipt = w3.eth.wait_for_transaction_receipt(
            w3.eth.send_raw_transaction(signed.raw_transaction), 60, poll_latency=0.01
        )
        assert receipt["status"] == 1
        gas += int(receipt["gasUsed"])
        nonce += 1
    seconds = time.perf_counter() - t0
    return row("naive: earn() per purchase, lean loop", n, seconds, gas, txs=n)


def naive_direct(h: Harness, n: int) -> dict[str, Any]:
    """The same through network.direct.transact (what one-off operator actions use)."""
    minter, _ = new_partner(h)
    points = h.contracts.points
    words = [encode_purchase(c, seq, POINTS) for seq, c in enumerate(new_customers(n), start=1)]
    gas = 0
    t0 = time.perf_counter()
    for word in words:
        gas += int(transact(h.w3, minter, points.functions.earn(word))["gasUsed"])
    seconds = time.perf_counter() - t0
    return row("naive: earn() per purchase, direct.transact", n, seconds, gas, txs=n)


# ------------------------------------------------------------------------------------ sender


def fill_outbox(h: Harness, partner_id: int, n: int) -> tuple[float, float]:
    """Enqueues n purchases for new customers. Returns (enqueue() per item, s) measured on the
    first 1000 through ``outbox.enqueue`` (one flush each, as the gateway does), and the time
    of the rest inserted in bulk (to keep the run short)."""
    customers = new_customers(n)
    sample = min(n, 1000)
    with h.sessions() as s:
        t0 = time.perf_counter()
        for seq in range(1, sample + 1):
            enqueue(s, partner_id=partner_id, seq=seq, customer=customers[seq - 1], points=POINTS)
        s.commit()
        per_item = (time.perf_counter() - t0) / sample
        t1 = time.perf_counter()
        rows = [
            {"partner_id": partner_id, "seq": seq, "customer": customers[seq - 1], "points": POINTS}
            for seq in range(sample + 1, n + 1)
        ]
        for i in range(0, len(rows), 5000):
            s.execute(insert(OutboxPurchase), rows[i : i + 5000])
        s.commit()
        bulk = time.perf_counter() - t1
    return per_item, bulk


def run_sender(h: Harness, n: int, batch_size: int, in_flight: int, profile: bool = False) -> dict[str, Any]:
    minter, partner_id = new_partner(h)
    per_item, bulk_s = fill_outbox(h, partner_id, n)
    settings: ChainSettings = h.settings.model_copy(
        update={"batch_max_size": batch_size, "max_in_flight": in_flight, "batch_max_wait_s": 0, "confirmations": 1}
    )
    sender = EarnSender(w3=h.w3, contracts=h.contracts, account=minter, sessions=h.sessions, settings=settings)
    profiler = cProfile.Profile() if profile else None
    minted = steps = 0
    step_times: list[float] = []
    t0, cpu0 = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    sender.start()
    deadline = time.monotonic() + 300
    while minted < n:
        if time.monotonic() > deadline:
            raise TimeoutError(f"sender minted {minted} of {n}")
        s0 = time.perf_counter()
        report = sender.step()
        step_times.append(time.perf_counter() - s0)
        steps += 1
        minted += report.results.get(PurchaseStatus.MINTED, 0)
        bad = sum(v for k, v in report.results.items() if k != PurchaseStatus.MINTED)
        if bad:
            raise RuntimeError(f"sender: {dict(report.results)}")
    if profiler:
        profiler.disable()
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    with h.sessions() as s:
        gas, txs = s.execute(
            select(func.sum(ChainTransaction.gas_used), func.count()).where(
                ChainTransaction.sender == minter.address, ChainTransaction.status == TxStatus.CONFIRMED
            )
        ).one()
        not_minted = s.scalar(
            select(func.count())
            .select_from(OutboxPurchase)
            .where(OutboxPurchase.partner_id == partner_id, OutboxPurchase.status != PurchaseStatus.MINTED)
        )
    assert not_minted == 0
    result = row(
        f"sender: batch {batch_size}, in flight {in_flight}",
        n,
        seconds,
        int(gas),
        txs=int(txs),
        steps=steps,
        cpu_s=round(cpu, 3),
        cpu_us_per_purchase=round(cpu / n * 1e6, 1),
        step_ms_median=round(sorted(step_times)[len(step_times) // 2] * 1000, 1),
        enqueue_ms_per_item=round(per_item * 1000, 3),
        bulk_insert_s=round(bulk_s, 2),
    )
    if profiler:
        result["profile"] = profile_summary(profiler)
    return result


def profile_summary(profiler: cProfile.Profile, top: int = 25) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(top)
    out.write("\n---- by own time ----\n")
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


# ------------------------------------------------------------------------------------ main


def table(rows: list[dict[str, Any]]) -> str:
    cols = [
        ("way", "way", "<"),
        ("purchases", "purchases", ">"),
        ("seconds", "s", ">"),
        ("purchases_per_s", "purchases/s", ">"),
        ("gas_per_purchase", "gas/purchase", ">"),
        ("txs", "txs", ">"),
        ("cpu_us_per_purchase", "sender CPU us/purchase", ">"),
    ]
    return text_table(rows, cols)


def text_table(rows: list[dict[str, Any]], cols: list[tuple[str, str, str]]) -> str:
    """``rows`` as aligned plain-text columns: ``cols`` are (key, heading, "<" or ">")."""
    widths = [max(len(h), *(len(str(r.get(k, ""))) for r in rows)) for k, h, _ in cols]
    lines = ["  ".join(f"{h:{a}{w}}" for (_, h, a), w in zip(cols, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        lines.append("  ".join(f"{r.get(k, '')!s:{a}{w}}" for (k, _, a), w in zip(cols, widths, strict=True)))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--naive", type=int, default=300, help="purchases sent one transaction each")
    parser.add_argument("--direct", type=int, default=100, help="purchases through network.direct.transact")
    parser.add_argument("--batched", type=int, default=20_000, help="purchases per sender run")
    parser.add_argument("--sizes", default="100,500,1000", help="batch_max_size values")
    parser.add_argument("--in-flight", type=int, default=8, help="max_in_flight of the sender")
    parser.add_argument("--port", type=int, default=8630)
    parser.add_argument("--profile", action="store_true", help="cProfile the sender at the largest batch size")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    sizes = [int(x) for x in args.sizes.split(",") if x]

    info = machine()
    print(
        f"machine: {info['cores']} cores ({info['cpu']}), {info['memory_gib']} GiB, Python {info['python']}, "
        f"load average {info['load_avg_1m']} (other work on the machine skews the numbers)"
    )
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    steps: list[tuple[str, Callable[[Harness], dict[str, Any]]]] = [
        ("naive", lambda h: naive_lean(h, args.naive)),
        ("direct", lambda h: naive_direct(h, args.direct)),
    ]
    steps += [
        (
            f"sender {b}",
            lambda h, b=b: run_sender(h, args.batched, b, args.in_flight, profile=args.profile and b == max(sizes)),
        )
        for b in sizes
    ]
    for name, fn in steps:
        if (name == "naive" and not args.naive) or (name == "direct" and not args.direct):
            continue
        # A fresh node each: anvil 1.7 mints slower as its state grows (a run after 60k new
        # holders on the same node measured about half as fast).
        with tempfile.TemporaryDirectory(prefix="bench-earn-") as tmp:
            h = make_harness(Path(tmp), args.port, anvil_state_interval_s=0, stuck_after_s=600)
            try:
                r = fn(h)
            finally:
                h.node.stop()
        rows.append(r)
        print(f"  {r['way']}: {r['purchases']} in {r['seconds']} s", flush=True)
    total = time.perf_counter() - started

    print()
    print(table(rows))
    naive = next((r for r in rows if r["way"].startswith("naive: earn() per purchase, lean")), None)
    if naive:
        print()
        for r in rows:
            if r["way"].startswith("sender"):
                print(
                    f"{r['way']}: x{r['purchases_per_s'] / naive['purchases_per_s']:.1f} purchases/s, "
                    f"gas x{r['gas_per_purchase'] / naive['gas_per_purchase']:.2f} of naive; "
                    f"{r['steps']} steps, median step {r['step_ms_median']} ms; "
                    f"enqueue() {r['enqueue_ms_per_item']} ms/item"
                )
    for r in rows:
        if "profile" in r:
            print(f"\n==== cProfile of {r['way']} ====\n{r['profile']}")
    info["load_avg_1m_at_end"] = round(os.getloadavg()[0], 2)
    print(f"\ntotal run: {total:.1f} s, load average at the end {info['load_avg_1m_at_end']}")
    args.out.write_text(
        json.dumps(
            {
                "when": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": info,
                "node": "anvil (automine, gas limit 60M, no periodic state dump), a fresh one per row",
                "params": {
                    "naive": args.naive,
                    "direct": args.direct,
                    "batched": args.batched,
                    "sizes": sizes,
                    "in_flight": args.in_flight,
                    "points_per_purchase": POINTS,
                },
                "rows": [{k: v for k, v in r.items() if k != "profile"} for r in rows],
                "total_s": round(total, 1),
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
