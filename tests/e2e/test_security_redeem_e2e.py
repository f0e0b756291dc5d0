"""Issue 13 (security), findings 1, 5b, 5c and 5e, end to end on real processes
(tests/e2e/stack.py: anvil, redis-server, a Celery worker, beat, uvicorn), over HTTP:

- 1: a partner cannot spend another partner's custodial customer (by wallet, without a consent),
  and its answer is the very answer of an unknown wallet; the custodian spends by its own ref,
  within the daily limit per wallet;
- 5c: a consent relayed by someone else before the worker sends it is found burned on chain, the
  redemption fulfilled with that transaction, its stock kept, never failed;
- 5e: logging out ends the customer's token (API and page cookie) and the operator's dashboard
  cookie on the server: a copy of them answers 401, or the login redirect;
- 5b: the sign-in routes, the dashboard login and wrong operator tokens are limited per client
  address (429 with Retry-After past the burst; another address is not affected); beat purges
  expired challenges and sessions and keeps live ones.

Client addresses are told apart with X-Forwarded-For: uvicorn trusts it from 127.0.0.1 (its
default ``--forwarded-allow-ips``), as it would from a reverse proxy in front of the gateway.

Ports: 9300-9319.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from sqlalchemy import func, select, update

from gateway.services.redemptions import redeem_ref
from network.direct import transact
from network.store import CustomerSession, WalletChallenge, utcnow
from tests.e2e.redemptions import add_reward, cast_balance, earn, local_consent_body, redeemed_events
from tests.e2e.stack import (
    OPERATOR_HEADERS,
    OPERATOR_TOKEN,
    OnboardedPartner,
    Stack,
    fresh_wallet,
    key_for,
    start_stack,
)
from tests.pg import StoreKind

# One store: this file's path through the store is run on both by others (tests/pg.py)
RUN_ON_STORES = ("postgresql",)

pytestmark = pytest.mark.timeout(300)
DAILY_LIMIT = 50  # COALITION_CUSTODIAL_DAILY_POINTS_LIMIT of this stack
BURST = 6  # COALITION_AUTH_RATE_LIMIT_BURST of this stack (and a rate of one token per 100 s)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, store: StoreKind) -> Iterator[Stack]:
    with start_stack(
        tmp_path_factory.mktemp("security-redeem-e2e"),
        ports=range(9300, 9320),
        store=store,
        workers=1,
        redemption_stuck_after_s=5,
        custodial_daily_points_limit=DAILY_LIMIT,
        auth_rate_limit_per_second=0.01,
        auth_rate_limit_burst=BURST,
        purge_every_s=1,
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


def sign(account: LocalAccount, message: str) -> str:
    return "0x" + account.sign_message(encode_defunct(text=message)).signature.hex().removeprefix("0x")


def sign_in(client: httpx.Client, account: LocalAccount, headers: dict[str, str] | None = None) -> str:
    """A customer token, from signing the gateway's EIP-4361 challenge with the wallet."""
    r = client.post("/v1/auth/challenge", json={"address": account.address}, headers=headers)
    assert r.status_code == 201, r.text
    message = r.json()["message"]
    r = client.post("/v1/auth/session", json={"message": message, "signature": sign(account, message)}, headers=headers)
    assert r.status_code == 201, r.text
    return str(r.json()["token"])


def no_consent(redemption_id: str, sku: str, **customer: str) -> dict[str, Any]:
    return {"redemption_id": redemption_id, "sku": sku, "customer": customer}


# ------------------------------------------------------------------------ 1: custodial spending


def test_only_the_custodian_spends_a_custodial_wallet_by_its_own_ref_within_the_daily_limit(
    stack: Stack, partners: tuple[OnboardedPartner, OnboardedPartner]
) -> None:
    grocer, cinema = partners
    created = stack.http.post("/v1/customers/carol/custodial-wallet", headers=grocer.headers)
    assert created.status_code == 201, created.text
    wallet = created.json()["wallet"]
    assert stack.post_purchase(grocer, "carol-earn", ref="carol", amount="100").status_code == 202
    stack.wait_purchase(grocer, "carol-earn")
    add_reward(stack, cinema, "POPCORN", points=30, stock=10)
    add_reward(stack, grocer, "COFFEE", points=20, stock=10)
    assert stack.balance(wallet) == 100

    # the cinema never saw carol; her address is public (the Earned logs). By wallet, no consent:
    steal = stack.http.post(
        "/v1/redemptions", headers=cinema.headers, json=no_consent("steal-1", "POPCORN", wallet=wallet)
    )
    unknown = stack.http.post(
        "/v1/redemptions", headers=cinema.headers, json=no_consent("steal-1", "POPCORN", wallet=fresh_wallet("nobody"))
    )
    assert steal.status_code == 422 and steal.json()["type"] == "/problems/consent-required", steal.text
    assert (steal.status_code, steal.headers["content-type"], steal.json()) == (
        unknown.status_code,
        unknown.headers["content-type"],
        unknown.json(),
    )  # nothing tells the cinema that the wallet is custodial
    # the custodian by wallet gets the same: it names its customer by its own ref
    by_wallet = stack.http.post(
        "/v1/redemptions", headers=grocer.headers, json=no_consent("g-0", "COFFEE", wallet=wallet)
    )
    assert (by_wallet.status_code, by_wallet.json()) == (unknown.status_code, unknown.json())
    assert stack.http.get("/v1/redemptions/steal-1", headers=cinema.headers).status_code == 404
    assert stack.http.get("/v1/rewards/POPCORN", headers=cinema.headers).json()["stock"] == 10

    # the custodian, by its own ref: the gateway signs, within the daily limit of the wallet
    done = []
    for rid in ("g-1", "g-2"):
        r = stack.http.post("/v1/redemptions", headers=grocer.headers, json=no_consent(rid, "COFFEE", ref="carol"))
        assert r.status_code == 202 and r.json()["custodial"] is True, r.text
        done.append(stack.wait_json(f"/v1/redemptions/{rid}", grocer.headers, want="fulfilled"))
    over = stack.http.post("/v1/redemptions", headers=grocer.headers, json=no_consent("g-3", "COFFEE", ref="carol"))
    assert over.status_code == 422 and over.json()["type"] == "/problems/custodial-limit-reached", over.text
    assert f"{DAILY_LIMIT} points in any 24 h" in over.json()["detail"]
    assert stack.balance(wallet) == 100 - 2 * 20 == cast_balance(stack, wallet)
    assert redeemed_events(stack, cinema.id) == []
    assert [e["points"] for e in redeemed_events(stack, grocer.id)] == [20, 20]
    stack.assert_running()


# ------------------------------------------------------------------------ 5c: relayed by someone else


def test_a_consent_relayed_by_someone_else_first_is_fulfilled_with_that_burn_not_failed(
    stack: Stack, partners: tuple[OnboardedPartner, OnboardedPartner]
) -> None:
    grocer, cinema = partners
    alice = key_for("relayed-alice")
    earn(stack, grocer, "relayed-earn", alice.address, "50")
    add_reward(stack, cinema, "SODA", points=7, stock=3)
    for name in list(stack.workers):  # the worker is down: the redemption waits in the queue
        stack.kill(name)
    body = local_consent_body(stack, cinema, alice, "soda-relayed", "SODA", 7, nonce=77)
    r = stack.http.post("/v1/redemptions", headers=cinema.headers, json=body)
    assert r.status_code == 202 and r.json()["status"] == "accepted", r.text

    # anyone may relay a signed consent: a stranger sends it first, with its own gas
    h = stack.harness
    stranger = Account.create()
    h.w3.provider.make_request("anvil_setBalance", [stranger.address, hex(10**19)])  # type: ignore[arg-type]
    consent = body["consent"]
    receipt = transact(
        h.w3,
        stranger,
        h.contracts.points.functions.redeemWithSignature(
            alice.address,
            cinema.id,
            7,
            HexBytes(redeem_ref(h.settings.chain_id, cinema.id, "soda-relayed")),
            consent["nonce"],
            consent["deadline"],
            HexBytes(consent["signature"]),
        ),
    )
    relayed = receipt["transactionHash"].to_0x_hex()
    assert stack.balance(alice.address) == 50 - 7

    stack.start_worker("w1")
    done = stack.wait_json("/v1/redemptions/soda-relayed", cinema.headers, want="fulfilled", timeout_s=90)
    assert done["tx_hash"] == relayed and done["block_number"] == receipt["blockNumber"]
    assert done["voucher_code"] and done["failure_reason"] is None
    assert stack.http.get("/v1/rewards/SODA", headers=cinema.headers).json()["stock"] == 2  # kept, not released
    assert stack.balance(alice.address) == 50 - 7 == cast_balance(stack, alice.address)  # burned once
    ref = bytes.fromhex(done["ref"][2:])
    assert [e["points"] for e in redeemed_events(stack, cinema.id) if e["ref"] == ref] == [7]
    stack.assert_running()


# ------------------------------------------------------------------------ 5e: logout


def test_customer_logout_ends_the_token_on_the_server(stack: Stack, web: httpx.Client) -> None:
    dave = key_for("logout-dave")
    # the customer page: its cookie is the token; signing out there ends it, for the API too
    token = sign_in(web, dave)
    assert web.post("/me/session", json={"token": token}).status_code == 204
    web.cookies.clear()
    cookie = {"Cookie": f"coalition_customer={token}"}
    assert 'data-figure="balance"' in web.get("/me", headers=cookie).text
    out = web.post("/me/logout", headers=cookie)
    assert out.status_code == 303 and out.headers["location"] == "/me"
    after = web.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert after.status_code == 401 and after.json()["type"] == "/problems/unauthorized", after.text
    page = web.get("/me", headers=cookie)  # a copy of the old cookie: the sign-in page, not the points
    assert page.status_code == 200 and 'data-figure="balance"' not in page.text and "wallet-signin" in page.text

    # the API: POST /v1/auth/logout with the token
    token = sign_in(web, dave)
    bearer = {"Authorization": f"Bearer {token}"}
    assert web.get("/v1/me", headers=bearer).json()["wallet"] == dave.address
    assert web.post("/v1/auth/logout", headers=bearer).status_code == 204
    gone = web.get("/v1/me", headers=bearer)
    assert gone.status_code == 401 and gone.json()["type"] == "/problems/unauthorized"
    assert web.post("/v1/auth/logout", headers=bearer).status_code == 401


def test_operator_logout_ends_the_dashboard_session_on_the_server(stack: Stack, web: httpx.Client) -> None:
    login = web.post("/dashboard/login", data={"token": OPERATOR_TOKEN})
    assert login.status_code == 303 and login.headers["location"] == "/dashboard", login.text
    value = login.cookies["coalition_operator"]
    cookie = {"Cookie": f"coalition_operator={value}"}
    web.cookies.clear()
    page = web.get("/dashboard", headers=cookie)
    assert page.status_code == 200
    csrf = re.search(r'name="csrf" value="([0-9a-f]{64})"', page.text)
    assert csrf is not None, "the sign-out form carries the session's CSRF token"
    refused = web.post("/dashboard/logout", headers=cookie)  # another site's form: no token
    assert refused.status_code == 303 and refused.headers["location"] == "/dashboard"
    assert web.get("/dashboard", headers=cookie).status_code == 200  # still signed in
    out = web.post("/dashboard/logout", headers=cookie, data={"csrf": csrf.group(1)})
    assert out.status_code == 303 and out.headers["location"] == "/dashboard/login"
    again = web.get("/dashboard", headers=cookie)  # a copy of the cookie taken before the logout
    assert again.status_code == 303 and again.headers["location"] == "/dashboard/login"
    statement = web.get("/dashboard/settlements/1/statement.json", headers=cookie)
    assert statement.status_code == 401 and statement.json()["type"] == "/problems/unauthorized"


# ------------------------------------------------------------------------ 5b: limits and purge


def test_sign_in_is_limited_per_client_address(stack: Stack, web: httpx.Client) -> None:
    here, there = {"X-Forwarded-For": "198.51.100.23"}, {"X-Forwarded-For": "198.51.100.24"}
    erin = key_for("limited-erin")
    statuses = [
        web.post("/v1/auth/challenge", json={"address": erin.address}, headers=here).status_code for _ in range(BURST)
    ]
    assert statuses == [201] * BURST
    refused = web.post("/v1/auth/challenge", json={"address": erin.address}, headers=here)
    assert refused.status_code == 429 and refused.json()["type"] == "/problems/rate-limited", refused.text
    assert refused.headers["content-type"] == "application/problem+json" and int(refused.headers["Retry-After"]) >= 1
    signed = web.post("/v1/auth/session", json={"message": "x", "signature": "0x" + "11" * 65}, headers=here)
    assert signed.status_code == 429  # the same bucket: the sign-in of this address
    assert sign_in(web, erin, there).startswith("cs_")  # another address is not affected


def test_dashboard_login_and_operator_token_are_limited_per_client_address(stack: Stack, web: httpx.Client) -> None:
    here = {"X-Forwarded-For": "198.51.100.25"}
    wrong = [web.post("/dashboard/login", data={"token": "guess"}, headers=here).status_code for _ in range(BURST)]
    assert wrong == [401] * BURST
    right = web.post("/dashboard/login", data={"token": OPERATOR_TOKEN}, headers=here)
    assert right.status_code == 429 and int(right.headers["Retry-After"]) >= 1  # the right token too, from there
    assert "coalition_operator" not in right.cookies

    api = {"X-Forwarded-For": "198.51.100.26"}
    for _ in range(3):  # the right token costs nothing
        assert web.get("/v1/operator/partners", headers={**OPERATOR_HEADERS, **api}).status_code == 200
    bad = {"Authorization": "Bearer guessed-operator-token", **api}
    assert [web.get("/v1/operator/partners", headers=bad).status_code for _ in range(BURST)] == [401] * BURST
    locked = web.get("/v1/operator/partners", headers={**OPERATOR_HEADERS, **api})
    assert locked.status_code == 429 and locked.json()["type"] == "/problems/rate-limited", locked.text
    elsewhere = {"X-Forwarded-For": "198.51.100.27"}
    assert web.get("/v1/operator/partners", headers={**OPERATOR_HEADERS, **elsewhere}).status_code == 200


def test_beat_purges_expired_challenges_and_sessions_and_keeps_live_ones(stack: Stack, web: httpx.Client) -> None:
    fay, gil = key_for("purge-fay"), key_for("purge-gil")
    headers = {"X-Forwarded-For": "198.51.100.28"}
    old_token, live_token = sign_in(web, fay, headers), sign_in(web, gil, headers)
    for account in (fay, gil):
        assert web.post("/v1/auth/challenge", json={"address": account.address}, headers=headers).status_code == 201
    expired = {"Authorization": f"Bearer {old_token}"}
    with stack.harness.sessions() as session:  # fay's rows expired a day ago
        past = utcnow() - timedelta(days=1)
        session.execute(update(CustomerSession).where(CustomerSession.wallet == fay.address).values(expires_at=past))
        session.execute(update(WalletChallenge).where(WalletChallenge.address == fay.address).values(expires_at=past))
        session.commit()
    assert web.get("/v1/me", headers=expired).status_code == 401

    def count(model: Any, wallet_column: Any, wallet: str) -> int:
        with stack.harness.sessions() as session:
            return int(session.scalar(select(func.count()).select_from(model).where(wallet_column == wallet)) or 0)

    deadline = time.monotonic() + 60
    while count(CustomerSession, CustomerSession.wallet, fay.address) or count(
        WalletChallenge, WalletChallenge.address, fay.address
    ):
        assert time.monotonic() < deadline, f"fay's expired rows are still there\n{stack.logs()}"
        time.sleep(0.5)
    assert count(CustomerSession, CustomerSession.wallet, gil.address) == 1
    assert count(WalletChallenge, WalletChallenge.address, gil.address) == 2  # one used, one not: both live
    assert web.get("/v1/me", headers={"Authorization": f"Bearer {live_token}"}).json()["wallet"] == gil.address
