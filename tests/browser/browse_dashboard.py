"""Drives Debian's chromium with Playwright (run by .venv-browser's python) through the operator
dashboard's application: sign-in, the navigation, the partners list and a partner's page, the
search, the failed and held list, a statement for people, an action with its confirmation, the
tier ladder, the members (found by wallet and by ref, a member's page, an erasure) and a partner's
earning rules (a draft refused, one written, simulated and activated).
Every page is shot at 1280×800 and 390×844 into ``--shots`` and measured for horizontal overflow
at 390 px. Prints what it saw as JSON.

    .venv-browser/bin/python tests/browser/browse_dashboard.py --url U --operator-token T --shots DIR \
        --partner ID --suspended ID --search Q --period N --member-wallet W --member-ref R \
        --member-partner ID --rules-partner ID --rules-draft JSON --rules-bad JSON --rules-days N
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from browse import CHROMIUM_ARGS, figures  # tests/browser/browse.py, next to this file
from playwright.sync_api import Page, sync_playwright

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
OVERFLOW_JS = "() => document.documentElement.scrollWidth - window.innerWidth"


def operator_parser() -> argparse.ArgumentParser:
    """The options every operator page script takes: the gateway, the operator's token, where the
    screenshots go and the browser."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--operator-token", required=True)
    parser.add_argument("--shots", required=True, type=Path)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    return parser


@contextmanager
def operator_page(args: argparse.Namespace, out: dict[str, Any]) -> Iterator[Page]:
    """Chromium at 1280x800, the console's errors and the page's exceptions collected into
    ``out["console_errors"]``, the operator signed in through the login form, on the overview."""
    args.shots.mkdir(parents=True, exist_ok=True)
    out.setdefault("console_errors", [])
    out.setdefault("overflow_390", {})
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_context(viewport=DESKTOP, accept_downloads=True).new_page()
        page.set_default_timeout(20_000)
        page.on("console", lambda m: m.type == "error" and out["console_errors"].append(m.text))
        page.on("pageerror", lambda exc: out["console_errors"].append(str(exc)))
        page.goto(f"{args.url}/dashboard/login")
        page.fill("#token", args.operator_token)
        page.click("button[type=submit]")
        page.wait_for_url(f"{args.url}/dashboard")
        yield page
        browser.close()


def shoot(page: Page, shots: Path, name: str, out: dict[str, Any]) -> None:
    """Screenshots at desktop and phone sizes; records the page's horizontal overflow at 390 px."""
    page.set_viewport_size(DESKTOP)
    page.screenshot(path=str(shots / f"{name}-1280.png"), full_page=True)
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(150)  # the charts resize on the next frame
    out["overflow_390"][name] = page.evaluate(OVERFLOW_JS)
    page.screenshot(path=str(shots / f"{name}-390.png"), full_page=True)
    page.set_viewport_size(DESKTOP)


def members(page: Page, args: argparse.Namespace, out: dict[str, Any]) -> None:
    """The members: a customer found by wallet (their purchases), a member found by ref and erased."""
    page.click(".nav a[href='/dashboard/members']")
    page.wait_for_url(f"{args.url}/dashboard/members")
    out["members_active"] = page.locator(".nav a.active").inner_text()
    out["members_total"] = figures(page)["member-total"]["value"]
    shoot(page, args.shots, "app-members", out)
    page.fill("#member-q", args.member_wallet)
    page.click("#member-search button[type=submit]")
    page.wait_for_url("**/dashboard/members?q=*")
    rows = "#members-table tbody tr[data-customer]"
    out["found_by_wallet"] = page.eval_on_selector_all(rows, "rows => rows.map(r => Number(r.dataset.customer))")
    page.click(f"{rows} a")
    page.wait_for_url("**/dashboard/members/*")
    out["wallet_customer_purchases"] = {
        k.removeprefix("purchase-").removesuffix("-points"): int(v["value"])
        for k, v in figures(page).items()
        if k.startswith("purchase-")
    }
    out["wallet_customer_breakdowns"] = page.eval_on_selector_all(
        "#member-purchases td.breakdown", "cells => cells.map(c => c.textContent)"
    )
    shoot(page, args.shots, "app-member-wallet", out)

    page.goto(f"{args.url}/dashboard/members")
    page.fill("#member-q", args.member_ref)
    page.select_option("#member-partner", str(args.member_partner))
    page.click("#member-search button[type=submit]")
    page.wait_for_url("**/dashboard/members?q=*")
    out["found_by_ref"] = page.eval_on_selector_all(rows, "rows => rows.map(r => Number(r.dataset.customer))")
    page.click(f"{rows} a")
    page.wait_for_url("**/dashboard/members/*")
    out["member_url"] = page.url
    out["member_before"] = page.locator("main").inner_text()
    shoot(page, args.shots, "app-member", out)
    page.click("#erase")
    page.wait_for_url("**/erase")
    out["erase_confirm"] = page.locator("#confirm").inner_text()
    shoot(page, args.shots, "app-member-erase", out)
    page.click("#confirm-action")
    page.wait_for_url("**?done=erased")
    out["member_erased"] = page.locator("#member-state").get_attribute("data-erased")
    out["member_after"] = page.locator("main").inner_text()
    out["member_notice"] = page.locator(".alert.ok").inner_text()
    out["erase_button_after"] = page.locator("#erase").count()
    with page.expect_download() as download:
        page.click("#download-data")
    out["member_data"] = json.loads(Path(download.value.path()).read_text())

    # a partner's customers from a CSV file: one row enrolled, one refused and reported
    page.goto(f"{args.url}/dashboard/members")
    page.select_option("#import-partner", str(args.member_partner))
    csv = b"ref,email\ndash-imported,imported@example.com\ndash-bad,not-an-email\n"
    page.set_input_files("#import-file", files=[{"name": "members.csv", "mimeType": "text/csv", "buffer": csv}])
    page.click("#import-submit")
    page.wait_for_selector("#import-report")
    out["import"] = {k: v["value"] for k, v in figures(page).items() if k.startswith("import-")}
    out["import_refused"] = page.eval_on_selector_all(
        "#refused-rows tbody tr[data-line]", "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
    )
    shoot(page, args.shots, "app-members-import", out)
    page.goto(f"{args.url}/dashboard/members")
    with page.expect_download() as download:
        page.click("#export-csv")
    out["export_csv"] = Path(download.value.path()).read_text()


def rules(page: Page, args: argparse.Namespace, out: dict[str, Any]) -> None:
    """A partner's rules: a refused draft (the error inline), a draft written, simulated, activated."""
    page.click(".nav a[href='/dashboard/rules']")
    page.wait_for_url(f"{args.url}/dashboard/rules")
    out["rules_overview"] = figures(page)
    shoot(page, args.shots, "app-rules", out)
    page.click(f"#rules-partners a[href='/dashboard/rules/{args.rules_partner}']")
    page.wait_for_url(f"{args.url}/dashboard/rules/{args.rules_partner}")
    out["rules_in_force_before"] = page.locator("#in-force").get_attribute("data-version")
    page.fill("#rules", args.rules_bad)
    page.click("#save-draft")
    page.wait_for_selector("#draft .alert.bad")
    out["draft_error"] = page.locator("#draft .alert.bad").inner_text()
    out["draft_text_kept"] = page.input_value("#rules") == args.rules_bad
    out["console_errors"] = [e for e in out["console_errors"] if "422" not in e]  # the refusal's status
    page.fill("#rules", args.rules_draft)
    page.click("#save-draft")
    page.wait_for_url("**?done=drafted*")
    version = int(page.url.rsplit("#draft-", 1)[1])
    out["draft_version"] = version
    shoot(page, args.shots, "app-rules-draft", out)
    page.fill(f"#days-{version}", str(args.rules_days))
    page.click(f"#simulate-button-{version}")
    page.wait_for_url("**/simulate?*")
    sentence = page.locator("#simulation-sentence")
    out["simulation"] = {k: sentence.get_attribute(f"data-{k}") for k in ("delta", "value", "members")}
    out["simulation_text"] = sentence.inner_text()
    out["simulation_figures"] = {k: v["value"] for k, v in figures(page).items()}
    shoot(page, args.shots, "app-rules-simulation", out)
    page.click("#confirm-action")
    page.wait_for_url("**?done=activated")
    out["rules_notice"] = page.locator(".alert.ok").inner_text()
    forged = page.request.post(  # the session's cookie, but no CSRF token: refused
        f"{args.url}/dashboard/rules/{args.rules_partner}/activate", form={"version": str(version), "confirmed": "yes"}
    )
    out["forged_status"] = forged.status
    out["rules_in_force_after"] = page.locator("#in-force").get_attribute("data-version")
    shoot(page, args.shots, "app-rules-activated", out)


def main() -> int:
    parser = operator_parser()
    parser.add_argument("--partner", required=True, type=int, help="a partner whose page is opened")
    parser.add_argument("--suspended", required=True, type=int, help="a suspended partner, reactivated here")
    parser.add_argument("--search", required=True, help="a purchase id to search for")
    parser.add_argument("--period", required=True, type=int, help="a settled period")
    parser.add_argument("--member-wallet", required=True, help="a customer's wallet to find, and open")
    parser.add_argument("--member-ref", required=True, help="a member's ref to find, open and erase")
    parser.add_argument("--member-partner", required=True, type=int, help="the partner of --member-ref")
    parser.add_argument("--rules-partner", required=True, type=int, help="a partner whose rules are drafted")
    parser.add_argument("--rules-draft", required=True, help="the draft's JSON, simulated and activated")
    parser.add_argument("--rules-bad", required=True, help="a draft's JSON the page refuses")
    parser.add_argument("--rules-days", required=True, type=int, help="the days the simulation looks back")
    args = parser.parse_args()
    out: dict[str, Any] = {"console_errors": [], "overflow_390": {}}
    with operator_page(args, out) as page:
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

        members(page, args, out)
        rules(page, args, out)
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
