"""Customers end to end: real anvil, redis-server, Celery workers and beat (the indexer is a
beat task), the gateway as a uvicorn process (tests/e2e/stack.py).

A customer links their wallet by signing the gateway's EIP-4361 challenge with a real key; a
purchase by ref mints to it; the balance read from the chain and the history read from the
indexed ledger agree, for the partner and for the customer's own session. A custodial wallet
gets points, and its release (asked for, then collected after the notice period, one second
here) hands over a keystore that opens to the wallet's key. Another partner gets 404 for all of
it. The release's rule: tests/e2e/test_custodial_release_e2e.py.

Ports: 8720-8729.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from eth_account import Account

from tests.e2e.stack import OnboardedPartner, Stack, key_for, start_stack
from tests.pg import StoreKind
from tests.wallets import sign

# One store: this file's path through the store is run on both by others (tests/pg.py)
RUN_ON_STORES = ("postgresql",)

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, store: StoreKind) -> Iterator[Stack]:
    with start_stack(
        tmp_path_factory.mktemp("customers-e2e"),
        ports=range(8720, 8730),
        store=store,
        workers=1,
        custodial_release_notice_s=1,
    ) as stack:
        yield stack


@pytest.fixture(scope="module")
def partners(stack: Stack) -> dict[str, OnboardedPartner]:
    return {"A": stack.onboard("Grocer A", points_per_unit="2"), "B": stack.onboard("Books B")}


def wait_history(
    stack: Stack, path: str, headers: dict[str, str], entries: int, timeout_s: float = 30
) -> dict[str, Any]:
    """Polls a history until the indexer has written ``entries`` entries (it runs at beat's ticks)."""
    deadline = time.monotonic() + timeout_s
    while True:
        r = stack.http.get(path, headers=headers)
        assert r.status_code == 200, r.text
        if len(r.json()["entries"]) >= entries:
            return dict(r.json())
        assert time.monotonic() < deadline, f"{path}: {r.json()} after {timeout_s} s\n{stack.logs()}"
        time.sleep(0.2)


def test_linked_wallet_earns_and_both_views_agree(stack: Stack, partners: dict[str, OnboardedPartner]) -> None:
    a, b = partners["A"], partners["B"]
    alice = key_for("customers-alice")
    challenge = stack.http.post(
        "/v1/customers/alice/wallet-challenge", json={"wallet": alice.address}, headers=a.headers
    )
    assert challenge.status_code == 201, challenge.text
    message = challenge.json()["message"]
    assert message.startswith(f"{stack.url.removeprefix('http://')} wants you to sign in with your Ethereum account:")
    linked = stack.http.put(
        "/v1/customers/alice/wallet", json={"message": message, "signature": sign(alice, message)}, headers=a.headers
    )
    assert linked.status_code == 200, linked.text
    assert stack.post_purchase(a, "c-1", ref="alice", amount="21.00").status_code == 202
    stack.wait_purchase(a, "c-1", want="confirmed", timeout_s=30)
    assert stack.balance(alice.address) == 42
    balance = stack.http.get("/v1/customers/alice/balance", headers=a.headers).json()
    assert balance == {"wallet": alice.address, "points": 42}
    history = wait_history(stack, "/v1/customers/alice/history", a.headers, 1)
    assert history["balance"] == 42
    assert [(e["kind"], e["points"], e["partner_id"]) for e in history["entries"]] == [("earned", 42, a.id)]
    by_wallet = stack.http.get(f"/v1/wallets/{alice.address}/history", headers=a.headers).json()
    assert by_wallet["entries"] == history["entries"]

    session_message = stack.http.post("/v1/auth/challenge", json={"address": alice.address}).json()["message"]
    token = stack.http.post(
        "/v1/auth/session", json={"message": session_message, "signature": sign(alice, session_message)}
    )
    assert token.status_code == 201, token.text
    me = {"Authorization": f"Bearer {token.json()['token']}"}
    assert stack.http.get("/v1/me/balance", headers=me).json()["points"] == 42
    mine = stack.http.get("/v1/me/history", headers=me).json()
    assert [(e["kind"], e["points"], e["partner_name"]) for e in mine["entries"]] == [("earned", 42, "Grocer A")]
    assert stack.http.get("/v1/me", headers=me).json()["links"] == [
        {"partner_id": a.id, "partner_name": "Grocer A", "ref": "alice"}
    ]

    for path in ("/v1/customers/alice", "/v1/customers/alice/balance", "/v1/customers/alice/history"):
        r = stack.http.get(path, headers=b.headers)
        assert r.status_code == 404 and r.json()["type"] == "/problems/not-found", r.text
    for path in (f"/v1/wallets/{alice.address}/balance", f"/v1/wallets/{alice.address}/history"):
        assert stack.http.get(path, headers=b.headers).status_code == 404


def test_custodial_wallet_earns_and_is_released_to_its_customer(
    stack: Stack, partners: dict[str, OnboardedPartner]
) -> None:
    a, b = partners["A"], partners["B"]
    created = stack.http.post("/v1/customers/carol/custodial-wallet", headers=a.headers)
    assert created.status_code == 201, created.text
    wallet = created.json()["wallet"]
    assert stack.post_purchase(a, "c-2", ref="carol", amount="5.00").status_code == 202
    stack.wait_purchase(a, "c-2", want="confirmed", timeout_s=30)
    assert stack.balance(wallet) == 10
    assert wait_history(stack, "/v1/customers/carol/history", a.headers, 1)["entries"][0]["points"] == 10
    release = "/v1/customers/carol/custodial-wallet/release"
    assert stack.http.post(release, json={"password": "carol-pw-1"}, headers=b.headers).status_code == 404
    asked = stack.http.post(release, json={"password": "carol-pw-1"}, headers=a.headers)
    assert asked.status_code == 202, asked.text
    time.sleep(1.2)  # the notice period (custodial_release_notice_s)
    released = stack.http.post(release, json={"password": "carol-pw-1"}, headers=a.headers)
    assert released.status_code == 200, released.text
    key = Account.decrypt(released.json()["keystore"], "carol-pw-1")
    assert Account.from_key(key).address == wallet
    after = stack.http.get("/v1/customers/carol", headers=a.headers).json()
    assert (after["wallet"], after["custodial"], after["released"]) == (wallet, False, True)
    assert stack.http.get("/v1/customers/carol/balance", headers=a.headers).json()["points"] == 10
