"""Message templates (loyalty/messages/render.py, locale_format.py, templates/): every kind renders
on every channel in every locale with its sample data; the locale negotiation and the English
fallback; plurals, numbers, dates and amounts per locale; HTML autoescapes the data; brands; and
partners' overrides: what the sandbox refuses, what validation asks for, and the fallback at send
time."""

from __future__ import annotations

import re
import time

import pytest

from loyalty.messages import locale_format as fmt
from loyalty.messages.kinds import KINDS
from loyalty.messages.render import (
    LOCALES,
    SAMPLE_UNSUBSCRIBE_URL,
    Brand,
    Override,
    RenderError,
    TemplateInvalid,
    render,
    sample_data,
    validate,
)

CASES = [(kind, channel) for kind in KINDS for channel in KINDS[kind].channels]


@pytest.mark.parametrize("locale", LOCALES)
def test_every_kind_renders_on_each_of_its_channels_in_every_locale(locale):
    texts = set()
    for kind, channel in CASES:
        r = render(kind, channel, locale, sample_data(kind))
        assert r.locale == locale and r.source == "builtin" and r.text.strip()
        assert (r.subject is not None) == (channel in ("email", "push"))
        assert (r.html is not None) == (channel == "email")
        assert "None" not in r.text and "{{" not in r.text
        if channel == "email":
            assert r.html.startswith("<!DOCTYPE html>") and f'lang="{locale}"' in r.html
            assert f"<title>{r.subject}</title>" in r.html
            marketing = KINDS[kind].category == "marketing"
            assert (SAMPLE_UNSUBSCRIBE_URL in r.html) == marketing and (SAMPLE_UNSUBSCRIBE_URL in r.text) == marketing
        if channel == "sms":
            assert ("STOP" in r.text) == (KINDS[kind].category == "marketing") and len(r.text) <= 200
        texts.add(r.text)
    assert len(texts) == len(CASES)  # no two messages read the same


@pytest.mark.parametrize("locale", LOCALES)
def test_a_customer_without_name_balance_or_codes_gets_messages_without_them(locale):
    """What the planner may not know (a first name, the balance, a referral or voucher code, the
    currency) leaves its sentence out: never "None", never a failure."""
    for kind, channel in CASES:
        data = {k: v for k, v in sample_data(kind).items() if k not in ("first_name", "points_balance")}
        data |= {k: None for k in ("referral_code", "voucher_code", "currency") if k in data}
        r = render(kind, channel, locale, data)
        shown = f"{r.subject or ''} {r.text} {r.html or ''}"
        assert r.text.strip() and "None" not in shown and "Ada" not in shown and "250" not in shown, (kind, channel)


def test_the_confirmation_email_carries_its_link_as_text_and_as_a_button():
    r = render("email_confirmation", "email", "cs", sample_data("email_confirmation"))
    url = KINDS["email_confirmation"].sample["confirm_url"]
    assert f"Potvrdit adresu: {url}" in r.text and f'<a href="{url}"' in r.html


@pytest.mark.parametrize(
    ("tag", "locale"),
    [
        ("pl-PL", "pl"),
        ("cs_CZ", "cs"),
        ("ru", "ru"),
        ("RU-ru", "ru"),
        ("en-GB", "en"),
        ("de-DE", "en"),
        ("", "en"),
        (None, "en"),
        ("x", "en"),
    ],
)
def test_the_locale_is_negotiated_from_a_bcp47_tag_with_english_as_fallback(tag, locale):
    assert fmt.negotiate(tag) == locale
    assert render("tier_up", "push", tag, sample_data("tier_up")).locale == locale


def test_english_texts_are_what_a_customer_reads():
    r = render("points_expiring", "email", "en-US", sample_data("points_expiring"))
    assert r.subject == "Your points expire in 30 days"
    assert r.text.startswith("Hello Ada,\n\n800 points of your balance will expire on 4 January 2027.\n")
    r = render("refund_done", "push", "en", sample_data("refund_done"))
    assert (r.subject, r.text) == ("Refund done", "€19.90 refunded; 20 points taken back.")


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("en", ["1 point", "2 points", "5 points", "21 points", "1,000 points"]),
        ("pl", ["1 punkt", "2 punkty", "5 punktów", "22 punkty", "1000 punktów", "12\u00a0345 punktów"]),
        ("cs", ["1 bod", "2 body", "5 bodů", "22 bodů", "1\u00a0000 bodů"]),
        ("ru", ["1 балл", "2 балла", "5 баллов", "21 балл", "11 баллов", "1\u00a0000 баллов"]),
    ],
)
def test_points_take_the_plural_form_of_their_number(locale, expected):
    numbers = [1, 2, 5, 21 if locale in ("en", "ru") else 22, 1000, 12345][: len(expected)]
    if locale == "ru":
        numbers = [1, 2, 5, 21, 11, 1000]
    assert [fmt.plural(locale, n, fmt.POINTS[locale]) for n in numbers] == expected


def test_plural_phrases_agree_and_the_wrong_number_of_forms_is_an_error():
    forms = ("wygaśnie {n} punkt", "wygasną {n} punkty", "wygaśnie {n} punktów")
    assert [fmt.plural("pl", n, forms) for n in (1, 3, 5, 14, 24)] == [
        "wygaśnie 1 punkt",
        "wygasną 3 punkty",
        "wygaśnie 5 punktów",
        "wygaśnie 14 punktów",
        "wygasną 24 punkty",
    ]
    with pytest.raises(ValueError, match="pl plurals take 3 forms"):
        fmt.plural("pl", 2, ("punkt", "punkty"))
    data = sample_data("points_expiring") | {"points": 3}
    assert render("points_expiring", "push", "ru", data).text == "4 января 2027 г. сгорят 3 балла."
    assert render("points_expiring", "push", "pl", data | {"points": 1}).text == "4 stycznia 2027 wygaśnie 1 punkt."


def test_numbers_amounts_and_dates_are_written_the_locales_way():
    assert [fmt.number(loc, 1234567) for loc in LOCALES] == ["1,234,567", *["1\u00a0234\u00a0567"] * 3]
    assert [fmt.money(loc, "19.9", "EUR") for loc in LOCALES] == ["€19.90", *["19,90\u00a0€"] * 3]
    assert fmt.money("en", "5", "CHF") == "CHF\u00a05.00" and fmt.money("pl", "1234.5", "PLN") == "1234,50\u00a0zł"
    assert [fmt.day(loc, "2027-03-09") for loc in LOCALES] == [
        "9 March 2027",
        "9 marca 2027",
        "9. března 2027",
        "9 марта 2027\u00a0г.",
    ]


def test_html_escapes_the_data_and_shows_the_brand():
    data = sample_data("reward_ready") | {"first_name": "<script>alert(1)</script>", "reward": 'A "B" & C'}
    brand = Brand(name="Café <Noir>", colour="#112233", accent="#445566")
    r = render("reward_ready", "email", "pl", data, brand=brand)
    assert "<script>" not in r.html and "&lt;script&gt;alert(1)&lt;/script&gt;" in r.html
    assert "A &#34;B&#34; &amp; C" in r.html and "Café &lt;Noir&gt;" in r.html
    assert "background:#112233" in r.html and "background:#445566" in r.html
    assert "<script>alert(1)</script>" in r.text  # plain text is not HTML
    hostile = Brand(name="X", colour="red;background:url(https://evil.example)", accent="#zzzzzz")
    r = render("tier_up", "email", "en", sample_data("tier_up"), brand=hostile)
    assert "evil.example" not in r.html and "background:#1f5fbf" in r.html  # a colour is #rrggbb or the default


def test_missing_data_unknown_kinds_and_channels_are_named():
    with pytest.raises(RenderError, match="tier_up needs previous_tier, tier"):
        render("tier_up", "sms", "en", {"first_name": "A", "points_balance": 1})
    with pytest.raises(RenderError, match="unknown kind 'birthday'"):
        render("birthday", "sms", "en", {})
    with pytest.raises(RenderError, match="not 'sms'"):
        render("email_confirmation", "sms", "en", sample_data("email_confirmation"))
    with pytest.raises(RenderError, match="unsubscribe_url"):  # a marketing email needs its link
        render("points_earned", "email", "en", KINDS["points_earned"].sample)


def test_an_override_replaces_the_parts_it_gives_and_keeps_the_others():
    override = Override(subject="{{ first_name }}, {{ points|points }} for you", text=None)
    r = render("points_earned", "email", "cs", sample_data("points_earned"), override=override)
    assert r.subject == "Ada, 320 bodů for you" and r.source == "override"
    assert r.text == render("points_earned", "email", "cs", sample_data("points_earned")).text
    html = '{% extends "pl/_layout.html.j2" %}{% block body %}<p>{{ first_name }} {{ unsubscribe_url }}</p>'
    html += "{% endblock %}"
    r = validate("points_earned", "email", "pl", Override(None, None, html), data=sample_data("points_earned"))
    assert "<p>Ada " in r.html and "Wypisz się" in r.html


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "unsafe"),
        ("{{ cycler.__init__.__globals__.os }}", "unsafe"),
        ("{{ brand.__class__ }}", "unsafe"),
        ("{{ 'x' * 100000000 }}", "repetition too large"),
        ("{{ 9 ** 999999 }}", "exponent too large"),
        ("{{ '%099999999d' % 1 }}", "format width too large"),
        ("{{ '{:>99999999}'.format(1) }}", "unsafe"),
        ("{{ first_name|center(99999999) }}", "No filter named 'center'"),
        ("{% for i in range(1000000) %}x{% endfor %}", "at most 100"),
        ("{% for a in [1] %}{% for b in [1] %}{% for c in [1] %}{% endfor %}{% endfor %}{% endfor %}", "nest"),
        ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "macros"),
        ("Hello\n{{ first_nmae }}", "line 2: 'first_nmae' is undefined"),
        ("Hello {{ first_name }", "line 1: unexpected '}'"),
        ("x" * 20_001, "at most 20000"),
        ('{% include "../render.py" %}', "no template '../render.py'"),
        ("{{" + "(" * 3000 + "1" + ")" * 3000 + "}}", "cannot be compiled"),
    ],
)
def test_the_sandbox_refuses_an_override_that_reaches_out_or_blows_up(source, reason):
    with pytest.raises(TemplateInvalid, match=reason) as refused:
        validate("welcome", "sms", "en", Override(subject=None, text=source))
    assert refused.value.part == "text"


def test_an_override_must_keep_the_links_its_kind_needs():
    with pytest.raises(TemplateInvalid, match=re.escape("must show {{ unsubscribe_url }}")):
        validate("tier_at_risk", "email", "en", Override("Hi", "Hello {{ first_name }}"))
    with pytest.raises(TemplateInvalid, match=re.escape("must show {{ confirm_url }}")) as refused:
        validate("email_confirmation", "email", "ru", Override(None, None, "<p>{{ first_name }}</p>"))
    assert refused.value.part == "html"
    with pytest.raises(TemplateInvalid, match="at least one of"):
        validate("welcome", "push", "en", Override(None, None, "<p>ignored on push</p>"))


def test_an_override_failing_at_send_time_gives_the_builtin_text():
    data = sample_data("welcome") | {"referral_code": None}
    override = Override(subject=None, text="{{ referral_code.upper() }}")
    r = render("welcome", "sms", "pl", data, override=override)
    assert r.source == "builtin" and r.override_error and r.text.startswith("Coalition: Witamy")


def test_render_is_cheap_once_compiled():
    """Prints the cost per render (the sender renders hundreds per second); asserts no time."""
    data = sample_data("points_earned")
    override = Override(subject="{{ points|points }}", text=None)
    for channel in ("email", "sms", "push"):
        render("points_earned", channel, "pl", data, override=override)
        n, start = 300, time.perf_counter()
        for _ in range(n):
            render("points_earned", channel, "pl", data, override=override)
        print(f"render points_earned/{channel}/pl with an override: {(time.perf_counter() - start) / n * 1e6:.0f} µs")
