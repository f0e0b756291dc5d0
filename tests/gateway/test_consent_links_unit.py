"""Consents with the words shown, double opt-in, one-click unsubscribe (RFC 8058), the SMS STOP
route and the consents' grid on /me, through the in-process app (tests/gateway/conftest.py) on a
real migrated SQLite store, no chain. The keywords and the provider's signature, pure:
tests/loyalty/test_messages_sms_unit.py."""

from __future__ import annotations

import time
from urllib.parse import urlencode

import httpx
import pytest
from eth_account import Account
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gateway.errors import LinkInvalid
from gateway.routes.members import session_factory
from gateway.services import (
    consent_grid,
    consent_views,
    dashboard_auth,
    message_links,
    message_planner,
    wallet_auth,
)
from gateway.settings import LOCAL_SMS_AUTH_TOKEN, GatewaySettings, WorkerSettings
from loyalty.messages.signatures import sign_callback
from loyalty.messages.tokens import sign
from network.store import CustomerLink, DomainEvent, Message, MessageSuppression, utcnow
from tests.gateway.partners import PartnerKey
from tests.problems import assert_problem
from tests.wallets import sign as wallet_sign

WORDS = "Yes, Partner 1 may email me offers. I can unsubscribe at any time."
ONE_CLICK = {"Content-Type": "application/x-www-form-urlencoded"}
HTML = {"Accept": "text/html"}


@pytest.fixture
def c(app: FastAPI, sessions: sessionmaker[Session]) -> TestClient:
    app.dependency_overrides[session_factory] = lambda: sessions
    return TestClient(app)


def _enrol(c: TestClient, partner: PartnerKey, ref: str = "alice", **extra: object) -> None:
    body = {
        "email": f"{ref}@example.com",
        "phone": "+48600100200",
        "consents": [{"channel": "email", "granted": True, "source": "web-form", "text_shown": WORDS}],
    } | extra
    answer = c.post(f"/v1/customers/{ref}/enrolment", json=body, headers=partner.headers)
    assert answer.status_code == 201, answer.text


def _requested(sessions: sessionmaker[Session]) -> list[dict[str, object]]:
    with sessions() as s:
        rows = s.scalars(select(DomainEvent).where(DomainEvent.type == "customer.consent_requested"))
        return [dict(r.payload) for r in rows]


def _history(c: TestClient, partner: PartnerKey, ref: str = "alice") -> list[dict[str, object]]:
    return c.get(f"/v1/customers/{ref}/consents", headers=partner.headers).json()["history"]


def _path(url: object) -> str:
    """The path of a URL of the gateway's (the test client calls the app itself)."""
    return "/" + str(url).split("://", 1)[1].split("/", 1)[1]


def test_an_email_grant_keeps_its_words_and_waits_for_its_confirmation(
    c: TestClient, partner: PartnerKey, sessions: sessionmaker[Session]
) -> None:
    _enrol(c, partner)
    [grant] = _history(c, partner)
    assert (grant["text_shown"], grant["confirmed"], grant["granted"]) == (WORDS, False, True)
    [event] = _requested(sessions)
    assert event["partner_id"] == partner.id and "address" not in event  # personal data stays in the profile
    confirm = _path(event["confirm_url"])
    assert confirm.startswith("/v1/consents/confirm/")
    page = c.get(confirm, headers=HTML)  # a link scanner's fetch confirms nothing
    assert page.status_code == 200 and 'id="confirm-submit"' in page.text and WORDS in page.text
    assert [h["confirmed"] for h in _history(c, partner)] == [False]
    done = c.post(confirm)
    assert done.status_code == 200 and done.json() == {"confirmed": True, "partner_id": partner.id,
                                                       "partner_name": f"Partner {partner.id}"}  # fmt: skip
    history = _history(c, partner)
    assert [(h["source"], h["confirmed"], h["text_shown"]) for h in history] == [
        ("web-form", False, WORDS),
        ("double-opt-in", True, WORDS),
    ]
    assert_problem(c.post(confirm), "consent-already-confirmed")
    again = c.post(confirm, headers=HTML)
    assert again.status_code == 409 and "text/html" in again.headers["content-type"]
    # the same grant posted again keeps its confirmation: nobody is asked twice
    c.post("/v1/customers/alice/consents", json={"consents": [{"channel": "email", "granted": True,
           "source": "pos"}]}, headers=partner.headers)  # fmt: skip
    assert _history(c, partner)[-1]["confirmed"] is True and len(_requested(sessions)) == 1


def test_a_confirmation_link_refuses_what_it_cannot_confirm(
    c: TestClient, partner: PartnerKey, sessions: sessionmaker[Session], settings: GatewaySettings
) -> None:
    _enrol(c, partner)
    [event] = _requested(sessions)
    confirm = _path(event["confirm_url"])
    token = confirm.rsplit("/", 1)[1]
    body, mac = token.split(".")
    assert_problem(c.post(f"/v1/consents/confirm/{body[:-2]}xx.{mac}"), "link-invalid")
    assert_problem(c.get(f"/v1/consents/confirm/{body}.{mac[:-3]}AAA"), "link-invalid")
    payload = message_links.read(settings, token, action="confirm", now=utcnow()).__dict__
    expired = sign(
        {"a": "confirm", "c": payload["customer_id"], "p": partner.id, "ch": "email", "r": payload["consent_id"],
         "e": int(time.time()) - 1},
        key=message_links.link_key(settings),
    )  # fmt: skip
    assert_problem(c.post(f"/v1/consents/confirm/{expired}"), "link-expired")
    c.post("/v1/customers/alice/consents", json={"consents": [{"channel": "email", "granted": False,
           "source": "pos"}]}, headers=partner.headers)  # fmt: skip
    assert_problem(c.post(confirm), "consent-withdrawn")
    page = c.get(confirm, headers=HTML)
    assert page.status_code == 409 and "<html" in page.text


def _unsubscribe_token(settings: GatewaySettings, customer_id: int, partner_id: int | None, channel: str) -> str:
    return message_links.unsubscribe_token(
        settings, customer_id=customer_id, partner_id=partner_id, channel=channel, message_id=7
    )


def test_one_click_unsubscribe_works_with_a_plain_post(
    c: TestClient, partner: PartnerKey, sessions: sessionmaker[Session], settings: GatewaySettings
) -> None:
    _enrol(c, partner)
    operator = {"Authorization": f"Bearer {settings.operator_token}"}
    found = c.get("/v1/operator/customers", params={"partner_id": partner.id, "ref": "alice"}, headers=operator)
    customer_id = found.json()["customer_id"]
    token = _unsubscribe_token(settings, customer_id, partner.id, "email")
    url = f"/v1/unsubscribe/{token}"
    page = c.get(url, headers=HTML)
    assert page.status_code == 200 and 'id="unsubscribe-submit"' in page.text and 'id="unsubscribe-all"' in page.text
    done = c.post(url, content="List-Unsubscribe=One-Click", headers=ONE_CLICK)
    assert done.status_code == 200, done.text
    assert done.json() == {"unsubscribed": True, "channel": "email", "partner_id": partner.id,
                           "partner_name": f"Partner {partner.id}", "whole_channel": False}  # fmt: skip
    assert c.post(url, content="List-Unsubscribe=One-Click", headers=ONE_CLICK).status_code == 200  # idempotent
    history = _history(c, partner)
    assert [(h["granted"], h["source"], h["scope"]) for h in history] == [
        (True, "web-form", "partner"),
        (False, "one-click-unsubscribe", "partner"),
    ]
    with sessions() as s:
        changed = s.scalars(select(DomainEvent).where(DomainEvent.type == "customer.consent_changed")).all()
        assert changed[-1].payload["message_id"] == 7
    # the whole channel, for every partner: the page's second button
    whole = c.post(url, content=urlencode({"List-Unsubscribe": "One-Click", "scope": "coalition"}),
                   headers=ONE_CLICK | HTML)  # fmt: skip
    assert whole.status_code == 200 and 'data-state="whole"' in whole.text
    assert [(h["granted"], h["scope"]) for h in _history(c, partner)][-1] == (False, "coalition")
    # tampered, or a confirmation token on the unsubscribe route: refused, nothing recorded
    assert_problem(c.post(url[:-4] + "AAAA", content="List-Unsubscribe=One-Click", headers=ONE_CLICK), "link-invalid")
    [event] = _requested(sessions)
    confirm_token = str(event["confirm_url"]).rsplit("/", 1)[1]
    assert_problem(c.post(f"/v1/unsubscribe/{confirm_token}"), "link-invalid")
    assert len(_history(c, partner)) == 3


def _sms(c: TestClient, settings: GatewaySettings, body: str, *, token: str | None = None) -> httpx.Response:
    fields = {"From": "+48600100200", "Body": body, "To": "+48500000000", "MessageSid": "SM1"}
    signature = sign_callback(
        f"{settings.public_url}/v1/sms/inbound", fields, key=token or str(settings.sms_auth_token)
    )
    return c.post("/v1/sms/inbound", content=urlencode(fields), headers=ONE_CLICK | {"X-Twilio-Signature": signature})


def test_sms_stop_and_start_need_the_providers_signature(
    c: TestClient, partner: PartnerKey, sessions: sessionmaker[Session], settings: GatewaySettings
) -> None:
    a = partner
    _enrol(c, a, "sms-1", consents=[{"channel": "sms", "granted": True, "source": "pos"}])
    assert_problem(_sms(c, settings, "STOP", token="not-the-token"), "provider-signature-invalid")
    assert_problem(c.post("/v1/sms/inbound", content="From=%2B48600100200&Body=STOP", headers=ONE_CLICK),
                   "provider-signature-invalid")  # fmt: skip
    assert len(_history(c, a, "sms-1")) == 1
    stop = _sms(c, settings, "Stop!")
    assert stop.status_code == 200 and stop.text.endswith("<Response/>")
    _sms(c, settings, "STOP")  # again: nothing new
    assert [(h["granted"], h["source"], h["scope"]) for h in _history(c, a, "sms-1")] == [
        (True, "pos", "partner"),
        (False, "sms-stop", "coalition"),
    ]
    with sessions() as s:
        assert [(r.channel, r.address, r.reason) for r in s.scalars(select(MessageSuppression))] == [
            ("sms", "+48600100200", "stop")
        ]
    assert _sms(c, settings, "hello").status_code == 200
    _sms(c, settings, "START")
    assert _history(c, a, "sms-1")[-1]["source"] == "sms-start"
    with sessions() as s:
        assert s.scalar(select(MessageSuppression)) is None


def test_the_me_grid_reads_and_sets_consents_per_partner_and_channel(
    c: TestClient, partner: PartnerKey, sessions: sessionmaker[Session]
) -> None:
    customer = Account.create()
    challenge = c.post("/v1/auth/challenge", json={"address": customer.address}).json()
    token = c.post(
        "/v1/auth/session",
        json={"message": challenge["message"], "signature": wallet_sign(customer, challenge["message"])},
    ).json()["token"]
    me = {"Authorization": f"Bearer {token}"}
    assert c.post("/v1/me/enrolment", json={"email": "me@example.com"}, headers=me).status_code == 201
    grid = c.get("/v1/me/consents", headers=me).json()["grid"]
    assert [(r["partner_id"], [cell["state"] for cell in r["cells"]]) for r in grid] == [
        (None, ["unset", "unset", "unset"])
    ]
    cells = [
        {"channel": "email", "partner_id": None, "granted": True},
        {"channel": "sms", "partner_id": partner.id, "granted": False},
    ]
    put = c.put("/v1/me/consents", json={"cells": cells}, headers=me)
    assert put.status_code == 200, put.text
    rows = {r["partner_id"]: {cell["channel"]: cell for cell in r["cells"]} for r in put.json()["grid"]}
    assert rows[None]["email"]["state"] == "pending" and rows[None]["email"]["source"] == "me"
    assert "the coalition may send me email" in rows[None]["email"]["text_shown"]
    assert rows[partner.id]["sms"]["state"] == "withdrawn"
    assert len(c.put("/v1/me/consents", json={"cells": cells}, headers=me).json()["history"]) == 2  # no change
    [event] = _requested(sessions)
    assert c.post(_path(event["confirm_url"])).status_code == 200
    rows = {r["partner_id"]: {cell["channel"]: cell for cell in r["cells"]} for r in c.get(
        "/v1/me/consents", headers=me).json()["grid"]}  # fmt: skip
    assert rows[None]["email"]["state"] == "granted"
    assert_problem(c.put("/v1/me/consents", json={"cells": [{"channel": "sms", "partner_id": 999, "granted": True}]},
                         headers=me), "not-found")  # fmt: skip


def test_the_me_page_grid_posts_a_switch_and_a_link_session_only_reads(
    c: TestClient, partner: PartnerKey, sessions: sessionmaker[Session], settings: GatewaySettings
) -> None:
    c.post("/v1/customers/page/enrolment", json={"email": "p@example.com"}, headers=partner.headers)
    wallet = c.get("/v1/customers/page/profile", headers=partner.headers).json()["wallet"]
    with sessions() as s:
        own, _ = wallet_auth.open_session(s, settings, wallet)
        link, _ = wallet_auth.open_session(s, settings, wallet, via="link")
        s.commit()
    body = {"cells": [{"channel": "push", "partner_id": partner.id, "granted": True}]}
    c.cookies.set(dashboard_auth.CUSTOMER_COOKIE, link)
    assert_problem(c.post("/me/consents", json=body), "read-only-session")
    c.cookies.set(dashboard_auth.CUSTOMER_COOKIE, own)
    assert c.post("/me/consents", json=body).json() == {"recorded": 1}
    assert c.post("/me/consents", json=body).json() == {"recorded": 0}
    assert _history(c, partner, "page")[-1]["source"] == "me"
    with sessions() as s:
        customer_id = s.scalar(select(CustomerLink.customer_id).where(CustomerLink.ref == "page"))
        assert customer_id is not None
        html = consent_views.consent_section(consent_grid.grid(s, customer_id=customer_id), writable=True)
        read_only = consent_views.consent_section(consent_grid.grid(s, customer_id=customer_id), writable=False)
    cell = f'data-consent="{partner.id}-push" data-state="granted"'
    assert cell in html and 'data-consent="coalition-email" data-state="unset"' in html
    assert html.count("disabled") == 0 and read_only.count(" disabled>") == 6  # two senders, three channels


def test_unit_the_link_key_is_the_deployments_and_outside_local_mode_never_a_placeholder() -> None:
    rpc = {"mode": "rpc", "chain_id": 5, "secrets_key": "s" * 40}
    derived = message_links.link_key(WorkerSettings(**rpc))  # type: ignore[arg-type]
    assert derived != message_links.link_key(WorkerSettings(**rpc | {"secrets_key": "t" * 40}))  # type: ignore[arg-type]
    assert message_links.link_key(WorkerSettings(**rpc, messages_link_key="k" * 32)) == b"k" * 32  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="COALITION_MESSAGES_LINK_KEY"):
        WorkerSettings(**rpc, messages_link_key="short")  # type: ignore[arg-type]
    assert WorkerSettings(**rpc).sms_auth_token is None  # unset: the provider's requests are refused
    assert WorkerSettings(mode="local").sms_auth_token == LOCAL_SMS_AUTH_TOKEN
    # a token of another deployment's key, or for another action, names nothing here
    local = WorkerSettings(mode="local")
    token = message_links.unsubscribe_token(local, customer_id=1, partner_id=None, channel="sms", message_id=None)
    assert message_links.read(local, token, action="unsubscribe", now=utcnow()).channel == "sms"
    for settings, action in ((WorkerSettings(**rpc), "unsubscribe"), (local, "confirm")):  # type: ignore[arg-type]
        with pytest.raises(LinkInvalid):
            message_links.read(settings, token, action=action, now=utcnow())


def test_the_planner_turns_a_confirmation_request_into_its_email(
    c: TestClient, partner: PartnerKey, sessions: sessionmaker[Session], settings: GatewaySettings
) -> None:
    _enrol(c, partner)
    [event] = _requested(sessions)
    message_planner.consume(sessions, policy=message_planner.Policy.of(settings), now=utcnow())
    with sessions() as s:
        [message] = s.scalars(select(Message).where(Message.kind == "email_confirmation")).all()
        assert (message.channel, message.address, message.status) == ("email", "alice@example.com", "queued")
        assert message.data["confirm_url"] == event["confirm_url"] and message.partner_id == partner.id
