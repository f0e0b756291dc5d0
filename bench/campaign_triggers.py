"""A daily campaign trigger over many members (issue 20 item 6: under 60 s for 1,000,000 members):
one run of the scheduled triggers (gateway/services/campaigns_scheduled.py ``run_due``) with a
running birthday campaign (holdout 10 %, a fixed bonus) and a win-back campaign (30 days), over
``members`` members with a birthday spread over the year and a last purchase in the last 400 days.

    .venv/bin/python -m bench.campaign_triggers [--members 1000000] [--store sqlite|postgresql]

Set-up (not timed): the members, profiles, wallets and per-partner totals written in bulk on a new
store. Timed: one run for one day (every birthday and lapse of the day exposed, the treatment arm
awarded through the accept path's award: outbox entries of the funder), then a second run of the
same day (nothing new: the exposures' unique trigger_ref).
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from gateway.services.campaigns_scheduled import run_due
from network.store import Campaign, CampaignExposure, Customer, CustomerProfile, CustomerWallet, MemberPartnerTotal
from tests.pg import BENCH_SETTINGS, SQLITE, STORES, PgCluster, StoreKind
from tests.stores import add_partner, migrated_store

NOW = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
CHUNK = 20_000
TARGET_S = 60.0


def _fill(sessions: Any, members: int, seed: int) -> None:
    rng = random.Random(seed)
    start = date(1950, 1, 1)
    with sessions() as session:
        c = session.connection()
        for lo in range(1, members + 1, CHUNK):
            ids = range(lo, min(lo + CHUNK, members + 1))
            c.execute(insert(Customer.__table__), [{"id": i, "created_at": NOW} for i in ids])
            c.execute(
                insert(CustomerWallet.__table__),
                [{"address": f"0x{i:040x}", "customer_id": i, "created_at": NOW} for i in ids],
            )
            c.execute(
                insert(CustomerProfile.__table__),
                [
                    {"customer_id": i, "birthday": start + timedelta(days=rng.randrange(20_000)), "attributes": {},
                     "updated_at": NOW}
                    for i in ids
                ],
            )  # fmt: skip
            rows = []
            for i in ids:
                last = NOW - timedelta(days=rng.randrange(400), seconds=rng.randrange(86_400))
                rows.append({"customer_id": i, "partner_id": 7, "first_at": last, "last_at": last, "purchases": 1,
                             "units": 10_000, "points": 1})  # fmt: skip
            c.execute(insert(MemberPartnerTotal.__table__), rows)
        for name, trigger, params in (("Birthday", "birthday", {}), ("Win back", "win_back", {"days": 30})):
            session.add(
                Campaign(name=name, funder_partner_id=7, owner="operator", trigger_type=trigger, trigger_params=params,
                         conditions={}, effects=[{"kind": "bonus_points", "mode": "fixed", "points": 50}],
                         status="running", holdout_bp=1000, salt=f"bench-{trigger}", started_at=NOW - timedelta(days=1))
            )  # fmt: skip
        session.commit()


def run(*, members: int = 1_000_000, store: StoreKind = SQLITE, seed: int = 7) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        sessions = migrated_store(store.new_url(Path(tmp)))
        add_partner(sessions)
        started = time.perf_counter()
        _fill(sessions, members, seed)
        fill_s = time.perf_counter() - started
        started = time.perf_counter()
        first = run_due(sessions, now=NOW, backfill_days=0, chain_id=1)
        first_s = time.perf_counter() - started
        started = time.perf_counter()
        again = run_due(sessions, now=NOW, backfill_days=0, chain_id=1)
        again_s = time.perf_counter() - started
        with sessions() as session:
            exposures = session.scalar(select(func.count()).select_from(CampaignExposure)) or 0
        assert again.exposed == 0 and exposures == first.exposed, (first, again, exposures)
        return {
            "members": members,
            "store": store.name,
            "fill_s": round(fill_s, 1),
            "exposed": first.exposed,
            "treated": first.treated,
            "run_s": round(first_s, 2),
            "rerun_s": round(again_s, 2),
            "target_s": TARGET_S,
            "ok": first_s < TARGET_S,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--store", default="sqlite", choices=STORES)
    args = parser.parse_args()
    if args.store == "postgresql":
        with PgCluster.start(settings=BENCH_SETTINGS) as cluster:
            print(json.dumps(run(members=args.members, store=StoreKind("postgresql", cluster)), indent=2))
    else:
        print(json.dumps(run(members=args.members), indent=2))


if __name__ == "__main__":
    main()
