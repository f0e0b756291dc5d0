"""The customer page (/me) in headless Chromium (Debian's chromium driven by Playwright from
.venv-browser, tests/browser/me_browse.py), on the real stack (tests/e2e/stack.py) with real data
made over the API: purchases at three partners, a redemption with its voucher, a partial refund,
rewards to buy, a custodial customer with a one-time sign-in link. The wallet signs in through
wallet.js with its real key; what the page shows is checked against the API's answers and the
chain's; screenshots at 1280×800 and 390×844 are saved in reports/screenshots/ (me-*.png).

Issue 16 item 6, a second wallet with a tier ladder in force and a partner's rule set: it joins
with the page's form, sees its tier with the figures of GET /v1/me/tier and its purchase's
breakdown (the rules of GET /v1/purchases/{id}, the gift cards that earned nothing), downloads
the JSON of GET /v1/me/data, then erases its personal data from the page: signed out, the chain's
balance and the ledger unchanged.

Ports: 9670-9689.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from sqlalchemy import func, select

from network.deployments import PROJECT_ROOT
from network.store import CustomerProfile, LedgerEntry
from tests.browser.chromium import BROWSER_PYTHON, CHROMIUM, NEEDS_CHROMIUM, SHOTS
from tests.e2e.stack import OPERATOR_HEADERS, OnboardedPartner, Stack, key_for, start_stack
from tests.wallets import sign

pytestmark = NEEDS_CHROMIUM
# name -> (points per unit, issue price, reimbursement rate): cUSD base units (6 decimals) a point
RATES = {"Grocer": ("1", 10_000, 8_000), "Fuel": ("2", 12_000, 9_000), "Pharmacy": ("1.5", 7_500, 7_000)}
PHONE_WIDTH = 390
LADDER = {
    "tiers": [
        {"name": "Member", "threshold": 0, "multiplier": "1"},
        {"name": "Silver", "threshold": 20, "multiplier": "1.25"},
        {"name": "Gold", "threshold": 1000, "multiplier": "1.5"},
    ],
    "policy": {"window": "rolling_12_months", "review": {"kind": "anniversary"}, "grace_days": 30},
}


def _buy(
    stack: Stack, p: OnboardedPartner, purchase_id: str, amount: str, wallet: str | None = None, ref: str | None = None
) -> int:
    r = stack.post_purchase(p, purchase_id, wallet, amount=amount, ref=ref)
    assert r.status_code == 202, r.text
    return int(stack.wait_purchase(p, purchase_id, timeout_s=60)["points"])


def _reward(stack: Stack, p: OnboardedPartner, sku: str, name: str, points: int, stock: int | None = None) -> None:
    r = stack.http.post(
        "/v1/rewards", headers=p.headers, json={"sku": sku, "name": name, "points": points, "stock": stock}
    )
    assert r.status_code == 201, r.text


def _redeem(stack: Stack, p: OnboardedPartner, customer: LocalAccount, redemption_id: str, sku: str) -> dict[str, Any]:
    from eth_account import Account

    ask = {"redemption_id": redemption_id, "sku": sku, "quantity": 1, "customer": {"wallet": customer.address}}
    r = stack.http.post("/v1/redemptions/consent", headers=p.headers, json=ask)
    assert r.status_code == 200, r.text
    prepared = r.json()
    signature = Account.sign_typed_data(customer.key, full_message=prepared["typed_data"]).signature
    consent = {"nonce": int(prepared["nonce"]), "deadline": prepared["deadline"], "signature": "0x" + signature.hex()}
    r = stack.http.post("/v1/redemptions", headers=p.headers, json={**ask, "consent": consent})
    assert r.status_code == 202, r.text
    return stack.wait_json(f"/v1/redemptions/{redemption_id}", p.headers, want="fulfilled", timeout_s=60)


def _refund(stack: Stack, p: OnboardedPartner, purchase_id: str, refund_id: str, amount: str) -> None:
    path = f"/v1/purchases/{purchase_id}/refunds"
    r = stack.http.post(path, headers=p.headers, json={"refund_id": refund_id, "amount": amount})
    assert r.status_code == 202, r.text
    stack.wait_json(f"{path}/{refund_id}", p.headers, want="confirmed", final=("failed",), timeout_s=60)


def _browse(stack: Stack, *args: str, key: str = "") -> dict[str, Any]:
    run = subprocess.run(
        [str(BROWSER_PYTHON), str(PROJECT_ROOT / "tests/browser/me_browse.py"), "--url", stack.url,
         "--shots", str(SHOTS), "--chromium", CHROMIUM, *args],
        capture_output=True, text=True, timeout=180, cwd=PROJECT_ROOT, env={**os.environ, "ME_BROWSE_KEY": key},
    )  # fmt: skip
    assert run.returncode == 0, f"{run.stdout[-2000:]}\n{run.stderr[-4000:]}\n{stack.logs(20)}"
    return dict(json.loads(run.stdout))


def _ladder(stack: Stack) -> None:
    r = stack.http.put("/v1/operator/tiers/ladder", headers=OPERATOR_HEADERS, json=LADDER)
    assert r.status_code == 201, r.text
    run = stack.http.post(
        "/v1/operator/tiers/recalculations", headers=OPERATOR_HEADERS, json={"version": r.json()["version"]}
    )
    assert run.status_code == 202, run.text
    stack.wait_json(f"/v1/operator/tiers/recalculations/{run.json()['id']}", OPERATOR_HEADERS, want="done")


def _rules(stack: Stack, p: OnboardedPartner) -> None:
    rules = [
        {"kind": "base", "id": "base", "points_per_unit": "1"},
        {"kind": "multiplier", "id": "wine-x2", "factor": "2", "categories": ["wine"]},
    ]
    path = f"/v1/operator/partners/{p.id}/rules"
    drafted = stack.http.post(path, headers=OPERATOR_HEADERS, json={"rules": rules})
    assert drafted.status_code == 201, drafted.text
    activated = stack.http.post(f"{path}/{drafted.json()['version']}/activate", headers=OPERATOR_HEADERS)
    assert activated.status_code == 200, activated.text


def _bearer(stack: Stack, account: LocalAccount) -> dict[str, str]:
    message = stack.http.post("/v1/auth/challenge", json={"address": account.address}).json()["message"]
    r = stack.http.post("/v1/auth/session", json={"message": message, "signature": sign(account, message)})
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def _ledger(stack: Stack, wallet: str) -> dict[str, int]:
    with stack.harness.sessions() as session:
        rows = session.execute(
            select(LedgerEntry.kind, func.sum(LedgerEntry.points))
            .where(LedgerEntry.customer == wallet)
            .group_by(LedgerEntry.kind)
        )
        return {kind: int(total) for kind, total in rows}


def _member_flow(stack: Stack, grocer: OnboardedPartner) -> None:
    """A second wallet: joins, its tier and its purchase's breakdown, the download, the erasure."""
    _rules(stack, grocer)
    bob = key_for("me-browser-bob")
    body = {
        "purchase_id": "wine-7",
        "customer": {"wallet": bob.address},
        "amount": "30.00",
        "currency": "EUR",
        "lines": [
            {"sku": "WINE-1", "category": "wine", "quantity": "2", "unit_price": "10.00"},
            {"sku": "BREAD-1", "category": "bakery", "unit_price": "10.00"},
        ],
        "paid_with": {"points": "0", "gift_cards": "6.00"},
    }
    r = stack.http.post("/v1/purchases", headers=grocer.headers, json=body)
    assert r.status_code == 202, r.text
    bought = stack.wait_purchase(grocer, "wine-7", timeout_s=60)
    stack.wait_indexed()
    api = _bearer(stack, bob)
    deadline = time.monotonic() + 60
    while stack.http.get("/v1/me/tier", headers=api).json()["tier"] != "Silver":
        assert time.monotonic() < deadline, stack.logs(20)
        time.sleep(0.3)

    args = ("--member", "--address", bob.address, "--signer", sys.executable, "--email", "bob@example.com")
    seen = _browse(stack, *args, key=bob.key.hex())
    tier = stack.http.get("/v1/me/tier", headers=api).json()
    data = stack.http.get("/v1/me/data", headers=api).json()
    balance, ledger = stack.balance(bob.address), _ledger(stack, bob.address)
    gone = _browse(stack, *args, "--erase", key=bob.key.hex())

    assert seen["console_errors"] == [] and gone["console_errors"] == [], (seen, gone)
    f = {k: v["value"] for k, v in seen["figures"].items()}
    # joined with the page's form
    assert seen["enrol_form_after"] == 0 and data["member"] is not None
    assert data["profile"]["email"] == "bob@example.com"
    # the tier: the figures of GET /v1/me/tier
    assert (f["tier"], f["tier-multiplier"], int(f["tier-qualifying"])) == (
        tier["tier"], tier["multiplier"], tier["qualifying_points"],
    )  # fmt: skip
    assert (f["tier-next"], int(f["tier-to-next"]), int(f["tier-keep"])) == (
        tier["next_tier"], tier["points_to_next"], tier["points_to_keep"],
    )  # fmt: skip
    assert f["tier-decided"][:19] == tier["decided_at"][:19]
    assert tier["tier"] in seen["tier_text"] and tier["next_tier"] in seen["tier_text"]
    # the purchase's breakdown in its details: each rule, its version and points; the gift cards earned nothing
    assert len(seen["breakdown"]) == len(bought["breakdown"]) == 2
    for text, b in zip(seen["breakdown"], bought["breakdown"], strict=True):
        assert b["rule"] in text and f"v{b['version']}" in text and f"{b['points']:+,}" in text, (text, b)
    assert "Paid with gift cards" in seen["details_text"] and "6.00 EUR" in seen["details_text"]
    assert "earns no points" in seen["details_text"]
    assert sum(b["points"] for b in bought["breakdown"]) == bought["points"] == balance
    # the consents' grid (issue 18): the coalition's row (bob has no partner's ref), each switch saved as it is
    # ticked, with the words shown; the email waits for its confirmation (double opt-in), the SMS does not
    cells = ("coalition-email", "coalition-sms", "coalition-push")
    assert seen["consents_before"] == dict(zip(cells, ("unset", "unset", "unset"), strict=True))
    assert seen["consents_after"] == dict(zip(cells, ("pending", "granted", "unset"), strict=True))
    assert "may send me text messages (SMS)" in seen["consent_words"]
    assert [(c["channel"], c["granted"], c["source"], c["confirmed_at"]) for c in data["consents"]] == [
        ("sms", True, "me", None), ("email", True, "me", None),
    ]  # fmt: skip
    # the download is the API's JSON
    assert seen["download_name"] == "my-data.json" and seen["download"] == data
    assert seen["member_phone"]["scroll_width"] <= PHONE_WIDTH
    # the erasure: the button waits for the word; then signed out, the personal data gone, the ledger unchanged
    assert gone["erase_disabled_before"] and gone["erase_disabled_partial"]
    assert gone["erased_heading"] == "Your personal data is erased"
    assert gone["erased_figures"]["erased-customer_profiles"]["value"] == "1"
    assert "What stays" in gone["erased_text"] and "coalition_customer" not in gone["cookies_after"]
    assert gone["after_signin_shown"]
    assert stack.http.get("/v1/me/data", headers=api).status_code == 401  # every session ended
    assert stack.balance(bob.address) == balance and _ledger(stack, bob.address) == ledger
    with stack.harness.sessions() as session:
        assert session.scalar(select(CustomerProfile).where(CustomerProfile.email == "bob@example.com")) is None


def _fits(layout: dict[str, Any]) -> None:
    assert layout["inner_width"] == PHONE_WIDTH
    assert layout["scroll_width"] <= PHONE_WIDTH, layout  # no horizontal overflow
    assert all(layout["points_inside"]) and all(layout["wallet_inside"]) and all(layout["balance_inside"]), layout


def test_customer_page_on_desktop_and_phone_shows_what_the_api_and_the_chain_say(tmp_path: Path) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    with start_stack(tmp_path, ports=range(9670, 9690), workers=1, tiers_every_s=1) as stack:
        partners = {
            n: stack.onboard(n, points_per_unit=a, issue_price=b, reimbursement_rate=c)
            for n, (a, b, c) in RATES.items()
        }
        grocer, fuel, pharmacy = partners["Grocer"], partners["Fuel"], partners["Pharmacy"]
        _ladder(stack)
        alice = key_for("me-browser-alice")
        assert _buy(stack, grocer, "order-1042", "120.00", alice.address) == 120
        assert _buy(stack, fuel, "fuel-77", "30.00", alice.address) == 60
        _reward(stack, fuel, "WASH", "Car wash", 50, stock=5)
        _reward(stack, grocer, "COFFEE", "Coffee beans", 20)
        _reward(stack, grocer, "BASKET", "Holiday basket", 500)
        wash = _redeem(stack, fuel, alice, "wash-1", "WASH")
        _refund(stack, grocer, "order-1042", "rf-1", "20.00")  # 20 points back to Grocer
        carol = stack.http.post("/v1/customers/carol/custodial-wallet", headers=pharmacy.headers).json()["wallet"]
        assert _buy(stack, pharmacy, "rx-9", "40.00", ref="carol") == 60
        link = stack.http.post("/v1/customers/carol/sign-in-link", headers=pharmacy.headers)
        assert link.status_code == 201, link.text
        stack.wait_indexed()

        seen = _browse(
            stack, "--address", alice.address, "--signer", sys.executable, "--time-zone", "Asia/Kolkata",
            "--link-url", link.json()["url"], key=alice.key.hex(),
        )  # fmt: skip
        balance = stack.balance(alice.address)
        points_address = stack.harness.contracts.points.address
        _member_flow(stack, grocer)
        # while the chain is down, a person on the page gets a page that says so
        again = stack.http.post("/v1/customers/carol/sign-in-link", headers=pharmacy.headers).json()["url"]
        opened = stack.http.post("/me/link", json={"token": again.split("#", 1)[1]})
        assert opened.status_code == 204, opened.text
        session_token = opened.cookies["coalition_customer"]
        stack.http.cookies.clear()
        stack.harness.node.stop()
        down = _browse(stack, "--error-token", session_token)

    assert seen["console_errors"] == [], seen["console_errors"]
    # signed in through wallet.js with the wallet's own signature; the cookie is HttpOnly and strict
    assert seen["signed_in_url"].endswith("/me")
    assert {"name": "coalition_customer", "httpOnly": True, "sameSite": "Strict"} in seen["cookies"]
    f = {k: v["value"] for k, v in seen["figures"].items()}
    texts = {k: v["text"] for k, v in seen["figures"].items()}
    assert f["wallet"] == alice.address
    assert int(f["balance"]) == balance == 120 + 60 - 50 - 20
    # the cards add up: earned − spent − refunded = the balance on chain
    earned, spent, refunded = int(f["earned"]), int(f["spent"]), int(f["refunded"])
    assert (earned, spent, refunded) == (180, 50, 20)
    assert earned - spent - refunded == int(f["ledger-balance"]) == balance
    assert "pending" not in f and "received" not in f
    # the history, newest first: the refund (its amount), the reward (its voucher), the purchases (amounts), partners
    kinds = [r["kind"] for r in seen["rows"]]
    assert kinds == ["reversed", "redeemed", "earned", "earned"], seen["rows"]
    assert [int(f[f"history-{i}"]) for i in range(4)] == [-20, -50, 60, 120]
    assert [f[f"history-{i}-partner"] for i in range(4)] == ["Grocer", "Fuel", "Fuel", "Grocer"]
    assert f["history-0-purchase"] == "order-1042" and Decimal(f["history-0-amount"].split()[0]) == Decimal("20")
    assert texts["history-1-reward"] == "Car wash ×1" and f["history-1-voucher"] == wash["voucher_code"]
    assert wash["voucher_code"] and wash["voucher_code"] in seen["rows"][1]["text"]
    assert f["history-2-purchase"] == "fuel-77" and Decimal(f["history-2-amount"].split()[0]) == Decimal("30")
    assert f["history-3-purchase"] == "order-1042" and Decimal(f["history-3-amount"].split()[0]) == Decimal("120")
    currency = f["history-3-amount"].split()[1]
    assert texts["history-3-amount"] == f"120.00 {currency}" and "120.00" in seen["rows"][3]["text"]
    # blocks and hashes behind a details link; local time with the zone named
    assert all("Details" in r["text"] and "0x" not in r["text"] for r in seen["rows"])
    assert seen["details_open"].startswith("0x") and len(seen["details_open"]) == 66
    assert seen["time_zone"] in ("Asia/Kolkata", "Asia/Calcutta")
    assert all("GMT+5:30" in r["time"] for r in seen["rows"]), seen["rows"]
    # what the balance buys now (rewards across partners whose points ≤ 110), dearest first
    assert int(f["offers-count"]) == 2 and [int(f["offer-0"]), int(f["offer-1"])] == [50, 20]
    assert "Car wash" in texts["offer-0"] and "Coffee beans" in texts["offer-1"] and "Holiday basket" not in str(texts)
    # worth: the balance at the lowest and highest reimbursement rate of partners with a reward
    assert (int(f["worth-low"]), int(f["worth-high"])) == (110 * 8_000, 110 * 9_000)
    assert (texts["worth-low"], texts["worth-high"]) == ("0.88", "0.99")
    assert (
        "reimbursement rate" in seen["worth_rule"] and "Grocer" in seen["worth_rule"] and "Fuel" in seen["worth_rule"]
    )
    # add to wallet: switch to the chain, add it when the wallet does not know it, then watch with the logo
    calls = [c["method"] for c in seen["wallet_calls"]]
    assert calls == [
        "eth_requestAccounts", "personal_sign",
        "wallet_switchEthereumChain", "wallet_addEthereumChain", "wallet_watchAsset",
        "wallet_switchEthereumChain", "wallet_watchAsset",
    ], calls  # fmt: skip
    switch, add, watch = (seen["wallet_calls"][i]["params"] for i in (2, 3, 4))
    assert (
        switch == [{"chainId": hex(31337)}]
        and add[0]["chainId"] == hex(31337)
        and add[0]["rpcUrls"][0].startswith("http")
    )
    options = watch["options"]
    assert (watch["type"], options["address"], options["symbol"], options["decimals"]) == (
        "ERC20",
        points_address,
        "PTS",
        0,
    )
    assert options["image"] == f"{stack.url}/static/points-logo.svg" == seen["logo"]["url"]
    assert (
        seen["logo"]["status"] == 200
        and seen["logo"]["type"].startswith("image/svg+xml")
        and seen["logo"]["bytes"] > 200
    )
    assert seen["watch_status"] == "PTS is in your wallet."
    # layouts: nothing runs off a 390 px screen; the desktop does not scroll sideways either
    assert seen["desktop"]["scroll_width"] <= 1280
    _fits(seen["phone"])
    assert seen["signin_phone"]["scroll_width"] <= PHONE_WIDTH
    _fits(seen["link_phone"])
    # a phone without a wallet is offered its wallet app's browser
    host = stack.url.removeprefix("http://")
    assert f"https://metamask.app.link/dapp/{host}/me" in seen["apps"]
    assert any(a.startswith("https://go.cb-w.com/dapp?cb_url=") for a in seen["apps"])
    # the custodial customer's one-time link, on a phone: the token leaves the address bar, the page is read-only
    assert "#" not in seen["link_url_after_load"]
    assert seen["link_figures"]["wallet"]["value"] == carol and int(seen["link_figures"]["balance"]["value"]) == 60
    assert "Pharmacy" in seen["link_via"] and "read-only" in seen["link_via"]
    # the chain outage, on a phone: a page with a sentence and a retry link, not JSON
    assert down["error_status"] == 503 and down["error_heading"] == "We cannot reach the blockchain right now"
    assert down["error_retry"] == "/me" and down["error_phone"]["scroll_width"] <= PHONE_WIDTH
    shots = ("me-desktop.png", "me-phone.png", "me-signin-phone.png", "me-link-phone.png", "me-error-phone.png")
    for shot in (*shots, "me-member-desktop.png", "me-erased-desktop.png"):
        assert (SHOTS / shot).stat().st_size > 5_000, shot
