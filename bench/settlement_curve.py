"""Settlement time, 10k to 1M events: what the operator waits for, and how it grows.

    .venv/bin/python -m bench.settlement_curve [--sizes 10000,100000,1000000] [--partners 50]
                                               [--port 8910] [--quick] [--cross-check 0]
                                               [--store sqlite|postgresql]

One real stack (tests/e2e/stack.py: anvil, redis-server, a Celery worker and beat, the gateway
under uvicorn, one store: SQLite, or PostgreSQL with ``--store``) with ``--partners`` partners
onboarded over the operator API at different issue prices and reimbursement rates. Then, per
size, smallest first, each its own period: the period's events are SYNTHESIZED INTO THE STORE,
NOT MINED (bench/settlement_synth.py: the exact rows the indexer writes for earns, redemptions
and refund clawbacks, over real empty blocks that the indexer has indexed, with the partners'
on-chain exposure set to what those earns would have reserved), and the clock runs from the
operator's ``POST /v1/operator/settlements`` to the period read back ``settled`` from ``GET
/v1/operator/settlements/{id}`` (polled every 20 ms): reading the period's events, computing the
lines and the statement and its hash, storing them, signing, sending and confirming
``Clearing.settle`` on the anvil (run without its periodic state dump, which stalls a node of
10k+ blocks). Setup (onboarding, mining the empty blocks, synthesizing the rows) is timed apart
and not counted.

Each settled period is checked: the served statement's lines equal the synthesized totals, its
keccak is the chain's, every partner's exposure is back where it was.

``--cross-check N`` first mines about N real events (earns in batches of one by the partners'
minter keys, redemptions with customers' signed consents, clawbacks), lets the indexer store them,
and compares the gateway's lines (the SQL aggregation and the plain per-event path) with
``coalition.crosscheck.recompute_from_chain``, then settles that period over the API (not in the curve).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench.earn_throughput import machine
from bench.settlement_synth import (
    EVENTS_PER_BLOCK,
    Expected,
    Synthesizer,
    SynthPartner,
    mapping_slot,
    mine_blocks,
    set_mapping,
)
from loyalty.statement import statement_hash
from network.store import ChainEvent
from tests.e2e.stack import OPERATOR_HEADERS, Stack, start_stack
from tests.network.harness import USD
from tests.pg import BENCH_SETTINGS, SQLITE, STORES, PgCluster, StoreKind

OUT = Path(__file__).resolve().parent / "settlement_curve.json"
SIZES = [10_000, 100_000, 1_000_000]
QUICK_SIZES = [10_000, 50_000, 200_000]
POLL_S = 0.02
STATE_INTERVAL_ENV = "COALITION_ANVIL_STATE_INTERVAL_S"


def partner_rates(i: int) -> tuple[int, int]:
    """(issue price, reimbursement rate) of the i-th partner: 50 different price lists."""
    issue_price = 8_000 + 250 * (i % 20) + 17 * i
    return issue_price, issue_price * (70 + i % 20) // 100


def onboard(stack: Stack, n: int) -> list[SynthPartner]:
    """``n`` partners over the operator API, one after the other (in local mode concurrent
    onboardings race on the admin key's nonce when they deposit test funds)."""
    partners = []
    for i in range(n):
        issue_price, rate = partner_rates(i)
        p = stack.onboard(f"Partner {i + 1:02d}", issue_price=issue_price, reimbursement_rate=rate, deposit=10**7 * USD)
        partners.append(SynthPartner(p.id, issue_price, rate))
    return partners


def fund_operator(stack: Stack, amount: int) -> None:
    """Real funds in the operator's account of ``Clearing`` (a period may have it pay)."""
    from network.direct import transact

    h = stack.harness
    c = h.contracts
    transact(h.w3, h.admin, c.token.functions.mint(h.admin.address, amount))
    transact(h.w3, h.admin, c.token.functions.approve(c.clearing.address, amount))
    transact(h.w3, h.admin, c.clearing.functions.fundOperator(amount))


def settle_over_api(stack: Stack, timeout_s: float = 600) -> tuple[dict[str, Any], float, float]:
    """POSTs "close the period now" and polls until settled: (period, seconds in all, seconds of the POST)."""
    t0 = time.perf_counter()
    r = stack.http.post("/v1/operator/settlements", headers=OPERATOR_HEADERS)
    post_s = time.perf_counter() - t0
    assert r.status_code in (200, 201, 202), f"{r.status_code} {r.text}"
    period_id = r.json()["period_id"]
    deadline = t0 + timeout_s
    while True:
        body = stack.http.get(f"/v1/operator/settlements/{period_id}", headers=OPERATOR_HEADERS).json()
        if body["status"] == "settled":
            seconds = time.perf_counter() - t0
            if f"could not enqueue the settlement of period {period_id}" in stack.log("gateway", 400):
                raise RuntimeError(
                    f"period {period_id}: the gateway could not enqueue settle_period; beat's settle_due"
                    f" settled it {seconds:.1f} s later, which is not the figure measured here:\n{stack.log('gateway')}"
                )
            return body, seconds, post_s
        if body["status"] == "failed" or time.perf_counter() > deadline:
            raise RuntimeError(f"period {period_id}: {body['status']} {body.get('error')}\n{stack.logs()}")
        time.sleep(POLL_S)


def check_period(stack: Stack, body: dict[str, Any], expected: Expected) -> None:
    """The served statement says what was synthesized, and the chain has its hash."""
    got = [
        (
            p["partner_id"],
            p["points_issued"],
            p["points_reversed"],
            p["points_redeemed"],
            p["issued_value"],
            p["reversed_value"],
            p["redeemed_value"],
        )
        for p in body["statement"]["partners"]
    ]
    assert got == expected.lines(), "statement lines differ from the synthesized totals"
    onchain = stack.harness.contracts.clearing.functions.period(body["period_id"]).call()
    assert "0x" + bytes(onchain[2]).hex() == body["statement_hash"] == "0x" + statement_hash(body["statement"]).hex()


def one_size(
    stack: Stack, synth: Synthesizer, slots: dict[str, int], partners: list[SynthPartner], n: int, log: Any = print
) -> dict[str, Any]:
    h = stack.harness
    clearing = h.contracts.clearing
    t0 = time.perf_counter()
    blocks = mine_blocks(h.w3, math.ceil(n / EVENTS_PER_BLOCK))
    t_mined = time.perf_counter()
    stack.wait_indexed(blocks[-1][0], timeout_s=300)
    t_indexed = time.perf_counter()
    before = {p.id: int(clearing.functions.exposureOf(p.id).call()) for p in partners}
    pending = {p.id: int(clearing.functions.pendingCreditOf(p.id).call()) for p in partners}
    expected = synth.write(h.sessions, blocks, n, before, pending)
    t_written = time.perf_counter()
    for pid, value in expected.issued_value.items():
        set_mapping(h.w3, clearing, "exposureOf", slots["exposureOf"], pid, before[pid] + value)
    for pid, value in expected.reversed_value.items():
        set_mapping(h.w3, clearing, "pendingCreditOf", slots["pendingCreditOf"], pid, pending[pid] + value)
    for pid in expected.issued_value:
        exposure, funds = (int(clearing.functions.exposureOf(pid).call()), int(clearing.functions.fundsOf(pid).call()))
        assert exposure <= funds, f"partner {pid}: exposure {exposure} over its funds {funds}: deposit more"
    setup_s = time.perf_counter() - t0
    log(
        f"  {n:>9,} events synthesized into the store over {len(blocks):,} blocks in {setup_s:.1f} s (mining"
        f" {t_mined - t0:.1f} s, indexing {t_indexed - t_mined:.1f} s, rows {t_written - t_indexed:.1f} s); settling"
    )
    body, seconds, post_s = settle_over_api(stack)
    log(f"  {n:>9,} events settled in {seconds:.3f} s (the POST: {post_s:.3f} s)")
    check_period(stack, body, expected)
    for p in partners:
        assert int(clearing.functions.exposureOf(p.id).call()) == before[p.id], f"partner {p.id}: exposure not restored"
        assert int(clearing.functions.pendingCreditOf(p.id).call()) == pending[p.id], f"partner {p.id}: credit"
    return {
        "events": n,
        "seconds": round(seconds, 3),
        "us_per_event": round(seconds / n * 1e6, 2),
        "post_s": round(post_s, 3),
        "period_id": body["period_id"],
        "partners_in_statement": len(body["statement"]["partners"]),
        "event_mix": {k: expected.counts[k] for k in ("Earned", "Redeemed", "Reversed")},
        "store_rows_written": {"chain_events": expected.counts["chain_event_rows"], "ledger_entries": n},
        "blocks": len(blocks),
        "setup_s": round(setup_s, 1),
    }


def linearity(curve: list[dict[str, Any]]) -> dict[str, Any]:
    """Least-squares fit of seconds = a + b × events, and the per-event cost at each end."""
    xs = [float(c["events"]) for c in curve]
    ys = [float(c["seconds"]) for c in curve]
    out: dict[str, Any] = {
        "us_per_event_ratio_largest_to_smallest": round(curve[-1]["us_per_event"] / curve[0]["us_per_event"], 3)
    }
    if len(curve) >= 2:
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        sxx = sum((x - mx) ** 2 for x in xs)
        b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
        a = my - b * mx
        ss_tot = sum((y - my) ** 2 for y in ys)
        ss_res = sum((y - a - b * x) ** 2 for x, y in zip(xs, ys, strict=True))
        out |= {
            "fit_fixed_s": round(a, 3),
            "fit_us_per_event": round(b * 1e6, 3),
            "fit_r2": round(1 - ss_res / ss_tot, 5) if ss_tot else 1.0,
        }
        # log-log slope: 1.0 is linear, 2.0 quadratic (the fixed cost pulls it below 1 at small sizes)
        lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
        mlx, mly = sum(lx) / len(lx), sum(ly) / len(ly)
        out["loglog_slope"] = round(
            sum((x - mlx) * (y - mly) for x, y in zip(lx, ly, strict=True)) / sum((x - mlx) ** 2 for x in lx), 3
        )
    return out


def run(
    *,
    port: int = 8910,
    sizes: list[int] = SIZES,
    partners: int = 50,
    cross_check: int = 0,
    log: Any = print,
    store: StoreKind = SQLITE,
) -> dict[str, Any]:
    """Runs the curve on its own stack (ports ``port``..``port + 9``) and returns the figures."""
    sizes = sorted(sizes)
    wall0 = time.perf_counter()
    # anvil without its periodic state dump (as bench/earn_throughput.py): dumping 10k+ blocks
    # every second stalls the node; read by make_harness's ChainSettings, put back afterwards
    saved = os.environ.get(STATE_INTERVAL_ENV)
    os.environ[STATE_INTERVAL_ENV] = "0"
    try:
        return _run(
            port=port, sizes=sizes, partners=partners, cross_check=cross_check, log=log, wall0=wall0, store=store
        )
    finally:
        if saved is None:
            os.environ.pop(STATE_INTERVAL_ENV, None)
        else:
            os.environ[STATE_INTERVAL_ENV] = saved


def _run(
    *, port: int, sizes: list[int], partners: int, cross_check: int, log: Any, wall0: float, store: StoreKind
) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="bench-settlement-") as tmp,
        start_stack(
            Path(tmp),
            ports=range(port, port + 10),
            store=store,
            workers=1,
            concurrency=2,
            settlement_period=10**9,  # no scheduled period ends: only the operator's POST closes one
            reconcile_every_s=10**6,  # the reconciliation would scan the synthesized rows meanwhile
        ) as stack,
    ):
        t0 = time.perf_counter()
        onboarded = onboard(stack, partners)
        fund_operator(stack, 10**8 * USD)
        stack.wait_indexed()
        onboarding_s = time.perf_counter() - t0
        log(f"{partners} partners onboarded over the operator API in {onboarding_s:.1f} s")
        h = stack.harness
        slots = {
            getter: mapping_slot(h.w3, h.contracts.clearing, getter, onboarded[0].id)
            for getter in ("exposureOf", "pendingCreditOf")
        }
        cross: dict[str, Any] | None = None
        if cross_check:
            from bench.settlement_crosscheck import cross_check as do_cross_check

            cross = do_cross_check(stack, onboarded, cross_check, log=log)
        synth = Synthesizer(
            onboarded, h.book.chain_id, next_batch_id=int(h.contracts.points.functions.nextBatchId().call())
        )
        curve = [one_size(stack, synth, slots, onboarded, n, log=log) for n in sizes]
        with h.sessions() as session:
            total_rows = session.scalar(select(func.count()).select_from(ChainEvent))
    largest = curve[-1]
    result: dict[str, Any] = {
        "benchmark": "settlement_curve",
        "events_source": "synthesized into the store (indexer rows written directly), not mined",
        "measured": "POST /v1/operator/settlements -> period read back settled (Clearing.settle confirmed on anvil)",
        "partners": partners,
        # the 1M figure only when 1M events were run (else None); the largest size's, always
        "settlement_1m_s": largest["seconds"] if largest["events"] == 1_000_000 else None,
        "settlement_largest_s": largest["seconds"],
        "largest_events": largest["events"],
        "curve": curve,
        "linearity": linearity(curve),
        "chain_events_rows_at_end": total_rows,
        "onboarding_s": round(onboarding_s, 1),
        "wall_s": round(time.perf_counter() - wall0, 1),
        "machine": machine(),
    }
    if cross is not None:
        result["cross_check"] = cross
    return result


def table(result: dict[str, Any]) -> str:
    lines = [
        f"Settlement of a period, {result['partners']} partners; events SYNTHESIZED INTO THE STORE, not mined;",
        "time = operator's POST until the period is read back settled (settle tx confirmed on anvil)",
        f"{'events':>10} {'seconds':>9} {'us/event':>9} {'POST s':>7} {'setup s':>8}",
    ]
    for c in result["curve"]:
        lines.append(
            f"{c['events']:>10,} {c['seconds']:>9.3f} {c['us_per_event']:>9.2f}"
            f" {c['post_s']:>7.3f} {c['setup_s']:>8.1f}"
        )
    lin = result["linearity"]
    lines.append(
        f"linearity: us/event largest/smallest = {lin['us_per_event_ratio_largest_to_smallest']}"
        + (
            f", fit {lin['fit_fixed_s']} s + {lin['fit_us_per_event']} us/event (r2 {lin['fit_r2']}),"
            f" log-log slope {lin['loglog_slope']}"
            if "fit_r2" in lin
            else ""
        )
    )
    if "cross_check" in result:
        cc = result["cross_check"]
        lines.append(f"cross-check, {cc['events']} mined events: store lines == recompute_from_chain: {cc['equal']}")
    m = result["machine"]
    lines.append(f"wall {result['wall_s']} s (setup included); {m['cores']} cores, load {m['load_avg_1m']} at the end")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="events per period, comma-separated")
    parser.add_argument("--quick", action="store_true", help=f"sizes {QUICK_SIZES}")
    parser.add_argument("--partners", type=int, default=50)
    parser.add_argument("--port", type=int, default=8910, help="first of ten ports")
    parser.add_argument("--cross-check", type=int, default=0, metavar="N", help="mine ~N real events first")
    parser.add_argument(
        "--store", choices=STORES, default="sqlite", help="postgresql: a throwaway cluster (tests/pg.py)"
    )
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    sizes = QUICK_SIZES if args.quick else [int(s) for s in args.sizes.split(",")]
    with contextlib.ExitStack() as cleanup:
        store = SQLITE
        if args.store == "postgresql":
            store = StoreKind("postgresql", cleanup.enter_context(PgCluster.start(settings=BENCH_SETTINGS)))
        result = run(port=args.port, sizes=sizes, partners=args.partners, cross_check=args.cross_check, store=store)
    print(table(result))
    with contextlib.suppress(OSError):
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
