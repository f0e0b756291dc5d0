"""The operator dashboard and the customer page in headless Chromium (Debian's chromium driven
by Playwright from .venv-browser, tests/browser/browse.py), on the real stack
(tests/e2e/stack.py) with real data made over the API: three partners at different rates,
purchases, a redemption, a settled period, purchases after it, a suspended partner and a
reconciliation. Every figure the pages show is checked against the API's answers (and the
chain's, for liabilities and supply); screenshots are saved in reports/screenshots/.

Ports: 8820-8839.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount

from network.deployments import PROJECT_ROOT
from network.direct import transact
from tests.browser.chromium import BROWSER_PYTHON, CHROMIUM, NEEDS_CHROMIUM, SHOTS
from tests.e2e.stack import OPERATOR_HEADERS, OPERATOR_TOKEN, OnboardedPartner, Stack, key_for, start_stack

pytestmark = NEEDS_CHROMIUM
# name -> (points per unit, issue price, reimbursement rate)
RATES = {"Grocer": ("1", 10_000, 8_000), "Fuel": ("2", 12_000, 9_000), "Pharmacy": ("1.5", 7_500, 7_000)}
TINY_PRICE = 10_000
DAY = 86_400
CAROL_REF = "dash-carol"
CAROL = {"email": "carol@example.com", "phone": "+33612345678",
         "consents": [{"channel": "email", "granted": True, "source": "pos"}]}  # fmt: skip
FUEL_DRAFT = {  # Fuel earns 2 a unit; the draft doubles every line
    "time_zone": "UTC",
    "rounding": "down",
    "rules": [{"kind": "base", "id": "base", "points_per_unit": "2"},
              {"kind": "multiplier", "id": "all-x2", "factor": "2"}],
}  # fmt: skip
FUEL_BAD_DRAFT = {"rules": [{"kind": "base", "id": "base", "points_per_unit": "2"},
                            {"kind": "multiplier", "id": "bad-x", "factor": "0.5"}]}  # fmt: skip


def _buy(stack: Stack, p: OnboardedPartner, purchase_id: str, wallet: str, amount: str) -> int:
    r = stack.post_purchase(p, purchase_id, wallet, amount=amount)
    assert r.status_code == 202, r.text
    return int(stack.wait_purchase(p, purchase_id, timeout_s=60)["points"])


def _redeem(stack: Stack, p: OnboardedPartner, customer: LocalAccount, redemption_id: str, sku: str) -> int:
    ask = {"redemption_id": redemption_id, "sku": sku, "quantity": 1, "customer": {"wallet": customer.address}}
    r = stack.http.post("/v1/redemptions/consent", headers=p.headers, json=ask)
    assert r.status_code == 200, r.text
    prepared = r.json()
    signature = Account.sign_typed_data(customer.key, full_message=prepared["typed_data"]).signature
    consent = {"nonce": int(prepared["nonce"]), "deadline": prepared["deadline"], "signature": "0x" + signature.hex()}
    r = stack.http.post("/v1/redemptions", headers=p.headers, json={**ask, "consent": consent})
    assert r.status_code == 202, r.text
    done = stack.wait_json(f"/v1/redemptions/{redemption_id}", p.headers, want="fulfilled", timeout_s=60)
    return int(done["points"])


def _recalculated(stack: Stack) -> dict[str, Any]:
    """The latest tier recalculation (the one the dashboard started), once it is done."""
    deadline = time.monotonic() + 60
    run_id = 1
    while True:
        r = stack.http.get(f"/v1/operator/tiers/recalculations/{run_id}", headers=OPERATOR_HEADERS)
        assert r.status_code == 200, r.text
        if r.json()["status"] != "running":
            return r.json()
        assert time.monotonic() < deadline, f"{r.json()}\n{stack.logs(20)}"
        time.sleep(0.5)


def _customer_of(stack: Stack, wallet: str) -> int:
    """The customer of ``wallet``, once the tier consumer has made one of its confirmed purchases' wallet."""
    deadline = time.monotonic() + 60
    while True:
        r = stack.http.get("/v1/operator/customers", params={"wallet": wallet}, headers=OPERATOR_HEADERS)
        if r.status_code == 200:
            return int(r.json()["customer_id"])
        assert r.status_code == 404 and time.monotonic() < deadline, f"{r.text}\n{stack.logs(20)}"
        time.sleep(0.5)


def _customer_token(stack: Stack, customer: LocalAccount) -> str:
    message = stack.http.post("/v1/auth/challenge", json={"address": customer.address}).json()["message"]
    signature = customer.sign_message(encode_defunct(text=message)).signature.hex()
    r = stack.http.post("/v1/auth/session", json={"message": message, "signature": "0x" + signature.removeprefix("0x")})
    assert r.status_code == 201, r.text
    return r.json()["token"]


def _breakage(stack: Stack, grocer: OnboardedPartner) -> dict[str, Any]:
    """Last, as it moves the chain's clock: a 30-day expiry window put in force (its 90-day notice
    passed on anvil's clock), a customer who earns under it, 31 days later swept; a second period
    settled; then the dashboard over the chain's days and that period's statement, as the browser
    shows them, with the operator API's liability and statement of the same range and period."""
    h = stack.harness
    points = h.contracts.points.functions
    transact(h.w3, h.operator, points.scheduleExpiryWindow(30 * DAY))
    stack.advance_time(90 * DAY + 1)
    transact(h.w3, h.admin, points.applyExpiryWindow())
    dave = key_for("dash-dave").address
    earned = _buy(stack, grocer, "d3-dave", dave, "25.00")
    stack.advance_time(31 * DAY)
    transact(h.w3, h.admin, points.expire([dave]))
    stack.wait_indexed()
    r = stack.http.post("/v1/operator/settlements", headers=OPERATOR_HEADERS)
    assert r.status_code == 202, r.text
    period = stack.wait_json(f"/v1/operator/settlements/{r.json()['period_id']}", OPERATOR_HEADERS, want="settled",
                             timeout_s=90)  # fmt: skip
    day = [
        datetime.fromtimestamp(int(h.w3.eth.get_block(b)["timestamp"]), UTC).date().isoformat()
        for b in (h.book.deployed_at_block, "latest")
    ]
    api = stack.http.get("/v1/operator/liability", headers=OPERATOR_HEADERS, params={"from": day[0], "to": day[1]})
    assert api.status_code == 200, api.text
    run = subprocess.run(
        [str(BROWSER_PYTHON), str(PROJECT_ROOT / "tests/browser/browse_breakage.py"), "--url", stack.url,
         "--operator-token", OPERATOR_TOKEN, "--shots", str(SHOTS), "--chromium", CHROMIUM,
         "--from", day[0], "--to", day[1], "--period", str(period["period_id"])],
        capture_output=True, text=True, timeout=150, cwd=PROJECT_ROOT,
    )  # fmt: skip
    assert run.returncode == 0, f"{run.stdout[-2000:]}\n{run.stderr[-4000:]}\n{stack.logs(20)}"
    return {"earned": earned, "period": period, "api": api.json(), "seen": json.loads(run.stdout),
            "supply": points.totalSupply().call()}  # fmt: skip


def _check_breakage(b: dict[str, Any]) -> None:
    seen, days, statement = b["seen"], b["api"]["days"], b["period"]["statement"]
    assert seen["console_errors"] == [], seen["console_errors"]
    # the expired points: the overview's card, the chart's bars, the operator API's days, the statement
    assert int(seen["overview"]["points-expired"]["value"]) == b["earned"] == sum(d["expired"] for d in days)
    assert seen["chart"]["days"] == [d["day"] for d in days]
    assert seen["chart"]["expired"] == [d["expired"] for d in days]
    assert ["Expired (points, breakage)", b["earned"]] in seen["legend"]
    # the liability: the outstanding points the chart draws are the API's, net of expiry, ending at the supply
    assert seen["outstanding_drawn"] == seen["chart"]["liability"] == [d["outstanding"] for d in days]
    assert days[-1]["outstanding"] == b["supply"] and days[-1]["value_high"] == b["supply"] * RATES["Fuel"][2]
    # the statement for people: its breakage panel says how many points expired and whose money they are
    assert statement["points_expired"] == b["earned"]
    assert int(seen["statement"]["points-expired"]["value"]) == b["earned"]
    assert "The operator's" in seen["breakage_text"] and "nobody is reimbursed" in seen["breakage_text"]
    assert all(v <= 0 for v in seen["overflow_390"].values()), seen["overflow_390"]


def test_dashboard_and_customer_page_show_what_the_api_and_the_chain_say(tmp_path: Path) -> None:
    with start_stack(
        tmp_path, ports=range(8820, 8840), workers=1, settlement_period=10**9, reconcile_every_s=3_600
    ) as stack:
        partners = {
            n: stack.onboard(n, points_per_unit=a, issue_price=b, reimbursement_rate=c)
            for n, (a, b, c) in RATES.items()
        }
        alice, bob = key_for("dash-alice"), key_for("dash-bob")
        issued: dict[int, int] = defaultdict(int)
        redeemed: dict[int, int] = defaultdict(int)
        for i, (name, who, amount) in enumerate(
            [
                ("Grocer", alice, "120.00"),
                ("Fuel", alice, "30.00"),
                ("Pharmacy", bob, "40.00"),
                ("Grocer", bob, "15.50"),
            ]
        ):
            issued[partners[name].id] += _buy(stack, partners[name], f"d1-{i}", who.address, amount)
        fuel = partners["Fuel"]
        r = stack.http.post(
            "/v1/rewards", headers=fuel.headers, json={"sku": "WASH", "name": "Car wash", "points": 50, "stock": 5}
        )
        assert r.status_code == 201, r.text
        redeemed[fuel.id] += _redeem(stack, fuel, alice, "wash-1", "WASH")

        stack.wait_indexed()  # the period closes on everything indexed
        r = stack.http.post("/v1/operator/settlements", headers=OPERATOR_HEADERS)
        assert r.status_code == 202, r.text
        period = stack.wait_json("/v1/operator/settlements/1", OPERATOR_HEADERS, want="settled", timeout_s=90)
        # after the period: new issuance is the outstanding liability
        liability: dict[int, int] = defaultdict(int)
        for i, (name, who, amount) in enumerate([("Grocer", bob, "10.00"), ("Pharmacy", alice, "20.00")]):
            p = partners[name]
            points = _buy(stack, p, f"d2-{i}", who.address, amount)
            issued[p.id] += points
            liability[p.id] += points * RATES[name][1]
        r = stack.http.post(f"/v1/operator/partners/{partners['Pharmacy'].id}/suspend", headers=OPERATOR_HEADERS)
        assert r.status_code == 200, r.text
        # a partner whose deposit pays for 10 points: it issues them (no headroom left), then one is held
        tiny = stack.onboard("Tiny", points_per_unit="1", issue_price=TINY_PRICE, deposit=10 * TINY_PRICE)
        issued[tiny.id] += _buy(stack, tiny, "tiny-1", bob.address, "10")
        liability[tiny.id] += 10 * TINY_PRICE
        assert stack.post_purchase(tiny, "tiny-held", alice.address, amount="5").status_code == 202
        stack.wait_purchase(tiny, "tiny-held", want="held")
        stack.wait_indexed()
        r = stack.http.post("/v1/operator/reconciliations", headers=OPERATOR_HEADERS)
        assert r.status_code == 201 and r.json()["ok"], r.text
        token = _customer_token(stack, alice)

        SHOTS.mkdir(parents=True, exist_ok=True)
        run = subprocess.run(
            [str(BROWSER_PYTHON), str(PROJECT_ROOT / "tests/browser/browse.py"), "--url", stack.url,
             "--operator-token", OPERATOR_TOKEN, "--customer-token", token, "--shots", str(SHOTS),
             "--chromium", CHROMIUM],
            capture_output=True, text=True, timeout=150, cwd=PROJECT_ROOT,
        )  # fmt: skip
        assert run.returncode == 0, f"{run.stdout[-2000:]}\n{run.stderr[-4000:]}\n{stack.logs(20)}"
        seen = json.loads(run.stdout)

        # what the API answers now
        api_partners = stack.http.get("/v1/operator/partners", headers=OPERATOR_HEADERS).json()
        c = stack.harness.contracts
        grocer = partners["Grocer"]
        grocer_money = {
            "funds": c.clearing.functions.fundsOf(grocer.id).call(),
            "headroom": c.clearing.functions.headroomOf(grocer.id).call(),
            "exposure": c.clearing.functions.exposureOf(grocer.id).call(),
            "pending-credit": c.clearing.functions.pendingCreditOf(grocer.id).call(),
        }
        # a member to find and erase on the page (Grocer's, with a profile and a consent), and a
        # draft of Fuel's rules with what the operator API's simulation says of it before the page has it
        r = stack.http.post(f"/v1/customers/{CAROL_REF}/enrolment", headers=grocer.headers, json=CAROL)
        assert r.status_code == 201, r.text
        carol_id = stack.http.get("/v1/operator/customers", params={"partner_id": grocer.id, "ref": CAROL_REF},
                                  headers=OPERATOR_HEADERS).json()["customer_id"]  # fmt: skip
        alice_id = _customer_of(stack, alice.address)
        alice_data = stack.http.get(f"/v1/operator/customers/{alice_id}/data", headers=OPERATOR_HEADERS).json()
        fuel_rules_before = stack.http.get(f"/v1/operator/partners/{fuel.id}/rules", headers=OPERATOR_HEADERS).json()
        api_simulation = stack.http.post(f"/v1/operator/partners/{fuel.id}/rules/simulate", params={"days": 30},
                                         headers=OPERATOR_HEADERS, json=FUEL_DRAFT)  # fmt: skip
        assert api_simulation.status_code == 200, api_simulation.text
        # the application's pages, and an action with its confirmation (reactivate Pharmacy)
        app_run = subprocess.run(
            [str(BROWSER_PYTHON), str(PROJECT_ROOT / "tests/browser/browse_dashboard.py"), "--url", stack.url,
             "--operator-token", OPERATOR_TOKEN, "--shots", str(SHOTS), "--chromium", CHROMIUM,
             "--partner", str(grocer.id), "--suspended", str(partners["Pharmacy"].id), "--search", "d1-0",
             "--period", "1", "--member-wallet", alice.address, "--member-ref", CAROL_REF,
             "--member-partner", str(grocer.id), "--rules-partner", str(fuel.id),
             "--rules-draft", json.dumps(FUEL_DRAFT, indent=2), "--rules-bad", json.dumps(FUEL_BAD_DRAFT),
             "--rules-days", "30"],
            capture_output=True, text=True, timeout=200, cwd=PROJECT_ROOT,
        )  # fmt: skip
        assert app_run.returncode == 0, f"{app_run.stdout[-2000:]}\n{app_run.stderr[-4000:]}\n{stack.logs(20)}"
        app = json.loads(app_run.stdout)
        carol_data = stack.http.get(f"/v1/operator/customers/{carol_id}/data", headers=OPERATOR_HEADERS).json()
        imported = stack.http.get("/v1/operator/customers", params={"partner_id": grocer.id, "ref": "dash-imported"},
                                  headers=OPERATOR_HEADERS).json()  # fmt: skip
        anonymous_export = stack.http.get("/dashboard/members/export.csv").status_code
        fuel_rules = stack.http.get(f"/v1/operator/partners/{fuel.id}/rules", headers=OPERATOR_HEADERS).json()
        tier_ladder = stack.http.get("/v1/operator/tiers/ladder", headers=OPERATOR_HEADERS).json()
        tier_run = _recalculated(stack)
        pharmacy_after = stack.wait_partner(partners["Pharmacy"].id, status="active")
        latest = stack.http.get("/v1/operator/reconciliations/latest", headers=OPERATOR_HEADERS).json()
        me = {"Authorization": f"Bearer {token}"}
        balance = stack.http.get("/v1/me/balance", headers=me).json()["points"]
        history = stack.http.get("/v1/me/history", headers=me, params={"limit": 100}).json()["entries"]
        total_supply = c.points.functions.totalSupply().call()
        exposure = {p.id: c.clearing.functions.exposureOf(p.id).call() for p in [*partners.values(), tiny]}
        points_address = c.points.address
        # last, as it changes what the checks above read: the Fund action on Tiny, whose purchase is held
        tiny_funds = c.clearing.functions.fundsOf(tiny.id).call()
        fund_run = subprocess.run(
            [str(BROWSER_PYTHON), str(PROJECT_ROOT / "tests/browser/browse_fund.py"), "--url", stack.url,
             "--operator-token", OPERATOR_TOKEN, "--shots", str(SHOTS), "--chromium", CHROMIUM,
             "--partner", str(tiny.id), "--amount", "2.5"],
            capture_output=True, text=True, timeout=150, cwd=PROJECT_ROOT,
        )  # fmt: skip
        assert fund_run.returncode == 0, f"{fund_run.stdout[-2000:]}\n{fund_run.stderr[-4000:]}\n{stack.logs(20)}"
        funded = json.loads(fund_run.stdout)
        tiny_funds_after = c.clearing.functions.fundsOf(tiny.id).call()
        tiny_held_after = stack.wait_purchase(tiny, "tiny-held", timeout_s=60)
        breakage = _breakage(stack, grocer)

    assert seen["console_errors"] == [], seen["console_errors"]
    assert seen["login_url"].endswith("/dashboard/login") and "not the operator token" in seen["wrong_token_error"]
    assert {"name": "coalition_operator", "httpOnly": True, "sameSite": "Strict"} in seen["operator_cookie"]
    d = {k: v["value"] for k, v in seen["dashboard"].items()}
    # partners and their status, as the operator API lists them
    for p in api_partners:
        assert (d[f"partner-{p['id']}-name"], d[f"partner-{p['id']}-status"]) == (p["name"], p["status"])
    assert d[f"partner-{partners['Pharmacy'].id}-status"] == "suspended"
    # points issued (purchases' confirmed points) and redeemed (fulfilled redemptions), per partner and in total
    for p in partners.values():
        assert int(d[f"partner-{p.id}-issued"]) == issued[p.id]
        assert int(d[f"partner-{p.id}-redeemed"]) == redeemed[p.id]
    assert int(d["points-issued"]) == sum(issued.values()) == sum(seen["chart"]["issued"])
    assert int(d["points-redeemed"]) == sum(redeemed.values()) == 50 == sum(seen["chart"]["redeemed"])
    assert int(d["total-supply"]) == sum(issued.values()) - sum(redeemed.values()) == total_supply
    # liability: what was issued after the settled period, valued at the issue price, as the chain has it
    for p in [*partners.values(), tiny]:
        assert int(d[f"partner-{p.id}-exposure"]) == liability[p.id] == exposure[p.id]
    assert int(d["total-exposure"]) == sum(liability.values()) > 0
    # the settled period's statement
    statement = period["statement"]
    assert d["settlement-1-status"] == "settled"
    assert int(d["settlement-1-operator-net"]) == statement["operator_net"]
    for line in statement["partners"]:
        assert int(d[f"settlement-1-net-{line['partner_id']}"]) == line["net"]
    # reconciliation
    assert latest["ok"] and d["reconciliation-status"] == "ok"
    assert int(d["reconciliation-block"]) == latest["block_number"]
    assert int(d["reconciliation-customers"]) == latest["customers_checked"] == 2

    # the customer page: alice's balance and history, as /v1/me says
    assert seen["signin_button"] == 1 and seen["me_session_status"] == 204
    m = {k: v["value"] for k, v in seen["customer"].items()}
    assert m["wallet"] == alice.address
    assert int(m["balance"]) == balance == 120 + 60 + 30 - 50
    assert seen["history_kinds"] == [e["kind"] for e in history]
    assert [int(m[f"history-{i}"]) for i in range(len(history))] == [e["points"] for e in history]
    assert seen["watch_asset"] == {"address": points_address, "symbol": "PTS", "decimals": "0"}
    for shot in ("dashboard.png", "dashboard-narrow.png", "customer-signin.png", "customer.png"):
        assert (SHOTS / shot).stat().st_size > 10_000, shot

    # the application: navigation, the partner's page, search, issues, a statement, an action
    assert app["console_errors"] == [], app["console_errors"]
    assert [label for label, _ in app["nav"]] == [
        "Overview", "Partners", "Issues", "Settlements", "Members", "Rules", "Tiers", "Messages", "Campaigns",
        "Analytics", "Search",
    ]  # fmt: skip
    assert app["partners_active"] == "Partners"
    o = {k: v["value"] for k, v in app["overview"].items()}
    assert o[f"partner-{tiny.id}-flags"] == "no headroom,1 held" and o["flagged-partners"] == "1"
    assert o[f"partner-{grocer.id}-flags"] == "" and int(o[f"partner-{grocer.id}-headroom"]) > 0
    assert app["overview"][f"partner-{grocer.id}-exposure"]["text"].endswith(" cUSD")  # money with its currency
    g = {k: v["value"] for k, v in app["partner"].items()}
    assert g["partner-name"] == "Grocer" and g["partner-status"] == "active"
    for key, value in grocer_money.items():
        assert int(g[f"partner-{key}"]) == value, key
    assert g["partner-issue-price"] == str(RATES["Grocer"][1])
    assert app["partner"]["partner-issue-price"]["text"] == "0.01 cUSD a point"
    assert app["partner_purchases"] == ["d2-0", "d1-3", "d1-0"]
    assert app["search_purchases"] == ["d1-0"] and app["search"]["search-count"]["value"] == "1"
    assert app["issues"][0][:2] == ["purchase", "held"] and "partner-funds-exhausted" in app["issues"][0][2]
    assert app["flagged"] == [tiny.id]
    assert "Grocer pays the operator" in app["statement_text"] and "UTC" in app["statement_text"]
    assert "Reactivate Pharmacy" in app["confirm_text"]
    assert app["after_action"]["partner-status"]["value"] == "active" == pharmacy_after["status"]
    assert "active again" in app["notice"]
    # the tier ladder proposed, dry-run and applied from the page: the recalculation moved exactly
    # the members the dry-run said it would, and the ladder in force is the one written
    assert "No ladder yet" in app["tiers_empty"]
    assert app["dry_run"]["down"] == 0 and app["dry_run"]["up"] >= 2, app["dry_run"]
    assert f"{app['dry_run']['up']} of " in app["dry_run_text"]
    assert app["tiers_ladder"] == ["Member", "Silver", "Gold"] and "in force" in app["tiers_notice"]
    assert tier_ladder["tiers"][1] == {"name": "Silver", "threshold": 10, "multiplier": "1.25"}
    assert tier_run["status"] == "done" and tier_run["moved_up"] == app["dry_run"]["up"], (tier_run, app["dry_run"])
    assert int(app["dry_run_figures"]["after-Silver"]["value"]) == app["dry_run"]["up"]
    # the members: a customer found by wallet shows the purchases the operator API holds of them
    assert app["members_active"] == "Members" and int(app["members_total"]) >= 1
    assert app["found_by_wallet"] == [alice_id]
    assert app["wallet_customer_purchases"] == {p["purchase_id"]: p["points"] for p in alice_data["purchases"]}
    assert len(app["wallet_customer_purchases"]) == 4  # d1-0, d1-1, d2-1, tiny-held
    # a member found by ref, erased from the page: shown erased, the personal data gone, the API agrees
    assert app["found_by_ref"] == [carol_id] and app["member_url"].endswith(f"/dashboard/members/{carol_id}")
    assert CAROL["email"] in app["member_before"] and CAROL_REF in app["member_before"]
    assert "cannot be undone" in app["erase_confirm"]
    assert app["member_erased"] == "yes" and app["erase_button_after"] == 0 and "Erased" in app["member_notice"]
    for personal in (CAROL["email"], CAROL["phone"], CAROL_REF):
        assert personal not in app["member_after"], personal
    assert app["import"] == {"import-rows": "2", "import-enrolled": "1", "import-unchanged": "0", "import-refused": "1"}
    assert app["import_refused"][0][:3] == ["3", "dash-bad", "email"], app["import_refused"]
    assert imported["member"] is True
    assert app["member_data"] == carol_data  # the page's download is the operator API's data
    exported = app["export_csv"].splitlines()
    assert app["members_total"] == "1"  # carol, before she was erased and the import
    assert exported[0].startswith("customer_id,partner_id,ref,") and len(exported) == 2  # erased: not exported
    assert ",dash-imported," in exported[1] and CAROL_REF not in app["export_csv"]
    assert anonymous_export == 401  # no session: no download
    assert carol_data["profile"] is None and carol_data["erasures"][0]["requested_by"] == "operator"
    assert all(link["ref"].startswith("erased-") for link in carol_data["links"]) and carol_data["links"]
    # Fuel's rules: a bad draft refused inline; the draft simulated as the operator API simulates it
    # (before it was activated), then activated: the API lists it as the version in force
    assert "bad-x" in app["draft_error"] and app["draft_text_kept"]
    assert app["rules_in_force_before"] == "0" and fuel_rules_before[0]["version"] == 0
    want = api_simulation.json()
    assert want["delta_points"] == 60 and want["members_changed"] == 1  # Fuel's 30.00 purchase, at ×2
    assert app["simulation"] == {"delta": str(want["delta_points"]), "value": want["value"],
                                 "members": str(want["members_changed"])}  # fmt: skip
    f = app["simulation_figures"]
    assert (int(f["sim-purchases"]), int(f["sim-points-current"]), int(f["sim-points-proposed"])) == (
        want["purchases"], want["points_current"], want["points_proposed"])  # fmt: skip
    assert f["sim-value"] == want["value"] and app["simulation_text"] == f"T{want['summary'][1:]}."
    version = app["draft_version"]
    assert app["rules_in_force_after"] == str(version) and "in force" in app["rules_notice"]
    assert app["forged_status"] == 403
    assert (fuel_rules[0]["version"], fuel_rules[0]["status"]) == (version, "active")
    assert [(r["kind"], r["id"]) for r in fuel_rules[0]["rules"]] == [(r["kind"], r["id"]) for r in FUEL_DRAFT["rules"]]
    assert app["overflow_390"] and all(v <= 0 for v in app["overflow_390"].values()), app["overflow_390"]
    for name in app["overflow_390"]:
        for size in ("1280", "390"):
            assert (SHOTS / f"{name}-{size}.png").stat().st_size > 10_000, (name, size)

    _check_breakage(breakage)

    # the Fund action: its form and confirmation in cUSD, then the deposit on chain and the held purchase minted
    assert funded["console_errors"] == [], funded["console_errors"]
    assert "Amount (cUSD)" in funded["form_text"] and "test cUSD are minted" in funded["form_text"]
    assert "Fund Tiny with 2.50 cUSD?" in funded["confirm_text"] and "Confirm: fund Tiny" in funded["confirm_text"]
    assert int(funded["before"]["partner-funds"]["value"]) == tiny_funds == 10 * TINY_PRICE
    assert int(funded["after"]["partner-funds"]["value"]) == tiny_funds_after == tiny_funds + 2_500_000
    assert "deposit is on chain" in funded["notice"] and tiny_held_after["points"] == 5
    assert funded["overflow_390"]["app-fund-confirm"] <= 0
    for size in ("1280", "390"):
        assert (SHOTS / f"app-fund-confirm-{size}.png").stat().st_size > 10_000, size
