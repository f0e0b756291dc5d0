"""What an inbound SMS asks (a stop or start keyword) and the provider's request signature (pure).

Keywords: the whole message, trimmed, case and accents ignored, trailing punctuation dropped
("Stop!" stops; "stop sending me offers" is not a keyword, as carriers and Twilio treat it). The
English set is the carriers' (CTIA) and Twilio's; Polish, Czech and Russian add the words people
there send (STOP itself is usual in all three).

The signature is Twilio's ``X-Twilio-Signature``: base64 of HMAC-SHA1, keyed with the account's
auth token, over the full URL the provider called followed by each POST field's name and value,
sorted by name.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import unicodedata
from collections.abc import Mapping

STOP_WORDS = frozenset(
    {
        # English (CTIA, Twilio)
        "STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT", "OPT OUT",
        # Polish: wypisz (unsubscribe me), rezygnuję / rezygnacja (I resign / resignation), koniec (end)
        "WYPISZ", "REZYGNUJE", "REZYGNACJA", "KONIEC",
        # Czech: odhlásit (unsubscribe), zrušit (cancel), konec (end)
        "ODHLASIT", "ZRUSIT", "KONEC",
        # Russian: стоп, отписаться (unsubscribe), отписка, отмена (cancel)
        "СТОП", "ОТПИСАТЬСЯ", "ОТПИСКА", "ОТМЕНА",
    }
)  # fmt: skip
START_WORDS = frozenset({"START", "UNSTOP", "YES", "СТАРТ"})
_TRAILING = " .!?,;:\"'()"


def normalized(body: str) -> str:
    """The message as the keywords are written: trimmed, upper case, accents dropped (Cyrillic
    letters kept: Й stays Й), inner spaces collapsed, trailing punctuation dropped."""
    text = " ".join(body.split()).strip(_TRAILING).upper()
    decomposed = unicodedata.normalize("NFD", text)
    kept = "".join(ch for ch in decomposed if not (unicodedata.combining(ch) and ch != "\u0306"))
    return unicodedata.normalize("NFC", kept)


def keyword(body: str) -> str | None:
    """``"stop"``, ``"start"`` or None (an ordinary message)."""
    word = normalized(body)
    if word in STOP_WORDS:
        return "stop"
    if word in START_WORDS:
        return "start"
    return None


def provider_signature(url: str, params: Mapping[str, str], auth_token: str) -> str:
    """Twilio's X-Twilio-Signature of a POST to ``url`` with the form fields ``params``."""
    data = url + "".join(f"{name}{params[name]}" for name in sorted(params))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def signature_valid(url: str, params: Mapping[str, str], auth_token: str, signature: str) -> bool:
    """Whether ``signature`` is the provider's for this request (compared in constant time)."""
    return hmac.compare_digest(provider_signature(url, params, auth_token).encode(), signature.encode())
