"""Drives Debian's chromium with Playwright (run by .venv-browser's python) through the operator
dashboard's application: sign-in, the navigation, the partners list and a partner's page, the
search, the failed and held list, a statement for people, and an action with its confirmation.
Every page is shot at 1280×800 and 390×844 into ``--shots`` and measured for horizontal overflow
at 390 px. Prints what it saw as JSON.

    .venv-browser/bin/python tests/browser/browse_dashboard.py --url U --operator-token T --shots DIR \
        --partner ID --suspended ID --search Q --period N
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from browse import CHROMIUM_ARGS, figures  # tests/browser/browse.py, next to this file
from playwright.sync_api import Page, sync_playwright

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
OVERFLOW_JS = "() => document.documentElement.scrollWidth - window.innerWidth"


def shoot(page: Page, shots: Path, name: str, out: dict[str, Any]) -> None:
    """Screenshots at desktop and phone sizes; records the page's horizontal overflow at 390 px."""
    page.set_viewport_size(DESKTOP)
    page.screenshot(path=str(shots / f"{name}-1280.png"), full_page=True)
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(150)  # the charts resize on the next frame
    out["overflow_390"][name] = page.evaluate(OVERFLOW_JS)
    page.screenshot(path=str(shots / f"{name}-390.png"), full_page=True)
    page.set_viewport_size(DESKTOP)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--operator-token", required=True)
    parser.add_argument("--shots", required=True, type=Path)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--partner", required=True, type=int, help="a partner whose page is opened")
    parser.add_argument("--suspended", required=True, type=int, help="a suspended partner, reactivated here")
    parser.add_argument("--search", required=True, help="a purchase id to search for")
    parser.add_argument("--period", required=True, type=int, help="a settled period")
    args = parser.parse_args()
    args.shots.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {"console_errors": [], "overflow_390": {}}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport=DESKTOP)
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.on("console", lambda m: m.type == "error" and out["console_errors"].append(m.text))
        page.on("pageerror", lambda exc: out["console_errors"].append(str(exc)))

        page.goto(f"{args.url}/dashboard/login")
        page.fill("#token", args.operator_token)
        page.click("button[type=submit]")
        page.wait_for_url(f"{args.url}/dashboard")
        page.wait_for_selector("#balance-chart[data-rendered=true]")
        out["nav"] = page.eval_on_selector_all(
            ".nav a", "links => links.map(a => [a.textContent, a.getAttribute('href')])"
        )
        out["overview"] = figures(page)
        shoot(page, args.shots, "app-overview", out)

        # the navigation: Partners, then a partner's page
        page.click(".nav a[href='/dashboard/partners']")
        page.wait_for_url(f"{args.url}/dashboard/partners")
        out["partners_active"] = page.locator(".nav a.active").inner_text()
        out["partners"] = figures(page)
        shoot(page, args.shots, "app-partners", out)
        page.click(f"#partners-list a[href='/dashboard/partners/{args.partner}']")
        page.wait_for_url(f"{args.url}/dashboard/partners/{args.partner}")
        page.wait_for_selector("#activity-chart[data-rendered=true]")
        out["partner"] = figures(page)
        out["partner_purchases"] = page.eval_on_selector_all(
            "#partner-purchases tbody tr[data-purchase]", "rows => rows.map(r => r.dataset.purchase)"
        )
        shoot(page, args.shots, "app-partner", out)

        # the search box in the navigation
        page.fill(".nav-search input", args.search)
        page.press(".nav-search input", "Enter")
        page.wait_for_url(f"{args.url}/dashboard/search?q={args.search}")
        out["search"] = figures(page)
        out["search_purchases"] = page.eval_on_selector_all(
            "#found-purchases tbody tr[data-purchase]", "rows => rows.map(r => r.dataset.purchase)"
        )
        shoot(page, args.shots, "app-search", out)

        # everything failed or held
        page.click(".nav a[href='/dashboard/issues']")
        page.wait_for_url(f"{args.url}/dashboard/issues")
        out["issues"] = page.eval_on_selector_all(
            "#issues-table tbody tr[data-kind]",
            "rows => rows.map(r => [r.dataset.kind, r.dataset.status, r.querySelector('.reason').textContent])",
        )
        out["flagged"] = page.eval_on_selector_all(
            "#flagged-partners tbody tr[data-partner]", "rows => rows.map(r => Number(r.dataset.partner))"
        )
        shoot(page, args.shots, "app-issues", out)

        # a statement for people
        page.goto(f"{args.url}/dashboard/settlements/{args.period}/partners/{args.partner}")
        out["statement"] = figures(page)
        out["statement_text"] = page.locator("article.statement").inner_text()
        shoot(page, args.shots, "app-statement", out)

        # an action with its confirmation: reactivate the suspended partner
        page.goto(f"{args.url}/dashboard/partners/{args.suspended}")
        page.click("#action-reactivate")
        page.wait_for_url(f"{args.url}/dashboard/partners/{args.suspended}/reactivate")
        out["confirm_text"] = page.locator("#confirm").inner_text()
        shoot(page, args.shots, "app-confirm", out)
        page.click("#confirm-action")
        page.wait_for_url(f"{args.url}/dashboard/partners/{args.suspended}?done=reactivated")
        out["after_action"] = figures(page)
        out["notice"] = page.locator(".alert.ok").inner_text()

        # the tier ladder: propose one, dry-run it, apply it
        page.click(".nav a[href='/dashboard/tiers']")
        page.wait_for_url(f"{args.url}/dashboard/tiers")
        out["tiers_empty"] = page.locator("section.panel").first.inner_text()
        page.fill("#tiers", "Member, 0, 1\nSilver, 10, 1.25\nGold, 1000000, 2")
        page.fill("#grace_days", "30")
        shoot(page, args.shots, "app-tiers-form", out)
        page.click("#dry-run")
        summary = page.locator("#dry-run-summary p[data-up]")
        summary.wait_for()
        out["dry_run"] = {k: int(summary.get_attribute(f"data-{k}") or -1) for k in ("up", "down", "unchanged")}
        out["dry_run_text"] = summary.inner_text()
        out["dry_run_figures"] = figures(page)
        shoot(page, args.shots, "app-tiers-dry-run", out)
        page.click("#confirm-action")
        page.wait_for_url(f"{args.url}/dashboard/tiers?done=applied*")
        out["tiers_notice"] = page.locator(".alert.ok").inner_text()
        out["tiers_ladder"] = page.eval_on_selector_all(
            "#ladder-table tr[data-tier]", "rows => rows.map(r => r.dataset.tier)"
        )
        shoot(page, args.shots, "app-tiers", out)
        browser.close()
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
