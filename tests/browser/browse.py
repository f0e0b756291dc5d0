"""Drives Debian's chromium with Playwright (run by .venv-browser's python, not by pytest's
.venv): signs the operator in through the login form, opens the dashboard, hands a customer
token to the customer page, opens it, and prints as JSON every ``[data-figure]`` each page
shows, the chart's state and the browser console's errors. Screenshots go to ``--shots``.

    .venv-browser/bin/python tests/browser/browse.py --url U --operator-token T --customer-token C --shots DIR
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, sync_playwright

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
FIGURES_JS = (
    "() => Object.fromEntries([...document.querySelectorAll('[data-figure]')]"
    ".map(el => [el.dataset.figure, {value: el.dataset.value, text: el.textContent.trim()}]))"
)


def figures(page: Page) -> dict[str, Any]:
    return page.evaluate(FIGURES_JS)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--operator-token", required=True)
    parser.add_argument("--customer-token", required=True)
    parser.add_argument("--shots", required=True, type=Path)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    args.shots.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {"console_errors": []}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1360, "height": 900})
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.on("console", lambda m: m.type == "error" and out["console_errors"].append(m.text))
        page.on("pageerror", lambda exc: out["console_errors"].append(str(exc)))

        # the operator: /dashboard sends an anonymous browser to the login form
        page.goto(f"{args.url}/dashboard")
        out["login_url"] = page.url
        page.fill("#token", "wrong-token")
        page.click("button[type=submit]")
        out["wrong_token_error"] = page.locator(".alert").inner_text()
        out["console_errors"].clear()  # the wrong token's 401 above is expected
        page.fill("#token", args.operator_token)
        page.click("button[type=submit]")
        page.wait_for_url(f"{args.url}/dashboard")
        page.wait_for_selector("#activity-chart[data-rendered=true]")
        out["dashboard"] = figures(page)
        out["chart"] = page.evaluate("() => JSON.parse(document.getElementById('chart-data').textContent)")
        out["operator_cookie"] = [
            {k: c[k] for k in ("name", "httpOnly", "sameSite")}
            for c in context.cookies()
            if c["name"].startswith("coal")
        ]
        page.screenshot(path=str(args.shots / "dashboard.png"), full_page=True)
        page.set_viewport_size({"width": 420, "height": 900})
        page.screenshot(path=str(args.shots / "dashboard-narrow.png"), full_page=True)
        page.set_viewport_size({"width": 1360, "height": 900})

        # the customer: the sign-in page, then the token the test got from POST /v1/auth/session
        page.goto(f"{args.url}/me")
        out["signin_button"] = page.locator("#wallet-signin").count()
        page.screenshot(path=str(args.shots / "customer-signin.png"), full_page=True)
        status = page.evaluate(
            "async t => (await fetch('/me/session', {method: 'POST', headers: {'Content-Type': 'application/json'},"
            " body: JSON.stringify({token: t})})).status",
            args.customer_token,
        )
        out["me_session_status"] = status
        page.goto(f"{args.url}/me")
        out["customer"] = figures(page)
        out["history_kinds"] = page.eval_on_selector_all(
            "#history-table tbody tr", "rows => rows.map(r => r.dataset.kind)"
        )
        watch = page.locator("#watch-asset")
        out["watch_asset"] = {k: watch.get_attribute(f"data-{k}") for k in ("address", "symbol", "decimals")}
        page.screenshot(path=str(args.shots / "customer.png"), full_page=True)
        browser.close()
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
