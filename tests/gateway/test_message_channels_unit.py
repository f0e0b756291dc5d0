"""Unit tests of the message channels' pure parts: the email's MIME and headers, the provider's
signatures both ways (Twilio's published example included), the answers' meaning, the backoff."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email import message_from_bytes, policy

from loyalty.messages.delivery import backoff_s, http_outcome, smtp_outcome
from loyalty.messages.mime import ONE_CLICK, build_email, domain_of, message_id, unsubscribe_payload
from loyalty.messages.render import Rendered
from loyalty.messages.signatures import body_signature_ok, callback_signature_ok, sign_body, sign_callback
from loyalty.messages.tokens import sign, verify

WHEN = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)


def _lf(text: str) -> str:
    """The stdlib's parser keeps the wire's CRLF in a decoded quoted-printable part."""
    return text.replace("\r\n", "\n")


RENDERED = Rendered(
    subject="Witaj w programie", text="Cześć Ala,\nwitamy!", html="<p>Cześć <b>Ala</b></p>", locale="pl"
)


def test_unit_an_email_is_text_and_html_alternatives_with_a_stable_message_id_and_its_language():
    mail = build_email(message_row_id=42, sender="Coalition <no-reply@coalition.example>", to="ala@example.com",
                       rendered=RENDERED, date=WHEN)  # fmt: skip
    parsed = message_from_bytes(mail.data, policy=policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
    assert parsed["Message-ID"] == "<msg-42@coalition.example>" == message_id(42, "coalition.example")
    assert parsed["Content-Language"] == "pl"
    assert parsed["X-Coalition-Message"] == "42" and "X-Coalition-Kind" not in parsed
    assert parsed["Subject"] == "Witaj w programie"
    assert _lf(parsed.get_body(("plain",)).get_content()).strip() == "Cześć Ala,\nwitamy!"
    assert parsed.get_body(("html",)).get_content().strip() == "<p>Cześć <b>Ala</b></p>"
    assert b"\r\n" in mail.data and b"\n" not in mail.data.replace(b"\r\n", b"")  # CRLF only
    assert (mail.sender, mail.to) == ("no-reply@coalition.example", "ala@example.com")
    assert "List-Unsubscribe" not in parsed  # transactional: no unsubscribe headers
    again = build_email(message_row_id=42, sender="no-reply@coalition.example", to="x@example.com",
                        rendered=RENDERED, date=WHEN)  # fmt: skip
    assert again.message_id == parsed["Message-ID"]  # a resend is the same message to the receiver


def test_unit_a_marketing_email_carries_rfc_8058_one_click_unsubscribe():
    url = "https://coalition.example/v1/unsubscribe/abc.def"
    mail = build_email(message_row_id=7, sender="no-reply@coalition.example", to="ala@example.com",
                       rendered=RENDERED, date=WHEN, unsubscribe_url=url)  # fmt: skip
    parsed = message_from_bytes(mail.data, policy=policy.default)
    assert parsed["List-Unsubscribe"] == f"<{url}>"
    assert parsed["List-Unsubscribe-Post"] == ONE_CLICK == "List-Unsubscribe=One-Click"


def test_unit_the_unsubscribe_token_carries_the_agreed_keys_and_verifies():
    payload = unsubscribe_payload(customer_id=5, partner_id=None, channel="email", message_row_id=9)
    assert payload == {"c": 5, "p": None, "ch": "email", "m": 9, "a": "unsubscribe"}
    assert verify(sign(payload, key=b"k" * 32), key=b"k" * 32) == payload


def test_unit_a_long_text_and_a_text_only_email_survive_the_round_trip():
    long = Rendered(subject="Ü" * 80, text="Zażółć gęślą jaźń. " * 40 + "\n.\nend", html=None, locale="pl")
    mail = build_email(message_row_id=1, sender="Żabka <z@example.com>", to="b@example.com", rendered=long, date=WHEN)
    parsed = message_from_bytes(mail.data, policy=policy.default)
    assert parsed.get_content_type() == "text/plain" and parsed["Subject"] == "Ü" * 80
    assert _lf(parsed.get_content()).rstrip("\n") == long.text and parsed["From"].addresses[0].display_name == "Żabka"
    assert max(len(line) for line in mail.data.split(b"\r\n")) <= 78


def test_unit_domain_of_an_address():
    assert domain_of("Shop <no-reply@shop.example>") == "shop.example"
    assert domain_of("nobody") == "localhost"


def test_unit_twilio_callback_signature_matches_the_published_example():
    params = {"CallSid": "CA1234567890ABCDE", "Caller": "+14158675310", "Digits": "1234",
              "From": "+14158675310", "To": "+18005551212"}  # fmt: skip
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert sign_callback(url, params, key="12345") == "GvWf1cFY/Q7PnoempGyD5oXAezc="
    assert callback_signature_ok(url, params, "GvWf1cFY/Q7PnoempGyD5oXAezc=", key="12345")
    assert not callback_signature_ok(url, params | {"Digits": "1235"}, "GvWf1cFY/Q7PnoempGyD5oXAezc=", key="12345")
    assert not callback_signature_ok(url + "&x=1", params, "GvWf1cFY/Q7PnoempGyD5oXAezc=", key="12345")
    assert not callback_signature_ok(url, params, None, key="12345")


def test_unit_the_request_body_signature_is_hmac_sha256_of_the_bytes():
    body = b"To=%2B48500100200&Body=hi"
    signature = sign_body(body, key="token")
    assert signature.startswith("sha256=") and len(signature) == 7 + 64
    assert body_signature_ok(body, signature, key="token")
    assert not body_signature_ok(body + b"!", signature, key="token")
    assert not body_signature_ok(body, signature, key="other")
    assert not body_signature_ok(body, None, key="token")


def test_unit_smtp_answers_5xx_at_rcpt_are_hard_bounces_4xx_are_retried():
    assert smtp_outcome(550, "5.1.1 no such mailbox", stage="rcpt").verdict == "permanent"
    assert smtp_outcome(550, "5.1.1 no such mailbox", stage="rcpt").hard_bounce
    assert smtp_outcome(554, "5.6.0 rejected content", stage="data").verdict == "permanent"
    assert not smtp_outcome(554, "5.6.0 rejected content", stage="data").hard_bounce
    assert smtp_outcome(451, "4.7.1 greylisted", stage="rcpt").verdict == "retry"
    assert smtp_outcome(421, "closing", stage="data").verdict == "retry"


def test_unit_provider_answers_5xx_and_429_are_retried_a_bad_number_is_a_hard_bounce():
    assert http_outcome(503, "down").verdict == "retry"
    assert http_outcome(429, "slow down").verdict == "retry"
    bad = http_outcome(400, "21211 not a valid phone number")
    assert bad.verdict == "permanent" and bad.hard_bounce
    assert not http_outcome(401, "authenticate").hard_bounce


def test_unit_backoff_doubles_with_jitter_in_the_upper_half_and_is_capped():
    rng = random.Random(1)
    for attempts, full in ((1, 60), (2, 120), (3, 240), (10, 3_600)):
        waits = [backoff_s(attempts, base_s=60, cap_s=3_600, rng=rng) for _ in range(200)]
        assert all(full / 2 <= w <= full for w in waits), (attempts, min(waits), max(waits))
        assert max(waits) - min(waits) > full / 4  # jittered: not in step
