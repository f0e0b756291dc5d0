"""Drives Debian's chromium with Playwright (run by .venv-browser's python) through the dashboard's
Campaigns pages: opened from the navigation, the list's figures; one campaign started with its
button and the confirmation (a POST with the session's CSRF token); its results page's figures and
drawn intervals; one block's CSV downloaded by its link. Pages are shot at 1280×800 and 390×844 into
``--shots``. Prints what it saw as JSON.

    .venv-browser/bin/python tests/browser/browse_campaigns.py --url U --operator-token T --shots DIR \
        --campaign 1 --csv arms
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from browse import figures  # tests/browser/browse.py, next to this file
from browse_dashboard import operator_page, operator_parser, shoot
from playwright.sync_api import Page

INTERVALS_JS = """() => [...document.querySelectorAll('svg.interval-chart')].map(s => ({
    id: s.id, cls: s.getAttribute('class'), low: +s.dataset.low, high: +s.dataset.high,
    estimate: +s.dataset.estimate, significant: s.dataset.significant,
    bar: s.querySelector('.iv-bar').getBoundingClientRect().toJSON(),
    dot: s.querySelector('.iv-dot').getBoundingClientRect().toJSON(),
    zero: s.querySelector('.iv-zero').getBoundingClientRect().toJSON()}))"""


def values(page: Page) -> dict[str, str]:
    return {k: v["value"] for k, v in figures(page).items()}


def main() -> int:
    parser = operator_parser()
    parser.add_argument("--campaign", required=True, type=int)
    parser.add_argument("--csv", required=True, help="the results block whose CSV is downloaded")
    args = parser.parse_args()
    out: dict[str, Any] = {"console_errors": [], "overflow_390": {}}
    cid = args.campaign
    with operator_page(args, out) as page:
        page.click(".nav a[href='/dashboard/campaigns']")
        page.wait_for_url(f"{args.url}/dashboard/campaigns")
        out["nav_active"] = page.locator(".nav a.active").inner_text()
        out["list_before"] = values(page)
        out["buttons_before"] = page.eval_on_selector_all(
            f"tr[data-campaign='{cid}'] .actions a", "as => as.map(a => a.id)"
        )

        # start it: the button, the confirmation, back on the list
        page.click(f"#start-{cid}")
        page.wait_for_url(f"{args.url}/dashboard/campaigns/{cid}/start")
        out["confirm_title"] = page.locator("#confirm h1").inner_text()
        out["confirm_csrf"] = page.locator("#confirm input[name=csrf]").get_attribute("value") != ""
        page.click("#confirm-action")
        page.wait_for_url(f"{args.url}/dashboard/campaigns?done=started*")
        out["notice"] = page.locator(".alert.ok").inner_text()
        out["list_after"] = values(page)
        out["buttons_after"] = page.eval_on_selector_all(
            f"tr[data-campaign='{cid}'] .actions a", "as => as.map(a => a.id)"
        )
        shoot(page, args.shots, "app-campaigns", out)

        # its results
        page.click(f"tr[data-campaign='{cid}'] td a")
        page.wait_for_url(f"{args.url}/dashboard/campaigns/{cid}")
        out["results"] = values(page)
        out["intervals"] = page.evaluate(INTERVALS_JS)
        out["collecting"] = page.locator("#collecting").count() == 1
        out["arm_headers"] = page.eval_on_selector_all("#arms-table thead th", "ts => ts.map(t => t.textContent)")
        out["csv_links"] = page.eval_on_selector_all("a.csv", "as => as.map(a => a.getAttribute('href'))")
        shoot(page, args.shots, "app-campaign-results", out)
        with page.expect_download() as download:
            page.click(f"#csv-{args.csv}")
        out["csv_name"] = download.value.suggested_filename
        out["csv"] = Path(download.value.path()).read_text()
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
