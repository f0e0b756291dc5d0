"""Issue 14, items 15 and 16, end to end on real processes (tests/e2e/stack.py: anvil,
redis-server, a Celery worker, beat, uvicorn), over HTTP:

- 15: a custodian partner asks for a one-time sign-in link for its custodial customer; the link
  opens a read-only ``/me`` session once, expires, is stored hashed, and only the custodian of
  a wallet it still holds gets one; the session cannot spend or release, and logout ends it; the
  link's sign-in is rate-limited per client address;
- 16: while the chain cannot be reached, a browser (Accept: text/html) on ``/me`` and on the
  dashboard's login gets an HTML page with a sentence and a retry link; programs (the pages'
  own fetch calls, every API route) keep problem+json;
- issue 16 item 6: a member with a ladder in force sees on ``/me`` the tier and the figures of
  ``GET /v1/me/tier``, a purchase with lines its breakdown (the rules, versions and points of
  ``GET /v1/purchases/{id}``, the gift cards that earned nothing); joins the program from the
  page; downloads the JSON of ``GET /v1/me/data``; erases their personal data from the page (a
  link's session may not), after which the session is gone and the chain's balance, the ledger
  and the purchase's amounts are unchanged.

Client addresses are told apart with X-Forwarded-For (uvicorn trusts it from 127.0.0.1).

Ports: 9650-9669.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select

from network.store import CustomerProfile, CustomerSession, LedgerEntry, Purchase, SignInLink, utcnow
from tests.e2e.stack import OPERATOR_HEADERS, OnboardedPartner, Stack, free_port, key_for, start_stack
from tests.pg import StoreKind
from tests.wallets import sign

# One store: this file's path through the store is run on both by others (tests/pg.py)
RUN_ON_STORES = ("sqlite",)

pytestmark = pytest.mark.timeout(300)
LINK_TTL_S = 10  # COALITION_SIGN_IN_LINK_TTL_S: a release (key hand-over under load) finishes well within it
SESSION_TTL_S = 900  # COALITION_SIGN_IN_LINK_SESSION_TTL_S
BURST = 8  # COALITION_AUTH_RATE_LIMIT_BURST (and a rate of one token per 100 s)
LADDER = {
    "tiers": [
        {"name": "Member", "threshold": 0, "multiplier": "1"},
        {"name": "Silver", "threshold": 20, "multiplier": "1.25"},
        {"name": "Gold", "threshold": 1000, "multiplier": "1.5"},
    ],
    "policy": {"window": "rolling_12_months", "review": {"kind": "anniversary"}, "grace_days": 30},
}
HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}  # a browser's navigation


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, store: StoreKind) -> Iterator[Stack]:
    with start_stack(
        tmp_path_factory.mktemp("me-pages-e2e"),
        ports=range(9650, 9670),
        store=store,
        workers=1,
        sign_in_link_ttl_s=LINK_TTL_S,
        sign_in_link_session_ttl_s=SESSION_TTL_S,
        custodial_release_notice_s=1,
        auth_rate_limit_per_second=0.01,
        auth_rate_limit_burst=BURST,
        tiers_every_s=1,
    ) as stack:
        yield stack


@pytest.fixture(scope="module")
def partners(stack: Stack) -> tuple[OnboardedPartner, OnboardedPartner]:
    return stack.onboard("Grocer"), stack.onboard("Cinema")


@pytest.fixture
def web(stack: Stack) -> Iterator[httpx.Client]:
    """A client of its own: no cookie jar shared with other tests, redirects not followed."""
    with httpx.Client(base_url=stack.url, timeout=30, follow_redirects=False) as client:
        yield client


def custodial(stack: Stack, partner: OnboardedPartner, ref: str) -> str:
    r = stack.http.post(f"/v1/customers/{ref}/custodial-wallet", headers=partner.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["wallet"])


def ask_link(stack: Stack, partner: OnboardedPartner, ref: str) -> httpx.Response:
    return stack.http.post(f"/v1/customers/{ref}/sign-in-link", headers=partner.headers)


def link_token(stack: Stack, partner: OnboardedPartner, ref: str) -> str:
    r = ask_link(stack, partner, ref)
    assert r.status_code == 201, r.text
    url = r.json()["url"]
    assert url.startswith(f"{stack.url}/me/link#sl_"), url
    return str(url.split("#", 1)[1])


def open_link(web: httpx.Client, token: str, ip: str) -> httpx.Response:
    return web.post("/me/link", json={"token": token}, headers={"X-Forwarded-For": ip})


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# ------------------------------------------------------------------------ 15: the sign-in link


def test_a_custodians_link_opens_a_read_only_session_once(
    stack: Stack, partners: tuple[OnboardedPartner, OnboardedPartner], web: httpx.Client
) -> None:
    grocer, _ = partners
    wallet = custodial(stack, grocer, "carol")
    assert stack.post_purchase(grocer, "me-1", ref="carol", amount="12.00").status_code == 202
    stack.wait_purchase(grocer, "me-1", want="confirmed", timeout_s=60)

    before = utcnow()
    r = ask_link(stack, grocer, "carol")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["wallet"] == wallet
    assert (
        before + timedelta(seconds=LINK_TTL_S - 2) <= at(body["expires_at"]) <= utcnow() + timedelta(seconds=LINK_TTL_S)
    )
    token = body["url"].split("#", 1)[1]
    assert token.startswith("sl_") and len(token) >= 40
    with stack.harness.sessions() as session:  # stored hashed: the token itself is nowhere
        [row] = session.scalars(select(SignInLink).where(SignInLink.wallet == wallet)).all()
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert (row.partner_id, row.ref, row.used_at) == (grocer.id, "carol", None)

    page = web.get("/me/link", headers=HTML)  # the page the link opens: the token stays in the fragment
    assert page.status_code == 200 and 'id="link-continue"' in page.text
    assert page.headers["content-type"].startswith("text/html")

    opened = open_link(web, token, "198.51.100.40")
    assert opened.status_code == 204, opened.text
    cookie = opened.headers["set-cookie"]
    assert re.search(r"coalition_customer=cs_", cookie) and "HttpOnly" in cookie, cookie
    assert "samesite=strict" in cookie.lower() and f"Max-Age={SESSION_TTL_S}" in cookie, cookie
    session_token = opened.cookies["coalition_customer"]
    web.cookies.clear()
    me = web.get("/me", headers={**HTML, "Cookie": f"coalition_customer={session_token}"})
    assert me.status_code == 200, me.text
    assert f'data-figure="wallet" data-value="{wallet}"' in me.text
    assert 'id="session-via" data-via="link"' in me.text and "from Grocer" in me.text
    assert 'id="watch-asset"' not in me.text  # no wallet of their own to add the token to
    bearer = {"Authorization": f"Bearer {session_token}"}
    assert web.get("/v1/me", headers=bearer).json()["wallet"] == wallet
    with stack.harness.sessions() as session:
        row = session.scalar(select(CustomerSession).where(CustomerSession.wallet == wallet))
        assert row is not None and row.via == "link"
        assert row.expires_at <= utcnow() + timedelta(seconds=SESSION_TTL_S)
        used = session.scalar(select(SignInLink.used_at).where(SignInLink.wallet == wallet))
        assert used is not None

    # once: the same link again is refused, as a program is told (the page's fetch)
    again = open_link(web, token, "198.51.100.40")
    assert again.status_code == 401 and again.headers["content-type"] == "application/problem+json"
    assert "used already" in again.json()["detail"]

    # read-only: the session's token is no key to spend or release with
    wash = {"redemption_id": "me-r1", "sku": "WASH", "quantity": 1, "customer": {"ref": "carol"}}
    for method, path, json in (
        ("POST", "/v1/redemptions", wash),
        ("POST", "/v1/customers/carol/custodial-wallet/release", {"password": "carol-password-1"}),
        ("POST", "/v1/customers/carol/sign-in-link", None),
    ):
        refused = web.request(method, path, json=json, headers=bearer)
        assert refused.status_code == 401 and refused.json()["type"] == "/problems/unauthorized", refused.text

    # logout ends it on the server
    out = web.post("/me/logout", headers={"Cookie": f"coalition_customer={session_token}"})
    assert out.status_code == 303 and out.headers["location"] == "/me"
    assert web.get("/v1/me", headers=bearer).status_code == 401


def test_a_sign_in_link_expires(
    stack: Stack, partners: tuple[OnboardedPartner, OnboardedPartner], web: httpx.Client
) -> None:
    grocer, _ = partners
    custodial(stack, grocer, "dora")
    token = link_token(stack, grocer, "dora")
    time.sleep(LINK_TTL_S + 0.5)
    late = open_link(web, token, "198.51.100.41")
    assert late.status_code == 401 and "expired" in late.json()["detail"], late.text
    assert "coalition_customer" not in late.cookies
    fresh = link_token(stack, grocer, "dora")  # the partner's app asks again
    assert open_link(web, fresh, "198.51.100.41").status_code == 204


def test_only_the_custodian_of_a_held_wallet_gets_a_link(
    stack: Stack, partners: tuple[OnboardedPartner, OnboardedPartner], web: httpx.Client
) -> None:
    grocer, cinema = partners
    custodial(stack, grocer, "erik")
    # another partner: no such customer of its own (404, as for any unknown ref)
    other = ask_link(stack, cinema, "erik")
    assert other.status_code == 404 and other.json()["type"] == "/problems/not-found", other.text
    assert ask_link(stack, grocer, "nobody").status_code == 404
    no_key = stack.http.post("/v1/customers/erik/sign-in-link")
    assert no_key.status_code == 401

    # a customer with a wallet of their own signs in with it: no link, whoever asks
    fay = key_for("me-pages-fay")
    for partner in (grocer, cinema):
        challenge = stack.http.post(
            "/v1/customers/fay/wallet-challenge", json={"wallet": fay.address}, headers=partner.headers
        )
        message = challenge.json()["message"]
        linked = stack.http.put(
            "/v1/customers/fay/wallet",
            json={"message": message, "signature": sign(fay, message)},
            headers=partner.headers,
        )
        assert linked.status_code == 200, linked.text
        own = ask_link(stack, partner, "fay")
        assert own.status_code == 409 and own.json()["type"] == "/problems/wallet-not-custodial", own.text

    # a released wallet is the customer's own: no new link, and an earlier link no longer opens it
    early = link_token(stack, grocer, "erik")
    release = "/v1/customers/erik/custodial-wallet/release"
    assert stack.http.post(release, json={"password": "erik-password-1"}, headers=grocer.headers).status_code == 202
    deadline = time.monotonic() + 30
    while (
        r := stack.http.post(release, json={"password": "erik-password-1"}, headers=grocer.headers)
    ).status_code != 200:
        assert r.status_code == 409 and time.monotonic() < deadline, r.text
        time.sleep(0.3)
    gone = ask_link(stack, grocer, "erik")
    assert gone.status_code == 409 and gone.json()["type"] == "/problems/custodial-wallet-released", gone.text
    stale = open_link(web, early, "198.51.100.42")
    assert stale.status_code == 401 and "own wallet" in stale.json()["detail"], stale.text


def test_the_links_sign_in_is_limited_per_client_address(stack: Stack, web: httpx.Client) -> None:
    here = "198.51.100.43"
    statuses = [open_link(web, f"sl_guess{i:040d}", here).status_code for i in range(BURST)]
    assert statuses == [401] * BURST
    refused = open_link(web, "sl_guess", here)
    assert refused.status_code == 429 and refused.json()["type"] == "/problems/rate-limited", refused.text
    assert int(refused.headers["Retry-After"]) >= 1
    assert open_link(web, "sl_guess", "198.51.100.44").status_code == 401  # another address is not affected


# ------------------------------------------------------------------------ issue 16 item 6: tier, breakdown, data


def figures(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-figure="([^"]+)" data-value="([^"]*)"', html))


def wallet_cookie(stack: Stack, web: httpx.Client, label: str) -> tuple[str, dict[str, str], dict[str, str]]:
    """A wallet signed in as wallet.js does: its challenge signed, the token kept by /me/session."""
    account = key_for(label)
    message = stack.http.post("/v1/auth/challenge", json={"address": account.address}).json()["message"]
    r = stack.http.post("/v1/auth/session", json={"message": message, "signature": sign(account, message)})
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    kept = web.post("/me/session", json={"token": token})
    assert kept.status_code == 204, kept.text
    web.cookies.clear()
    return account.address, {"Cookie": f"coalition_customer={token}"}, {"Authorization": f"Bearer {token}"}


def set_ladder(stack: Stack) -> None:
    r = stack.http.put("/v1/operator/tiers/ladder", headers=OPERATOR_HEADERS, json=LADDER)
    assert r.status_code == 201, r.text
    run = stack.http.post(
        "/v1/operator/tiers/recalculations", headers=OPERATOR_HEADERS, json={"version": r.json()["version"]}
    )
    assert run.status_code == 202, run.text
    stack.wait_json(f"/v1/operator/tiers/recalculations/{run.json()['id']}", OPERATOR_HEADERS, want="done")


def set_rules(stack: Stack, partner: OnboardedPartner) -> None:
    rules = [
        {"kind": "base", "id": "base", "points_per_unit": "1"},
        {"kind": "multiplier", "id": "wine-x2", "factor": "2", "categories": ["wine"]},
    ]
    path = f"/v1/operator/partners/{partner.id}/rules"
    drafted = stack.http.post(path, headers=OPERATOR_HEADERS, json={"rules": rules})
    assert drafted.status_code == 201, drafted.text
    activated = stack.http.post(f"{path}/{drafted.json()['version']}/activate", headers=OPERATOR_HEADERS)
    assert activated.status_code == 200, activated.text


def ledger_of(stack: Stack, wallet: str) -> list[tuple[str, int]]:
    with stack.harness.sessions() as session:
        rows = session.execute(
            select(LedgerEntry.kind, func.sum(LedgerEntry.points))
            .where(LedgerEntry.customer == wallet)
            .group_by(LedgerEntry.kind)
            .order_by(LedgerEntry.kind)
        )
        return [(kind, int(total)) for kind, total in rows]


def test_a_member_sees_tier_breakdown_downloads_and_erases_their_data_on_the_page(
    stack: Stack, partners: tuple[OnboardedPartner, OnboardedPartner], web: httpx.Client
) -> None:
    grocer, _ = partners
    cafe = stack.onboard("Wine Cafe")
    set_rules(stack, cafe)
    set_ladder(stack)
    wallet, cookie, bearer = wallet_cookie(stack, web, "me-pages-hana")
    body = {
        "purchase_id": "hana-1",
        "customer": {"wallet": wallet},
        "amount": "30.00",
        "currency": "EUR",
        "lines": [
            {"sku": "WINE-1", "category": "wine", "quantity": "2", "unit_price": "10.00"},
            {"sku": "BREAD-1", "category": "bakery", "unit_price": "10.00"},
        ],
        "paid_with": {"points": "0", "gift_cards": "6.00"},
    }
    r = stack.http.post("/v1/purchases", headers=cafe.headers, json=body)
    assert r.status_code == 202, r.text
    bought = stack.wait_purchase(cafe, "hana-1", timeout_s=90)
    assert bought["breakdown"] and {b["rule"] for b in bought["breakdown"]} == {"base", "wine-x2"}
    stack.wait_indexed()
    deadline = time.monotonic() + 60
    while (tier := web.get("/v1/me/tier", headers=bearer).json())["tier"] != "Silver":
        assert time.monotonic() < deadline, tier
        time.sleep(0.3)

    # joins the program from the page (JSON only, as the page's other posts)
    form = web.post("/me/enrolment", content="email=x", headers={**cookie, "Content-Type": "text/plain"})
    assert form.status_code == 401, form.text
    joined = web.post("/me/enrolment", json={"email": "hana@example.com"}, headers=cookie)
    assert joined.status_code == 201, joined.text

    page = web.get("/me", headers={**HTML, **cookie})
    assert page.status_code == 200, page.text
    f = figures(page.text)
    tier = web.get("/v1/me/tier", headers=bearer).json()
    assert tier["tier"] == "Silver" and tier["next_tier"] == "Gold"
    assert (f["tier"], f["tier-multiplier"], int(f["tier-qualifying"])) == (
        tier["tier"], tier["multiplier"], tier["qualifying_points"],
    )  # fmt: skip
    assert (f["tier-next"], int(f["tier-to-next"])) == (tier["next_tier"], tier["points_to_next"])
    assert int(f["tier-keep"]) == tier["points_to_keep"]
    assert at(f["tier-decided"]).replace(microsecond=0) == at(tier["decided_at"]).replace(microsecond=0)
    # the purchase's breakdown, in its row's details: the rules, their versions and points, the gift cards
    [i] = [k.split("-")[1] for k, v in f.items() if k.endswith("-purchase") and v == "hana-1"]
    shown = [(m[1], int(m[2]), int(m[0])) for m in re.findall(
        rf'data-figure="history-{i}-rule-\d+" data-value="(-?\d+)" data-rule="([^"]+)" data-version="(\d+)"', page.text
    )]  # fmt: skip
    assert shown == [(b["rule"], b["version"], b["points"]) for b in bought["breakdown"]]
    assert sum(p for _, _, p in shown) == int(f[f"history-{i}"]) == bought["points"]
    assert f[f"history-{i}-paid-gift-cards"] == "6.00" and f[f"history-{i}-lines"] == "2"
    assert int(f[f"history-{i}-ruleset"]) == bought["rule"]["ruleset_version"]
    assert 'id="download-data"' in page.text and 'id="erase-confirm"' in page.text

    # the download is the API's JSON
    download = web.get("/me/data", headers={**HTML, **cookie})
    assert download.status_code == 200 and "attachment" in download.headers["content-disposition"]
    assert download.json() == web.get("/v1/me/data", headers=bearer).json()
    assert download.json()["profile"]["email"] == "hana@example.com"

    # a link's read-only session may not erase (the API refuses it too)
    custodial(stack, grocer, "ivy")
    opened = open_link(web, link_token(stack, grocer, "ivy"), "198.51.100.46")
    link_cookie = {"Cookie": f"coalition_customer={opened.cookies['coalition_customer']}"}
    web.cookies.clear()
    assert 'id="erase-read-only"' in web.get("/me", headers={**HTML, **link_cookie}).text
    refused = web.post("/me/erasure", json={"confirm": "erase"}, headers=link_cookie)
    assert refused.status_code == 403 and refused.json()["type"] == "/problems/read-only-session", refused.text

    # the erasure: the personal data goes, the session ends, the ledger stays
    balance, ledger = stack.balance(wallet), ledger_of(stack, wallet)
    assert balance == bought["points"] and ledger == [("earned", bought["points"])]
    wrong = web.post("/me/erasure", json={"confirm": "yes"}, headers=cookie)
    assert wrong.status_code == 422, wrong.text
    erased = web.post("/me/erasure", json={"confirm": "erase"}, headers=cookie)
    assert erased.status_code == 200, erased.text
    assert erased.json()["erased"]["customer_profiles"] == 1 and erased.json()["page"] == "/me/erased"
    done = web.get("/me/erased", headers={**HTML, "Cookie": f"coalition_erased={erased.cookies['coalition_erased']}"})
    assert done.status_code == 200 and figures(done.text)["erased-customer_profiles"] == "1"
    assert "What stays" in done.text
    web.cookies.clear()
    assert 'id="wallet-signin"' in web.get("/me", headers={**HTML, **cookie}).text  # signed out
    assert web.get("/v1/me/data", headers=bearer).status_code == 401
    assert stack.balance(wallet) == balance and ledger_of(stack, wallet) == ledger
    with stack.harness.sessions() as session:
        row = session.scalar(select(Purchase).where(Purchase.purchase_id == "hana-1"))
        assert row is not None and (row.points, str(row.amount)) == (bought["points"], "30.0000")
        assert session.scalar(select(CustomerProfile).where(CustomerProfile.email == "hana@example.com")) is None


# ------------------------------------------------------------------------ 16: friendly error pages


def _fresh_gateway(stack: Stack, port: int) -> str:
    """A second gateway process on the same store: it has never reached the chain."""
    stack.spawn(
        "gateway-fresh",
        ["-m", "uvicorn", "gateway.main:app", "--host", "127.0.0.1", "--port", str(port), "--no-access-log"],
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return url
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, stack.log("gateway-fresh")
        time.sleep(0.2)


def _is_error_page(r: httpx.Response, status: int, retry: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("text/html"), r.headers
    assert "We cannot reach the blockchain right now" in r.text and "Your points are safe" in r.text
    assert f'id="retry" href="{retry}"' in r.text
    assert int(r.headers["Retry-After"]) >= 1
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]
    assert '"type"' not in r.text  # no JSON in sight


def test_a_chain_outage_shows_people_a_page_and_programs_problem_json(
    stack: Stack, partners: tuple[OnboardedPartner, OnboardedPartner], web: httpx.Client
) -> None:
    grocer, _ = partners
    custodial(stack, grocer, "gus")
    opened = open_link(web, link_token(stack, grocer, "gus"), "198.51.100.45")
    token = opened.cookies["coalition_customer"]
    web.cookies.clear()
    cookie = {"Cookie": f"coalition_customer={token}"}
    assert web.get("/me", headers={**HTML, **cookie}).status_code == 200

    stack.harness.node.stop()  # the chain is gone
    # a person on /me: a page that says so, with a link that tries the same page again
    _is_error_page(web.get("/me?from=app", headers={**HTML, **cookie}), 503, "/me?from=app")
    # the sign-in page needs no chain: it still shows
    signin = web.get("/me", headers=HTML)
    assert signin.status_code == 200 and 'id="wallet-signin"' in signin.text
    # programs keep problem+json: a fetch of the page, the API
    program = web.get("/me", headers=cookie)
    assert program.status_code == 503 and program.headers["content-type"] == "application/problem+json"
    assert program.json()["type"] == "/problems/chain-unavailable"
    api = web.get("/v1/me/balance", headers={**HTML, "Authorization": f"Bearer {token}"})
    assert api.status_code == 503 and api.json()["type"] == "/problems/chain-unavailable"

    # a gateway that never reached the chain: the dashboard's login and /me need it to start
    url = _fresh_gateway(stack, free_port(range(9650, 9670), set()))
    try:
        with httpx.Client(base_url=url, timeout=30, follow_redirects=False) as fresh:
            _is_error_page(fresh.get("/dashboard/login", headers=HTML), 503, "/dashboard/login")
            _is_error_page(fresh.get("/me", headers={**HTML, **cookie}), 503, "/me")
            login = fresh.get("/dashboard/login")  # not a browser: problem+json
            assert login.status_code == 503 and login.json()["type"] == "/problems/chain-unavailable"
    finally:
        stack.kill("gateway-fresh")
