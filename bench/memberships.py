"""The perk check at a checkout (``GET /v1/customers/{ref}/perks``): its latency on a real stack,
against the gateway's health endpoint measured in the same run as the baseline.

    .venv/bin/python -m bench.memberships [--requests 4000] [--connections 4] [--ports 9780-9799]

The stack is tests/e2e/stack.py's (anvil, redis, a worker, the gateway in one uvicorn process,
SQLite). Set-up (not timed): a partner, a plan it owns, ``customers`` custodial customers, every
other one subscribed (a trial). Timed: ``requests`` perk checks over ``connections`` keep-alive
connections back to back (closed loop: the rate reached is the capacity), then as many
``/healthz`` the same way; each latency from the first byte written to the last byte read
(bench/loadgen.py). The target: p99 < 5 ms at 2,000 requests/s.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from bench.loadgen import get_request, percentile, send_all
from tests.e2e.stack import start_stack
from tests.pg import SQLITE, StoreKind

TARGET_P99_MS = 5.0
TARGET_RATE = 2_000.0


def _measure(host: str, port: int, requests: list[bytes], connections: int) -> dict[str, float]:
    answers, wall = send_all(host, port, requests, connections)
    bad = [a.status for a in answers if a.status != 200]
    assert not bad, f"{len(bad)} answers not 200: {bad[:5]}"
    ms = [a.seconds * 1_000 for a in answers]
    return {
        "rate_per_s": round(len(answers) / wall, 1),
        "p50_ms": round(percentile(ms, 0.5), 2),
        "p99_ms": round(percentile(ms, 0.99), 2),
        "max_ms": round(max(ms), 2),
    }


def run(
    *,
    requests: int = 4_000,
    connections: int = 4,
    customers: int = 50,
    ports: range = range(9780, 9800),
    store: StoreKind = SQLITE,
) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory() as tmp,
        start_stack(Path(tmp), ports=ports, workers=1, beat=False, store=store) as stack,
    ):
        shop = stack.onboard("Bench Perks")
        plan = {"name": "Plus", "price": "9.99", "currency": "EUR", "period": "monthly", "trial_days": 30,
                "earn_multiplier": "2", "perks": ["free_delivery", "priority_service"]}  # fmt: skip
        r = stack.http.post("/v1/memberships/plans", headers=shop.headers, json=plan)
        assert r.status_code == 201, r.text
        for i in range(customers):
            ref = f"perk-{i}"
            assert stack.http.post(f"/v1/customers/{ref}/custodial-wallet", headers=shop.headers).status_code == 201
            if i % 2 == 0:
                body = {"plan_id": r.json()["id"]}
                assert (
                    stack.http.post(f"/v1/customers/{ref}/memberships", headers=shop.headers, json=body).status_code
                    == 201
                )
        host, port = "127.0.0.1", int(stack.url.rsplit(":", 1)[1])
        perks = [
            get_request(host, port, f"/v1/customers/perk-{i % customers}/perks", shop.headers) for i in range(requests)
        ]
        health = [get_request(host, port, "/healthz", {}) for _ in range(requests)]
        _measure(host, port, perks[: requests // 10], connections)  # warm-up: connections, caches
        result = {
            "perk_check": _measure(host, port, perks, connections),
            "healthz_baseline": _measure(host, port, health, connections),
            "connections": connections,
            "requests": requests,
            "load_average": os.getloadavg(),
            "target": f"p99 < {TARGET_P99_MS} ms at {TARGET_RATE:.0f}/s",
        }
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4_000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--ports", default="9780-9799")
    args = parser.parse_args()
    low, high = (int(x) for x in args.ports.split("-"))
    print(json.dumps(run(requests=args.requests, connections=args.connections, ports=range(low, high + 1)), indent=2))


if __name__ == "__main__":
    main()
