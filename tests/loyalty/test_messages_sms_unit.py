"""The SMS keywords (loyalty/messages/sms.py) and the provider's request signature as the inbound
route checks it (loyalty/messages/signatures.py), pure."""

from __future__ import annotations

import pytest

from loyalty.messages.signatures import callback_signature_ok, sign_callback
from loyalty.messages.sms import keyword

# the worked example of Twilio's "Webhooks security" guide
TWILIO_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
TWILIO_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+12349013030",
    "Digits": "1234",
    "From": "+12349013030",
    "To": "+18005551212",
}


@pytest.mark.parametrize(
    "body",
    ["STOP", "stop", " Stop! ", "STOPALL", "unsubscribe", "Cancel.", "END", "quit", "opt out", "Wypisz",
     "REZYGNUJĘ", "odhlásit", "Zrušit", "стоп", "Отписаться", "ОТМЕНА"],
)  # fmt: skip
def test_unit_stop_keywords_stop(body: str) -> None:
    assert keyword(body) == "stop"


@pytest.mark.parametrize("body", ["START", "start", "Unstop", "yes", "Старт"])
def test_unit_start_keywords_start(body: str) -> None:
    assert keyword(body) == "start"


@pytest.mark.parametrize("body", ["", "stop sending me offers", "Thanks!", "STOPP", "НЕТ", "when does my tier end?"])
def test_unit_an_ordinary_message_is_no_keyword(body: str) -> None:
    assert keyword(body) is None


def test_unit_the_signature_is_twilios_documented_one() -> None:
    assert sign_callback(TWILIO_URL, TWILIO_PARAMS, key="12345") == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    assert callback_signature_ok(TWILIO_URL, TWILIO_PARAMS, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=", key="12345")


def test_unit_a_changed_field_url_or_token_breaks_the_signature() -> None:
    good = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    assert not callback_signature_ok(TWILIO_URL, TWILIO_PARAMS | {"Digits": "9999"}, good, key="12345")
    assert not callback_signature_ok(TWILIO_URL.replace("bar=2", "bar=3"), TWILIO_PARAMS, good, key="12345")
    assert not callback_signature_ok(TWILIO_URL, TWILIO_PARAMS, good, key="54321")
    assert not callback_signature_ok(TWILIO_URL, TWILIO_PARAMS, good[:-2], key="12345")
    assert not callback_signature_ok(TWILIO_URL, TWILIO_PARAMS, None, key="12345")
