"""Drives Debian's chromium with Playwright (run by .venv-browser's python) through what the
dashboard shows of breakage: the overview with its chart over a range (the points expired card,
the chart's series as drawn: outstanding points net of expiry and points expired per day) and a
period's statement for people (its breakage panel). Prints what it saw as JSON.

    .venv-browser/bin/python tests/browser/browse_breakage.py --url U --operator-token T --shots DIR \
        --from 2026-01-01 --to 2026-05-01 --period 2
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from browse import CHROMIUM_ARGS, figures  # tests/browser/browse.py, next to this file
from browse_dashboard import DESKTOP, shoot
from playwright.sync_api import sync_playwright


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--operator-token", required=True)
    parser.add_argument("--shots", required=True, type=Path)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--from", dest="start", required=True, help="the chart's first day, YYYY-MM-DD")
    parser.add_argument("--to", dest="end", required=True, help="the chart's last day, YYYY-MM-DD")
    parser.add_argument("--period", required=True, type=int, help="a settled period with expired points")
    args = parser.parse_args()
    args.shots.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {"console_errors": [], "overflow_390": {}}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_context(viewport=DESKTOP).new_page()
        page.set_default_timeout(20_000)
        page.on("console", lambda m: m.type == "error" and out["console_errors"].append(m.text))
        page.on("pageerror", lambda exc: out["console_errors"].append(str(exc)))

        page.goto(f"{args.url}/dashboard/login")
        page.fill("#token", args.operator_token)
        page.click("button[type=submit]")
        page.wait_for_url(f"{args.url}/dashboard")
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
        browser.close()
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
