"""Unit tests of the customer API, wallet sign-in and custody, without a chain or an indexer.

The app runs in process (``TestClient``) on a fresh migrated SQLite store. Fakes, said plainly:
the chain is a stub whose ``balanceOf`` answers from a dict, and ledger entries (which the
indexer writes from chain events) are inserted as rows. The signatures are real: customers'
keys sign the gateway's EIP-4361 messages with personal_sign (EIP-191).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from gateway.chain import get_chain
from gateway.deps import get_session
from gateway.main import create_app
from gateway.secrets_box import SecretsBoxError
from gateway.services import custody, customer_records
from gateway.services.wallet_auth import parse_message
from gateway.settings import GatewaySettings, get_settings
from network.store import CustodialWallet, WalletChallenge, utcnow
from tests.fakes import CHAIN_ID
from tests.gateway.customers import Api, customer_key, partner_headers
from tests.gateway.partners import PUBLIC_URL
from tests.problems import assert_problem
from tests.stores import migrated_store
from tests.wallets import sign


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    settings = GatewaySettings(
        state_dir=tmp_path, database_url=f"sqlite:///{tmp_path}/gateway.db", public_url=PUBLIC_URL, chain_id=CHAIN_ID
    )
    sessions = migrated_store(settings.database_url)
    balances: dict[str, int] = {}
    fake_points = SimpleNamespace(
        functions=SimpleNamespace(balanceOf=lambda w: SimpleNamespace(call=lambda: balances.get(w, 0)))
    )
    fake_chain = SimpleNamespace(contracts=SimpleNamespace(points=fake_points))

    def session_dep() -> Iterator[Session]:
        with sessions() as session:
            yield session

    app = create_app()
    app.dependency_overrides[get_settings] = lambda: settings
    app.dependency_overrides[get_session] = session_dep
    app.dependency_overrides[get_chain] = lambda: fake_chain
    a, b = partner_headers(sessions, 1, "Grocer"), partner_headers(sessions, 2, "Books")
    with TestClient(app) as client:
        yield Api(client, sessions, settings, balances, a, b)


# ---------------------------------------------------------------------------------- custody


def test_custodial_key_round_trips_sealed_and_is_not_signable_once_released(api: Api) -> None:
    with api.sessions() as session:
        address = custody.create_custodial_wallet(session, api.settings, partner_id=1)
        session.commit()
        row = session.get(CustodialWallet, address)
        assert row is not None and row.partner_id == 1
        account = custody.custodial_account(session, api.settings, address, partner_id=1)
        assert account is not None and account.address == address
        assert bytes(account.key) not in row.key_ciphertext  # sealed, not stored in the clear
        # only for its custodian: for another partner the gateway holds no key for this address
        assert custody.custodial_account(session, api.settings, address, partner_id=2) is None
        with pytest.raises(LookupError):
            custody.release_custodial_wallet(
                session, api.settings, address, "pw-of-b", partner_id=2, ref="c", kdf="pbkdf2"
            )
        other_key = api.settings.model_copy(update={"secrets_key": "another-secrets-key-of-32-characters!"})
        with pytest.raises(SecretsBoxError):
            custody.custodial_account(session, other_key, address, partner_id=1)
        # a release is asked for first, and handed over after the notice (test_custodial_release_unit.py)
        asked = custody.release_custodial_wallet(session, api.settings, address, "pw", partner_id=1, ref="c")
        assert isinstance(asked, custody.ReleaseRequested)
        released = custody.release_custodial_wallet(
            session, api.settings, address, "customer-pw", partner_id=1, ref="c", kdf="pbkdf2", now=asked.available_at
        )
        session.commit()
        assert isinstance(released, custody.KeyReleased)
        assert Account.from_key(Account.decrypt(released.keystore, "customer-pw")).address == address
        assert custody.custodial_account(session, api.settings, address, partner_id=1) is None
        with pytest.raises(custody.AlreadyReleased):
            custody.release_custodial_wallet(
                session, api.settings, address, "customer-pw", partner_id=1, ref="c", kdf="pbkdf2"
            )
        assert custody.custodial_account(session, api.settings, customer_key("x").address, partner_id=1) is None


def test_sealed_keys_are_bound_to_their_row(api: Api) -> None:
    """Swapping two rows' ciphertexts (a database edit) makes both fail to open, never trade keys."""
    with api.sessions() as session:
        first, second = (custody.create_custodial_wallet(session, api.settings, partner_id=1) for _ in range(2))
        a, b = session.get(CustodialWallet, first), session.get(CustodialWallet, second)
        assert a is not None and b is not None
        (a.key_ciphertext, a.key_nonce), (b.key_ciphertext, b.key_nonce) = (
            (b.key_ciphertext, b.key_nonce),
            (a.key_ciphertext, a.key_nonce),
        )
        session.commit()
        for address in (first, second):
            with pytest.raises(SecretsBoxError):
                custody.custodial_account(session, api.settings, address, partner_id=1)


def test_custodial_wallet_over_http_create_once_release_once(api: Api) -> None:
    created = api.client.post("/v1/customers/c-9/custodial-wallet", headers=api.a)
    assert created.status_code == 201, created.text
    wallet = created.json()["wallet"]
    assert created.json()["custodial"] is True
    assert_problem(api.client.post("/v1/customers/c-9/custodial-wallet", headers=api.a), "customer-already-linked")
    # a held custodial wallet is not replaced by a link (its points would be stranded): release first
    assert_problem(api.link(api.a, "c-9", customer_key("c-9 own")), "customer-already-linked")
    asked = api.client.post("/v1/customers/c-9/custodial-wallet/release", json={"password": "s3cret-pw"}, headers=api.a)
    assert asked.status_code == 202, asked.text  # the key only after the notice: test_custodial_release_unit.py
    with api.sessions() as session:  # the notice is over
        session.execute(
            update(CustodialWallet).where(CustodialWallet.address == wallet).values(release_available_at=utcnow())
        )
        session.commit()
    released = api.client.post(
        "/v1/customers/c-9/custodial-wallet/release", json={"password": "s3cret-pw"}, headers=api.a
    )
    assert released.status_code == 200, released.text
    assert Account.from_key(Account.decrypt(released.json()["keystore"], "s3cret-pw")).address == wallet
    again = api.client.post("/v1/customers/c-9/custodial-wallet/release", json={"password": "s3cret-pw"}, headers=api.a)
    assert_problem(again, "custodial-wallet-released")
    assert api.client.get("/v1/customers/c-9", headers=api.a).json() | {"linked_at": None} == {
        "ref": "c-9", "wallet": wallet, "custodial": False, "released": True, "release_available_at": None,
        "linked_at": None,
    }  # fmt: skip
    assert api.link(api.a, "self-1", customer_key("s")).status_code == 200
    mine = api.client.post(
        "/v1/customers/self-1/custodial-wallet/release", json={"password": "s3cret-pw"}, headers=api.a
    )
    assert_problem(mine, "wallet-not-custodial")
    b_tries = api.client.post(
        "/v1/customers/c-9/custodial-wallet/release", json={"password": "s3cret-pw"}, headers=api.b
    )
    assert_problem(b_tries, "not-found")


def test_links_and_custodial_wallets_are_customer_entities(api: Api) -> None:
    """Behind the same answers: a custodial wallet is a new customer's; once released, the ref's
    own wallet joins that customer (who owns both), and another partner's ref on it is them too."""
    custodial = api.client.post("/v1/customers/c-9/custodial-wallet", headers=api.a).json()["wallet"]
    release = {"json": {"password": "s3cret-pw"}, "headers": api.a}
    assert api.client.post("/v1/customers/c-9/custodial-wallet/release", **release).status_code == 202
    with api.sessions() as session:
        session.execute(
            update(CustodialWallet).where(CustodialWallet.address == custodial).values(release_available_at=utcnow())
        )
        session.commit()
    assert api.client.post("/v1/customers/c-9/custodial-wallet/release", **release).status_code == 200
    own = customer_key("c-9 own").address
    assert api.link(api.a, "c-9", customer_key("c-9 own")).json()["wallet"] == own
    assert api.link(api.b, "b-9", customer_key("c-9 own")).status_code == 200
    assert api.link(api.a, "someone", customer_key("someone")).status_code == 200
    with api.sessions() as session:
        customer = customer_records.find_by_ref(session, partner_id=1, ref="c-9")
        assert customer is not None
        assert set(customer_records.wallets_of(session, customer_id=customer.id)) == {custodial, own}
        assert customer_records.find_by_ref(session, partner_id=2, ref="b-9") == customer
        assert customer_records.find_by_ref(session, partner_id=1, ref="someone") not in (None, customer)


# ---------------------------------------------------------------------------------- EIP-4361


def test_link_through_a_signed_challenge(api: Api) -> None:
    alice = customer_key("alice")
    challenge = api.client.post("/v1/customers/alice/wallet-challenge", json={"wallet": alice.address}, headers=api.a)
    parsed = parse_message(challenge.json()["message"])
    assert (parsed.domain, parsed.address, parsed.chain_id, parsed.uri) == (
        "gateway.unit.test",
        alice.address,
        CHAIN_ID,
        PUBLIC_URL,
    )
    assert parsed.statement == "Link your wallet to Grocer customer alice"
    assert parsed.expiration_time - parsed.issued_at == timedelta(seconds=api.settings.wallet_challenge_ttl_s)
    message = challenge.json()["message"]
    linked = api.client.put(
        "/v1/customers/alice/wallet", json={"message": message, "signature": sign(alice, message)}, headers=api.a
    )
    assert linked.status_code == 200, linked.text
    assert linked.json()["wallet"] == alice.address and linked.json()["custodial"] is False
    assert api.client.get("/v1/customers/alice", headers=api.a).json()["wallet"] == alice.address


def _challenge(api: Api, ref: str, account: LocalAccount) -> str:
    answer = api.client.post(f"/v1/customers/{ref}/wallet-challenge", json={"wallet": account.address}, headers=api.a)
    return str(answer.json()["message"])


def test_signed_challenge_failures_are_distinct_problems(api: Api) -> None:
    alice, mallory = customer_key("alice"), customer_key("mallory")
    put = lambda ref, message, signature, headers=api.a: api.client.put(  # noqa: E731
        f"/v1/customers/{ref}/wallet", json={"message": message, "signature": signature}, headers=headers
    )
    message = _challenge(api, "alice", alice)
    assert_problem(put("alice", message, sign(mallory, message)), "wallet-signature-invalid")
    other_domain = message.replace("gateway.unit.test wants", "evil.test wants")
    assert_problem(put("alice", other_domain, sign(alice, other_domain)), "challenge-mismatch")
    other_chain = message.replace(f"Chain ID: {CHAIN_ID}", "Chain ID: 1")
    assert_problem(put("alice", other_chain, sign(alice, other_chain)), "challenge-mismatch")
    assert_problem(put("bob", message, sign(alice, message)), "challenge-mismatch")  # issued for another ref
    assert_problem(put("alice", message, sign(alice, message), api.b), "challenge-unknown")  # another partner's
    assert_problem(put("alice", "hello", sign(alice, "hello")), "challenge-unknown")
    assert put("alice", message, sign(alice, message)).status_code == 200
    assert_problem(put("alice", message, sign(alice, message)), "challenge-used")
    expired = _challenge(api, "alice", alice)
    with api.sessions() as session:
        nonce = parse_message(expired).nonce
        session.execute(
            update(WalletChallenge)
            .where(WalletChallenge.nonce == nonce)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        session.commit()
    assert_problem(put("alice", expired, sign(alice, expired)), "challenge-expired")
    # a link challenge does not open a customer session, and the other way round
    link_message = _challenge(api, "alice", alice)
    assert_problem(
        api.client.post("/v1/auth/session", json={"message": link_message, "signature": sign(alice, link_message)}),
        "challenge-unknown",
    )


def test_customer_session_reads_own_data_across_partners(api: Api) -> None:
    alice = customer_key("alice")
    assert api.link(api.a, "a-alice", alice).status_code == 200
    assert api.link(api.b, "b-alice", alice).status_code == 200
    api.ledger(alice.address, 1, 100)
    api.ledger(alice.address, 2, 30)
    api.ledger(alice.address, 1, -40, kind="redeemed")
    api.balances[alice.address] = 90
    me = api.sign_in(alice)
    assert api.client.get("/v1/me", headers=me).json() == {
        "wallet": alice.address, "custodial": False,
        "links": [
            {"partner_id": 1, "partner_name": "Grocer", "ref": "a-alice"},
            {"partner_id": 2, "partner_name": "Books", "ref": "b-alice"},
        ],
    }  # fmt: skip
    assert api.client.get("/v1/me/balance", headers=me).json() == {"wallet": alice.address, "points": 90}
    full = api.client.get("/v1/me/history", headers=me).json()
    assert [(e["kind"], e["points"], e["partner_name"]) for e in full["entries"]] == [
        ("redeemed", -40, "Grocer"), ("earned", 30, "Books"), ("earned", 100, "Grocer"),
    ]  # fmt: skip
    page1 = api.client.get("/v1/me/history", params={"limit": 2}, headers=me).json()
    page2 = api.client.get("/v1/me/history", params={"limit": 2, "cursor": page1["next_cursor"]}, headers=me).json()
    assert [e["points"] for e in page1["entries"] + page2["entries"]] == [-40, 30, 100] and page2["next_cursor"] is None
    assert_problem(api.client.get("/v1/me", headers=api.a), "unauthorized")  # a partner key is no customer token
    assert_problem(api.client.get("/v1/me", headers={"Authorization": "Bearer cs_forged"}), "unauthorized")


# ---------------------------------------------------------------------------------- scoping


def test_partner_sees_only_its_customers_and_its_entries(api: Api) -> None:
    alice, stranger = customer_key("alice"), customer_key("stranger")
    assert api.link(api.a, "a-alice", alice).status_code == 200
    api.ledger(alice.address, 1, 100)
    api.ledger(alice.address, 2, 30)
    api.balances[alice.address] = 130
    history = api.client.get("/v1/customers/a-alice/history", headers=api.a).json()
    assert history["balance"] == 130 and [e["points"] for e in history["entries"]] == [100]
    assert api.client.get("/v1/customers/a-alice/balance", headers=api.a).json()["points"] == 130
    assert api.client.get(f"/v1/wallets/{alice.address}/history", headers=api.a).json()["entries"][0]["partner_id"] == 1
    for path in ("", "/balance", "/history"):
        assert_problem(api.client.get(f"/v1/customers/a-alice{path}", headers=api.b), "not-found")
    for path in ("/balance", "/history"):
        assert_problem(api.client.get(f"/v1/wallets/{alice.address}{path}", headers=api.b), "not-found")
        assert_problem(api.client.get(f"/v1/wallets/{stranger.address}{path}", headers=api.a), "not-found")
    assert_problem(api.client.get("/v1/customers/a-alice"), "unauthorized")
