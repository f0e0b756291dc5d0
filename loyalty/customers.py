"""What a customer's profile and consents may hold, and which consent is in force (pure).

A profile's fields are all optional; each given one is checked here and answered normalized
(:func:`check_profile`). A consent is given or withdrawn per channel (:data:`CHANNELS`) and per
sender (a partner, or None for the coalition itself); every change is kept, and the latest change
of a scope is the one in force (:func:`in_force`). Nothing here touches the store or the chain.
"""

from __future__ import annotations

import json
import re
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

CHANNELS = ("email", "sms", "push")
PROFILE_FIELDS = ("email", "phone", "birthday", "locale", "time_zone", "attributes")
OLDEST_BIRTHDAY = date(1900, 1, 1)
MAX_ATTRIBUTES_BYTES = 16_384
MAX_TEXT_SHOWN = 2_000  # characters of a consent's words as shown

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
_PHONE = re.compile(r"\+[1-9][0-9]{6,14}")  # E.164
_LOCALE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*")  # BCP 47, loosely


class ProfileInvalid(ValueError):
    """A profile field that cannot be stored: ``field`` names it, the message says what is expected."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class ConsentInvalid(ValueError):
    """A consent change that names no known channel or no source."""


def check_profile(fields: Mapping[str, Any], *, today: date) -> dict[str, Any]:
    """The given profile fields, checked and normalized (None clears a field; ``attributes``
    None is the empty object). Raises :class:`ProfileInvalid` on the first bad field."""
    checked: dict[str, Any] = {}
    for field, value in fields.items():
        if field not in PROFILE_FIELDS:
            raise ProfileInvalid(field, f"not a profile field; known: {', '.join(PROFILE_FIELDS)}")
        if field == "attributes":
            checked[field] = _attributes(value)
        elif value is None:
            checked[field] = None
        elif field == "birthday":
            checked[field] = _birthday(value, today)
        else:
            checked[field] = _CHECKS[field](value.strip() if isinstance(value, str) else value)
    return checked


def _email(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 254 or not _EMAIL.fullmatch(value):
        raise ProfileInvalid("email", f"expected an address like name@example.com, got {value!r}")
    local, domain = value.rsplit("@", 1)
    return f"{local}@{domain.lower()}"


def _phone(value: Any) -> str:
    if not isinstance(value, str) or not _PHONE.fullmatch(value):
        raise ProfileInvalid("phone", f"expected an E.164 number like +33612345678, got {value!r}")
    return value


def _locale(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 35 or not _LOCALE.fullmatch(value):
        raise ProfileInvalid("locale", f"expected a BCP 47 tag like fr-FR, got {value!r}")
    return value


def _time_zone(value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > 64:
        raise ProfileInvalid("time_zone", f"expected an IANA zone like Europe/Paris, got {value!r}")
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ProfileInvalid("time_zone", f"expected an IANA zone like Europe/Paris, got {value!r}") from exc
    return value


def _birthday(value: Any, today: date) -> date:
    if not isinstance(value, date) or isinstance(value, datetime) or not OLDEST_BIRTHDAY <= value <= today:
        raise ProfileInvalid("birthday", f"expected a date from {OLDEST_BIRTHDAY} to {today}, got {value!r}")
    return value


def _attributes(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ProfileInvalid("attributes", "expected a JSON object (string keys)")
    try:
        size = len(json.dumps(value, allow_nan=False, separators=(",", ":")).encode())
    except (TypeError, ValueError) as exc:
        raise ProfileInvalid("attributes", f"not JSON: {exc}") from exc
    if size > MAX_ATTRIBUTES_BYTES:
        raise ProfileInvalid("attributes", f"{size} bytes of JSON, at most {MAX_ATTRIBUTES_BYTES}")
    return value


_CHECKS = {"email": _email, "phone": _phone, "locale": _locale, "time_zone": _time_zone}


def check_consent(*, channel: str, source: str, text_shown: str | None = None) -> None:
    """Raises :class:`ConsentInvalid` unless ``channel`` is one of :data:`CHANNELS`, ``source``
    (how the consent was collected: "pos", "web-form", ...) is 1 to 64 characters, and
    ``text_shown`` (the words the customer saw), if given, 1 to :data:`MAX_TEXT_SHOWN`."""
    if channel not in CHANNELS:
        raise ConsentInvalid(f"channel {channel!r} is not one of {', '.join(CHANNELS)}")
    if not source.strip() or len(source) > 64:
        raise ConsentInvalid(f"source must say, in 1 to 64 characters, how the consent was collected; got {source!r}")
    if text_shown is not None and (not text_shown.strip() or len(text_shown) > MAX_TEXT_SHOWN):
        raise ConsentInvalid(f"text_shown must be the words shown, 1 to {MAX_TEXT_SHOWN} characters, or absent")


@dataclass(frozen=True)
class ConsentChange:
    """One change of a consent: to be contacted on ``channel`` by ``partner_id`` (None: the coalition)."""

    channel: str
    partner_id: int | None
    granted: bool
    source: str
    recorded_at: datetime
    # email: a grant counts for marketing only once the address is confirmed (double opt-in); a
    # confirmation is a row of its own (append-only history). Other channels and withdrawals: True.
    confirmed: bool = True
    text_shown: str | None = None  # the words the customer was shown (None: not recorded)


def in_force(history: Iterable[ConsentChange]) -> dict[tuple[str, int | None], ConsentChange]:
    """The change in force per (channel, partner_id): the latest of each scope, ``history``
    being in the order it was recorded (a later row wins a tie on ``recorded_at``)."""
    current: dict[tuple[str, int | None], ConsentChange] = {}
    for change in history:
        scope = (change.channel, change.partner_id)
        held = current.get(scope)
        if held is None or change.recorded_at >= held.recorded_at:
            current[scope] = change
    return current


def may_contact(history: Iterable[ConsentChange], *, channel: str, partner_id: int | None) -> bool:
    """Whether the consent in force lets ``partner_id`` (None: the coalition) contact the
    customer on ``channel``; no consent recorded is no."""
    change = in_force(history).get((channel, partner_id))
    return change is not None and change.granted
