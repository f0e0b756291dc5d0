"""Unit tests of the benchmark runner's report (no processes): the keys issue 7 asks for, the
ratios, the targets, and the load generator's percentile."""

from __future__ import annotations

from typing import Any

from bench.__main__ import summary, table
from bench.loadgen import percentile
from bench.rules import TWENTY

RAW: dict[str, Any] = {
    "gateway": {"purchases": 100, "requests_per_s": 2000.0, "p50_ms": 10.0, "p99_ms": 50.0},
    "e2e": {
        "purchases": 100,
        "purchases_per_s": 1500.0,
        "latency_p50_s": 0.5,
        "latency_p95_s": 1.0,
        "latency_p99_s": 2.0,
        "gas_per_purchase": 27_000,
    },
    "batch": {"purchases": 1000, "purchases_per_s": 12_000.0, "gas_per_purchase": 26_900},
    "naive": {"purchases": 10, "purchases_per_s": 50.0, "gas_per_purchase": 118_000},
    "ceiling": {"ceiling_mints_per_s": 30_000.0, "gas_per_purchase": 26_800},
    "settlement": {
        "curve": [
            {"events": 10_000, "seconds": 0.5, "us_per_event": 50.0},
            {"events": 1_000_000, "seconds": 20.0, "us_per_event": 20.0},
        ]
    },
    "redemptions": {"redemptions": 30, "redemptions_per_s": 25.0},
}
ISSUE_KEYS = {
    "e2e_purchases_per_s",
    "e2e_latency_p99_s",
    "naive_purchases_per_s",
    "ratio_vs_naive",
    "gateway_accept_per_s",
    "gateway_p99_ms",
    "ratio_vs_gateway",
    "batch_e2e_purchases_per_s",
    "ceiling_mints_per_s",
    "ratio_batch_vs_ceiling",
    "gas_per_purchase",
    "settlement_1m_s",
    "redemptions_per_s",
}


def test_summary_has_every_key_of_the_issue_with_the_ratios() -> None:
    keys = summary(RAW)
    assert set(keys) >= ISSUE_KEYS
    assert keys["ratio_vs_naive"] == 30.0 and keys["ratio_vs_gateway"] == 0.75
    assert keys["ratio_batch_vs_ceiling"] == 0.4 and keys["settlement_1m_s"] == 20.0


def test_summary_of_a_partial_run_leaves_what_did_not_run_empty() -> None:
    keys = summary({"gateway": RAW["gateway"], "settlement": {"curve": [RAW["settlement"]["curve"][0]]}})
    assert keys["gateway_accept_per_s"] == 2000.0
    assert keys["ratio_vs_gateway"] is None and keys["e2e_purchases_per_s"] is None
    assert keys["settlement_1m_s"] is None and keys["settlement_largest_events"] == 10_000


def test_table_marks_targets_met_and_missed() -> None:
    raw = RAW | {"gateway": RAW["gateway"] | {"p99_ms": 150.0}}
    text = table(raw, summary(raw))
    assert "| gateway_p99_ms | < 100 ms | 150.0 | **missed** |" in text
    assert "| e2e_purchases_per_s | >= 1,000 /s | 1,500.0 | met |" in text
    assert "| 1,000,000 | 20.00 | 20.00 |" in text


def test_the_earning_rules_part_is_a_table_of_its_own_with_its_target() -> None:
    measured = {"points_for (today)": 1.7, TWENTY: 31.25, "check_basket + evaluate, 20 rules": 35.0}
    raw = RAW | {"rules": measured}
    keys = summary(raw)
    assert keys["rules_us_per_purchase"] == 31.25
    text = table(raw, keys)
    assert "| 9. earning rules (pure code; 3b is the gateway's accept rate with them) | CPU µs per purchase |" in text
    assert f"| {TWENTY} | 31.25 |" in text and "| points_for (today) | 1.70 |" in text
    assert "| rules_us_per_purchase | < 30 µs | 31.2 | **missed** |" in text
    assert summary(RAW)["rules_us_per_purchase"] is None  # the part did not run


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.99), percentile(values, 1.0)) == (50.0, 99.0, 100.0)
    assert percentile([], 0.99) == 0.0 and percentile([3.0], 0.5) == 3.0


def test_the_till_part_is_a_row_of_the_table_with_its_target() -> None:
    single = {"holds": 400, "holds_per_s": 90.0, "p50_ms": 9.0, "p95_ms": 20.0, "p99_ms": 40.0}
    opened = [
        {"of_capacity": 0.5, "rate_per_s": 155.2, "holds": 400, "holds_per_s": 150.1, "p50_ms": 10.0,
         "p95_ms": 30.0, "p99_ms": 60.0},
        {"of_capacity": 0.8, "rate_per_s": 248.4, "holds": 400, "holds_per_s": 240.3, "p50_ms": 20.0,
         "p95_ms": 80.0, "p99_ms": 130.0},
    ]  # fmt: skip
    till = {"holds": 2_000, "holds_per_s": 310.5, "p50_ms": 12.5, "p95_ms": 30.0, "p99_ms": 120.0}
    till |= {"single": single, "open": opened, "cpu_us_per_hold": {"gateway": 5_200, "anvil": 450}}
    raw = RAW | {"till": till}
    keys = summary(raw)
    assert (keys["till_authorise_p99_ms"], keys["till_one_till_p99_ms"], keys["till_open_80_p99_ms"]) == (120, 40, 130)
    assert keys["till_cpu_us_per_hold"] == 5_200
    text = table(raw, keys)
    assert "| 10. points at the till: authorisations (holds) | 2,000 | 310.5 | 12.5 / 30.0 / 120.0 ms | - |" in text
    assert "| 10a. one till, back to back | 400 | 90.0 | 9.000 / 20.0 / 40.0 ms | - |" in text
    assert (
        "| 10b. open loop, Poisson arrivals at 80% of 10's rate (248.4 /s) | 400 | 240.3 | 20.0 / 80.0 / 130.0 ms |"
        in text
    )
    assert "| till_open_80_p99_ms | < 100 ms | 130.0 | **missed** |" in text
    assert "| till_one_till_p99_ms | < 100 ms | 40.0 | met |" in text
    assert "till_authorise_p99_ms |" not in text  # the saturated closed loop has no target
    assert summary(RAW)["till_authorise_p99_ms"] is None  # the part did not run
    assert summary(RAW)["till_open_80_p99_ms"] is None


def test_the_analytics_part_is_a_table_of_its_own_and_keys_of_its_largest_store() -> None:
    kpi = {"kpis (all, one request)": 0.8, "flow": 0.3}
    point = {"members": 10_000, "purchases": 100_000, "fill_s": 3.0, "snapshot_s": 4.5, "snapshot_coalition_s": 1.0,
             "kpi_s": {"coalition": kpi, "partner 1": {"kpis (all, one request)": 0.1, "flow": 0.05}}}  # fmt: skip
    raw = RAW | {"analytics": {"store": "sqlite", "curve": [point, point | {"members": 100_000, "snapshot_s": 50.0}]}}
    keys = summary(raw)
    assert (keys["analytics_members"], keys["analytics_rfm_snapshot_s"], keys["analytics_slowest_kpi_s"]) == (
        100_000, 50.0, 0.8
    )  # fmt: skip
    text = table(raw, keys)
    assert "| analytics (sqlite) | 10,000 members | 100,000 members |" in text
    assert "| RFM snapshot, 1 + 50 scopes, s (target < 60 s at 1M) | 4.5 | 50.0 |" in text
    assert "| coalition: kpis (all, one request) s | 0.8 | 0.8 |" in text
    assert summary(RAW)["analytics_rfm_snapshot_s"] is None
