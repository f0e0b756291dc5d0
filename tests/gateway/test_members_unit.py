"""Enrolment, profiles, consents, CSV import and export, GDPR data and erasure through the
in-process app (tests/gateway/conftest.py) on a real migrated SQLite store, no chain. The
pure rules (loyalty/members.py): tests/loyalty/test_members_unit.py; over HTTP on the real
stack: tests/e2e/test_members_e2e.py."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

import pytest
from eth_account import Account
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gateway.routes.members import session_factory
from gateway.services import wallet_auth
from gateway.settings import GatewaySettings
from network.store import CustomerErasure, CustomerLink, CustomerProfile, DomainEvent, Member
from tests.gateway.partners import OPERATOR, PartnerKey
from tests.problems import assert_problem
from tests.wallets import sign

ALICE = {
    "email": "alice@example.com",
    "phone": "+33612345678",
    "birthday": "1990-04-01",
    "locale": "fr-FR",
    "time_zone": "Europe/Paris",
    "attributes": {"store": "Lyon"},
    "consents": [{"channel": "email", "granted": True, "source": "pos"}],
}


@pytest.fixture
def members_client(app: FastAPI, sessions: sessionmaker[Session]) -> TestClient:
    app.dependency_overrides[session_factory] = lambda: sessions
    return TestClient(app)


def test_enrolment_is_idempotent_on_the_ref(members_client: TestClient, partner: PartnerKey) -> None:
    first = members_client.post("/v1/customers/alice/enrolment", json=ALICE, headers=partner.headers)
    assert first.status_code == 201, first.text
    member = first.json()
    assert member["custodial"] is True and member["ref"] == "alice"
    assert member["profile"]["email"] == "alice@example.com" and member["profile"]["birthday"] == "1990-04-01"
    assert [(c["channel"], c["granted"], c["scope"]) for c in member["consents"]] == [("email", True, "partner")]
    assert len(member["referral_code"]) == 10
    again = members_client.post("/v1/customers/alice/enrolment", json=ALICE, headers=partner.headers)
    assert again.status_code == 200 and again.json() == member
    other = members_client.post(
        "/v1/customers/alice/enrolment", json=ALICE | {"email": "a2@example.com"}, headers=partner.headers
    )
    assert_problem(other, "customer-enrolled")


def test_enrolment_refusals_have_problem_types(members_client: TestClient, partner: PartnerKey) -> None:
    bad_email = members_client.post("/v1/customers/b/enrolment", json={"email": "b@"}, headers=partner.headers)
    assert_problem(bad_email, "profile-invalid")
    assert bad_email.json()["field"] == "email"
    bad_consent = members_client.post(
        "/v1/customers/b/enrolment",
        json={"consents": [{"channel": "fax", "granted": True, "source": "pos"}]},
        headers=partner.headers,
    )
    assert_problem(bad_consent, "consent-invalid")
    unknown = members_client.post(
        "/v1/customers/b/enrolment", json={"referral_code": "ABCDEFGHJK"}, headers=partner.headers
    )
    assert_problem(unknown, "referral-code-unknown")
    # nothing of the refused requests was kept: the ref enrols afresh
    assert members_client.post("/v1/customers/b/enrolment", json={}, headers=partner.headers).status_code == 201


def test_referral_code_is_stored_with_the_referrer(
    members_client: TestClient, partner: PartnerKey, sessions: sessionmaker[Session]
) -> None:
    code = members_client.post("/v1/customers/a/enrolment", json={}, headers=partner.headers).json()["referral_code"]
    b = members_client.post(
        "/v1/customers/b/enrolment", json={"referral_code": code.lower()}, headers=partner.headers
    ).json()
    assert b["referred_by_code"] == code and b["referral_code"] != code
    with sessions() as s:
        referrer = s.scalar(select(Member).where(Member.referral_code == code))
        referred = s.scalar(select(Member).where(Member.referred_by_code == code))
        assert referrer is not None and referred is not None and referred.referred_by_id == referrer.customer_id


def test_own_wallet_through_the_signed_challenge(members_client: TestClient, partner: PartnerKey) -> None:
    customer = Account.create()
    challenge = members_client.post(
        "/v1/customers/own/wallet-challenge", json={"wallet": customer.address}, headers=partner.headers
    ).json()
    body = {"wallet": {"message": challenge["message"], "signature": sign(customer, challenge["message"])}}
    first = members_client.post("/v1/customers/own/enrolment", json=body, headers=partner.headers)
    assert first.status_code == 201, first.text
    assert first.json()["wallet"] == customer.address and first.json()["custodial"] is False
    # a replay does not use the (spent) challenge again
    assert members_client.post("/v1/customers/own/enrolment", json=body, headers=partner.headers).status_code == 200


def test_profile_patch_and_consent_history(members_client: TestClient, make_partner: Callable[..., PartnerKey]) -> None:
    a, b = make_partner(), make_partner()
    members_client.post("/v1/customers/alice/enrolment", json=ALICE, headers=a.headers)
    patched = members_client.patch(
        "/v1/customers/alice/profile", json={"email": None, "locale": "en-GB"}, headers=a.headers
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["profile"]["email"] is None and patched.json()["profile"]["locale"] == "en-GB"
    assert patched.json()["profile"]["phone"] == "+33612345678"
    assert_problem(
        members_client.patch("/v1/customers/alice/profile", json={"phone": "0612"}, headers=a.headers),
        "profile-invalid",
    )
    changed = members_client.post(
        "/v1/customers/alice/consents",
        json={"consents": [{"channel": "email", "granted": False, "source": "web-form"}]},
        headers=a.headers,
    )
    assert changed.status_code == 201, changed.text
    history = members_client.get("/v1/customers/alice/consents", headers=a.headers).json()["history"]
    assert [(c["granted"], c["source"]) for c in history] == [(True, "pos"), (False, "web-form")]
    profile = members_client.get("/v1/customers/alice/profile", headers=a.headers).json()
    assert [(c["channel"], c["granted"]) for c in profile["consents"]] == [("email", False)]
    # another partner does not know the ref
    assert_problem(members_client.get("/v1/customers/alice/profile", headers=b.headers), "not-found")


def _csv(rows: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["ref", "email", "phone", "birthday", "consent_email", "referred_by_code"])
    writer.writerows(rows)
    return out.getvalue()


def test_import_enrols_valid_rows_and_reports_refused_ones(
    members_client: TestClient, partner: PartnerKey, sessions: sessionmaker[Session]
) -> None:
    rows = [[f"c-{i}", f"c{i}@example.com", "", "1980-01-02", "yes", ""] for i in range(50)]
    rows[3][1] = "c3@"  # line 5
    rows[7][2] = "0612"  # line 9
    rows[9][0] = "c-1"  # line 11: the ref of line 3
    rows[11][5] = "ZZZZZZZZZZ"  # line 13: no such member
    rows[13][3] = "2999-01-01"  # line 15
    text = _csv(rows)
    dry = members_client.post("/v1/imports/customers?dry_run=true", content=text, headers=partner.headers)
    assert dry.status_code == 200, dry.text
    assert dry.json()["enrolled"] == 45 and dry.json()["dry_run"] is True
    with sessions() as s:
        assert s.scalar(select(CustomerLink).where(CustomerLink.ref == "c-0")) is None
    r = members_client.post("/v1/imports/customers", content=text, headers=partner.headers)
    report = r.json()
    assert (report["rows"], report["enrolled"], report["unchanged"], report["refused_count"]) == (50, 45, 0, 5)
    assert [(x["line"], x["field"]) for x in report["refused"]] == [
        (5, "email"),
        (9, "phone"),
        (11, "ref"),
        (13, "referred_by_code"),
        (15, "birthday"),
    ]
    again = members_client.post("/v1/imports/customers", content=text, headers=partner.headers).json()
    assert (again["enrolled"], again["unchanged"], again["refused_count"]) == (0, 45, 5)
    profile = members_client.get("/v1/customers/c-0/profile", headers=partner.headers).json()
    assert profile["custodial"] is True and profile["profile"]["email"] == "c0@example.com"
    # the same data by the API is a replay of the import
    same = {"email": "c0@example.com", "birthday": "1980-01-02"}
    same["consents"] = [{"channel": "email", "granted": True, "source": "import"}]  # type: ignore[assignment]
    assert members_client.post("/v1/customers/c-0/enrolment", json=same, headers=partner.headers).status_code == 200
    exported = members_client.get("/v1/exports/customers.csv", headers=partner.headers)
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(lines) == 45 and lines[0]["ref"] == "c-0" and lines[0]["consent_email"] == "yes"
    assert_problem(
        members_client.post("/v1/imports/customers", content="name,mail\nx,y\n", headers=partner.headers),
        "import-invalid",
    )


def test_me_enrolment_profile_data_and_erasure(
    members_client: TestClient, partner: PartnerKey, sessions: sessionmaker[Session]
) -> None:
    customer = Account.create()
    challenge = members_client.post("/v1/auth/challenge", json={"address": customer.address}).json()
    token = members_client.post(
        "/v1/auth/session", json={"message": challenge["message"], "signature": sign(customer, challenge["message"])}
    ).json()["token"]
    me = {"Authorization": f"Bearer {token}"}
    assert_problem(members_client.get("/v1/me/profile", headers=me), "not-enrolled")
    body = {"email": "me@example.com", "consents": [{"channel": "sms", "granted": True, "source": "app"}]}
    enrolled = members_client.post("/v1/me/enrolment", json=body, headers=me)
    assert enrolled.status_code == 201, enrolled.text
    assert enrolled.json()["consents"][0]["scope"] == "coalition"
    assert members_client.post("/v1/me/enrolment", json=body, headers=me).status_code == 200
    assert members_client.patch("/v1/me/profile", json={"phone": "+4915112345678"}, headers=me).status_code == 200
    withdrawn = members_client.post(
        "/v1/me/consents", json={"consents": [{"channel": "sms", "granted": False}]}, headers=me
    )
    assert withdrawn.status_code == 201 and len(withdrawn.json()["history"]) == 2
    data = members_client.get("/v1/me/data", headers=me).json()
    assert data["profile"]["email"] == "me@example.com" and data["profile"]["phone"] == "+4915112345678"
    assert [c["granted"] for c in data["consents"]] == [True, False]
    assert data["wallets"] == [
        {"address": customer.address, "custodial": False, "custodian_partner_id": None, "released_at": None}
    ]
    erased = members_client.post("/v1/me/erasure", json={"confirm": "erase"}, headers=me)
    assert erased.status_code == 201, erased.text
    assert erased.json()["erased"]["customer_profiles"] == 1
    assert members_client.get("/v1/me/profile", headers=me).status_code == 401  # every session ended
    with sessions() as s:
        assert s.scalar(select(CustomerProfile)) is None
        assert s.scalar(select(CustomerErasure)).requested_by == "customer"  # type: ignore[union-attr]
        assert s.scalar(select(DomainEvent).where(DomainEvent.type == "customer.erased")) is not None
    customer_id = data["customer"]["id"]
    operator_view = members_client.get(f"/v1/operator/customers/{customer_id}/data", headers=OPERATOR).json()
    assert operator_view["profile"] is None and operator_view["member"]["referral_code"] is None
    assert {c["source"] for c in operator_view["consents"]} == {"erased"}


def test_a_sign_in_link_session_reads_but_does_not_write(
    members_client: TestClient, partner: PartnerKey, sessions: sessionmaker[Session], settings: GatewaySettings
) -> None:
    members_client.post("/v1/customers/linked/enrolment", json={"email": "l@example.com"}, headers=partner.headers)
    wallet = members_client.get("/v1/customers/linked/profile", headers=partner.headers).json()["wallet"]
    with sessions() as s:
        token, _ = wallet_auth.open_session(s, settings, wallet, via="link")
        s.commit()
    read_only = {"Authorization": f"Bearer {token}"}
    assert members_client.get("/v1/me/profile", headers=read_only).json()["profile"]["email"] == "l@example.com"
    assert members_client.get("/v1/me/data", headers=read_only).status_code == 200
    for method, path, body in (
        ("PATCH", "/v1/me/profile", {"email": "x@example.com"}),
        ("POST", "/v1/me/consents", {"consents": [{"channel": "sms", "granted": True}]}),
        ("POST", "/v1/me/erasure", {"confirm": "erase"}),
    ):
        assert_problem(members_client.request(method, path, json=body, headers=read_only), "read-only-session")


def test_the_operator_finds_downloads_and_erases_a_partners_customer(
    members_client: TestClient, partner: PartnerKey, sessions: sessionmaker[Session]
) -> None:
    members_client.post("/v1/customers/card-9/enrolment", json=ALICE, headers=partner.headers)
    found = members_client.get(
        "/v1/operator/customers", params={"partner_id": partner.id, "ref": "card-9"}, headers=OPERATOR
    )
    assert found.status_code == 200 and found.json()["member"] is True
    customer_id = found.json()["customer_id"]
    data = members_client.get(f"/v1/operator/customers/{customer_id}/data", headers=OPERATOR).json()
    assert data["links"][0]["ref"] == "card-9" and data["profile"]["phone"] == "+33612345678"
    erased = members_client.post(
        f"/v1/operator/customers/{customer_id}/erasure", json={"confirm": "erase"}, headers=OPERATOR
    )
    assert erased.status_code == 201 and erased.json()["requested_by"] == "operator"
    assert_problem(members_client.get("/v1/customers/card-9/profile", headers=partner.headers), "not-found")
    with sessions() as s:
        link = s.scalar(select(CustomerLink).where(CustomerLink.customer_id == customer_id))
        assert link is not None and link.ref.startswith("erased-")
    # the partner may enrol the ref again: a new member, nothing of the old one
    again = members_client.post("/v1/customers/card-9/enrolment", json={}, headers=partner.headers)
    assert again.status_code == 201 and again.json()["profile"]["email"] is None
    assert_problem(
        members_client.post("/v1/operator/customers/999999/erasure", json={"confirm": "erase"}, headers=OPERATOR),
        "not-found",
    )
    assert_problem(
        members_client.post("/v1/operator/partners/77/imports/customers", content="ref\nx\n", headers=OPERATOR),
        "not-found",
    )
    imported = members_client.post(
        f"/v1/operator/partners/{partner.id}/imports/customers",
        content="ref,email\nop-1,o@example.com\n",
        headers=OPERATOR,
    )
    assert imported.status_code == 200 and imported.json()["enrolled"] == 1
    everyone = members_client.get("/v1/operator/exports/customers.csv", headers=OPERATOR).text
    assert "op-1" in everyone and "card-9" in everyone and "erased-" not in everyone
