"""Analytics at scale (issue 19): a store filled with N members and 10 N purchases across 50 partners
(bench/analytics_data.py), then the daily RFM snapshot (the coalition and every partner, as the beat
runs it) and each KPI query's latency, coalition-wide and for one partner, per size.

    .venv/bin/python -m bench.analytics [--sizes 10000,100000] [--store sqlite|postgresql]

1,000,000 members (10,000,000 purchases) is opt-in: ``--sizes 10000,100000,1000000`` here, or
``python -m bench --only analytics --analytics-sizes 10000,100000,1000000`` (the generator alone
takes tens of minutes at that size). The table gives each figure's growth from one size to the next.

The KPI latencies are the service's (gateway/services/analytics.py, rfm.py), what each endpoint
runs in one request, without HTTP (a few ms more). Targets: the snapshot under 60 s and each KPI
under 1 s at 1,000,000 members.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bench.analytics_data import CHAIN_ID, fill
from gateway.services import analytics, rfm
from network.store import COALITION
from tests.pg import BENCH_SETTINGS, SQLITE, STORES, PgCluster, StoreKind
from tests.stores import migrated_store

PARTNERS = 50
CHURN_DAYS = 90
SNAPSHOT_TARGET_S = 60.0
KPI_TARGET_S = 1.0


def _best(fn: Callable[[], Any], rounds: int = 3) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return round(best, 3)


def measure(sessions: sessionmaker[Session], members: int) -> dict[str, Any]:
    started = time.perf_counter()
    with sessions() as session:
        filled = fill(session, members=members, partners=PARTNERS)
    fill_s = time.perf_counter() - started
    day = filled.end.date() - timedelta(days=1)
    start = day - timedelta(days=29)
    started = time.perf_counter()
    runs = rfm.snapshot(sessions, day=day)
    snapshot_s = time.perf_counter() - started
    coalition = next(r for r in runs if r.scope == COALITION)
    partners = [r.seconds for r in runs if r.scope != COALITION]

    def kpi(name: str, partner: int | None) -> Callable[[], Any]:
        def run() -> Any:
            with sessions() as session:
                lo, hi = analytics.bounds(start, day)
                if name == "kpis (all, one request)":
                    return analytics.kpis(
                        session, start=start, end=day, chain_id=CHAIN_ID, churn_days=CHURN_DAYS, partner_id=partner
                    )
                if name == "cohorts":
                    return analytics.cohorts(
                        session, lo=lo, hi=hi, partner_id=partner, dialect=session.get_bind().dialect.name
                    )
                if name == "flow":
                    return analytics.flow(session, lo=lo, hi=hi, chain_id=CHAIN_ID, partner_id=partner)
                if name == "shared members":
                    return analytics.shared_members(session, partner_id=partner)
                if name == "tiers":
                    return analytics.tiers(session, partner_id=partner)
                if name == "rfm segment sizes":
                    return rfm.segment_sizes(session, scope=partner or COALITION)
                if name == "rfm member":
                    return rfm.member_rfm(session, scope=partner or COALITION, customer_id=1)
                raise ValueError(name)

        return run

    names = ["kpis (all, one request)", "cohorts", "flow", "shared members", "tiers", "rfm segment sizes", "rfm member"]
    latency = {
        scope: {name: _best(kpi(name, partner)) for name in names}
        for scope, partner in (("coalition", None), ("partner 1", 1))
    }
    return {
        "members": members,
        "purchases": filled.purchases,
        "ledger_entries": filled.ledger,
        "fill_s": round(fill_s, 1),
        "snapshot_s": round(snapshot_s, 2),
        "snapshot_coalition_s": round(coalition.seconds, 2),
        "snapshot_partner_max_s": round(max(partners), 3) if partners else None,
        "snapshot_rows": sum(r.members for r in runs),
        "kpi_s": latency,
    }


def run(sizes: list[int], store: StoreKind = SQLITE, log: Callable[[str], None] = print) -> dict[str, Any]:
    curve = []
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="bench-analytics-") as folder:
            sessions = migrated_store(store.new_url(Path(folder)))
            try:
                result = measure(sessions, n)
            finally:
                sessions.kw["bind"].dispose()
        log(
            f"  {n:,} members: fill {result['fill_s']} s, snapshot {result['snapshot_s']} s, "
            f"kpis {result['kpi_s']['coalition']['kpis (all, one request)']} s"
        )
        curve.append(result)
    return {"store": store.name, "curve": curve}


def _growth(values: list[float]) -> str:
    """Each size's figure over the previous size's (the cost's growth per step)."""
    return "".join(f" | x{b / a:.1f}" if a else " | -" for a, b in itertools.pairwise(values))


def table(result: dict[str, Any]) -> str:
    curve = result["curve"]
    steps = "".join(f" | growth {a['members']:,} -> {b['members']:,}" for a, b in itertools.pairwise(curve))
    lines = [
        f"| analytics ({result['store']}) | " + " | ".join(f"{c['members']:,} members" for c in curve) + steps + " |",
        "|---|" + "---:|" * (2 * len(curve) - 1),
        "| purchases | " + " | ".join(f"{c['purchases']:,}" for c in curve) + " |" * len(curve[1:]) + " |",
        "| fill (generator) s | "
        + " | ".join(f"{c['fill_s']}" for c in curve)
        + _growth([c["fill_s"] for c in curve])
        + " |",
        f"| RFM snapshot, 1 + {PARTNERS} scopes, s (target < {SNAPSHOT_TARGET_S:.0f} s at 1M) | "
        + " | ".join(f"{c['snapshot_s']}" for c in curve)
        + _growth([c["snapshot_s"] for c in curve])
        + " |",
        "| of which coalition scope s | "
        + " | ".join(f"{c['snapshot_coalition_s']}" for c in curve)
        + _growth([c["snapshot_coalition_s"] for c in curve])
        + " |",
    ]
    for scope in ("coalition", "partner 1"):
        for name in curve[0]["kpi_s"][scope]:
            values = [c["kpi_s"][scope][name] for c in curve]
            lines.append(f"| {scope}: {name} s | " + " | ".join(f"{v}" for v in values) + _growth(values) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000", help="members per store, comma-separated")
    parser.add_argument("--store", choices=STORES, default="sqlite")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    with contextlib.ExitStack() as cleanup:
        store = SQLITE
        if args.store == "postgresql":
            store = StoreKind("postgresql", cleanup.enter_context(PgCluster.start(settings=BENCH_SETTINGS)))
        result = run(sizes, store)
    print(table(result))


if __name__ == "__main__":
    main()
