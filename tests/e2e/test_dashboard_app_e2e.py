"""The dashboard application and the partner's account over HTTP, on the real stack (anvil,
redis-server, Celery workers and beat, uvicorn): ``GET /v1/account`` scoped to the key's partner
and equal to the chain, the headroom-low webhook told once per episode, the statement for
people (HTML and CSV with names and dates), the chart's data in business time, and an
operator action that needs the session's CSRF token and a confirmation; the Fund action deposits
through the operator API's service and a purchase held for headroom is minted.

Ports: 8960-8988 for the stack, 8989 for the partners' webhook receiver.
"""

from __future__ import annotations

import csv
import io
import re
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from network.direct import transact
from partners.webhooks import verify
from tests.e2e.stack import (
    OPERATOR_HEADERS,
    OPERATOR_TOKEN,
    OnboardedPartner,
    Stack,
    fresh_wallet,
    key_for,
    start_stack,
)
from tests.gateway.webhook_receiver import Receiver
from tests.pg import StoreKind
from tests.ports import port_for_worker

# One store: this file's path through the store is run on both by others (tests/pg.py)
RUN_ON_STORES = ("sqlite",)

pytestmark = pytest.mark.timeout(300)
RECEIVER_PORT = port_for_worker(8989)
PRICE = 10_000  # 0.01 cUSD a point
TIGHT_FUNDS = 100 * PRICE  # the Tight partner's deposit pays for 100 points


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver(port=RECEIVER_PORT) as r:
        yield r


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, store: StoreKind) -> Iterator[Stack]:
    with start_stack(
        tmp_path_factory.mktemp("dashboard-app-e2e"),
        ports=range(8960, 8989),
        store=store,
        workers=1,
        settlement_period=10**9,  # periods close only when asked
        reconcile_every_s=3_600,
        webhook_backoff_base_s=0.5,
        webhook_backoff_cap_s=2,
        webhook_allow_loopback=True,  # the receiver is on 127.0.0.1
        display_timezone="Europe/Paris",
    ) as stack:
        yield stack


@pytest.fixture(scope="module")
def grocer(stack: Stack) -> OnboardedPartner:
    return stack.onboard("Grocer", points_per_unit="1", issue_price=PRICE, reimbursement_rate=8_000)


@pytest.fixture(scope="module")
def fuel(stack: Stack) -> OnboardedPartner:
    return stack.onboard("Fuel", points_per_unit="2", issue_price=12_000, reimbursement_rate=9_000)


def wait_for(what: str, check: Callable[[], Any], stack: Stack, timeout_s: float = 60) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"no {what} after {timeout_s} s:\n{stack.logs()}"
        time.sleep(0.2)


def buy(stack: Stack, p: OnboardedPartner, purchase_id: str, wallet: str, amount: str, at: str) -> int:
    body = {"purchase_id": purchase_id, "customer": {"wallet": wallet}, "amount": amount, "currency": "EUR",
            "purchased_at": at}  # fmt: skip
    r = stack.http.post("/v1/purchases", headers=p.headers, json=body)
    assert r.status_code == 202, r.text
    return int(stack.wait_purchase(p, purchase_id)["points"])


def operator_client(stack: Stack) -> httpx.Client:
    """A browser's view: signed in through the login form, the session in a cookie."""
    client = httpx.Client(base_url=stack.url, timeout=60)
    r = client.post("/dashboard/login", data={"token": OPERATOR_TOKEN})
    assert r.status_code == 303 and r.headers["location"] == "/dashboard", r.text
    return client


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', html)
    assert found, html[:2000]
    return found.group(1)


def test_account_shows_the_keys_partner_only_and_what_the_chain_says(
    stack: Stack, grocer: OnboardedPartner, fuel: OnboardedPartner
) -> None:
    buy(stack, grocer, "acc-g1", fresh_wallet("acc-a"), "12.00", "2026-11-20T10:00:00Z")
    buy(stack, fuel, "acc-f1", fresh_wallet("acc-b"), "5.00", "2026-11-21T10:00:00Z")
    hook = {"url": f"http://127.0.0.1:{RECEIVER_PORT}/fuel", "event_types": ["purchase.confirmed"]}
    r = stack.http.post("/v1/webhooks", headers=fuel.headers, json=hook)
    assert r.status_code == 201, r.text
    buy(stack, fuel, "acc-f2", fresh_wallet("acc-b"), "1.00", "2026-11-22T10:00:00Z")
    wait_for(
        "fuel's delivery",
        lambda: stack.http.get("/v1/account", headers=fuel.headers).json()["webhook_deliveries"],
        stack,
    )

    g = stack.http.get("/v1/account", headers=grocer.headers)
    f = stack.http.get("/v1/account", headers=fuel.headers)
    assert g.status_code == f.status_code == 200, (g.text, f.text)
    g, f = g.json(), f.json()
    assert (g["id"], g["name"], f["id"], f["name"]) == (grocer.id, "Grocer", fuel.id, "Fuel")
    assert [p["purchase_id"] for p in g["recent_purchases"]] == ["acc-g1"]
    assert [p["purchase_id"] for p in f["recent_purchases"]] == ["acc-f2", "acc-f1"]
    assert {p["status"] for p in f["recent_purchases"]} == {"confirmed"}
    assert g["webhook_deliveries"] == [] and {d["payload"]["partner_id"] for d in f["webhook_deliveries"]} == {fuel.id}
    c = stack.harness.contracts.clearing.functions
    for partner, seen in ((grocer, g), (fuel, f)):
        m = seen["money"]
        assert int(m["funds"]) == c.fundsOf(partner.id).call()
        assert int(m["free_funds"]) == c.freeFundsOf(partner.id).call()
        assert int(m["issuance_headroom"]) == c.headroomOf(partner.id).call()
        assert int(m["exposure"]) == c.exposureOf(partner.id).call() > 0
        assert int(m["pending_credit"]) == c.pendingCreditOf(partner.id).call()
        assert (m["token_symbol"], m["token_decimals"], m["headroom_low"]) == ("cUSD", 6, False)
    assert int(g["money"]["exposure"]) == 12 * PRICE
    # no key, a wrong key: 401 problem+json; an operator token is no partner key
    for headers in ({}, {"Authorization": "Bearer ck_nope_nope"}, OPERATOR_HEADERS):
        r = stack.http.get("/v1/account", headers=headers)
        assert r.status_code == 401 and r.headers["content-type"].startswith("application/problem+json"), r.text


def _deposit(stack: Stack, partner: OnboardedPartner, name: str, amount: int) -> None:
    h, treasury = stack.harness, key_for(f"treasury-{name}")
    c = h.contracts
    h.w3.provider.make_request("anvil_setBalance", [treasury.address, hex(10**21)])  # type: ignore[arg-type]
    transact(h.w3, h.admin, c.token.functions.mint(treasury.address, amount))
    transact(h.w3, treasury, c.token.functions.approve(c.clearing.address, amount))
    transact(h.w3, treasury, c.clearing.functions.deposit(partner.id, amount))


def test_headroom_low_webhook_is_told_once_per_episode(stack: Stack, receiver: Receiver) -> None:
    tight = stack.onboard("Tight", points_per_unit="1", issue_price=PRICE, deposit=TIGHT_FUNDS)
    path = f"/tight-{uuid.uuid4().hex}"  # the receiver outlives the stack of each store: this stack's own path
    hook = {"url": f"http://127.0.0.1:{RECEIVER_PORT}{path}", "event_types": ["partner.headroom_low"]}
    r = stack.http.post("/v1/webhooks", headers=tight.headers, json=hook)
    assert r.status_code == 201, r.text
    secret = r.json()["secret"]

    def told() -> list[dict[str, Any]]:
        with receiver.lock:
            got = [x for x in receiver.received if x.path == path]
        return [verify(secret, x.body, x.headers["Coalition-Signature"]) for x in got]

    buy(stack, tight, "t-1", fresh_wallet("t"), "80", "2026-11-23T10:00:00Z")  # headroom 20 % of the funds
    time.sleep(12)  # two checks of the headroom (every 5 s): not low, nothing told
    assert told() == []
    buy(stack, tight, "t-2", fresh_wallet("t"), "15", "2026-11-23T11:00:00Z")  # 5 % left: below 10 %
    first = wait_for("partner.headroom_low", told, stack)
    assert len(first) == 1 and first[0]["type"] == "partner.headroom_low", first
    data = first[0]["data"]
    assert (int(data["issuance_headroom"]), int(data["funds"]), data["warning_ratio"]) == (
        5 * PRICE,
        TIGHT_FUNDS,
        "0.1",
    )
    buy(stack, tight, "t-3", fresh_wallet("t"), "2", "2026-11-23T12:00:00Z")  # still low: the same episode
    time.sleep(12)
    assert len(told()) == 1
    account = stack.http.get("/v1/account", headers=tight.headers).json()
    assert account["money"]["headroom_low"] is True and int(account["money"]["issuance_headroom"]) == 3 * PRICE

    _deposit(stack, tight, "Tight", 100 * PRICE)  # headroom back to 103 points of 200: the episode ends
    time.sleep(12)
    assert len(told()) == 1
    buy(stack, tight, "t-4", fresh_wallet("t"), "90", "2026-11-23T13:00:00Z")  # 13 of 200 left: a new episode
    second = wait_for("a second partner.headroom_low", lambda: told() if len(told()) == 2 else None, stack)
    assert int(second[1]["data"]["issuance_headroom"]) == 13 * PRICE


def test_statement_for_people_names_dates_and_who_pays_whom(
    stack: Stack, grocer: OnboardedPartner, fuel: OnboardedPartner
) -> None:
    stack.wait_indexed()
    r = stack.http.post("/v1/operator/settlements", headers=OPERATOR_HEADERS)
    assert r.status_code == 202, r.text
    pid = r.json()["period_id"]
    period = stack.wait_json(f"/v1/operator/settlements/{pid}", OPERATOR_HEADERS, want="settled", timeout_s=90)
    lines = {int(x["partner_id"]): x for x in period["statement"]["partners"]}
    net = int(lines[grocer.id]["net"])
    assert net < 0  # the grocer only issued: it pays the operator

    page = stack.http.get(f"/v1/operator/settlements/{pid}/statement.html", headers=OPERATOR_HEADERS)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html"), page.text
    text = page.text
    assert "Grocer" in text and "Fuel" in text and "Tight" in text
    assert f"Grocer pays the operator {abs(net) // 10**6:,}." in text  # amounts in cUSD with two decimals
    assert re.search(r"20\d\d-\d\d-\d\d \d\d:\d\d:\d\d CET", text), "dates in the stated zone"
    assert "Points restored" in text and f'data-figure="line-{grocer.id}-restored-value"' in text
    one = stack.http.get(
        f"/v1/operator/settlements/{pid}/partners/{grocer.id}/statement.html", headers=OPERATOR_HEADERS
    )
    assert one.status_code == 200 and "Grocer pays the operator" in one.text and "Fuel" not in one.text
    assert stack.http.get(f"/v1/operator/settlements/{pid}/partners/999/statement.html",
                          headers=OPERATOR_HEADERS).status_code == 404  # fmt: skip
    assert stack.http.get(f"/v1/operator/settlements/{pid}/statement.html").status_code == 401

    named = stack.http.get(f"/v1/operator/settlements/{pid}/statement-named.csv", headers=OPERATOR_HEADERS)
    assert named.status_code == 200 and named.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(named.text)))
    assert rows[0][0] == "period" and rows[0][2] == "from" and rows[0][3].endswith(("CET", "CEST"))
    by_name = {row[1]: row for row in rows[2:] if len(row) > 9}
    g = by_name["Grocer"]
    assert (g[0], g[9], g[10]) == (str(grocer.id), "Grocer", "the operator")
    assert g[11] == f"{abs(net) // 10**6}.{abs(net) % 10**6:06d}"

    # the dashboard links them, behind the operator's session
    browser = operator_client(stack)
    html = browser.get("/dashboard/settlements").text
    assert f'href="/dashboard/settlements/{pid}"' in html
    assert browser.get(f"/dashboard/settlements/{pid}").status_code == 200
    assert "Grocer pays the operator" in browser.get(f"/dashboard/settlements/{pid}/partners/{grocer.id}").text
    assert browser.get(f"/dashboard/settlements/{pid}/statement-named.csv").text == named.text
    assert httpx.get(f"{stack.url}/dashboard/settlements/{pid}/statement-named.csv").status_code == 401


def test_chart_data_is_in_business_days_with_liability_and_funds(
    stack: Stack, grocer: OnboardedPartner, fuel: OnboardedPartner
) -> None:
    stack.wait_indexed()
    browser = operator_client(stack)
    r = browser.get("/dashboard/chart.json", params={"from": "2026-11-19", "to": "2026-11-24"})
    assert r.status_code == 200, r.text
    chart = r.json()
    assert chart["time_zone"] == "Europe/Paris"
    assert chart["days"] == [f"2026-11-{d}" for d in range(19, 25)]
    by_day = dict(zip(chart["days"], chart["issued"], strict=True))
    # purchases by their purchase date, not by when they were minted (today)
    assert by_day["2026-11-20"] == 12 and by_day["2026-11-21"] == 10 and by_day["2026-11-22"] == 2
    assert by_day["2026-11-23"] == 80 + 15 + 2 + 90
    c = stack.harness.contracts
    # today lies after the range: the last day's liability and funds are today's (nothing later)
    later = browser.get("/dashboard/chart.json").json()
    assert later["liability"][-1] == c.points.functions.totalSupply().call()
    funds = sum(c.clearing.functions.fundsOf(p.id).call() for p in stack.partners.values())
    assert int(later["funds"][-1]) == funds
    one = browser.get("/dashboard/chart.json", params={"from": "2026-11-19", "to": "2026-11-24", "partner": fuel.id})
    assert one.json()["issued"] == [0, 0, 10, 2, 0, 0]
    bad = browser.get("/dashboard/chart.json", params={"from": "2026-11-24", "to": "2026-11-19"})
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
    assert httpx.get(f"{stack.url}/dashboard/chart.json").status_code == 401


def test_an_action_needs_the_sessions_csrf_token_and_a_confirmation(stack: Stack, fuel: OnboardedPartner) -> None:
    browser = operator_client(stack)
    confirm = browser.get(f"/dashboard/partners/{fuel.id}/suspend")
    assert confirm.status_code == 200 and "Confirm: suspend Fuel" in confirm.text
    token = csrf_of(confirm.text)
    # another session's token, or none, changes nothing
    other = operator_client(stack)
    wrong = csrf_of(other.get(f"/dashboard/partners/{fuel.id}/suspend").text)
    for form in ({"confirmed": "yes"}, {"confirmed": "yes", "csrf": wrong}, {"csrf": token}):
        r = browser.post(f"/dashboard/partners/{fuel.id}/suspend", data=form)
        assert r.status_code == 403, r.text
    assert stack.wait_partner(fuel.id, status="active")
    r = browser.post(f"/dashboard/partners/{fuel.id}/suspend", data={"csrf": token, "confirmed": "yes"})
    assert r.status_code == 303 and r.headers["location"] == f"/dashboard/partners/{fuel.id}?done=suspended"
    assert stack.wait_partner(fuel.id, status="suspended")
    assert stack.harness.contracts.registry.functions.partner(fuel.id).call()[1] == 2  # suspended on chain
    page = browser.get(f"/dashboard/partners/{fuel.id}?done=suspended").text
    assert 'data-figure="partner-status" data-value="suspended"' in page and "is suspended" in page
    r = browser.post(f"/dashboard/partners/{fuel.id}/reactivate", data={"csrf": token, "confirmed": "yes"})
    assert r.status_code == 303
    assert stack.wait_partner(fuel.id, status="active")
    # a re-rate is reviewed, then confirmed; the limit changes at once, through the operator API's service
    review = browser.post(f"/dashboard/partners/{fuel.id}/rerate", data={"csrf": token, "issuance_limit": "5000"})
    assert review.status_code == 200 and "Issuance limit" in review.text and "5,000.00 cUSD" in review.text
    assert stack.wait_partner(fuel.id)["issuance_limit"] == fuel.body["issuance_limit"]  # not yet
    r = browser.post(f"/dashboard/partners/{fuel.id}/rerate",
                     data={"csrf": token, "issuance_limit": "5000", "confirmed": "yes"})  # fmt: skip
    assert r.status_code == 303, r.text
    assert stack.wait_partner(fuel.id, issuance_limit=5_000 * 10**6)
    bad = browser.post(f"/dashboard/partners/{fuel.id}/rerate", data={"csrf": token, "issue_price": "0.0000001"})
    assert bad.status_code == 422 and "more than 6 decimals" in bad.text
    # signing out needs the token too
    assert browser.post("/dashboard/logout", data={}).headers["location"] == "/dashboard"
    assert browser.get("/dashboard").status_code == 200
    assert browser.post("/dashboard/logout", data={"csrf": token}).headers["location"] == "/dashboard/login"
    assert browser.get("/dashboard").status_code == 303


def test_fund_needs_the_csrf_token_then_deposits_and_the_held_purchase_is_minted(stack: Stack) -> None:
    """The dashboard's Fund action: the amount in cUSD, reviewed, then confirmed with the session's
    token; it calls the operator API's deposit service (local mode: test cUSD minted and
    deposited), the funds on chain grow by the amount and a purchase held for headroom is minted."""
    scant = stack.onboard("Scant", points_per_unit="1", issue_price=PRICE, deposit=10 * PRICE)
    buy(stack, scant, "scant-1", fresh_wallet("scant"), "10", "2026-10-01T10:00:00Z")  # no headroom left
    body = {"purchase_id": "scant-held", "customer": {"wallet": fresh_wallet("scant")}, "amount": "5",
            "currency": "EUR", "purchased_at": "2026-10-01T11:00:00Z"}  # fmt: skip
    assert stack.http.post("/v1/purchases", headers=scant.headers, json=body).status_code == 202
    stack.wait_purchase(scant, "scant-held", want="held")
    clearing = stack.harness.contracts.clearing.functions
    before = clearing.fundsOf(scant.id).call()
    assert before == 10 * PRICE and clearing.headroomOf(scant.id).call() == 0

    browser = operator_client(stack)
    assert f'href="/dashboard/partners/{scant.id}/fund"' in browser.get(f"/dashboard/partners/{scant.id}").text
    form = browser.get(f"/dashboard/partners/{scant.id}/fund")
    assert form.status_code == 200 and "Fund Scant" in form.text and "Amount (cUSD)" in form.text, form.text
    assert "Funds now 0.10 cUSD, headroom 0.00 cUSD" in form.text and "test cUSD are minted" in form.text
    token = csrf_of(form.text)
    wrong = csrf_of(operator_client(stack).get(f"/dashboard/partners/{scant.id}/fund").text)
    for refused in ({"amount": "2.5", "confirmed": "yes"}, {"amount": "2.5", "confirmed": "yes", "csrf": wrong}):
        r = browser.post(f"/dashboard/partners/{scant.id}/fund", data=refused)
        assert r.status_code == 403 and "has expired" in r.text, r.text
    for bad, why in (("0", "greater than 0"), ("abc", "not an amount"), ("0.0000001", "more than 6 decimals")):
        r = browser.post(
            f"/dashboard/partners/{scant.id}/fund", data={"csrf": token, "amount": bad, "confirmed": "yes"}
        )
        assert r.status_code == 422 and why in r.text, (bad, r.text)
    review = browser.post(f"/dashboard/partners/{scant.id}/fund", data={"csrf": token, "amount": "2.5"})
    assert review.status_code == 200 and "Fund Scant with 2.50 cUSD?" in review.text, review.text
    assert 'name="amount" value="2.5"' in review.text and "Confirm: fund Scant" in review.text
    assert clearing.fundsOf(scant.id).call() == before  # refused and reviewed: nothing deposited yet
    assert stack.http.get("/v1/purchases/scant-held", headers=scant.headers).json()["status"] == "held"

    r = browser.post(f"/dashboard/partners/{scant.id}/fund", data={"csrf": token, "amount": "2.5", "confirmed": "yes"})
    assert r.status_code == 303 and r.headers["location"] == f"/dashboard/partners/{scant.id}?done=funded", r.text
    assert clearing.fundsOf(scant.id).call() == before + 2_500_000  # 2.5 cUSD, in base units
    minted = stack.wait_purchase(scant, "scant-held")  # the held purchase fits now: minted
    assert minted["points"] == 5 and stack.balance(fresh_wallet("scant")) == 15
    page = browser.get(f"/dashboard/partners/{scant.id}?done=funded").text
    assert f'data-figure="partner-funds" data-value="{before + 2_500_000}"' in page and "deposit is on chain" in page
    anonymous = httpx.post(  # the token without the session's cookie: to the login page, nothing deposited
        f"{stack.url}/dashboard/partners/{scant.id}/fund", data={"csrf": token, "amount": "1", "confirmed": "yes"}
    )
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/dashboard/login"
    assert clearing.fundsOf(scant.id).call() == before + 2_500_000
