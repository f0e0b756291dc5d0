"""The dashboard's Members and Rules pages (gateway/services/dashboard_members.py,
dashboard_rules.py and their views) on a migrated SQLite store, the data made through the API in
process: the search finds a member by ref, email and wallet, the list pages, the member's page
shows the profile, consents with history, wallets and purchases with their breakdown, and after an
erasure shows erased with the personal data gone; a CSV upload is read from multipart; a draft
written in the form is refused as the API refuses it, simulated as the API simulates it, and
activated."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from gateway.errors import RulesetNotDraft, RulesInvalid
from gateway.routes.members import session_factory
from gateway.services import dashboard_members, dashboard_members_view, dashboard_rules, dashboard_rules_view, gdpr
from tests.gateway.partners import OPERATOR, PartnerKey
from tests.gateway.purchases import OTHER_WALLET, WALLET, purchase_body

NOW = datetime(2026, 12, 5, tzinfo=UTC)
CAROL = {
    "email": "Carol@Example.COM",
    "phone": "+33612345678",
    "consents": [{"channel": "email", "granted": True, "source": "pos"}],
}
PROPOSAL: dict[str, Any] = {
    "time_zone": "Europe/Paris",
    "rules": [
        {"kind": "base", "id": "base", "points_per_unit": "1.5"},
        {"kind": "multiplier", "id": "wine-x2", "factor": "2", "categories": ["wine"]},
        {"kind": "bonus_window", "id": "fri", "factor": "3", "weekdays": [4], "hours": ["17:00", "19:00"]},
        {"kind": "cap", "id": "fri-cap", "limit": 500, "period": "month", "rule": "fri"},
    ],
}
WINE = [{"sku": "W-1", "category": "wine", "unit_price": "20.00"}, {"sku": "B-1", "category": "bakery",
                                                                      "unit_price": "10.00"}]  # fmt: skip


@pytest.fixture
def api(app: FastAPI, sessions: sessionmaker[Session]) -> TestClient:
    app.dependency_overrides[session_factory] = lambda: sessions
    return TestClient(app)


def _enrol(api: TestClient, partner: PartnerKey, ref: str, body: dict[str, Any]) -> int:
    r = api.post(f"/v1/customers/{ref}/enrolment", json=body, headers=partner.headers)
    assert r.status_code == 201, r.text
    found = api.get("/v1/operator/customers", params={"partner_id": partner.id, "ref": ref}, headers=OPERATOR)
    return int(found.json()["customer_id"])


def test_the_search_finds_members_by_ref_email_and_wallet_and_the_list_pages_unit(
    api: TestClient, partner: PartnerKey, sessions: sessionmaker[Session]
) -> None:
    carol = _enrol(api, partner, "card-7", CAROL)
    others = [_enrol(api, partner, f"m-{i}", {}) for i in range(3)]
    with sessions() as session:
        wallet = dashboard_members.member_page(session, customer_id=carol, now=NOW).wallets[0][0]
        assert dashboard_members.search(session, query="card-7", partner_id=None) == ("ref", [carol])
        assert dashboard_members.search(session, query="card-7", partner_id=partner.id + 1) == ("ref", [])
        assert dashboard_members.search(session, query=" carol@example.com ", partner_id=None) == ("email", [carol])
        assert dashboard_members.search(session, query=wallet.lower(), partner_id=None) == ("wallet", [carol])
        first = dashboard_members.member_list(session, limit=2)
        assert [r.customer_id for r in first.rows] == [carol, others[0]] and first.next_after == others[0]
        assert first.total == 4 and first.rows[0].refs == ((partner.id, "card-7"),)
        rest = dashboard_members.member_list(session, after=first.next_after, limit=2)
        assert [r.customer_id for r in rest.rows] == others[1:] and rest.next_after is None
        found = dashboard_members.member_list(session, query="card-7")
        html = dashboard_members_view.members_page(found, csrf="t", tz="UTC")
        assert f'data-customer="{carol}"' in html and "by ref “card-7”" in html
        assert 'name="csrf" value="t"' in html and 'enctype="multipart/form-data"' in html


def test_the_member_page_shows_purchases_with_their_breakdown_and_erasure_leaves_nothing_personal_unit(
    api: TestClient, partner: PartnerKey, sessions: sessionmaker[Session]
) -> None:
    carol = _enrol(api, partner, "card-7", CAROL)
    r = api.post("/v1/customers/card-7/consents", headers=partner.headers,
                 json={"consents": [{"channel": "email", "granted": False, "source": "app"}]})  # fmt: skip
    assert r.status_code == 201, r.text
    api.post(f"/v1/operator/partners/{partner.id}/rules", headers=OPERATOR, json=PROPOSAL)
    assert api.post(f"/v1/operator/partners/{partner.id}/rules/1/activate", headers=OPERATOR).status_code == 200
    body = purchase_body("buy-1", amount="30.00", lines=WINE, customer={"ref": "card-7"}, purchased_at=None)
    r = api.post("/v1/purchases", headers=partner.headers, json=body)
    assert r.status_code == 202, r.text
    with sessions() as session:
        seen = dashboard_members.member_page(session, customer_id=carol, now=NOW)
        assert seen.profile is not None and seen.profile.email == "Carol@example.com" and not seen.erased
        assert [(c.channel, c.granted) for c in seen.consent_history] == [("email", True), ("email", False)]
        assert [(c.channel, c.granted, c.source) for c in seen.consents_in_force] == [("email", False, "app")]
        assert seen.wallets[0][1] is True and seen.tier is None  # custodial; no ladder in force
        html = dashboard_members_view.member_page(seen, tz="UTC")
        assert (
            'data-purchase="buy-1"' in html and "base v1 (base): 45" in html and "wine-x2 v1 (multiplier): 30" in html
        )
        assert "Carol@example.com" in html and 'id="erase"' in html and 'data-erased="no"' in html
        assert "This cannot be undone" in dashboard_members_view.erase_confirm(seen, csrf="t")
        gdpr.erase(session, customer_id=carol, requested_by="operator")
        session.commit()
    with sessions() as session:
        seen = dashboard_members.member_page(session, customer_id=carol, now=NOW)
        html = dashboard_members_view.member_page(seen, tz="UTC", notice="erased")
        assert seen.erased and seen.profile is None and seen.links[0].ref.startswith("erased-")
        assert 'data-erased="yes"' in html and 'id="erase"' not in html and "profile-erased" in html
        assert "Carol" not in html and "card-7" not in html and "+33612345678" not in html
        assert 'data-purchase="buy-1"' in html  # the ledger stays
        listed = dashboard_members.member_list(session)
        assert listed.rows[0].erased and dashboard_members.search(session, query="card-7", partner_id=None)[1] == []


def test_a_csv_upload_is_read_from_multipart_and_its_report_shows_each_refused_row_unit(
    api: TestClient, partner: PartnerKey
) -> None:
    boundary = "----b0undary"
    csv = "ref,email\nok-1,a@example.com\n,b@example.com\nok-2,not-an-email\n"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrf"\r\n\r\ntoken\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="partner_id"\r\n\r\n{partner.id}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="m.csv"\r\n'
        f"Content-Type: text/csv\r\n\r\n\ufeff{csv}\r\n--{boundary}--\r\n"
    ).encode()
    form = dashboard_members.read_upload(f"multipart/form-data; boundary={boundary}", body)
    assert form == {"csrf": "token", "partner_id": str(partner.id), "file": csv}
    assert dashboard_members.read_upload("application/x-www-form-urlencoded", b"a=b") == {}
    r = api.post(f"/v1/operator/partners/{partner.id}/imports/customers", content=form["file"], headers=OPERATOR)
    from gateway.services.member_import import ImportReport
    from loyalty.members import RowRefused

    report = ImportReport(rows=3, enrolled=1, refused=[RowRefused(**x) for x in r.json()["refused"]])
    html = dashboard_members_view.import_page(report, partner="Partner 1")
    assert [x["line"] for x in r.json()["refused"]] == [3, 4]
    assert 'data-line="3"' in html and 'data-line="4"' in html and "email" in html
    assert 'data-figure="import-refused" data-value="2"' in html


def test_a_draft_is_refused_as_the_api_refuses_it_and_simulated_as_the_api_simulates_it_unit(
    api: TestClient, partner: PartnerKey, sessions: sessionmaker[Session]
) -> None:
    for i, wallet in enumerate((WALLET, OTHER_WALLET, WALLET)):
        body = purchase_body(f"s-{i}", amount="30.00", lines=WINE, customer={"wallet": wallet}, purchased_at=None)
        assert api.post("/v1/purchases", headers=partner.headers, json=body).status_code == 202
    with sessions() as session:
        with pytest.raises(RulesInvalid, match="not JSON"):
            dashboard_rules.parse_draft("{rules: ")
        with pytest.raises(RulesInvalid, match="rules"):
            dashboard_rules.parse_draft('{"time_zone": "UTC"}')
        with pytest.raises(RulesInvalid, match="Extra inputs"):
            dashboard_rules.parse_draft('{"rules": [{"kind": "base", "id": "b", "points_per_unit": "1"}], "x": 1}')
        with pytest.raises(RulesInvalid, match="wine-x2"):  # the rule's own check, naming it
            dashboard_rules.write_draft(session, partner_id=partner.id, text=json.dumps(
                {"rules": [PROPOSAL["rules"][0], {**PROPOSAL["rules"][1], "factor": "0.5"}]}))  # fmt: skip
        session.rollback()
        page = dashboard_rules.rules_page(session, partner_id=partner.id)
        assert page.active.version == 0 and page.drafts == []
        assert '"version"' not in dashboard_rules.form_text(page.active)  # the draft gives each rule its version
        html = dashboard_rules_view.rules_page(page, csrf="t", text=dashboard_rules.form_text(page.active), tz="UTC")
        assert "the partner&#x27;s rate (no rule set yet)" in html and "1.5 points per EUR" in html
        draft = dashboard_rules.write_draft(session, partner_id=partner.id, text=json.dumps(PROPOSAL))
        session.commit()
        assert (draft.version, draft.status) == (1, "draft")
        page = dashboard_rules.rules_page(session, partner_id=partner.id)
        html = dashboard_rules_view.rules_page(page, csrf="t", text="{}", tz="UTC", notice="drafted")
        assert 'id="draft-1"' in html and "categories wine" in html and "fri · 17:00–19:00" in html
        assert "at most 500 a month (fri-cap)" in html and 'id="simulate-1"' in html
        seen = dashboard_rules.simulate(session, partner_id=partner.id, version=1, days=7)
    api_says = api.post(f"/v1/operator/partners/{partner.id}/rules/simulate?days=7", headers=OPERATOR,
                        json=dashboard_rules.proposal_of(draft)).json()  # fmt: skip
    r = seen.result
    assert (r.purchases, r.points_current, r.points_proposed, r.delta_points, r.members_changed) == (
        api_says["purchases"], api_says["points_current"], api_says["points_proposed"], api_says["delta_points"],
        api_says["members_changed"],
    ) == (3, 135, 225, 90, 2)  # fmt: skip
    shown = dashboard_rules_view.simulation_page(seen, csrf="t", symbol="cUSD")
    assert f'data-delta="90" data-value="{api_says["value"]}" data-members="2"' in shown
    assert "would have issued 90 more points, 0.90 cUSD at the issue price, for 2 members" in shown
    assert 'name="version" value="1"' in shown and "Activate version 1" in shown
    with sessions() as session:
        active = dashboard_rules.activate(session, partner_id=partner.id, version=1)
        session.commit()
        assert active.status == "active"
        with pytest.raises(RulesetNotDraft):
            dashboard_rules.activate(session, partner_id=partner.id, version=1)
        session.rollback()
        overview = dashboard_rules.overview(session)
        assert [(p.partner.id, p.active.version, p.drafts) for p in overview] == [(partner.id, 1, 0)]
        assert 'data-figure="rules-1-version" data-value="1"' in dashboard_rules_view.overview_page(overview)
    got = api.get(f"/v1/operator/partners/{partner.id}/rules", headers=OPERATOR).json()
    assert [(v["version"], v["status"]) for v in got] == [(1, "active")]
