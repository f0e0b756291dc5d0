"""The earn pipeline measured whole, over HTTP, on real processes (tests/e2e/stack.py: anvil,
redis-server, Celery workers, beat, the gateway under uvicorn), with the lean load generator
(bench/loadgen.py) in this process.

    .venv/bin/python -m bench.pipeline [--purchases 10000] [--connections 64] [--only e2e,gateway,batch,naive]

- ``gateway``: the gateway alone (no worker, no beat): accepted ``POST /v1/purchases`` a
  second and the latency of each answer; the chain side is not in the loop.
- ``e2e``: the same single purchases with the workers running, until every one is confirmed on
  chain. A purchase's latency runs from its POST to the commit that marked it minted (the
  moment ``GET /v1/purchases/{id}`` starts to answer ``confirmed``), read from the store's
  timestamps so that no polling loads the gateway.
- ``batch``: ``POST /v1/purchases/batch`` with 1,000 purchases a request, until all confirmed.
- ``naive``: the same single purchases through bench/naive_gateway.py: one mint transaction per
  purchase, sent from the request and waited for.

Each mode starts its own stack and checks on chain that every purchase it counts was minted
(the points' total supply grew by exactly the points of the purchases).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench.cpu import cpu_by_part, spent_per_item
from bench.loadgen import Answer, percentile, post_request, send_all
from bench.rules import purchases as rule_purchases
from bench.rules import twenty_rules
from loyalty.earning import MemberContext, evaluate
from loyalty.earning_rules import compile_rules
from loyalty.rules_json import ruleset_to_json
from network.store import ChainTransaction, OutboxPurchase, PurchaseStatus, TxStatus
from tests.e2e.stack import OPERATOR_HEADERS, OnboardedPartner, Stack, free_port, fresh_wallet, start_stack
from tests.pg import SQLITE, StoreKind

PORTS = range(8850, 8880)
NAIVE_PORTS = range(8880, 8890)
BATCH = 1000
WORKERS = 1  # one Celery worker of CONCURRENCY pool processes
WARM_UP_ROUNDS = 6
CONCURRENCY = 6  # pool processes: a drain holds one while it drives its partner's key; two for the rest
POINTS = 10  # 10.00 EUR at 1 point per EUR
STACK_SETTINGS: dict[str, object] = {
    "batch_max_size": 1000,
    "batch_max_wait_s": 0.2,
    "max_in_flight": 8,
    "rate_limit_per_second": 1_000_000,  # the benchmark measures throughput, not the limit
    "rate_limit_burst": 1_000_000,
}


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _purchase(i: int, label: str) -> dict[str, Any]:
    return {
        "purchase_id": f"{label}-{i}",
        "customer": {"wallet": fresh_wallet(f"{label}-{i}")},
        "amount": "10.00",
        "currency": "EUR",
        "purchased_at": "2026-11-23T10:00:00Z",
    }


def _single_requests(
    stack_url: str, partners: list[OnboardedPartner], n: int, label: str, path: str = "/v1/purchases"
) -> tuple[list[bytes], list[int]]:
    """N single-purchase POSTs, round robin over the partners; and the partner of each."""
    host, port = stack_url.removeprefix("http://").split(":")
    requests, owners = [], []
    for i in range(n):
        partner = partners[i % len(partners)]
        body = json.dumps(_purchase(i, label)).encode()
        requests.append(post_request(host, int(port), path, body, partner.headers))
        owners.append(partner.id)
    return requests, owners


@contextlib.contextmanager
def _stack(
    workers: int, *, beat: bool, partners: int, store: StoreKind = SQLITE, **settings: object
) -> Iterator[tuple[Stack, list[OnboardedPartner]]]:
    values = STACK_SETTINGS | settings
    with (
        tempfile.TemporaryDirectory(prefix="bench-") as tmp,
        start_stack(
            Path(tmp), ports=PORTS, workers=workers, concurrency=CONCURRENCY, beat=beat, store=store, **values
        ) as stack,
    ):
        yield stack, [stack.onboard(f"Bench {i}") for i in range(partners)]


def _supply(stack: Stack) -> int:
    return int(stack.harness.contracts.points.functions.totalSupply().call())


def _accept_figures(answers: list[Answer], wall: float, cpu_s: float) -> dict[str, Any]:
    ok = [a for a in answers if a.status in (200, 201, 202)]
    if len(ok) != len(answers):
        bad = {a.status: a.body[:200] for a in answers if a.status not in (200, 201, 202)}
        raise RuntimeError(f"{len(answers) - len(ok)} requests failed: {bad}")
    latencies = [a.seconds for a in answers]
    return {
        "requests": len(answers),
        "seconds": round(wall, 3),
        "requests_per_s": round(len(answers) / wall, 1),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 1),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        "gateway_cpu_us_per_request": round(cpu_s / len(answers) * 1e6),
    }


def _warm_up(stack: Stack, onboarded: list[OnboardedPartner], rounds: int, per_partner: int = 20) -> None:
    """Untimed rounds of purchases, each waited for until confirmed when workers run: a long-
    lived network's state (the workers have decrypted the partners' minter keys, restarted after
    onboarding as a long-running worker would be; the gateway has verified the API keys,
    imported the task modules). The measured purchases come after, on a warm network."""
    host, port = "127.0.0.1", int(stack.url.rsplit(":", 1)[1])
    ids = [p.id for p in onboarded]
    _restart_workers(stack)
    done = 0
    for r in range(rounds):
        requests, _ = _single_requests(stack.url, onboarded, per_partner * len(onboarded), f"warm-{r}")
        answers, _ = send_all(host, port, requests, 16)
        assert all(a.status == 202 for a in answers), [a.body for a in answers if a.status != 202][:3]
        done += len(requests)
        if stack.workers:
            _wait_confirmed(stack, ids, done, timeout_s=120)
            time.sleep(0.3)  # the drains end; the next round starts new ones, maybe in other processes


def _restart_workers(stack: Stack) -> None:
    """The workers again, now that the partners are onboarded: a worker decrypts the minter keys
    on disk before it forks its pool processes (otherwise each pool process decrypts each key it
    drives, a second of scrypt each, inside the measurement)."""
    for name in list(stack.workers):
        stack.kill(name, signal.SIGTERM)
        stack.start_worker(name.removeprefix("worker-"), concurrency=CONCURRENCY)


def gateway_alone(n: int, connections: int, partners: int = 4, *, store: StoreKind = SQLITE) -> dict[str, Any]:
    """The gateway's accept rate, then again once every partner has the 20 rules of bench/rules.py
    active and each purchase carries its lines (~3), as ``with_rules``."""
    with _stack(0, beat=False, partners=partners, store=store) as (stack, onboarded):
        _warm_up(stack, onboarded, rounds=2)
        requests, _ = _single_requests(stack.url, onboarded, n, "gw")
        figures = _accept(stack, requests, connections)
        for partner in onboarded:
            _activate_twenty_rules(stack, partner)
        host, port = stack.url.removeprefix("http://").split(":")
        bodies = _ruled_purchases(2 * len(onboarded) * 20 + n)
        warm = [post_request(host, int(port), "/v1/purchases", body, onboarded[i % len(onboarded)].headers)
                for i, body in enumerate(bodies[n:])]  # fmt: skip
        _accept(stack, warm, 16)  # the rule sets compiled, as in a long-running gateway
        ruled = [post_request(host, int(port), "/v1/purchases", body, onboarded[i % len(onboarded)].headers)
                 for i, body in enumerate(bodies[:n])]  # fmt: skip
        with_rules = _accept(stack, ruled, connections)
        return {"purchases": n, "connections": connections, **figures, "with_rules": with_rules}


def _accept(stack: Stack, requests: list[bytes], connections: int) -> dict[str, Any]:
    pid = stack.processes["gateway"].pid
    cpu = _cpu_s(pid)
    answers, wall = send_all("127.0.0.1", int(stack.url.rsplit(":", 1)[1]), requests, connections)
    return _accept_figures(answers, wall, _cpu_s(pid) - cpu)


def _activate_twenty_rules(stack: Stack, partner: OnboardedPartner) -> None:
    ruleset = ruleset_to_json(twenty_rules())
    draft = {key: ruleset[key] for key in ("time_zone", "rounding", "rules")}
    r = stack.http.post(f"/v1/operator/partners/{partner.id}/rules", headers=OPERATOR_HEADERS, json=draft)
    assert r.status_code == 201, r.text
    version = r.json()["version"]
    r = stack.http.post(f"/v1/operator/partners/{partner.id}/rules/{version}/activate", headers=OPERATOR_HEADERS)
    assert r.status_code == 200, r.text


def _ruled_purchases(n: int) -> list[bytes]:
    """``n`` purchase bodies with the lines and tenders of bench/rules.py's purchases (each of a
    new member: a first purchase, a cap usage row per cap), only those that earn under the rules."""
    compiled = compile_rules(twenty_rules())
    bodies: list[bytes] = []
    for i, (basket, _) in enumerate(rule_purchases(2 * n)):
        if len(bodies) == n:
            break
        if evaluate(compiled, basket, MemberContext(first_purchase=True)).points <= 0:
            continue
        body: dict[str, Any] = {
            "purchase_id": f"rules-{i}",
            "customer": {"wallet": fresh_wallet(f"rules-{i}")},
            "amount": str(basket.amount),
            "currency": "EUR",
            "purchased_at": basket.purchased_at.isoformat(),
            "lines": [
                {"sku": line.sku, "category": line.category, "labels": sorted(line.labels),
                 "quantity": str(line.quantity), "unit_price": str(line.unit_price), "discount": str(line.discount)}
                for line in basket.lines
            ],
        }  # fmt: skip
        if basket.paid_with_points:
            # sent as gift cards: a points tender must match a captured till hold (part 10 times
            # those), and over HTTP the two earn the same (nothing) on that part
            body["paid_with"] = {"gift_cards": str(basket.paid_with_points)}
        bodies.append(json.dumps(body).encode())
    return bodies


def _wait_confirmed(stack: Stack, partner_ids: list[int], expected: int, timeout_s: float) -> float:
    """Polls the store until ``expected`` purchases of the partners are confirmed; returns when."""
    deadline = time.monotonic() + timeout_s
    done = (PurchaseStatus.MINTED, PurchaseStatus.SKIPPED)
    while True:
        with stack.harness.sessions() as session:
            count = session.scalar(
                select(func.count())
                .select_from(OutboxPurchase)
                .where(OutboxPurchase.partner_id.in_(partner_ids), OutboxPurchase.status.in_(done))
            )
            failed = session.execute(
                select(OutboxPurchase.error, func.count())
                .where(OutboxPurchase.partner_id.in_(partner_ids), OutboxPurchase.status == PurchaseStatus.FAILED)
                .group_by(OutboxPurchase.error)
            ).all()
        if failed:
            reasons = "\n".join(f"{n} x {error}" for error, n in failed)
            raise RuntimeError(f"purchases failed:\n{reasons}\n{stack.logs()}")
        if count >= expected:
            return time.time()
        if time.monotonic() > deadline:
            raise RuntimeError(f"{count} of {expected} confirmed after {timeout_s} s:\n{stack.logs(20)}")
        time.sleep(0.02)


def _confirmed_at(stack: Stack, partner_ids: list[int]) -> dict[tuple[int, int], float]:
    with stack.harness.sessions() as session:
        rows = session.execute(
            select(OutboxPurchase.partner_id, OutboxPurchase.seq, OutboxPurchase.updated_at).where(
                OutboxPurchase.partner_id.in_(partner_ids)
            )
        )
        return {(pid, seq): at.replace(tzinfo=at.tzinfo or UTC).timestamp() for pid, seq, at in rows}


def _gas(stack: Stack, minters: list[str]) -> tuple[int, int]:
    """(gas used, transactions) of the confirmed earn batches of these minters."""
    with stack.harness.sessions() as session:
        gas, txs = session.execute(
            select(func.sum(ChainTransaction.gas_used), func.count()).where(
                ChainTransaction.sender.in_(minters),
                ChainTransaction.kind == "earn_batch",
                ChainTransaction.status == TxStatus.CONFIRMED,
            )
        ).one()
    return int(gas or 0), int(txs)


def _confirm_figures(
    stack: Stack, onboarded: list[OnboardedPartner], sent: list[tuple[int, int, float]], started: float, supply0: int
) -> dict[str, Any]:
    """Waits for every purchase of ``sent`` ((partner, seq, POST time)) to be confirmed."""
    ids = [p.id for p in onboarded]
    with stack.harness.sessions() as session:  # every purchase they have: the warm-up's and these
        stored = session.scalar(
            select(func.count()).select_from(OutboxPurchase).where(OutboxPurchase.partner_id.in_(ids))
        )
    finished = _wait_confirmed(stack, ids, stored, timeout_s=max(120, len(sent) / 200))
    minted = _supply(stack) - supply0
    if minted != POINTS * len(sent):
        raise RuntimeError(f"total supply grew by {minted}, not {POINTS * len(sent)}")
    at = _confirmed_at(stack, ids)
    latencies = [at[(pid, seq)] - posted for pid, seq, posted in sent]
    gas, txs = _gas(stack, [p.minter for p in onboarded])
    wall = finished - started
    return {
        "purchases": len(sent),
        "seconds": round(wall, 3),
        "purchases_per_s": round(len(sent) / wall, 1),
        "latency_p50_s": round(percentile(latencies, 0.50), 3),
        "latency_p95_s": round(percentile(latencies, 0.95), 3),
        "latency_p99_s": round(percentile(latencies, 0.99), 3),
        "gas_per_purchase": round(gas / len(sent)),
        "txs": txs,
        "checked_on_chain": f"total supply +{minted} = {len(sent)} x {POINTS} points",
    }


def end_to_end(
    n: int, connections: int, partners: int = 4, workers: int = WORKERS, *, store: StoreKind = SQLITE
) -> dict[str, Any]:
    with _stack(workers, beat=True, partners=partners, store=store) as (stack, onboarded):
        _warm_up(stack, onboarded, rounds=WARM_UP_ROUNDS)
        requests, owners = _single_requests(stack.url, onboarded, n, "e2e")
        supply0 = _supply(stack)
        cpu0, started = cpu_by_part(stack.servers), time.time()
        answers, wall = send_all("127.0.0.1", int(stack.url.rsplit(":", 1)[1]), requests, connections)
        accept = _accept_figures(answers, wall, 0.0)
        sent = [(owner, a.json()["seq"], a.sent_at) for owner, a in zip(owners, answers, strict=True)]
        figures = _confirm_figures(stack, onboarded, sent, started, supply0)
        return {
            **figures,
            "cpu_us_per_purchase": spent_per_item(cpu0, cpu_by_part(stack.servers), len(sent)),
            "connections": connections,
            "workers": workers,
            "partners": partners,
            "accept_p99_ms": accept["p99_ms"],
        }


def batch_end_to_end(
    n: int, connections: int, partners: int = 4, workers: int = WORKERS, *, store: StoreKind = SQLITE
) -> dict[str, Any]:
    with _stack(workers, beat=True, partners=partners, store=store) as (stack, onboarded):
        _warm_up(stack, onboarded, rounds=WARM_UP_ROUNDS)
        host, port = "127.0.0.1", int(stack.url.rsplit(":", 1)[1])
        requests, owners = [], []
        for r in range(-(-n // BATCH)):
            partner = onboarded[r % len(onboarded)]
            items = [_purchase(i, "batch") for i in range(r * BATCH, min(n, (r + 1) * BATCH))]
            body = json.dumps({"purchases": items}).encode()
            requests.append(post_request(host, port, "/v1/purchases/batch", body, partner.headers))
            owners.append(partner.id)
        supply0 = _supply(stack)
        cpu0, started = cpu_by_part(stack.servers), time.time()
        answers, wall = send_all(host, port, requests, connections)
        accept = _accept_figures(answers, wall, 0.0)
        sent = []
        for owner, answer in zip(owners, answers, strict=True):
            body = answer.json()
            if body["rejected"] or body["duplicates"]:
                raise RuntimeError(f"batch answer with rejections: {answer.body[:400]!r}")
            sent += [(owner, r["purchase"]["seq"], answer.sent_at) for r in body["results"]]
        figures = _confirm_figures(stack, onboarded, sent, started, supply0)
        return {
            **figures,
            "cpu_us_per_purchase": spent_per_item(cpu0, cpu_by_part(stack.servers), len(sent)),
            "requests": len(requests),
            "purchases_per_request": BATCH,
            "connections": connections,
            "workers": workers,
            "partners": partners,
            "accept_seconds": accept["seconds"],
            "accept_p99_ms": accept["p99_ms"],
        }


def naive(n: int, connections: int, partners: int = 4, *, store: StoreKind = SQLITE) -> dict[str, Any]:
    with _stack(0, beat=False, partners=partners, store=store) as (stack, onboarded):
        port = free_port(NAIVE_PORTS, set())
        stack.spawn("naive", ["-m", "uvicorn", "bench.naive_gateway:app", "--port", str(port), "--no-access-log"])
        _wait_up(stack, port)
        warm_up, _ = _single_requests(f"http://127.0.0.1:{port}", onboarded, len(onboarded), "naive-warm-up")
        send_all("127.0.0.1", port, warm_up, len(warm_up))  # each minter key decrypted once, off the clock
        requests, _ = _single_requests(f"http://127.0.0.1:{port}", onboarded, n, "naive")
        supply0 = _supply(stack)
        answers, wall = send_all("127.0.0.1", port, requests, connections)
        figures = _accept_figures(answers, wall, 0.0)
        minted = _supply(stack) - supply0
        if minted != POINTS * n:
            raise RuntimeError(f"naive: total supply grew by {minted}, not {POINTS * n}")
        gas = sum(a.json()["gas_used"] for a in answers)
        return {
            "purchases": n,
            "connections": connections,
            "partners": partners,
            "seconds": figures["seconds"],
            "purchases_per_s": figures["requests_per_s"],
            "latency_p50_s": round(figures["p50_ms"] / 1000, 3),
            "latency_p99_s": round(figures["p99_ms"] / 1000, 3),
            "gas_per_purchase": round(gas / n),
            "txs": n,
            "checked_on_chain": f"total supply +{minted} = {n} x {POINTS} points",
        }


def _wait_up(stack: Stack, port: int, timeout_s: float = 30) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/docs", timeout=1)
            return
        time.sleep(0.1)
    raise RuntimeError(f"the naive gateway did not start:\n{stack.logs()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--purchases", type=int, default=10_000)
    parser.add_argument("--batch-purchases", type=int, default=50_000)
    parser.add_argument("--naive-purchases", type=int, default=300)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--only", default="gateway,e2e,batch,naive")
    args = parser.parse_args()
    modes = args.only.split(",")
    out: dict[str, Any] = {"when": datetime.now(UTC).isoformat(timespec="seconds")}
    if "gateway" in modes:
        out["gateway"] = gateway_alone(args.purchases, args.connections)
        print("gateway", out["gateway"], flush=True)
    if "e2e" in modes:
        out["e2e"] = end_to_end(args.purchases, args.connections)
        print("e2e", out["e2e"], flush=True)
    if "batch" in modes:
        out["batch"] = batch_end_to_end(args.batch_purchases, 4)
        print("batch", out["batch"], flush=True)
    if "naive" in modes:
        out["naive"] = naive(args.naive_purchases, 16)
        print("naive", out["naive"], flush=True)


if __name__ == "__main__":
    main()
