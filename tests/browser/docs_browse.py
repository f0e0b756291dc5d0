"""Opens the API reference (/docs, Swagger UI; /redoc, ReDoc) and a problem page in Debian's
chromium with every request to another host refused, as on a machine without internet, then
uses /docs as a partner's developer would: Authorize with the partner key, "Try it out" on
POST /v1/purchases with the example as it is, Execute. Prints what it saw as JSON (run by
.venv-browser's python, tests/browser/test_docs_browser.py reads it); screenshots in --shots.

    .venv-browser/bin/python tests/browser/docs_browse.py --url U --partner-key K --shots DIR
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from browse import CHROMIUM_ARGS  # this directory is on the path of a script run as a file
from playwright.sync_api import Route, sync_playwright


def rendered_operations(page: Any, *, pause_s: float = 0.3) -> dict[str, tuple[bool, str]]:
    """Every operation block Swagger UI renders while the page is scrolled from top to bottom
    (it renders a large document as parts come into view and drops those that leave it): its
    id -> (has a lock, i.e. needs a credential; its summary's text)."""
    script = """() => [...document.querySelectorAll('.opblock')].map(e => [e.id,
        !!e.querySelector('.authorization__btn'), e.querySelector('.opblock-summary')?.innerText || ''])"""
    seen: dict[str, tuple[bool, str]] = {}
    page.evaluate("window.scrollTo(0, 0)")
    last = -1
    while True:
        time.sleep(pause_s)
        for op_id, locked, text in page.evaluate(script):
            seen[op_id] = (locked, text)
        y = page.evaluate("window.scrollY")
        if y == last:
            return seen
        last = y
        page.evaluate("window.scrollBy(0, Math.floor(window.innerHeight * 0.8))")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--partner-key", required=True)
    parser.add_argument("--shots", required=True, type=Path)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    args.shots.mkdir(parents=True, exist_ok=True)
    ours = urlsplit(args.url).netloc
    out: dict[str, Any] = {"refused": [], "console_errors": [], "loaded": []}

    def offline(route: Route) -> None:
        url = route.request.url
        if urlsplit(url).netloc != ours and not url.startswith(("data:", "blob:")):
            out["refused"].append(url)
            route.abort("internetdisconnected")
        else:
            out["loaded"].append(urlsplit(url).path)
            route.continue_()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1360, "height": 900})
        context.route("**/*", offline)
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.on("console", lambda m: m.type == "error" and out["console_errors"].append(m.text))
        page.on("pageerror", lambda exc: out["console_errors"].append(str(exc)))

        # Swagger UI: every operation rendered, the Authorize button, the example purchase accepted
        page.goto(f"{args.url}/docs")
        page.wait_for_selector(".opblock")
        seen = rendered_operations(page)  # a large document is rendered as it scrolls into view
        out["swagger_operations"] = len(seen)
        out["swagger_locked_operations"] = sum(1 for locked, _ in seen.values() if locked)
        out["swagger_webhooks"] = sum(1 for _, text in seen.values() if "purchase.confirmed" in text)
        page.evaluate("window.scrollTo(0, 0)")
        page.click("button.authorize")
        scheme = page.locator(".dialog-ux .auth-container", has_text="partnerKey")
        scheme.locator("input").fill(args.partner_key)
        scheme.locator("button.authorize").click()
        scheme.locator("button.btn-done").click()
        operation = page.locator("#operations-purchases-post_purchase_v1_purchases_post")
        operation.locator(".opblock-summary").click()
        operation.locator("button.try-out__btn").click()
        out["example_body"] = json.loads(operation.locator("textarea.body-param__text").input_value())
        operation.locator("button.execute").click()
        status = operation.locator(".live-responses-table tbody .response-col_status").first
        status.wait_for()
        out["try_it_out_status"] = status.inner_text().strip()
        out["try_it_out_body"] = operation.locator(".live-responses-table .microlight").first.inner_text()
        page.screenshot(path=str(args.shots / "docs-swagger.png"), full_page=False)

        # ReDoc: the operations in its menu, rendered without its CDN and web fonts
        page.goto(f"{args.url}/redoc")
        page.wait_for_selector("[role=menuitem]")
        out["redoc_menu_items"] = page.locator("[role=menuitem]").count()
        out["redoc_title"] = page.locator("h1").first.inner_text()
        page.screenshot(path=str(args.shots / "docs-redoc.png"), full_page=False)

        # a problem type's link
        page.goto(f"{args.url}/problems/validation-error")
        out["problem_heading"] = page.locator("h1").inner_text()
        out["problem_fix"] = page.locator("[data-figure=how-to-fix]").inner_text()
        page.set_viewport_size({"width": 390, "height": 844})
        page.screenshot(path=str(args.shots / "problem-page-phone.png"), full_page=True)
        browser.close()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
