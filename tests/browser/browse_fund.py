"""Drives Debian's chromium with Playwright (run by .venv-browser's python) through the dashboard's
Fund action: the partner's page, its Fund button, the amount in cUSD, the confirmation page (shot
at 1280×800 and 390×844, measured for overflow at 390 px), then the confirmed deposit back on the
partner's page with its notice. Prints what it saw as JSON.

    .venv-browser/bin/python tests/browser/browse_fund.py --url U --operator-token T --shots DIR \
        --partner ID --amount 2.5
"""

from __future__ import annotations

import json
import sys
from typing import Any

from browse import figures  # tests/browser/browse.py, next to this file
from browse_dashboard import operator_page, operator_parser, shoot


def main() -> int:
    parser = operator_parser()
    parser.add_argument("--partner", required=True, type=int, help="the partner funded here")
    parser.add_argument("--amount", required=True, help="in the settlement token, as an operator types it")
    args = parser.parse_args()
    out: dict[str, Any] = {"console_errors": [], "overflow_390": {}}
    base = f"{args.url}/dashboard/partners/{args.partner}"
    with operator_page(args, out) as page:
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
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
