"""Paying with points at the till: the latency of an authorisation (``POST /v1/points-holds``), as
a till waits for it, on a real stack.

    .venv/bin/python -m bench.points_holds [--holds 2000] [--concurrency 8] [--customers 50]
                                           [--ports 9780-9799]

The stack is tests/e2e/stack.py's: a real anvil (automine) with the coalition deployed, a real
redis-server, one Celery worker and beat, the gateway in uvicorn, one store (SQLite;
``run(store=...)``: PostgreSQL). Set-up (not timed): two partners onboarded over the operator API,
``customers`` self-custody wallets given points by real purchases at the first (mined on chain and
waited for), and each hold's EIP-712 consent signed by its customer's key (the domain from the
address book, as a wallet signs what ``POST /v1/points-holds/consent`` returns).

Timed: ``concurrency`` tills (client threads, one keep-alive connection each) post every
authorisation at the second partner; each latency is from the request sent to its answer read.
Every authorisation does what production does: the consent's signature recovered, its nonce
looked up in the store and on chain (``eth_call``), the wallet's lock row written, what it
promised summed, its balance read on chain (``eth_call``), the hold stored and committed.

Checked afterwards: every authorisation answered 201, and no wallet holds more than its balance.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from bench.earn_throughput import machine
from gateway.services.points_holds import redemption_id_of
from gateway.services.redemptions import redeem_ref
from network.signatures import RedeemConsent, sign_redeem
from network.store import PointsHold
from tests.e2e.stack import OnboardedPartner, Stack, key_for, start_stack
from tests.pg import SQLITE, StoreKind

HOLD_POINTS = 10
TARGET_P99_MS = 100.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def _ok(r: httpx.Response, status: int) -> dict[str, Any]:
    if r.status_code != status:
        raise RuntimeError(f"{r.request.method} {r.request.url.path}: {r.status_code} {r.text}")
    return r.json()


def hold_bodies(stack: Stack, partner: OnboardedPartner, holds: int, customers: int) -> list[dict[str, Any]]:
    """``holds`` signed authorisations spread over ``customers`` wallets, in turn."""
    chain_id = stack.harness.settings.chain_id
    points_address = stack.harness.contracts.points.address
    keys = [key_for(f"bench-till-{i}") for i in range(customers)]
    deadline = int(time.time()) + 3_600
    bodies = []
    for k in range(holds):
        customer = keys[k % customers]
        hold_id = f"bench-hold-{k}"
        ref = bytes.fromhex(redeem_ref(chain_id, partner.id, redemption_id_of(hold_id))[2:])
        consent = RedeemConsent(customer.address, partner.id, HOLD_POINTS, ref, 10_000 + k, deadline)
        signature = sign_redeem(customer.key, consent, chain_id=chain_id, points_address=points_address)
        bodies.append(
            {
                "hold_id": hold_id,
                "customer": {"wallet": customer.address},
                "points": HOLD_POINTS,
                "consent": {"nonce": 10_000 + k, "deadline": deadline, "signature": "0x" + signature.hex()},
            }
        )
    return bodies


def post_all(stack: Stack, partner: OnboardedPartner, bodies: list[dict[str, Any]], concurrency: int) -> list[Any]:
    """Posts every body from ``concurrency`` threads; returns (status, seconds) per body."""
    chunks = [bodies[i::concurrency] for i in range(concurrency)]

    def till(chunk: list[dict[str, Any]]) -> list[tuple[int, float]]:
        out = []
        with httpx.Client(base_url=stack.url, timeout=30, headers=partner.headers) as client:
            for body in chunk:
                t0 = time.perf_counter()
                r = client.post("/v1/points-holds", json=body)
                out.append((r.status_code, time.perf_counter() - t0))
        return out

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return [answer for chunk in pool.map(till, chunks) for answer in chunk]


def run(
    *,
    ports: range = range(9780, 9800),
    holds: int = 2_000,
    concurrency: int = 8,
    customers: int = 50,
    warmup: int = 200,
    store: StoreKind = SQLITE,
) -> dict[str, Any]:
    """Starts its own stack, sets up (untimed), posts ``warmup`` then ``holds`` authorisations
    from ``concurrency`` tills, checks the store, and stops everything it started."""
    info = machine()
    with (
        tempfile.TemporaryDirectory(prefix="bench-till-") as tmp,
        start_stack(Path(tmp), ports=ports, store=store) as stack,
    ):
        grocer, cinema = stack.onboard("Bench Grocer"), stack.onboard("Bench Cinema")
        each = HOLD_POINTS * ((holds + warmup) // customers + 1)
        wallets = [key_for(f"bench-till-{i}").address for i in range(customers)]
        for i, wallet in enumerate(wallets):
            _ok(stack.post_purchase(grocer, f"bench-till-earn-{i}", wallet, amount=str(each)), 202)
        for i in range(customers):
            stack.wait_purchase(grocer, f"bench-till-earn-{i}", timeout_s=120)
        bodies = hold_bodies(stack, cinema, holds + warmup, customers)
        post_all(stack, cinema, bodies[:warmup], concurrency)  # untimed: connections, caches, code paths
        load_before = os.getloadavg()[0]
        t0 = time.perf_counter()
        answers = post_all(stack, cinema, bodies[warmup:], concurrency)
        seconds = time.perf_counter() - t0
        load_after = os.getloadavg()[0]
        refused = [code for code, _ in answers if code != 201]
        if refused:
            raise RuntimeError(f"{len(refused)} authorisations were not 201: {sorted(set(refused))}")
        with stack.harness.sessions() as session:
            held = dict(
                session.execute(
                    select(PointsHold.customer_wallet, func.sum(PointsHold.points))
                    .where(PointsHold.status == "authorised")
                    .group_by(PointsHold.customer_wallet)
                ).all()
            )
        over = [w for w, points in held.items() if points > stack.balance(w)]
        if over:
            raise RuntimeError(f"wallets holding more than their balance: {over}")
        stack.assert_running()
    latencies_ms = [s * 1000 for _, s in answers]
    return {
        "holds": holds,
        "concurrency": concurrency,
        "customers": customers,
        "holds_per_s": round(holds / seconds, 1),
        "p50_ms": round(percentile(latencies_ms, 0.50), 2),
        "p95_ms": round(percentile(latencies_ms, 0.95), 2),
        "p99_ms": round(percentile(latencies_ms, 0.99), 2),
        "max_ms": round(max(latencies_ms), 2),
        "mean_ms": round(statistics.fmean(latencies_ms), 2),
        "load_avg_1m": [round(load_before, 2), round(load_after, 2)],
        "machine": info,
    }


def table(result: dict[str, Any]) -> str:
    return "\n".join(
        [
            "| points at the till | n | tills | per second | p50 / p95 / p99 / max ms |",
            "|---|---:|---:|---:|---:|",
            f"| authorisations (POST /v1/points-holds) | {result['holds']:,} | {result['concurrency']} | "
            f"{result['holds_per_s']:,} | {result['p50_ms']} / {result['p95_ms']} / {result['p99_ms']} / "
            f"{result['max_ms']} |",
        ]
    )


def _ports(text: str) -> range:
    low, high = (int(x) for x in text.split("-"))
    return range(low, high + 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--holds", type=int, default=2_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--customers", type=int, default=50)
    parser.add_argument("--ports", type=_ports, default=range(9780, 9800), help="e.g. 9780-9799")
    args = parser.parse_args(argv)
    result = run(ports=args.ports, holds=args.holds, concurrency=args.concurrency, customers=args.customers)
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=2))
    print(table(result))
    return 0 if result["p99_ms"] < TARGET_P99_MS else 1


if __name__ == "__main__":
    raise SystemExit(main())
