"""The SMS keywords and the provider's request signature (loyalty/messages/sms.py), pure."""

from __future__ import annotations

import pytest

from loyalty.messages.sms import keyword, provider_signature, signature_valid

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
    assert provider_signature(TWILIO_URL, TWILIO_PARAMS, "12345") == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    assert signature_valid(TWILIO_URL, TWILIO_PARAMS, "12345", "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")


def test_unit_a_changed_field_url_or_token_breaks_the_signature() -> None:
    good = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    assert not signature_valid(TWILIO_URL, TWILIO_PARAMS | {"Digits": "9999"}, "12345", good)
    assert not signature_valid(TWILIO_URL.replace("bar=2", "bar=3"), TWILIO_PARAMS, "12345", good)
    assert not signature_valid(TWILIO_URL, TWILIO_PARAMS, "54321", good)
    assert not signature_valid(TWILIO_URL, TWILIO_PARAMS, "12345", good[:-2])
