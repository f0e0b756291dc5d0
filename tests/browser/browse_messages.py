"""Drives Debian's chromium with Playwright (run by .venv-browser's python) through the dashboard's
Messages pages: the log (from the navigation), filtered by status through its form, one message's
events, the mailbox and one mail (its headers, plain text and sandboxed HTML), and the delivery
rates. Every page is shot at 1280×800 and 390×844 into ``--shots``. Prints what it saw as JSON.

    .venv-browser/bin/python tests/browser/browse_messages.py --url U --operator-token T --shots DIR \
        --status suppressed --mail-subject S
"""

from __future__ import annotations

import json
import sys
from typing import Any

from browse import figures  # tests/browser/browse.py, next to this file
from browse_dashboard import operator_page, operator_parser, shoot
from playwright.sync_api import Page

ROWS_JS = "rows => rows.map(r => Object.assign({}, r.dataset))"


def rows(page: Page, selector: str) -> list[dict[str, str]]:
    return page.eval_on_selector_all(selector, ROWS_JS)


def main() -> int:
    parser = operator_parser()
    parser.add_argument("--status", required=True, help="the status the log is filtered by")
    parser.add_argument("--mail-subject", required=True, help="the mail opened (its HTML tries a script)")
    args = parser.parse_args()
    out: dict[str, Any] = {"console_errors": [], "overflow_390": {}}
    with operator_page(args, out) as page:
        # the log, from the navigation; then filtered by status with its form
        page.click(".nav a[href='/dashboard/messages']")
        page.wait_for_url(f"{args.url}/dashboard/messages")
        out["nav_active"] = page.locator(".nav a.active").inner_text()
        out["log_total"] = figures(page)["log-total"]["value"]
        out["log_rows"] = rows(page, "#log-table tbody tr[data-message]")
        shoot(page, args.shots, "app-messages-log", out)
        page.select_option("#log-status", args.status)
        page.click("#log-filters button[type=submit]")
        page.wait_for_url("**/dashboard/messages?*status=*")
        out["filtered_total"] = figures(page)["log-total"]["value"]
        out["filtered_rows"] = rows(page, "#log-table tbody tr[data-message]")

        # one message: the first of the filtered log, with its events
        page.click("#log-table tbody tr[data-message] a")
        page.wait_for_url("**/dashboard/messages/*")
        out["message_url"] = page.url
        out["message_events"] = page.eval_on_selector_all(
            "#message-events tbody tr[data-event]", "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
        )
        shoot(page, args.shots, "app-message", out)

        # the mailbox and one mail
        page.goto(f"{args.url}/dashboard/messages")
        page.click("#message-tabs a[href='/dashboard/messages/mailbox']")
        page.wait_for_url(f"{args.url}/dashboard/messages/mailbox")
        out["mailbox_total"] = figures(page)["mailbox-total"]["value"]
        out["mailbox_rows"] = page.eval_on_selector_all(
            "#mailbox-table tbody tr[data-mail]", "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
        )
        shoot(page, args.shots, "app-mailbox", out)
        page.click(f"#mailbox-table a:text-is('{args.mail_subject}')")
        page.wait_for_url("**/dashboard/messages/mailbox/*")
        frame = page.locator("#mail-html")
        out["mail_sandbox"] = frame.get_attribute("sandbox")
        out["mail_html_text"] = page.frame_locator("#mail-html").locator("body").inner_text()
        out["mail_text"] = page.locator("#mail-text").inner_text()
        out["mail_headers"] = dict(
            page.eval_on_selector_all(
                "#mail-headers tbody tr[data-header]",
                "rows => rows.map(r => [r.cells[0].textContent, r.cells[1].textContent])",
            )
        )
        out["title_after_mail"] = page.title()
        out["mail_facts"] = page.locator("#mail-facts").inner_text()
        shoot(page, args.shots, "app-mail", out)
        out["mail_console"] = list(out["console_errors"])  # the sandbox's refusal of the mail's script
        out["console_errors"].clear()

        # the delivery rates
        page.click("#message-tabs a[href='/dashboard/messages/rates']")
        page.wait_for_url(f"{args.url}/dashboard/messages/rates")
        out["rates"] = {k: v["value"] for k, v in figures(page).items()}
        out["bars"] = page.eval_on_selector_all(
            ".rate-bar", "bars => bars.map(b => [b.id, b.querySelectorAll('rect').length])"
        )
        shoot(page, args.shots, "app-message-rates", out)
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
