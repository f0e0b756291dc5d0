"""What an inbound SMS asks: a stop or start keyword (pure). The provider's request signature
(``X-Twilio-Signature``) is loyalty/messages/signatures.py's.

Keywords: the whole message, trimmed, case and accents ignored, trailing punctuation dropped
("Stop!" stops; "stop sending me offers" is not a keyword, as carriers and Twilio treat it). The
English set is the carriers' (CTIA) and Twilio's; Polish, Czech and Russian add the words people
there send (STOP itself is usual in all three).
"""

from __future__ import annotations

import unicodedata

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
