"""The release of a custodial wallet (issue 13): asked for first, handed over after a notice
period, cancellable meanwhile, once only.

In process, on a fresh SQLite store migrated by the real migrations, with real sealed keys and
real keystores. Fakes, said plainly: the chain is the stub of tests/gateway/test_customers_unit.py
(no route here reads it), and time passes by giving the service a ``now`` or, over HTTP, by
moving a request's ``release_available_at`` into the past in the store.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from eth_account import Account
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from gateway.chain import get_chain
from gateway.deps import get_session
from gateway.main import create_app
from gateway.services import custody, customer_records, webhooks
from gateway.services.custody import RELEASE_COLLECT_WINDOW, release_step
from gateway.settings import GatewaySettings, get_settings
from network.store import CustodialWallet, OperatorAlert, WebhookDelivery, utcnow
from tests.gateway.customers import Api, customer_key, partner_headers
from tests.problems import assert_problem
from tests.stores import migrated_store

NOTICE_S = 3_600
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    settings = GatewaySettings(
        state_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path}/gateway.db",
        public_url="https://gateway.unit.test",
        chain_id=31337,
        custodial_release_notice_s=NOTICE_S,
    )
    sessions = migrated_store(settings.database_url)

    def session_dep() -> Iterator[Session]:
        with sessions() as session:
            yield session

    app = create_app()
    app.dependency_overrides[get_settings] = lambda: settings
    app.dependency_overrides[get_session] = session_dep
    app.dependency_overrides[get_chain] = lambda: SimpleNamespace()
    a, b = partner_headers(sessions, 1, "Grocer"), partner_headers(sessions, 2, "Books")
    with TestClient(app) as client:
        yield Api(client, sessions, settings, {}, a, b)
    sessions.kw["bind"].dispose()


def release(ref: str) -> str:
    return f"/v1/customers/{ref}/custodial-wallet/release"


def custodial(api: Api, ref: str) -> str:
    created = api.client.post(f"/v1/customers/{ref}/custodial-wallet", headers=api.a)
    assert created.status_code == 201, created.text
    return str(created.json()["wallet"])


def notice_over(sessions: sessionmaker[Session], wallet: str) -> None:
    """Time passes: the standing request's notice is over (a store edit, for a unit test)."""
    with sessions() as session:
        session.execute(
            update(CustodialWallet)
            .where(CustodialWallet.address == wallet)
            .values(release_available_at=utcnow() - timedelta(seconds=1))
        )
        session.commit()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# ---------------------------------------------------------------------------------- the rule


def test_release_step_asks_then_waits_the_notice_then_hands_over_until_the_request_lapses() -> None:
    available = T0 + timedelta(hours=72)
    assert release_step(released_at=None, available_at=None, now=T0) == "request"
    assert release_step(released_at=None, available_at=available, now=T0) == "wait"
    assert release_step(released_at=None, available_at=available, now=available - timedelta(microseconds=1)) == "wait"
    assert release_step(released_at=None, available_at=available, now=available) == "hand-over"
    last = available + RELEASE_COLLECT_WINDOW - timedelta(microseconds=1)
    assert release_step(released_at=None, available_at=available, now=last) == "hand-over"
    assert release_step(released_at=None, available_at=available, now=last + timedelta(microseconds=1)) == "request"
    for available_at in (None, available):
        assert release_step(released_at=T0, available_at=available_at, now=available) == "released"


def test_the_service_hands_the_key_over_only_after_the_notice_and_once(api: Api) -> None:
    with api.sessions() as session:
        wallet = custody.create_custodial_wallet(session, api.settings, partner_id=1)
        asked = custody.release_custodial_wallet(session, api.settings, wallet, "pw", partner_id=1, ref="r", now=T0)
        session.commit()
        assert asked == custody.ReleaseRequested(wallet, T0, T0 + timedelta(seconds=NOTICE_S))
        early = asked.available_at - timedelta(seconds=1)
        with pytest.raises(custody.ReleaseNotYet) as refused:
            custody.release_custodial_wallet(session, api.settings, wallet, "pw", partner_id=1, ref="r", now=early)
        assert refused.value.available_at == asked.available_at
        session.rollback()
        # still the gateway's to sign with (the custodian's spending goes on, within its limit)
        assert custody.custodial_account(session, api.settings, wallet, partner_id=1) is not None
        handed = custody.release_custodial_wallet(
            session, api.settings, wallet, "customer-pw", partner_id=1, ref="r", kdf="pbkdf2", now=asked.available_at
        )
        session.commit()
        assert isinstance(handed, custody.KeyReleased)
        assert Account.from_key(Account.decrypt(handed.keystore, "customer-pw")).address == wallet
        assert custody.custodial_account(session, api.settings, wallet, partner_id=1) is None
        with pytest.raises(custody.AlreadyReleased):
            custody.release_custodial_wallet(session, api.settings, wallet, "pw", partner_id=1, ref="r")
        with pytest.raises(custody.AlreadyReleased):
            custody.cancel_release(session, wallet, partner_id=1)


def test_a_request_not_collected_in_time_lapses_and_a_new_one_starts_a_new_notice(api: Api) -> None:
    with api.sessions() as session:
        wallet = custody.create_custodial_wallet(session, api.settings, partner_id=1)
        first = custody.release_custodial_wallet(session, api.settings, wallet, "pw", partner_id=1, ref="r", now=T0)
        late = first.available_at + RELEASE_COLLECT_WINDOW  # type: ignore[union-attr]
        again = custody.release_custodial_wallet(session, api.settings, wallet, "pw", partner_id=1, ref="r", now=late)
        session.commit()
        assert again == custody.ReleaseRequested(wallet, late, late + timedelta(seconds=NOTICE_S))
        alerts = session.scalars(select(OperatorAlert).where(OperatorAlert.kind == "custodial-release-requested"))
        assert len(list(alerts)) == 2  # each request is told


def test_of_concurrent_collections_only_one_gets_the_key(api: Api) -> None:
    with api.sessions() as session:
        wallet = custody.create_custodial_wallet(session, api.settings, partner_id=1)
        asked = custody.release_custodial_wallet(session, api.settings, wallet, "pw", partner_id=1, ref="r", now=T0)
        session.commit()
    assert isinstance(asked, custody.ReleaseRequested)
    callers = 6
    start = threading.Barrier(callers)
    outcomes: list[object] = []
    lock = threading.Lock()

    def collect(i: int) -> None:
        with api.sessions() as session:
            session.get(CustodialWallet, wallet)  # each has read the row unreleased before anyone writes
            start.wait()
            try:
                done: object = custody.release_custodial_wallet(
                    session,
                    api.settings,
                    wallet,
                    f"pw-{i}",
                    partner_id=1,
                    ref="r",
                    kdf="pbkdf2",
                    now=asked.available_at,
                )
                session.commit()
            except custody.AlreadyReleased as exc:
                session.rollback()
                done = exc
        with lock:
            outcomes.append(done)

    threads = [threading.Thread(target=collect, args=(i,)) for i in range(callers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    keys = [o for o in outcomes if isinstance(o, custody.KeyReleased)]
    assert len(outcomes) == callers and len(keys) == 1, outcomes
    assert sum(isinstance(o, custody.AlreadyReleased) for o in outcomes) == callers - 1


# ---------------------------------------------------------------------------------- over HTTP


def test_the_first_call_asks_and_the_partner_and_the_operator_are_told(api: Api) -> None:
    hook = api.client.post(
        "/v1/webhooks",
        headers=api.a,
        json={"url": "https://93.184.216.34/hooks", "event_types": ["customer.custodial_release_requested"]},
    )
    assert hook.status_code == 201, hook.text
    wallet = custodial(api, "c-1")
    before = utcnow()
    asked = api.client.post(release("c-1"), json={"password": "c1-secret"}, headers=api.a)
    assert asked.status_code == 202, asked.text
    body = asked.json()
    assert set(body) == {"wallet", "status", "available_at"}  # no key
    assert (body["wallet"], body["status"]) == (wallet, "release-pending")
    notice = at(body["available_at"]) - before
    assert timedelta(seconds=NOTICE_S) <= notice < timedelta(seconds=NOTICE_S + 30)

    again = assert_problem(
        api.client.post(release("c-1"), json={"password": "c1-secret"}, headers=api.a), "custodial-release-pending"
    )
    assert again["available_at"] == body["available_at"]  # asking again does not renew the notice
    shown = api.client.get("/v1/customers/c-1", headers=api.a).json()
    assert (shown["custodial"], shown["released"], shown["release_available_at"]) == (
        True,
        False,
        body["available_at"],
    )
    webhooks.publish(api.sessions)  # the webhook consumer (the beat's sweep runs it): the event's delivery
    with api.sessions() as session:
        [delivery] = session.scalars(select(WebhookDelivery)).all()
        [alert] = session.scalars(select(OperatorAlert)).all()
    assert delivery.event_type == "customer.custodial_release_requested" and delivery.partner_id == 1
    assert delivery.payload["data"] | {"requested_at": None} == {
        "ref": "c-1",
        "wallet": wallet,
        "requested_at": None,
        "available_at": body["available_at"],
    }
    assert alert.kind == "custodial-release-requested"
    assert alert.details == {"partner_id": 1, "ref": "c-1", "wallet": wallet, "available_at": body["available_at"]}
    assert "Grocer" in alert.message and wallet in alert.message


def test_the_409_before_the_notice_says_when_and_when_to_retry(api: Api) -> None:
    custodial(api, "c-2")
    assert api.client.post(release("c-2"), json={"password": "c2-secret"}, headers=api.a).status_code == 202
    early = api.client.post(release("c-2"), json={"password": "c2-secret"}, headers=api.a)
    problem = assert_problem(early, "custodial-release-pending")
    assert NOTICE_S - 60 <= int(early.headers["Retry-After"]) <= NOTICE_S
    assert problem["available_at"] in problem["detail"].replace("+00:00", "Z")


def test_after_the_notice_the_keystore_is_handed_over_once_with_that_calls_password(api: Api) -> None:
    wallet = custodial(api, "c-3")
    assert api.client.post(release("c-3"), json={"password": "asked-with"}, headers=api.a).status_code == 202
    notice_over(api.sessions, wallet)
    handed = api.client.post(release("c-3"), json={"password": "collected-with"}, headers=api.a)
    assert handed.status_code == 200, handed.text
    assert (handed.json()["wallet"], handed.json()["status"]) == (wallet, "released")
    assert Account.from_key(Account.decrypt(handed.json()["keystore"], "collected-with")).address == wallet
    assert_problem(
        api.client.post(release("c-3"), json={"password": "collected-with"}, headers=api.a), "custodial-wallet-released"
    )
    assert_problem(api.client.delete(release("c-3"), headers=api.a), "custodial-wallet-released")
    webhooks.publish(api.sessions)
    with api.sessions() as session:
        types = session.scalars(select(WebhookDelivery.event_type)).all()
    assert types == []  # no endpoint listens here: emitting is a no-op, not an error


def test_cancel_withdraws_the_request_and_the_next_call_asks_anew(api: Api) -> None:
    wallet = custodial(api, "c-4")
    first = api.client.post(release("c-4"), json={"password": "c4-secret"}, headers=api.a)
    assert first.status_code == 202
    assert api.client.delete(release("c-4"), headers=api.a).status_code == 204
    assert api.client.delete(release("c-4"), headers=api.a).status_code == 204  # nothing pending: nothing to do
    assert api.client.get("/v1/customers/c-4", headers=api.a).json()["release_available_at"] is None
    with api.sessions() as session:
        row = session.get(CustodialWallet, wallet)
        assert row is not None and (row.release_requested_at, row.release_available_at, row.released_at) == (
            None,
            None,
            None,
        )
    # after the first request's notice would have ended, a call asks again: not the key
    second = api.client.post(release("c-4"), json={"password": "c4-secret"}, headers=api.a)
    assert second.status_code == 202, second.text
    assert at(second.json()["available_at"]) >= at(first.json()["available_at"])


def test_answers_for_an_unknown_ref_a_self_custody_wallet_and_another_partner_are_unchanged(api: Api) -> None:
    wallet = custodial(api, "c-5")
    for method in ("POST", "DELETE"):
        json = {"password": "c5-secret"} if method == "POST" else None
        assert_problem(api.client.request(method, release("nobody"), json=json, headers=api.a), "not-found")
        # the other partner has no such ref: the unknown ref's answer
        assert_problem(api.client.request(method, release("c-5"), json=json, headers=api.b), "not-found")
        assert api.link(api.a, "self", customer_key("self")).status_code == 200
        mine = assert_problem(
            api.client.request(method, release("self"), json=json, headers=api.a), "wallet-not-custodial"
        )
        # a ref of the other partner linked to this custodial wallet (no route makes one; a store
        # edit could): the answer of a self-custody wallet, custody is not told
        with api.sessions() as session:
            customer_records.link(session, partner_id=2, ref="b-c5", wallet=wallet)
            session.commit()
        theirs = assert_problem(
            api.client.request(method, release("b-c5"), json=json, headers=api.b), "wallet-not-custodial"
        )
        assert theirs["title"] == mine["title"]
    with api.sessions() as session:
        row = session.get(CustodialWallet, wallet)
        assert row is not None and row.release_available_at is None  # nothing was asked for
        assert session.scalars(select(OperatorAlert)).all() == []
