"""Drives Debian's chromium with Playwright (run by .venv-browser's python) through the dashboard's
Fund action: the partner's page, its Fund button, the amount in cUSD, the confirmation page (shot
at 1280×800 and 390×844, measured for overflow at 390 px), then the confirmed deposit back on the
partner's page with its notice. Prints what it saw as JSON.

    .venv-browser/bin/python tests/browser/browse_fund.py --url U --operator-token T --shots DIR \
        --partner ID --amount 2.5
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
    parser.add_argument("--partner", required=True, type=int, help="the partner funded here")
    parser.add_argument("--amount", required=True, help="in the settlement token, as an operator types it")
    args = parser.parse_args()
    args.shots.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {"console_errors": [], "overflow_390": {}}
    base = f"{args.url}/dashboard/partners/{args.partner}"
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
        page.goto(base)
        out["before"] = figures(page)
        page.click("#action-fund")
        page.wait_for_url(f"{base}/fund")
        out["form_text"] = page.locator("#fund").inner_text()
        page.fill("#amount", args.amount)
        page.click("#review")
        page.wait_for_selector("#confirm")
        out["confirm_text"] = page.locator("#confirm").inner_text()
        shoot(page, args.shots, "app-fund-confirm", out)
        page.click("#confirm-action")
        page.wait_for_url(f"{base}?done=funded")
        out["after"] = figures(page)
        out["notice"] = page.locator(".alert.ok").inner_text()
        browser.close()
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
