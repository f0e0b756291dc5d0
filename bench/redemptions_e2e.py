"""Redemptions end to end: POST /v1/redemptions over HTTP to the voucher issued, on a real stack.

    .venv/bin/python -m bench.redemptions_e2e [--redemptions 300] [--concurrency 32] [--workers 2]
                                              [--customers 40] [--ports 8920-8939] [--pyspy DIR]
                                              [--burns-per-transaction N] [--relayer-keys a,b]

The stack is tests/e2e/stack.py's: a real anvil (automine) with the coalition deployed, a real
redis-server, ``workers`` Celery worker processes (2 pool processes each) and beat, the gateway
in uvicorn, one store (SQLite; ``run(store=...)``: PostgreSQL). Set-up (not timed): three
partners onboarded over the operator API (one where customers earn, two with a reward each),
customers given points by real purchases at the first (posted over HTTP, mined by the earn
pipeline and waited for), one reward per redeeming partner with exactly the stock the run will
take. One customer in four has a custodial wallet (the gateway signs its consent); the others
are self-custody wallets whose keys sign the EIP-712 typed data that ``POST
/v1/redemptions/consent`` returns (prepared during set-up).

Timed: ``concurrency`` client threads post every redemption; the clock runs from the first POST
to the last redemption fulfilled (burned on chain by the relayer, voucher issued), the latter
read from the store's ``finished_at`` (the worker's clock; same machine). Per redemption, the
latency is from its POST being sent to its ``finished_at``.

Checked afterwards: every redemption fulfilled with a distinct voucher; on chain, one
``Redeemed`` event per redemption's ref (decoded from ``eth_getLogs``) with its points; each
customer's balance is what it earned minus what it redeemed; each reward's stock is 0.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account
from eth_utils import event_abi_to_log_topic
from sqlalchemy import func, select

from bench.earn_throughput import machine
from gateway.tasks.context import RELAYER_DEV_INDEX
from network.keys import ANVIL_DEV_KEYS
from network.settings import ChainSettings
from network.store import Redemption
from tests.e2e.stack import OnboardedPartner, Stack, key_for, start_stack
from tests.pg import SQLITE, StoreKind

PYSPY = Path("/tmp/pyspy/bin/py-spy")
ANVIL_DEV_ACCOUNTS = [Account.from_key(k).address for k in ANVIL_DEV_KEYS]
REWARD_POINTS = 5
FINAL = ("fulfilled", "failed")


@dataclass
class Customer:
    label: str
    wallet: str
    key: bytes | None  # None: custodial (the gateway holds the key)
    home: OnboardedPartner  # the partner where it redeems (a custodial customer's ref is linked there)
    earned: int = 0


def _ok(r: httpx.Response, status: int) -> dict[str, Any]:
    if r.status_code != status:
        raise RuntimeError(f"{r.request.method} {r.request.url.path}: {r.status_code} {r.text}")
    return r.json()


# ------------------------------------------------------------------------------------ set-up


def make_customers(stack: Stack, n: int, redeemers: list[OnboardedPartner]) -> list[Customer]:
    customers: list[Customer] = []
    for i in range(n):
        home = redeemers[i % len(redeemers)]
        label = f"bench-customer-{i}"
        if i % 4 == 3:  # custodial: the gateway makes the wallet and signs for it
            created = _ok(stack.http.post(f"/v1/customers/{label}/custodial-wallet", headers=home.headers), 201)
            customers.append(Customer(label, created["wallet"], None, home))
        else:
            account = key_for(label)
            customers.append(Customer(label, account.address, bytes(account.key), home))
    return customers


def give_points(stack: Stack, earner: OnboardedPartner, customers: list[Customer], points_each: list[int]) -> None:
    """One purchase per customer at ``earner`` (points_per_unit 1: amount = points), each waited
    for until confirmed on chain."""
    for c, points in zip(customers, points_each, strict=True):
        _ok(stack.post_purchase(earner, f"bench-earn-{c.label}", c.wallet, amount=str(points)), 202)
    for c, points in zip(customers, points_each, strict=True):
        stack.wait_purchase(earner, f"bench-earn-{c.label}", timeout_s=120)
        c.earned = points


def redemption_body(stack: Stack, c: Customer, redemption_id: str, sku: str) -> dict[str, Any]:
    """The body to post: a custodial customer by ref, no consent; a self-custody one by wallet
    with its signature of the typed data the gateway prepared."""
    if c.key is None:
        return {"redemption_id": redemption_id, "sku": sku, "quantity": 1, "customer": {"ref": c.label}}
    ask = {"redemption_id": redemption_id, "sku": sku, "quantity": 1, "customer": {"wallet": c.wallet}}
    prepared = _ok(stack.http.post("/v1/redemptions/consent", headers=c.home.headers, json=ask), 200)
    signature = Account.sign_typed_data(c.key, full_message=prepared["typed_data"]).signature
    consent = {"nonce": int(prepared["nonce"]), "deadline": prepared["deadline"], "signature": "0x" + signature.hex()}
    return {**ask, "consent": consent}


# ------------------------------------------------------------------------------------ timed


def post_all(
    stack: Stack, work: list[tuple[Customer, dict[str, Any]]], concurrency: int
) -> tuple[float, float, dict[str, float]]:
    """Posts every redemption from ``concurrency`` threads. Returns (wall time of the first
    POST, wall time the last answer came, {redemption_id: wall time its POST was sent})."""
    sent: dict[str, float] = {}

    def post(item: tuple[Customer, dict[str, Any]]) -> httpx.Response:
        c, body = item
        sent[body["redemption_id"]] = time.time()
        return stack.http.post("/v1/redemptions", headers=c.home.headers, json=body)

    first = time.time()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        responses = list(pool.map(post, work))
    answered = time.time()
    bad = Counter((r.status_code, r.json().get("type")) for r in responses if r.status_code != 202)
    if bad:
        raise RuntimeError(f"redemptions refused: {dict(bad)}")
    return first, answered, sent


def wait_final(stack: Stack, ids: list[str], timeout_s: float) -> dict[str, Redemption]:
    deadline = time.monotonic() + timeout_s
    while True:
        with stack.harness.sessions() as session:
            done = session.scalar(
                select(func.count()).where(Redemption.redemption_id.in_(ids), Redemption.status.in_(FINAL))
            )
            if done == len(ids):
                rows = session.scalars(select(Redemption).where(Redemption.redemption_id.in_(ids))).all()
                session.expunge_all()
                return {r.redemption_id: r for r in rows}
        if time.monotonic() > deadline:
            raise TimeoutError(f"{done} of {len(ids)} redemptions final after {timeout_s} s\n{stack.logs(20)}")
        time.sleep(0.1)


# ------------------------------------------------------------------------------------ checks


def redeemed_on_chain(stack: Stack, from_block: int) -> list[dict[str, Any]]:
    points = stack.harness.contracts.points
    abi = next(i for i in points.abi if i.get("type") == "event" and i.get("name") == "Redeemed")
    logs = stack.harness.w3.eth.get_logs(
        {
            "address": points.address,
            "fromBlock": from_block,
            "toBlock": "latest",
            "topics": ["0x" + event_abi_to_log_topic(abi).hex()],
        }
    )
    return [dict(points.events.Redeemed().process_log(log)["args"]) for log in logs]


def verify(
    stack: Stack,
    rows: dict[str, Redemption],
    customers: list[Customer],
    spent: Counter[str],  # redemptions per wallet
    skus: dict[str, OnboardedPartner],
    from_block: int,
) -> dict[str, Any]:
    """Raises AssertionError on any difference; returns what was checked."""
    statuses = Counter(r.status for r in rows.values())
    assert statuses == {"fulfilled": len(rows)}, f"statuses {dict(statuses)}"
    assert len({r.voucher_code for r in rows.values()}) == len(rows), "a voucher code given twice"
    events = redeemed_on_chain(stack, from_block)
    by_ref = Counter("0x" + bytes(e["ref"]).hex() for e in events)
    for r in rows.values():
        assert by_ref[r.ref] == 1, f"{r.redemption_id}: {by_ref[r.ref]} Redeemed events for ref {r.ref}"
    assert sum(by_ref.values()) == len(rows), f"{sum(by_ref.values())} Redeemed events for {len(rows)} redemptions"
    assert sum(int(e["points"]) for e in events) == REWARD_POINTS * len(rows)
    for c in customers:
        balance, redeemed = stack.balance(c.wallet), REWARD_POINTS * spent[c.wallet]
        assert balance == c.earned - redeemed, f"{c.wallet}: {balance} != {c.earned} - {redeemed}"
    for sku, partner in skus.items():
        stock = _ok(stack.http.get(f"/v1/rewards/{sku}", headers=partner.headers), 200)["stock"]
        assert stock == 0, f"reward {sku} has {stock} left"
    return {"redeemed_events": len(events), "customers_checked": len(customers), "rewards_checked": len(skus)}


# ------------------------------------------------------------------------------------ profiling


def start_pyspy(stack: Stack, out: Path) -> list[subprocess.Popen[bytes]]:
    """py-spy record (with subprocesses: the Celery pool) of every worker and of the gateway."""
    out.mkdir(parents=True, exist_ok=True)
    procs = []
    for name, process in stack.processes.items():
        if name == "beat":
            continue
        args = [str(PYSPY), "record", "--subprocesses", "--pid", str(process.pid), "--rate", "100"]
        args += ["--format", "speedscope", "-o", str(out / f"{name}.speedscope.json")]
        with open(out / f"{name}.pyspy.log", "wb") as log:
            procs.append(subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
    time.sleep(1.0)  # py-spy attaches
    return procs


def stop_pyspy(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGINT)  # py-spy writes its file on SIGINT
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait(5)


# ------------------------------------------------------------------------------------ run


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def run(
    *,
    ports: range = range(8920, 8940),
    redemptions: int = 300,
    concurrency: int = 32,
    workers: int = 2,
    customers: int = 40,
    pyspy_dir: Path | None = None,
    timeout_s: float = 600,
    store: StoreKind = SQLITE,
    burns_per_transaction: int | None = None,
    relayer_keys: str = "",
) -> dict[str, Any]:
    """Starts its own stack, sets up partners, customers and rewards (untimed), posts
    ``redemptions`` redemptions from ``concurrency`` threads and waits until every one is
    fulfilled, checks the chain, and stops everything it started. Returns the figures.
    ``burns_per_transaction``: the relayer's setting (``COALITION_BURNS_PER_TRANSACTION``; None:
    its default), 1 for the baseline of one transaction per redemption; ``relayer_keys``: more
    relayer keys sharing the burns (``COALITION_RELAYER_KEYS``, e.g. "relayer-2,relayer-3")."""
    info = machine()
    batching: dict[str, object] = {"relayer_keys": relayer_keys}
    if burns_per_transaction is not None:
        batching["burns_per_transaction"] = burns_per_transaction
    relayers = _relayer_addresses(relayer_keys)
    customers = max(1, min(customers, redemptions))
    with (
        tempfile.TemporaryDirectory(prefix="bench-redemptions-") as tmp,
        start_stack(
            Path(tmp), ports=ports, store=store, workers=workers, redemption_stuck_after_s=30, **batching
        ) as stack,
    ):
        setup_t0 = time.perf_counter()
        earner = stack.onboard("Bench Grocer")
        redeemers = [stack.onboard("Bench Cinema"), stack.onboard("Bench Books")]
        people = make_customers(stack, customers, redeemers)
        plan = [people[k % len(people)] for k in range(redemptions)]
        spent: Counter[str] = Counter(c.wallet for c in plan)
        # twice what they spend: acceptance counts a burn mined between its two reads (the
        # in-flight sum, then the balance) twice, so a customer spending its last points
        # concurrently can be refused insufficient-points for a moment
        give_points(stack, earner, people, [2 * REWARD_POINTS * spent[c.wallet] + 3 for c in people])
        skus: dict[str, OnboardedPartner] = {}
        for i, partner in enumerate(redeemers):
            sku = f"BENCH-{i}"
            stock = sum(1 for c in plan if c.home is partner)
            body = {"sku": sku, "name": f"Bench reward {i}", "points": REWARD_POINTS, "stock": stock}
            _ok(stack.http.post("/v1/rewards", headers=partner.headers, json=body), 201)
            skus[sku] = partner
        sku_of = {partner.id: sku for sku, partner in skus.items()}
        with ThreadPoolExecutor(max_workers=8) as pool:
            bodies = list(
                pool.map(
                    lambda kc: redemption_body(stack, kc[1], f"bench-r-{kc[0]}", sku_of[kc[1].home.id]),
                    enumerate(plan),
                )
            )
        work = list(zip(plan, bodies, strict=True))
        from_block = stack.harness.w3.eth.block_number + 1
        relayer = sum(stack.harness.w3.eth.get_transaction_count(a) for a in relayers)
        setup_s = time.perf_counter() - setup_t0
        spy = start_pyspy(stack, pyspy_dir) if pyspy_dir else []
        try:
            load_before = os.getloadavg()[0]
            first, answered, sent = post_all(stack, work, concurrency)
            rows = wait_final(stack, [b["redemption_id"] for b in bodies], timeout_s)
            load_after = os.getloadavg()[0]
        finally:
            stop_pyspy(spy)
        checks = verify(stack, rows, people, spent, skus, from_block)
        burn_txs = sum(stack.harness.w3.eth.get_transaction_count(a) for a in relayers) - relayer
        gas = burn_gas(stack, rows)
        stack.assert_running()
    finished = {rid: r.finished_at.replace(tzinfo=UTC).timestamp() for rid, r in rows.items() if r.finished_at}
    last = max(finished.values())
    latencies = [finished[rid] - sent[rid] for rid in finished]
    seconds = last - first
    after = sorted(t for t in finished.values() if t > answered)  # fulfilled once every POST was answered
    blocks = Counter(r.block_number for r in rows.values())
    return {
        "redemptions": redemptions,
        "redemptions_per_s": round(redemptions / seconds, 1),
        "seconds": round(seconds, 2),
        "accept_seconds": round(answered - first, 2),
        "accepted_per_s": round(redemptions / (answered - first), 1),
        "p50_s": round(percentile(latencies, 0.50), 3),
        "p95_s": round(percentile(latencies, 0.95), 3),
        "p99_s": round(percentile(latencies, 0.99), 3),
        "mean_s": round(statistics.fmean(latencies), 3),
        "fulfilled_by_last_answer": redemptions - len(after),
        "fulfil_rate_after_last_answer": round(len(after) / (last - answered), 1) if after else None,
        "burn_txs": burn_txs,
        "relayer_keys": len(relayers),
        "burns_per_transaction": burns_per_transaction or ChainSettings.model_fields["burns_per_transaction"].default,
        "gas_per_redemption": round(gas / redemptions),
        "burn_blocks": len(blocks),
        "concurrency": concurrency,
        "workers": workers,
        "customers": customers,
        "custodial_customers": sum(1 for c in people if c.key is None),
        "setup_s": round(setup_s, 1),
        "checks": checks,
        "load_avg_1m_before": round(load_before, 2),
        "load_avg_1m_after": round(load_after, 2),
        "machine": info,
    }


def burn_gas(stack: Stack, rows: dict[str, Redemption]) -> int:
    """The gas of every transaction that burned one of ``rows`` (from their receipts; a batch
    counted once)."""
    hashes = {r.tx_hash for r in rows.values() if r.tx_hash}
    return sum(int(stack.harness.w3.eth.get_transaction_receipt(h)["gasUsed"]) for h in hashes)


def _relayer_addresses(relayer_keys: str) -> list[str]:
    """Local mode's relayer keys (anvil development accounts; no keystores in the bench's stack)."""
    names = ["relayer"] + [n.strip() for n in relayer_keys.split(",") if n.strip()]
    return [ANVIL_DEV_ACCOUNTS[RELAYER_DEV_INDEX[n]] for n in dict.fromkeys(names)]


def table(result: dict[str, Any]) -> str:
    rows = [
        ("redemptions", result["redemptions"]),
        ("concurrency (client threads)", result["concurrency"]),
        ("workers (x2 pool processes)", result["workers"]),
        ("customers (custodial)", f"{result['customers']} ({result['custodial_customers']})"),
        ("first POST -> last fulfilled, s", result["seconds"]),
        ("redemptions/s (end to end)", result["redemptions_per_s"]),
        ("all POSTs answered 202, s", result["accept_seconds"]),
        ("accepted/s", result["accepted_per_s"]),
        ("fulfilled when the last POST was answered", result["fulfilled_by_last_answer"]),
        ("fulfilled/s after it", result["fulfil_rate_after_last_answer"]),
        ("latency p50, s", result["p50_s"]),
        ("latency p95, s", result["p95_s"]),
        ("latency p99, s", result["p99_s"]),
        ("redemptions per relayer transaction (setting)", result["burns_per_transaction"]),
        ("relayer keys", result["relayer_keys"]),
        ("relayer transactions", result["burn_txs"]),
        ("gas per redemption", result["gas_per_redemption"]),
        ("blocks with burns", result["burn_blocks"]),
        ("load average before / after", f"{result['load_avg_1m_before']} / {result['load_avg_1m_after']}"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v!s:>12}" for k, v in rows)


def _ports(text: str) -> range:
    lo, hi = (int(x) for x in text.split("-"))
    return range(lo, hi + 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redemptions", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=32, help="client threads posting redemptions")
    parser.add_argument("--workers", type=int, default=2, help="Celery worker processes (2 pool processes each)")
    parser.add_argument("--customers", type=int, default=40, help="one in four custodial")
    parser.add_argument("--ports", type=_ports, default=range(8920, 8940), help="e.g. 8920-8939")
    parser.add_argument("--pyspy", type=Path, default=None, help="record workers and gateway with py-spy into DIR")
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    parser.add_argument("--burns-per-transaction", type=int, default=None, help="default: the setting's default")
    parser.add_argument("--relayer-keys", default="", help="more relayer keys, e.g. relayer-2,relayer-3")
    args = parser.parse_args(argv)
    info = machine()
    print(f"machine: {info['cores']} cores ({info['cpu']}), load average {info['load_avg_1m']}", flush=True)
    result = run(
        ports=args.ports,
        redemptions=args.redemptions,
        concurrency=args.concurrency,
        workers=args.workers,
        customers=args.customers,
        pyspy_dir=args.pyspy,
        burns_per_transaction=args.burns_per_transaction,
        relayer_keys=args.relayer_keys,
    )
    print(table(result))
    print(f"checked: {result['checks']} (set-up {result['setup_s']} s, not timed)")
    if args.json:
        result["when"] = datetime.now(UTC).isoformat(timespec="seconds")
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
