"""Paying with points at the till: the latency of an authorisation (``POST /v1/points-holds``), as
a till waits for it, on a real stack, and the CPU each one costs.

    .venv/bin/python -m bench.points_holds [--holds 2000] [--concurrency 8] [--customers 50]
                                           [--gateway-processes 1] [--ports 9780-9799]

The stack is tests/e2e/stack.py's: a real anvil (automine) with the coalition deployed, a real
redis-server, one Celery worker and beat, the gateway in uvicorn (one process, as ``coalition
up`` runs it; ``--gateway-processes``: uvicorn ``--workers``), one store (SQLite;
``run(store=...)``: PostgreSQL). Set-up (not timed): two partners onboarded over the operator API,
``customers`` self-custody wallets given points by real purchases at the first (mined on chain and
waited for), and each hold's EIP-712 consent signed by its customer's key (the domain from the
address book, as a wallet signs what ``POST /v1/points-holds/consent`` returns).

Timed, every authorisation at the second partner, each latency from the request due to its answer
read, in four measures:

- one till, back to back (closed loop): what a till sees on a quiet gateway, and the CPU of one
  authorisation (user + system time of the gateway's processes and of anvil, from /proc);
- ``concurrency`` tills back to back (closed loop): the gateway saturated; its rate is the
  capacity, and its latencies are mostly queueing (each till sends again as soon as answered);
- open loop at 50 % and 80 % of that capacity: authorisations arrive at random (Poisson, a fixed
  seed) at a stated rate whatever the answers, as tills in shops do; a latency counts from when
  its request was due, so a late send counts against the gateway too.

Every authorisation does what production does: the consent's signature recovered, its nonce
looked up in the store and (with the balance, one batch of ``eth_call``) on chain, the wallet's
lock row written, what it promised summed, the hold stored and committed.

Checked afterwards: every authorisation answered 201, and no wallet holds more than its balance.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from bench.cpu import cpu_by_part, spent_per_item
from bench.earn_throughput import machine
from gateway.services.points_holds import redemption_id_of
from gateway.services.redemptions import redeem_ref
from network.signatures import RedeemConsent, sign_redeem
from network.store import PointsHold
from tests.e2e.stack import OnboardedPartner, Stack, key_for, start_stack
from tests.pg import SQLITE, StoreKind

HOLD_POINTS = 10
TARGET_P99_MS = 100.0
OPEN_LOAD = (0.5, 0.8)  # the open loop's arrival rates, as fractions of the measured capacity
OPEN_THREADS = 32  # senders of the open loop: enough that a slow answer never delays the next send
SEED = 16


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


def post_open(
    stack: Stack, partner: OnboardedPartner, bodies: list[dict[str, Any]], rate: float, seed: int = SEED
) -> list[tuple[int, float]]:
    """Posts every body at Poisson arrivals of ``rate`` a second (whatever the answers); returns
    (status, seconds from when it was due to its answer) per body."""
    rng = random.Random(seed)
    due, t = [], 0.0
    for _ in bodies:
        t += rng.expovariate(rate)
        due.append(t)
    # the senders' clients made before the clock starts (an httpx.Client costs milliseconds to make)
    clients = [httpx.Client(base_url=stack.url, timeout=30, headers=partner.headers) for _ in range(OPEN_THREADS)]
    spare, local = list(clients), threading.local()
    start = time.perf_counter() + 0.2  # the senders' threads start before the first is due

    def send(k: int) -> tuple[int, float]:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = spare.pop()  # one per thread (list.pop is atomic)
        wait = start + due[k] - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        r = client.post("/v1/points-holds", json=bodies[k])
        return r.status_code, time.perf_counter() - (start + due[k])

    try:
        with ThreadPoolExecutor(max_workers=OPEN_THREADS) as pool:
            return list(pool.map(send, range(len(bodies))))
    finally:
        for client in clients:
            client.close()


def summary(answers: list[tuple[int, float]], seconds: float, load: tuple[float, float]) -> dict[str, Any]:
    """Rate and latencies (ms) of ``answers`` that took ``seconds``, with the 1-minute load average
    before and after; refusals raise."""
    refused = [code for code, _ in answers if code != 201]
    if refused:
        raise RuntimeError(f"{len(refused)} authorisations were not 201: {sorted(set(refused))}")
    ms = [s * 1000 for _, s in answers]
    return {
        "holds": len(answers),
        "holds_per_s": round(len(answers) / seconds, 1),
        "p50_ms": round(percentile(ms, 0.50), 2),
        "p95_ms": round(percentile(ms, 0.95), 2),
        "p99_ms": round(percentile(ms, 0.99), 2),
        "max_ms": round(max(ms), 2),
        "mean_ms": round(statistics.fmean(ms), 2),
        "load_avg_1m": [round(load[0], 2), round(load[1], 2)],
    }


def measure(post: Any, n: int) -> tuple[dict[str, Any], dict[str, int]]:
    """Runs ``post()`` (which sends ``n`` authorisations); its summary, and the CPU µs per
    authorisation of each part of the stack meanwhile."""
    load, cpu, t0 = os.getloadavg()[0], cpu_by_part(), time.perf_counter()
    answers = post()
    seconds = time.perf_counter() - t0
    spent = spent_per_item(cpu, cpu_by_part(), n)
    return summary(answers, seconds, (load, os.getloadavg()[0])), spent


def run(
    *,
    ports: range = range(9780, 9800),
    holds: int = 2_000,
    concurrency: int = 8,
    customers: int = 50,
    warmup: int = 200,
    gateway_processes: int = 1,
    store: StoreKind = SQLITE,
) -> dict[str, Any]:
    """Starts its own stack, sets up (untimed), posts ``warmup`` authorisations, then ``holds``
    from one till, ``holds`` from ``concurrency`` tills, and ``holds`` at each open-loop rate;
    checks the store, and stops everything it started. The top-level latencies are the
    ``concurrency`` tills' (the saturation figure), as before; ``single`` and ``open`` the others."""
    info = machine()
    measures = 2 + len(OPEN_LOAD)
    with (
        tempfile.TemporaryDirectory(prefix="bench-till-") as tmp,
        start_stack(Path(tmp), ports=ports, store=store, gateway_processes=gateway_processes) as stack,
    ):
        grocer, cinema = stack.onboard("Bench Grocer"), stack.onboard("Bench Cinema")
        each = HOLD_POINTS * ((measures * holds + warmup) // customers + 1)
        wallets = [key_for(f"bench-till-{i}").address for i in range(customers)]
        for i, wallet in enumerate(wallets):
            _ok(stack.post_purchase(grocer, f"bench-till-earn-{i}", wallet, amount=str(each)), 202)
        for i in range(customers):
            stack.wait_purchase(grocer, f"bench-till-earn-{i}", timeout_s=120)
        bodies = hold_bodies(stack, cinema, measures * holds + warmup, customers)
        post_all(stack, cinema, bodies[:warmup], concurrency)  # untimed: connections, caches, code paths
        rounds = [bodies[warmup + k * holds : warmup + (k + 1) * holds] for k in range(measures)]
        single, single_cpu = measure(lambda: post_all(stack, cinema, rounds[0], 1), holds)
        closed, closed_cpu = measure(lambda: post_all(stack, cinema, rounds[1], concurrency), holds)
        capacity = closed["holds_per_s"]
        opened = []
        for fraction, chunk in zip(OPEN_LOAD, rounds[2:], strict=True):
            rate = fraction * capacity
            result, _ = measure(lambda chunk=chunk, rate=rate: post_open(stack, cinema, chunk, rate), holds)
            opened.append({"of_capacity": fraction, "rate_per_s": round(rate, 1), **result})
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
    return {
        **closed,
        "concurrency": concurrency,
        "customers": customers,
        "gateway_processes": gateway_processes,
        "cpu_us_per_hold": single_cpu,
        "cpu_us_per_hold_saturated": closed_cpu,
        "single": single,
        "open": opened,
        "machine": info,
    }


def table(result: dict[str, Any]) -> str:
    def row(name: str, m: dict[str, Any], rate: str) -> str:
        return (
            f"| {name} | {m['holds']:,} | {rate} | {m['holds_per_s']:,} | {m['p50_ms']} / {m['p95_ms']} / "
            f"{m['p99_ms']} / {m['max_ms']} | {m['load_avg_1m'][0]} / {m['load_avg_1m'][1]} |"
        )

    procs = result.get("gateway_processes", 1)
    lines = [
        f"| points at the till, POST /v1/points-holds ({procs} gateway process{'es' if procs > 1 else ''}) "
        "| n | arrivals | answered per second | p50 / p95 / p99 / max ms | load 1 min before / after |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    if "single" in result:
        lines.append(row("one till, back to back", result["single"], "closed loop"))
    lines.append(row(f"{result['concurrency']} tills, back to back (capacity)", result, "closed loop"))
    for m in result.get("open", []):
        lines.append(row(f"open loop, {m['of_capacity']:.0%} of capacity", m, f"Poisson {m['rate_per_s']} /s"))
    cpu = result.get("cpu_us_per_hold")
    if cpu:
        lines += ["", "| CPU µs per authorisation (one till) | " + " | ".join(cpu) + " |"]
        lines += ["|---|" + "---:|" * len(cpu), "| | " + " | ".join(f"{v:,}" for v in cpu.values()) + " |"]
    return "\n".join(lines)


def _ports(text: str) -> range:
    low, high = (int(x) for x in text.split("-"))
    return range(low, high + 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--holds", type=int, default=2_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--customers", type=int, default=50)
    parser.add_argument("--gateway-processes", type=int, default=1, help="uvicorn --workers")
    parser.add_argument("--ports", type=_ports, default=range(9780, 9800), help="e.g. 9780-9799")
    args = parser.parse_args(argv)
    result = run(
        ports=args.ports,
        holds=args.holds,
        concurrency=args.concurrency,
        customers=args.customers,
        gateway_processes=args.gateway_processes,
    )
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=2))
    print(table(result))
    return 0 if all(m["p99_ms"] < TARGET_P99_MS for m in [result["single"], *result["open"]]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
