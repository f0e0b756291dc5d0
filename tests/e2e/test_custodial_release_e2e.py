"""A custodial wallet's release, end to end on the real stack (tests/e2e/stack.py: anvil,
redis-server, a Celery worker and beat, the gateway as a uvicorn process).

What a stolen partner API key can do with a custodial customer: ask for the release, and get
no key before the notice period (COALITION_CUSTODIAL_RELEASE_NOTICE_S, a few seconds here);
meanwhile the partner is told by a signed webhook event and the operator by an alert, and the
partner can cancel. After the notice the keystore is handed over once (of concurrent calls,
one gets it) and opens, with the password of that call, to the wallet's own key, which then
signs in to the customer's page. On main the first call answered the keystore at once.

Ports: 9400-9409 for the stack; the webhook receiver takes any free port.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from sqlalchemy import select

from network.store import OperatorAlert
from partners.client import PartnerClient, ProblemError
from partners.webhooks import verify
from tests.e2e.stack import OnboardedPartner, Stack, start_stack
from tests.gateway.webhook_receiver import Receiver
from tests.pg import StoreKind

pytestmark = pytest.mark.timeout(240)
NOTICE_S = 6  # long enough to try the key before it, short enough to wait it out
PROBLEM_JSON = "application/problem+json"


@pytest.fixture(scope="module")
def receiver(store: StoreKind) -> Iterator[Receiver]:
    """One per store (``store`` is a session-wide parameter): under xdist a file's two stores run
    back to back in one worker, and the second stack's checks must not read the first's deliveries."""
    with Receiver() as r:
        yield r


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, store: StoreKind) -> Iterator[Stack]:
    with start_stack(
        tmp_path_factory.mktemp("custodial-release-e2e"),
        ports=range(9400, 9410),
        store=store,
        workers=1,
        custodial_release_notice_s=NOTICE_S,
        webhook_allow_loopback=True,  # the receiver is on 127.0.0.1
        webhook_backoff_base_s=0.5,
    ) as stack:
        yield stack


@pytest.fixture(scope="module")
def partners(stack: Stack) -> dict[str, OnboardedPartner]:
    return {"A": stack.onboard("Custodian A"), "B": stack.onboard("Other B")}


def release(ref: str) -> str:
    return f"/v1/customers/{ref}/custodial-wallet/release"


def custodial_with_points(stack: Stack, partner: OnboardedPartner, ref: str, amount: str) -> str:
    created = stack.http.post(f"/v1/customers/{ref}/custodial-wallet", headers=partner.headers)
    assert created.status_code == 201, created.text
    assert stack.post_purchase(partner, f"buy-{ref}", ref=ref, amount=amount).status_code == 202
    stack.wait_purchase(partner, f"buy-{ref}", timeout_s=60)
    return str(created.json()["wallet"])


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def wait_until(moment: datetime) -> None:
    time.sleep(max(0.0, (moment - datetime.now(UTC)).total_seconds()) + 0.2)


def wait_for(what: str, check: Callable[[], Any], stack: Stack, timeout_s: float = 45) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"no {what} after {timeout_s} s:\n{stack.logs()}"
        time.sleep(0.2)


def alerts_for(stack: Stack, wallet: str) -> list[OperatorAlert]:
    with stack.harness.sessions() as session:
        rows = session.scalars(select(OperatorAlert).where(OperatorAlert.kind == "custodial-release-requested"))
        return [a for a in rows if a.details.get("wallet") == wallet]


def test_e2e_a_partner_key_gets_no_custodial_key_before_the_notice_and_the_key_once_after(
    stack: Stack, partners: dict[str, OnboardedPartner]
) -> None:
    a, b = partners["A"], partners["B"]
    wallet = custodial_with_points(stack, a, "carol", "25.00")
    assert stack.balance(wallet) == 25

    # another partner, a ref it does not have: exactly the answer of an unknown ref
    unknown = stack.http.post(release("nobody"), json={"password": "carol-pw-1"}, headers=b.headers)
    by_other = stack.http.post(release("carol"), json={"password": "carol-pw-1"}, headers=b.headers)
    assert by_other.status_code == unknown.status_code == 404
    assert by_other.json()["type"] == unknown.json()["type"] == "/problems/not-found"

    # the custodian's API key (perhaps stolen): the first call only asks, no key
    asked = stack.http.post(release("carol"), json={"password": "thief-pw-1"}, headers=a.headers)
    assert asked.status_code == 202, asked.text
    assert "keystore" not in asked.json()
    assert (asked.json()["wallet"], asked.json()["status"]) == (wallet, "release-pending")
    available_at = at(asked.json()["available_at"])
    assert NOTICE_S - 3 <= (available_at - datetime.now(UTC)).total_seconds() <= NOTICE_S

    # asking again before the notice is over: refused, with when; the request is not renewed
    again = stack.http.post(release("carol"), json={"password": "thief-pw-1"}, headers=a.headers)
    assert again.status_code == 409, again.text
    assert again.headers["content-type"] == PROBLEM_JSON
    assert again.json()["type"] == "/problems/custodial-release-pending"
    assert at(again.json()["available_at"]) == available_at
    assert 1 <= int(again.headers["Retry-After"]) <= NOTICE_S
    shown = stack.http.get("/v1/customers/carol", headers=a.headers).json()
    assert (shown["custodial"], shown["released"], at(shown["release_available_at"])) == (True, False, available_at)

    # the operator was told, once, with who asked, for whom and when the key goes
    [alert] = alerts_for(stack, wallet)
    assert alert.details == {
        "partner_id": a.id,
        "ref": "carol",
        "wallet": wallet,
        "available_at": asked.json()["available_at"],
    }
    assert stack.balance(wallet) == 25  # the points are untouched

    # after the notice: of concurrent calls exactly one gets the key, the others are told it is gone
    wait_until(available_at)

    def collect(i: int) -> Any:
        return stack.http.post(release("carol"), json={"password": f"carol-pw-{i}"}, headers=a.headers)

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(collect, range(6)))
    [winner] = [(i, r) for i, r in enumerate(answers) if r.status_code == 200]
    losers = [r for r in answers if r.status_code != 200]
    assert [(r.status_code, r.json()["type"]) for r in losers] == [(409, "/problems/custodial-wallet-released")] * 5
    index, released = winner
    assert (released.json()["wallet"], released.json()["status"]) == (wallet, "released")
    key = Account.decrypt(released.json()["keystore"], f"carol-pw-{index}")
    customer = Account.from_key(key)
    assert customer.address == wallet
    after = stack.http.get("/v1/customers/carol", headers=a.headers).json()
    assert (after["custodial"], after["released"], after["release_available_at"]) == (False, True, None)

    # the key is the customer's now: it signs in, and its points are all there
    message = stack.http.post("/v1/auth/challenge", json={"address": wallet}).json()["message"]
    signature = "0x" + customer.sign_message(encode_defunct(text=message)).signature.hex().removeprefix("0x")
    token = stack.http.post("/v1/auth/session", json={"message": message, "signature": signature})
    assert token.status_code == 201, token.text
    me = {"Authorization": f"Bearer {token.json()['token']}"}
    assert stack.http.get("/v1/me", headers=me).json()["custodial"] is False
    assert stack.http.get("/v1/me/balance", headers=me).json() == {"wallet": wallet, "points": 25}
    assert len(alerts_for(stack, wallet)) == 1  # one alert per request, not per call


def test_e2e_the_partner_is_told_of_a_release_request_and_cancels_it(
    stack: Stack, partners: dict[str, OnboardedPartner], receiver: Receiver
) -> None:
    a, b = partners["A"], partners["B"]
    hook = stack.http.post(
        "/v1/webhooks",
        headers=a.headers,
        json={
            "url": receiver.url,
            "event_types": ["customer.custodial_release_requested", "customer.custodial_wallet_released"],
        },
    )
    assert hook.status_code == 201, hook.text
    secret = hook.json()["secret"]
    wallet = custodial_with_points(stack, a, "erin", "7.00")

    def requested() -> list[dict[str, Any]]:
        with receiver.lock:
            bodies = [(r.body, r.headers["Coalition-Signature"]) for r in receiver.received]
        events = [verify(secret, body, signature) for body, signature in bodies]  # raises if forged
        return [
            e for e in events if e["type"] == "customer.custodial_release_requested" and e["data"]["wallet"] == wallet
        ]

    with PartnerClient(stack.url, a.api_key) as sdk:  # the partner SDK, as an integrator calls it
        asked = sdk.release_custodial_wallet("erin", "erin-pw-12")
        assert (asked["wallet"], asked["status"]) == (wallet, "release-pending")
        with pytest.raises(ProblemError) as early:
            sdk.release_custodial_wallet("erin", "erin-pw-12")
        assert (early.value.slug, early.value.problem["available_at"]) == (
            "custodial-release-pending",
            asked["available_at"],
        )
        [event] = wait_for("release webhook", requested, stack)
        assert event["partner_id"] == a.id
        assert event["data"] == {
            "ref": "erin",
            "wallet": wallet,
            "requested_at": event["data"]["requested_at"],
            "available_at": asked["available_at"],
        }

        # the other partner can neither cancel nor learn anything: the unknown-ref answer
        assert stack.http.delete(release("erin"), headers=b.headers).status_code == 404
        # the partner did not ask for it: it cancels, and the notice ends with no key handed out
        assert sdk.cancel_custodial_release("erin") is None  # 204
        assert sdk.customer("erin")["release_available_at"] is None
        wait_until(at(asked["available_at"]))
        anew = sdk.release_custodial_wallet("erin", "erin-pw-12")
        assert anew["status"] == "release-pending"  # a new request, with a new notice: not the key
        assert at(anew["available_at"]) > at(asked["available_at"])
        assert len(wait_for("second release webhook", lambda: requested()[1:], stack)) == 1
        assert len(alerts_for(stack, wallet)) == 2
        sdk.cancel_custodial_release("erin")
    assert stack.balance(wallet) == 7
