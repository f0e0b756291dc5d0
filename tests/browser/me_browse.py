"""Drives Debian's chromium with Playwright on the customer page (run by .venv-browser's python,
not by pytest's .venv) and prints what it saw as JSON; screenshots go to ``--shots``.

- a desktop (1280×800) with a wallet: an EIP-1193 provider injected into the page whose
  ``personal_sign`` is answered by the real key (signed by ``--signer``, a python that has
  eth_account, reading the key from the environment), so the sign-in runs through wallet.js
  exactly as with a browser extension; the provider knows no chain at first, so "Add to wallet"
  must switch, add the chain, then watch the token. Times are checked in ``--time-zone``;
- the same page on a phone (390×844): no horizontal overflow, every movement's points and the
  wallet address inside the screen;
- a phone without a wallet: the sign-in offers the wallet apps' links;
- a phone opening a custodial customer's one-time link (``--link-url``);
- with ``--error-token``: only the page a chain outage shows, on a phone;
- with ``--member``: only a wallet's member flow on a desktop: join the program with the page's
  form, the tier's figures, a purchase's breakdown in its details, "Download my data" (the file
  saved); with ``--erase`` as well: sign in, type the word, erase, the page that follows, and /me
  signed out.

    .venv-browser/bin/python tests/browser/me_browse.py --url U --address A --signer PY --link-url L --shots DIR
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

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
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
FIGURES_JS = (
    "() => Object.fromEntries([...document.querySelectorAll('[data-figure]')]"
    ".map(el => [el.dataset.figure, {value: el.dataset.value, text: el.textContent.trim()}]))"
)
LAYOUT_JS = """() => {
  const w = window.innerWidth;
  const inside = el => { const r = el.getBoundingClientRect(); return r.width > 0 && r.left >= 0 && r.right <= w; };
  return {
    scroll_width: document.documentElement.scrollWidth,
    inner_width: w,
    points_inside: [...document.querySelectorAll('#history-table tbody td.c-points')].map(inside),
    wallet_inside: [...document.querySelectorAll('[data-figure=wallet]')].map(inside),
    balance_inside: [...document.querySelectorAll('[data-figure=balance]')].map(inside),
  };
}"""
FAKE_WALLET_JS = """
(() => {
  const address = %(address)s;
  // what the page asked the wallet, kept across the page's reloads (as a wallet would)
  window.__walletCalls = JSON.parse(sessionStorage.getItem('walletCalls') || '[]');
  const known = [];
  window.ethereum = {
    request: async ({method, params}) => {
      window.__walletCalls.push({method, params: params === undefined ? null : params});
      sessionStorage.setItem('walletCalls', JSON.stringify(window.__walletCalls));
      if (method === 'eth_requestAccounts' || method === 'eth_accounts') return [address];
      if (method === 'personal_sign') return await window.walletSign(params[0]);
      if (method === 'wallet_switchEthereumChain') {
        if (!known.includes(params[0].chainId)) {
          const err = new Error('Unrecognized chain ID ' + params[0].chainId); err.code = 4902; throw err;
        }
        return null;
      }
      if (method === 'wallet_addEthereumChain') { known.push(params[0].chainId); return null; }
      if (method === 'wallet_watchAsset') return true;
      throw new Error('the test wallet does not do ' + method);
    },
  };
})();
"""
SIGN_PY = (
    "import os, sys; from eth_account import Account; from eth_account.messages import encode_defunct; "
    "sig = Account.sign_message(encode_defunct(text=sys.stdin.read()), os.environ['ME_BROWSE_KEY']).signature; "
    "print('0x' + sig.hex().removeprefix('0x'))"
)


def figures(page: Page) -> dict[str, Any]:
    return page.evaluate(FIGURES_JS)


def watch_errors(page: Page, errors: list[str]) -> None:
    page.set_default_timeout(20_000)
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("pageerror", lambda exc: errors.append(str(exc)))


def new_page(browser: Browser, viewport: dict[str, int], errors: list[str], **kw: Any) -> tuple[BrowserContext, Page]:
    context = browser.new_context(viewport=viewport, locale="en-US", **kw)
    page = context.new_page()
    watch_errors(page, errors)
    return context, page


def history_rows(page: Page) -> list[dict[str, str]]:
    return page.eval_on_selector_all(
        "#history-table tbody tr",
        "rows => rows.map(r => ({kind: r.dataset.kind, text: r.innerText.replace(/\\s+/g, ' ').trim(),"
        " time: (r.querySelector('time') || {}).textContent || ''}))",
    )


def wallet_desktop(browser: Browser, args: argparse.Namespace, out: dict[str, Any]) -> None:
    context, page = new_page(browser, DESKTOP, out["console_errors"], timezone_id=args.time_zone)

    def sign(message: str) -> str:
        run = subprocess.run([args.signer, "-c", SIGN_PY], input=message, capture_output=True, text=True, check=True)
        return run.stdout.strip()

    context.expose_function("walletSign", sign)
    context.add_init_script(FAKE_WALLET_JS % {"address": json.dumps(args.address)})
    page.goto(f"{args.url}/me")
    page.click("#wallet-signin")
    page.wait_for_selector("[data-figure=balance]")
    out["signed_in_url"] = page.url
    out["cookies"] = [{k: c[k] for k in ("name", "httpOnly", "sameSite")} for c in context.cookies()]
    out["figures"] = figures(page)
    out["rows"] = history_rows(page)
    out["time_zone"] = page.locator("#time-zone").inner_text()
    out["worth_rule"] = page.locator("#worth-rule").inner_text()
    out["desktop"] = page.evaluate(LAYOUT_JS)
    page.screenshot(path=str(args.shots / "me-desktop.png"), full_page=True)
    page.locator("details").first.locator("summary").click()
    out["details_open"] = page.locator("details[open] .c-hash").first.inner_text()

    page.click("#watch-asset")
    page.wait_for_function("() => /in your wallet|Could not/.test(document.getElementById('watch-status').textContent)")
    out["watch_status"] = page.locator("#watch-status").inner_text()
    page.click("#watch-asset")  # the wallet knows the chain now: switch, then watch
    page.wait_for_function("() => window.__walletCalls.filter(c => c.method === 'wallet_watchAsset').length === 2")
    out["wallet_calls"] = page.evaluate("() => window.__walletCalls")
    image = page.evaluate("() => document.getElementById('watch-asset').dataset.image")
    logo = context.request.get(image)
    out["logo"] = {
        "url": image,
        "status": logo.status,
        "type": logo.headers.get("content-type"),
        "bytes": len(logo.body()),
    }

    page.set_viewport_size(PHONE)
    page.reload()
    page.wait_for_selector("[data-figure=balance]")
    out["phone"] = page.evaluate(LAYOUT_JS)
    page.screenshot(path=str(args.shots / "me-phone.png"), full_page=True)
    context.close()


def _signed_in_wallet(browser: Browser, args: argparse.Namespace, out: dict[str, Any]) -> tuple[BrowserContext, Page]:
    context, page = new_page(browser, DESKTOP, out["console_errors"], accept_downloads=True)

    def sign(message: str) -> str:
        run = subprocess.run([args.signer, "-c", SIGN_PY], input=message, capture_output=True, text=True, check=True)
        return run.stdout.strip()

    context.expose_function("walletSign", sign)
    context.add_init_script(FAKE_WALLET_JS % {"address": json.dumps(args.address)})
    page.goto(f"{args.url}/me")
    page.click("#wallet-signin")
    page.wait_for_selector("[data-figure=balance]")
    return context, page


def member(browser: Browser, args: argparse.Namespace, out: dict[str, Any]) -> None:
    """Joins with the page's form, reads the tier and the breakdown, downloads the data."""
    context, page = _signed_in_wallet(browser, args, out)
    page.fill("#enrol-email", args.email)
    with page.expect_navigation():
        page.click("#enrol-submit")  # joined: the page reloads, without the form
    page.wait_for_selector("#download-data")
    out["enrol_form_after"] = page.locator("#enrol-form").count()
    out["figures"] = figures(page)
    out["tier_text"] = page.locator("#tier").inner_text()
    row = page.locator("#history-table tbody tr[data-kind=earned]").first
    row.locator("summary").click()
    out["breakdown"] = row.locator(".c-breakdown li").all_inner_texts()
    out["details_text"] = row.locator("details").inner_text()
    out["consents_before"] = consent_states(page)
    for cell in ("coalition-sms", "coalition-email"):  # each switch is saved at once, then the page reloads
        with page.expect_navigation():
            page.check(f'td[data-consent="{cell}"] input')
    out["consents_after"] = consent_states(page)
    out["consent_words"] = page.locator('td[data-consent="coalition-sms"] details').text_content()
    page.screenshot(path=str(args.shots / "me-member-desktop.png"), full_page=True)
    with page.expect_download() as info:
        page.click("#download-data")
    download = info.value
    out["download_name"] = download.suggested_filename
    out["download"] = json.loads(Path(download.path()).read_text())
    page.set_viewport_size(PHONE)
    out["member_phone"] = page.evaluate(LAYOUT_JS)
    context.close()


def consent_states(page: Page) -> dict[str, str]:
    """The consents' grid: cell ("coalition-sms", "3-email") -> state (granted, pending, withdrawn, unset)."""
    js = "cells => Object.fromEntries(cells.map(c => [c.dataset.consent, c.dataset.state]))"
    return dict(page.eval_on_selector_all("#consent-grid td[data-consent]", js))


def erase(browser: Browser, args: argparse.Namespace, out: dict[str, Any]) -> None:
    """Erases the personal data from the page: the word typed, then the button."""
    context, page = _signed_in_wallet(browser, args, out)
    page.locator("#erase summary").click()
    out["erase_disabled_before"] = page.locator("#erase-submit").is_disabled()
    page.fill("#erase-confirm", "eras")
    out["erase_disabled_partial"] = page.locator("#erase-submit").is_disabled()
    page.fill("#erase-confirm", "erase")
    page.click("#erase-submit")
    page.wait_for_url("**/me/erased")
    out["erased_heading"] = page.locator("h1").inner_text()
    out["erased_figures"] = figures(page)
    out["erased_text"] = page.locator("#erased").inner_text()
    page.screenshot(path=str(args.shots / "me-erased-desktop.png"), full_page=True)
    out["cookies_after"] = [c["name"] for c in context.cookies()]
    page.goto(f"{args.url}/me")
    out["after_signin_shown"] = page.locator("#wallet-signin").count() == 1
    context.close()


def phone_without_wallet(browser: Browser, args: argparse.Namespace, out: dict[str, Any]) -> None:
    context, page = new_page(browser, PHONE, out["console_errors"], is_mobile=True, has_touch=True)
    page.goto(f"{args.url}/me")
    page.wait_for_selector("#wallet-apps:not([hidden])")
    out["apps"] = page.eval_on_selector_all("#wallet-apps a", "links => links.map(a => a.href)")
    out["signin_phone"] = page.evaluate(LAYOUT_JS)
    page.screenshot(path=str(args.shots / "me-signin-phone.png"), full_page=True)
    context.close()


def phone_with_link(browser: Browser, args: argparse.Namespace, out: dict[str, Any]) -> None:
    context, page = new_page(browser, PHONE, out["console_errors"], is_mobile=True, has_touch=True)
    page.goto(args.link_url)
    out["link_url_after_load"] = page.url  # the token is taken out of the address bar
    page.click("#link-continue")
    page.wait_for_selector("[data-figure=balance]")
    out["link_figures"] = figures(page)
    out["link_via"] = page.locator("#session-via").inner_text()
    out["link_phone"] = page.evaluate(LAYOUT_JS)
    page.screenshot(path=str(args.shots / "me-link-phone.png"), full_page=True)
    context.close()


def error_page(browser: Browser, args: argparse.Namespace, out: dict[str, Any]) -> None:
    context, page = new_page(browser, PHONE, [], is_mobile=True)
    context.add_cookies([{"name": "coalition_customer", "value": args.error_token, "url": args.url}])
    response = page.goto(f"{args.url}/me")
    out["error_status"] = response.status if response is not None else None
    out["error_heading"] = page.locator("h1").inner_text()
    out["error_retry"] = page.locator("#retry").get_attribute("href")
    out["error_phone"] = page.evaluate(LAYOUT_JS)
    page.screenshot(path=str(args.shots / "me-error-phone.png"), full_page=True)
    context.close()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--shots", required=True, type=Path)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--address", help="the wallet's address (its key: ME_BROWSE_KEY in the environment)")
    parser.add_argument("--signer", help="a python with eth_account, to sign as the wallet")
    parser.add_argument("--time-zone", default="Asia/Kolkata")
    parser.add_argument("--link-url", help="a custodial customer's one-time sign-in link")
    parser.add_argument("--error-token", help="only: the page of /me with this session while the chain is down")
    parser.add_argument("--member", action="store_true", help="only: join, tier, breakdown, download")
    parser.add_argument("--erase", action="store_true", help="with --member: only the erasure")
    parser.add_argument("--email", default="member@example.com", help="the email --member joins with")
    args = parser.parse_args()
    args.shots.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {"console_errors": []}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, headless=True, args=CHROMIUM_ARGS)
        if args.error_token:
            error_page(browser, args, out)
        elif args.member:
            (erase if args.erase else member)(browser, args, out)
        else:
            wallet_desktop(browser, args, out)
            phone_without_wallet(browser, args, out)
            phone_with_link(browser, args, out)
        browser.close()
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
