"""The campaign statistics' long run: the simulation tests of tests/loyalty/test_campaign_stats_simulation_unit.py
with many more campaigns, to quote coverage and false-positive rates (issue 20, item 3). No chain, no store:
pure CPU (~1 ms a campaign of 750 members on a quiet core).

    .venv/bin/python -m bench.campaign_stats [--campaigns 10000] [--seed 20261205]
                                             [--arms 150,600,2000 --arms 100,900,1000]

Each ``--arms control,treatment,holdout_bp`` is a scenario: ``--campaigns`` campaigns with the known effect
(tests/campaign_simulation.py: +2.40 revenue a member, +5 conversion points) and as many without, each
through ``loyalty.campaigns.stats.analyse``. Prints a table and writes ``bench/campaign_stats.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path

from tests.campaign_simulation import KNOWN, NONE, rates, simulate

OUT = Path(__file__).resolve().parent / "campaign_stats.json"


def run(*, campaigns: int, seed: int, arms: list[tuple[int, int, int]]) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for control, treatment, holdout_bp in arms:
        started = time.process_time()
        sizes = {"campaigns": campaigns, "control": control, "treatment": treatment, "holdout_bp": holdout_bp}
        with_effect = simulate(KNOWN, seed=seed, **sizes)
        without_effect = simulate(NONE, seed=seed + 1, **sizes)
        found = rates(with_effect, without_effect, KNOWN)
        rows.append(
            {
                "control": control,
                "treatment": treatment,
                "holdout_bp": holdout_bp,
                "true_revenue_uplift": KNOWN.revenue_uplift,
                "true_conversion_uplift": KNOWN.conversion_uplift,
                "cpu_seconds": round(time.process_time() - started, 1),
                **asdict(found),
            }
        )
    return rows


def _percents(row: dict[str, object], *keys: str) -> str:
    return " ".join(f"{row[k]:.2%}" for k in keys)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaigns", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=20261205)
    parser.add_argument("--arms", action="append", help="control,treatment,holdout_bp (repeatable)")
    args = parser.parse_args()
    arms = [tuple(int(v) for v in a.split(",")) for a in (args.arms or ["150,600,2000", "100,900,1000"])]
    rows = run(campaigns=args.campaigns, seed=args.seed, arms=arms)  # type: ignore[arg-type]
    print(f"{'arms (C/T, holdout)':<22}{'coverage rev/raw/conv':>26}{'false pos. rev/raw/conv':>26}"
          f"{'CUPED width':>12}{'mean est. (truth 2.40)':>25}{'CPU s':>8}")  # fmt: skip
    for r in rows:
        coverage = _percents(r, "coverage_revenue", "coverage_revenue_unadjusted", "coverage_conversion")
        false_pos = _percents(
            r, "false_positive_revenue", "false_positive_revenue_unadjusted", "false_positive_conversion"
        )
        print(
            f"{r['control']}/{r['treatment']}, {r['holdout_bp'] / 100:g} %".ljust(22)
            + coverage.rjust(26)
            + false_pos.rjust(26)
            + f"{r['cuped_width_ratio']:.3f}".rjust(12)
            + f"{r['mean_estimate']:.3f} ± {r['standard_error_of_mean']:.3f}".rjust(25)
            + f"{r['cpu_seconds']}".rjust(8)
        )
    OUT.write_text(json.dumps({"campaigns": args.campaigns, "seed": args.seed, "scenarios": rows}, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
