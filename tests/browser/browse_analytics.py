"""Drives Debian's chromium with Playwright (run by .venv-browser's python) through the dashboard's
Analytics page: opened from the navigation, filtered by period with its form (coalition-wide), then
by a partner; on each, every ``[data-figure]``, the charts' state and their data; then downloads one
block's CSV by its link. Pages are shot at 1280×800 and 390×844 into ``--shots``. Prints what it saw
as JSON.

    .venv-browser/bin/python tests/browser/browse_analytics.py --url U --operator-token T --shots DIR \
        --from 2026-09-01 --to 2026-11-30 --partner 2 --csv kpis
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from browse import figures  # tests/browser/browse.py, next to this file
from browse_dashboard import operator_page, operator_parser, shoot
from playwright.sync_api import Page

CHARTS = ("points-chart", "liability-chart", "segments-chart", "tiers-chart")


def seen(page: Page) -> dict[str, Any]:
    for chart in CHARTS:
        page.wait_for_selector(f"#{chart}[data-rendered=true]")
    return {
        "figures": {k: v["value"] for k, v in figures(page).items()},
        "texts": {k: v["text"] for k, v in figures(page).items() if k.startswith("kpi-")},
        "definitions": page.eval_on_selector_all(".kpis .card", "cs => cs.map(c => c.getAttribute('title'))"),
        "data": page.evaluate("() => JSON.parse(document.getElementById('analytics-data').textContent)"),
        "scope": page.locator("#analytics-scope").inner_text(),
        "csv_links": page.eval_on_selector_all("a.csv", "as => as.map(a => a.getAttribute('href'))"),
        "heat_cells": page.locator("#cohort-table td[class*=heat-]").count(),
        "flow_cells": page.locator("#flow-table td[data-figure]").count(),
    }


def main() -> int:
    parser = operator_parser()
    parser.add_argument("--from", dest="start", required=True)
    parser.add_argument("--to", dest="end", required=True)
    parser.add_argument("--partner", required=True, help="the partner the page is filtered by, second")
    parser.add_argument("--csv", required=True, help="the block whose CSV is downloaded (coalition-wide)")
    args = parser.parse_args()
    out: dict[str, Any] = {"console_errors": [], "overflow_390": {}}
    with operator_page(args, out) as page:
        # from the navigation (the default period), then the period asked for, coalition-wide
        page.click(".nav a[href='/dashboard/analytics']")
        page.wait_for_url(f"{args.url}/dashboard/analytics")
        out["nav_active"] = page.locator(".nav a.active").inner_text()
        page.fill("#filter-from", args.start)
        page.fill("#filter-to", args.end)
        page.click("#analytics-filters button[type=submit]")
        page.wait_for_url("**/dashboard/analytics?*from=*")
        out["coalition"] = seen(page)
        shoot(page, args.shots, "app-analytics", out)

        # one block's CSV, by its link
        with page.expect_download() as download:
            page.click(f"#csv-{args.csv}")
        out["csv_name"] = download.value.suggested_filename
        out["csv"] = Path(download.value.path()).read_text()

        # the same period for one partner
        page.select_option("#filter-partner", args.partner)
        page.click("#analytics-filters button[type=submit]")
        page.wait_for_url(f"**/dashboard/analytics?*partner={args.partner}*")
        out["partner"] = seen(page)
        shoot(page, args.shots, "app-analytics-partner", out)
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
