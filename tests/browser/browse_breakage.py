"""Drives Debian's chromium with Playwright (run by .venv-browser's python) through what the
dashboard shows of breakage: the overview with its chart over a range (the points expired card,
the chart's series as drawn: outstanding points net of expiry and points expired per day) and a
period's statement for people (its breakage panel). Prints what it saw as JSON.

    .venv-browser/bin/python tests/browser/browse_breakage.py --url U --operator-token T --shots DIR \
        --from 2026-01-01 --to 2026-05-01 --period 2
"""

from __future__ import annotations

import json
import sys
from typing import Any

from browse import figures  # tests/browser/browse.py, next to this file
from browse_dashboard import operator_page, operator_parser, shoot


def main() -> int:
    parser = operator_parser()
    parser.add_argument("--from", dest="start", required=True, help="the chart's first day, YYYY-MM-DD")
    parser.add_argument("--to", dest="end", required=True, help="the chart's last day, YYYY-MM-DD")
    parser.add_argument("--period", required=True, type=int, help="a settled period with expired points")
    args = parser.parse_args()
    out: dict[str, Any] = {"console_errors": [], "overflow_390": {}}
    with operator_page(args, out) as page:
        page.goto(f"{args.url}/dashboard?from={args.start}&to={args.end}")
        page.wait_for_selector("#balance-chart[data-rendered=true]")
        out["overview"] = figures(page)
        out["chart"] = json.loads(page.locator("#chart-data").text_content() or "{}")
        out["legend"] = page.evaluate(
            "() => Chart.getChart('activity-chart').data.datasets"
            ".map(d => [d.label, d.data.reduce((a, b) => a + b, 0)])"
        )
        out["outstanding_drawn"] = page.evaluate("() => Chart.getChart('balance-chart').data.datasets[0].data")
        shoot(page, args.shots, "app-breakage-overview", out)

        page.goto(f"{args.url}/dashboard/settlements/{args.period}")
        out["statement"] = figures(page)
        out["breakage_text"] = page.locator("#breakage").inner_text()
        shoot(page, args.shots, "app-breakage-statement", out)
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
