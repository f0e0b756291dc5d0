"""Message templates and brands through the API, in process on SQLite (issue 18 items 2 and 7):
the catalogue, a partner's override (checked on save, its own only), removal, the brand, previews,
the coalition's own templates under /v1/operator, and content_for, the sender's call (a partner's
override, else the coalition's, else the built-in template; cached, forgotten on save)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from gateway.services import message_templates as service
from loyalty.messages.render import SAMPLE_UNSUBSCRIBE_URL, sample_data
from network.store import MessageBrand, MessageTemplate
from tests.gateway.partners import OPERATOR
from tests.pg import StoreKind
from tests.problems import assert_problem
from tests.stores import add_partner, migrated_store

URL = "/v1/message-templates/points_earned/email/pl"
SOURCES: dict[str, Any] = {
    "subject": "+{{ points|points }} w {{ brand.name }}",
    "text": "Cześć {{ first_name }}! +{{ points|points }}.\n\nWypisz się: {{ unsubscribe_url }}\n",
    "html": '{% extends "pl/_layout.html.j2" %}{% block body %}<p>{{ first_name }}: {{ points|points }}</p>'
    "{% endblock %}",
}


@pytest.fixture(autouse=True)
def _fresh_cache():
    service.forget(None)
    yield
    service.forget(None)


def test_the_catalogue_lists_every_kind_with_its_channels_sample_and_the_callers_overrides(client, partner):
    r = client.get("/v1/message-templates", headers=partner.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["locales"] == ["en", "pl", "cs", "ru"] and body["default_locale"] == "en"
    kinds = {k["kind"]: k for k in body["kinds"]}
    assert kinds["email_confirmation"]["channels"] == ["email"] and kinds["points_earned"]["category"] == "marketing"
    assert kinds["points_earned"]["sample"]["unsubscribe_url"] == SAMPLE_UNSUBSCRIBE_URL
    assert all(k["overridden"] == [] for k in kinds.values())
    assert client.put(URL, headers=partner.headers, json=SOURCES).status_code == 200
    kinds = {k["kind"]: k for k in client.get("/v1/message-templates", headers=partner.headers).json()["kinds"]}
    assert kinds["points_earned"]["overridden"] == ["email/pl"]
    operator = client.get("/v1/operator/message-templates", headers=OPERATOR).json()
    assert all(k["overridden"] == [] for k in operator["kinds"])  # the partner's is not the coalition's


def test_a_template_not_overridden_shows_the_builtin_sources(client, partner):
    r = client.get("/v1/message-templates/tier_up/sms/cs", headers=partner.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["overridden"] is False and body["version"] is None and body["subject"] is None
    assert "{{ tier }}" in body["text"] and body["html"] is None
    assert_problem(client.get("/v1/message-templates/email_confirmation/sms/en", headers=partner.headers), "not-found")
    assert_problem(client.get("/v1/message-templates/birthday/sms/en", headers=partner.headers), "validation-error")
    assert_problem(client.get("/v1/message-templates/tier_up/sms/de", headers=partner.headers), "validation-error")
    assert_problem(client.get("/v1/message-templates/tier_up/sms/cs"), "unauthorized")


def test_an_override_is_saved_versioned_and_seen_by_its_partner_only(client, partner, make_partner):
    r = client.put(URL, headers=partner.headers, json=SOURCES)
    assert r.status_code == 200, r.text
    assert (r.json()["overridden"], r.json()["version"], r.json()["subject"]) == (True, 1, SOURCES["subject"])
    r = client.put(URL, headers=partner.headers, json=SOURCES | {"subject": "{{ first_name }}"})
    assert r.json()["version"] == 2
    assert client.get(URL, headers=partner.headers).json()["subject"] == "{{ first_name }}"
    other = make_partner()
    assert client.get(URL, headers=other.headers).json()["overridden"] is False


REFUSED = [
    ({"text": "Hi {{ first_name }}\n{{ frist_name }} {{ unsubscribe_url }}"}, "text line 2: 'frist_name' is undefined"),
    ({"subject": "{{ ''.__class__.__mro__ }}"}, "subject line 1: access to attribute '__class__'"),
    ({"html": "<p>{% if %}</p>"}, "html line 1:"),
    ({"text": "Hello {{ first_name }}"}, "points_earned must show {{ unsubscribe_url }}"),
    ({}, "at least one of"),
]


def test_an_override_that_fails_in_the_sandbox_is_refused_naming_the_line(client, partner):
    for sources, detail in REFUSED:
        body = assert_problem(client.put(URL, headers=partner.headers, json=sources), "template-invalid")
        assert detail in body["detail"], (sources, body)
    assert client.get(URL, headers=partner.headers).json()["overridden"] is False


def test_a_part_the_channel_has_not_and_an_oversized_source_are_refused(client, partner):
    r = client.put("/v1/message-templates/tier_up/sms/en", headers=partner.headers, json={"subject": "x", "text": "y"})
    assert "sms templates have text only, not subject" in assert_problem(r, "template-invalid")["detail"]
    r = client.put(URL, headers=partner.headers, json={"text": "x" * 20_001})
    assert_problem(r, "validation-error")


def test_removing_an_override_brings_the_builtin_back(client, partner):
    assert client.put(URL, headers=partner.headers, json=SOURCES).status_code == 200
    assert client.delete(URL, headers=partner.headers).status_code == 204
    assert client.get(URL, headers=partner.headers).json()["overridden"] is False
    assert_problem(client.delete(URL, headers=partner.headers), "not-found")


def test_the_brand_defaults_to_the_partners_name_and_is_shown_in_previews(client, partner):
    r = client.get("/v1/message-brand", headers=partner.headers)
    assert r.json() == {
        "name": "Partner 1",
        "colour": "#1f5fbf",
        "accent": "#f2a900",
        "custom": False,
        "updated_at": None,
    }
    r = client.put(
        "/v1/message-brand",
        headers=partner.headers,
        json={"name": "Café <Noir>", "colour": "#3B1F0E", "accent": "#d4a373"},
    )
    assert r.status_code == 200, r.text
    assert (r.json()["custom"], r.json()["colour"]) == (True, "#3b1f0e")
    preview = {"kind": "tier_up", "channel": "email", "locale": "ru"}
    html = client.post("/v1/message-templates/preview", headers=partner.headers, json=preview).json()["html"]
    assert "Café &lt;Noir&gt;" in html and "background:#3b1f0e" in html and "Поздравляем" in html
    bad = {"name": "X", "colour": "red", "accent": "#000000"}
    assert_problem(client.put("/v1/message-brand", headers=partner.headers, json=bad), "validation-error")


def test_a_preview_renders_sample_or_given_data_with_sources_tried_or_saved(client, partner):
    url = "/v1/message-templates/preview"
    r = client.post(url, headers=partner.headers, json={"kind": "points_expiring", "channel": "push", "locale": "pl"})
    assert r.status_code == 200, r.text
    assert r.json() == {
        "subject": "Twoje punkty wkrótce wygasną",
        "text": "4 stycznia 2027 wygaśnie 800 punktów.",
        "html": None,
        "locale": "pl",
        "source": "builtin",
        "override_error": None,
    }
    data = sample_data("points_expiring") | {"points": 3, "first_name": "<b>Ola</b>"}
    r = client.post(
        url, headers=partner.headers, json={"kind": "points_expiring", "channel": "email", "locale": "pl", "data": data}
    )
    assert "wygasną 3 punkty" in r.json()["text"] and "&lt;b&gt;Ola&lt;/b&gt;" in r.json()["html"]
    tried = {"kind": "points_earned", "channel": "email", "locale": "pl", **SOURCES}
    r = client.post(url, headers=partner.headers, json=tried)
    assert (r.json()["subject"], r.json()["source"]) == ("+320 punktów w Partner 1", "override")
    assert client.put(URL, headers=partner.headers, json=SOURCES).status_code == 200
    r = client.post(url, headers=partner.headers, json={"kind": "points_earned", "channel": "email", "locale": "pl"})
    assert r.json()["source"] == "override"  # the saved one
    missing = {"kind": "tier_up", "channel": "sms", "locale": "en", "data": {"first_name": "A"}}
    detail = assert_problem(client.post(url, headers=partner.headers, json=missing), "template-invalid")["detail"]
    assert "tier_up needs previous_tier, tier in its data" in detail
    broken = {"kind": "tier_up", "channel": "sms", "locale": "en", "text": "{{ nope }}"}
    assert_problem(client.post(url, headers=partner.headers, json=broken), "template-invalid")


def test_the_coalitions_templates_and_brand_are_the_operators(client, partner):
    url = "/v1/operator/message-templates/tier_up/push/en"
    assert_problem(client.get(url, headers=partner.headers), "unauthorized")
    r = client.put(url, headers=OPERATOR, json={"subject": "{{ brand.name }}: {{ tier }}!", "text": "Well done."})
    assert r.status_code == 200, r.text
    assert client.get(url, headers=OPERATOR).json()["overridden"] is True
    r = client.put(
        "/v1/operator/message-brand", headers=OPERATOR, json={"name": "Club", "colour": "#000000", "accent": "#ffffff"}
    )
    assert r.status_code == 200 and client.get("/v1/operator/message-brand", headers=OPERATOR).json()["name"] == "Club"
    preview = {"kind": "tier_up", "channel": "push", "locale": "en"}
    r = client.post("/v1/operator/message-templates/preview", headers=OPERATOR, json=preview)
    assert (r.json()["subject"], r.json()["text"]) == ("Club: Gold!", "Well done.")
    preview["locale"] = "de-AT"  # no German: English, and a partner without its own override sees the coalition's
    r = client.post("/v1/message-templates/preview", headers=partner.headers, json=preview)
    assert (r.json()["locale"], r.json()["subject"], r.json()["source"]) == ("en", "Partner 1: Gold!", "override")
    assert client.delete(url, headers=OPERATOR).status_code == 204
    # a partner without a brand shows its name in the coalition's colours
    assert client.get("/v1/message-brand", headers=partner.headers).json()["colour"] == "#000000"


def test_content_for_uses_the_partners_override_else_the_coalitions_else_the_builtin(client, partner, sessions):
    data = sample_data("tier_up")

    def content(partner_id, locale="en-GB"):
        with sessions() as session:
            return service.content_for(
                session, kind="tier_up", channel="push", locale=locale, partner_id=partner_id, data=data
            )

    assert content(partner.id).text == "Congratulations: you moved up from Silver to Gold."
    url = "/v1/message-templates/tier_up/push/en"
    coalition = {"subject": "C", "text": "Coalition text"}
    assert client.put("/v1/operator" + url.removeprefix("/v1"), headers=OPERATOR, json=coalition).status_code == 200
    assert (content(partner.id).text, content(None).text) == ("Coalition text", "Coalition text")
    assert client.put(url, headers=partner.headers, json={"text": "{{ brand.name }}: {{ tier }}"}).status_code == 200
    first = content(partner.id)
    # the partner's override replaces the coalition's whole: a part it leaves out is the built-in one
    assert (first.subject, first.text, first.source) == ("You reached Gold!", "Partner 1: Gold", "override")
    assert content(partner.id, "pl-PL").text == "Gratulacje! Awans z poziomu Silver na Gold."  # no pl override
    assert content(partner.id, "de").locale == "en"


def test_content_for_reads_the_store_once_per_ttl(partner, sessions, monkeypatch):
    data = sample_data("welcome")
    with sessions() as session:
        service.content_for(session, kind="welcome", channel="sms", locale="cs", partner_id=partner.id, data=data)
        statements: list[str] = []
        monkeypatch.setattr(session, "scalars", lambda *a, **k: statements.append("scalars") or [])
        monkeypatch.setattr(session, "scalar", lambda *a, **k: statements.append("scalar"))
        r = service.content_for(session, kind="welcome", channel="sms", locale="cs", partner_id=partner.id, data=data)
        assert statements == [] and r.text.startswith("Partner 1: Vítejte")


@pytest.fixture
def any_store(tmp_path: Path, store: StoreKind) -> Iterator[sessionmaker[Session]]:
    """A migrated store of the kind under test ([sqlite] and [postgresql], tests/pg.py) with partner 7."""
    made = migrated_store(store.new_url(tmp_path))
    add_partner(made)
    yield made
    made.kw["bind"].dispose()


def test_one_override_per_owner_kind_channel_and_locale_on_both_stores(any_store):
    """The coalition's rows (partner null) are unique too: a partial index, on SQLite and PostgreSQL."""
    sms = {"kind": "tier_up", "channel": "sms", "locale": "en", "subject": None, "html": None}
    with any_store() as session:
        for owner, text in ((None, "C1"), (None, "C2 {{ tier }}"), (7, "P {{ tier }}")):
            service.save(session, partner_id=owner, text=text, by="test", **sms)
        service.save_brand(session, partner_id=None, name="Club", colour="#000000", accent="#ffffff")
        service.save_brand(session, partner_id=None, name="Club 2", colour="#000000", accent="#ffffff")
        session.commit()
        rows = session.scalars(select(MessageTemplate).order_by(MessageTemplate.id)).all()
        assert [(r.partner_id, r.text, r.version) for r in rows] == [(None, "C2 {{ tier }}", 2), (7, "P {{ tier }}", 1)]
        assert session.scalar(select(func.count()).select_from(MessageBrand)) == 1
        session.add(
            MessageTemplate(partner_id=None, kind="tier_up", channel="sms", locale="en", version=1, updated_by="x")
        )
        with pytest.raises(IntegrityError):
            session.flush()
        session.rollback()
        data = sample_data("tier_up")
        r = service.content_for(session, kind="tier_up", channel="sms", locale="ru", partner_id=7, data=data)
        assert r.text.startswith("Grocer: Поздравляем") and r.source == "builtin"  # no ru override: built-in ru
        assert (
            service.content_for(session, kind="tier_up", channel="sms", locale="en", partner_id=7, data=data).text
            == "P Gold"
        )
        assert (
            service.content_for(session, kind="tier_up", channel="sms", locale="en", partner_id=None, data=data).text
            == "C2 Gold"
        )
