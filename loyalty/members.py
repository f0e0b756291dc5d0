"""Enrolment in the program: what an enrolment request is once normalized (its fingerprint,
for replays), referral codes, and the rows of a bulk import from CSV (pure).

An enrolment carries optional profile fields, consents and the referral code the customer
enrolled with; :func:`enrolment_content` normalizes it the same way whether it came as a JSON
body or as a CSV row, so importing a customer and then enrolling them again with the same data
is a replay, not a conflict. :func:`read_import` checks every row of a CSV file with the
profile's and consents' own checks (loyalty/customers.py) and answers the rows to enrol and
every refused row with its line number and reason. Nothing here touches the store or the chain.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from loyalty.customers import CHANNELS, ConsentInvalid, ProfileInvalid, check_consent, check_profile

REFERRAL_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read aloud at a till
REFERRAL_LENGTH = 10  # 31**10 ≈ 2**49.5: a collision among a million members has odds ≈ 1 in 1,700
REF_PATTERN = re.compile(r"[A-Za-z0-9._:\-]{1,64}")  # a partner's ref, as the API's path takes it
CONSENT_SCOPES = ("partner", "coalition")
IMPORT_COLUMNS = (
    "ref",
    "email",
    "phone",
    "birthday",
    "locale",
    "time_zone",
    "attributes",
    "referred_by_code",
    "consent_email",
    "consent_sms",
    "consent_push",
    "consent_source",
)
# an export's columns the import reads past (a member's own code and wallet are not imported)
EXPORT_ONLY_COLUMNS = ("customer_id", "partner_id", "wallet", "custodial", "referral_code", "enrolled_at")
_YES = {"yes", "true", "1", "y"}
_NO = {"no", "false", "0", "n"}


class ReferralCodeInvalid(ValueError):
    """A referral code that is not one this program hands out."""


class ImportInvalid(ValueError):
    """A file that is not a CSV of the import's columns (the header names an unknown column or lacks ``ref``)."""


@dataclass(frozen=True, slots=True)
class ConsentGiven:
    """A consent given or withdrawn at enrolment: ``scope`` "partner" (the enrolling partner may
    contact) or "coalition" (the coalition itself may)."""

    channel: str
    granted: bool
    source: str
    scope: str = "partner"
    text_shown: str | None = None  # the words the customer was shown


def new_referral_code() -> str:
    """A new random referral code of :data:`REFERRAL_LENGTH` characters of :data:`REFERRAL_ALPHABET`
    (uniform: a draw from 0 to 31**10 - 1 written in base 31)."""
    number = secrets.randbelow(len(REFERRAL_ALPHABET) ** REFERRAL_LENGTH)
    chars = []
    for _ in range(REFERRAL_LENGTH):
        number, digit = divmod(number, len(REFERRAL_ALPHABET))
        chars.append(REFERRAL_ALPHABET[digit])
    return "".join(chars)


def check_referral_code(code: str) -> str:
    """``code`` normalized (upper case, no spaces or dashes); :class:`ReferralCodeInvalid` unless
    it can be a code of this program."""
    normalized = re.sub(r"[\s-]", "", code).upper()
    if len(normalized) != REFERRAL_LENGTH or any(c not in REFERRAL_ALPHABET for c in normalized):
        raise ReferralCodeInvalid(
            f"a referral code is {REFERRAL_LENGTH} characters of {REFERRAL_ALPHABET}; got {code!r}"
        )
    return normalized


def check_consents(consents: Iterable[ConsentGiven]) -> list[ConsentGiven]:
    """The consents, each checked (ConsentInvalid otherwise), sources stripped."""
    checked = []
    for c in consents:
        check_consent(channel=c.channel, source=c.source, text_shown=c.text_shown)
        if c.scope not in CONSENT_SCOPES:
            raise ConsentInvalid(f"scope {c.scope!r} is not one of {', '.join(CONSENT_SCOPES)}")
        text = c.text_shown.strip() if c.text_shown is not None else None
        checked.append(ConsentGiven(c.channel, c.granted, c.source.strip(), c.scope, text))
    return checked


def enrolment_content(
    profile: Mapping[str, Any], consents: Iterable[ConsentGiven], referral_code: str | None, wallet: str
) -> dict[str, Any]:
    """The normalized content of an enrolment: the profile fields given (checked already; None
    and an empty ``attributes`` are the same as not given), the consents in order, the referral
    code, and the wallet choice (``"custodial"``, ``"linked"``, or the signed message's hash)."""
    fields = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in profile.items() if v not in (None, {})}
    return {
        "profile": dict(sorted(fields.items())),
        # the words shown only when given: an enrolment of before they were kept replays the same
        "consents": [[c.channel, c.granted, c.source, c.scope, *_shown(c)] for c in consents],
        "referral_code": referral_code,
        "wallet": wallet,
    }


def _shown(c: ConsentGiven) -> list[str]:
    return [] if c.text_shown is None else [c.text_shown]


def fingerprint(content: Mapping[str, Any]) -> str:
    """The SHA-256 (hex) of ``content`` as canonical JSON: equal contents, equal fingerprints."""
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


# --- bulk import


@dataclass(frozen=True, slots=True)
class ImportRow:
    """A row to enrol: its line in the file, the ref, the checked profile, consents and referral code."""

    line: int
    ref: str
    profile: dict[str, Any]
    consents: tuple[ConsentGiven, ...]
    referral_code: str | None

    @property
    def content(self) -> dict[str, Any]:
        return enrolment_content(self.profile, self.consents, self.referral_code, "custodial")


@dataclass(frozen=True, slots=True)
class RowRefused:
    """A refused row: its line in the file (the header is line 1), the ref if it had one, the
    field at fault (None: the row as a whole) and why."""

    line: int
    ref: str | None
    field: str | None
    reason: str


@dataclass
class ImportPlan:
    rows: list[ImportRow] = field(default_factory=list)
    refused: list[RowRefused] = field(default_factory=list)


def read_import(text: str, *, today: date) -> ImportPlan:
    """Every row of the CSV ``text`` checked: the rows to enrol, and each refused row with its
    line number and reason (a bad field, a ref seen on an earlier line). The header names the
    columns (:data:`IMPORT_COLUMNS`, any order, ``ref`` required; an export's own columns,
    :data:`EXPORT_ONLY_COLUMNS`, are read past); an empty cell is a field not given;
    ``referred_by_code`` is the referral code the customer enrolled with. Consent columns take
    yes/no (and true/false, 1/0), recorded with ``consent_source`` ("import" when empty), in the
    partner's scope. Raises :class:`ImportInvalid` for a bad header."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        raise ImportInvalid("the file is empty: the first line must name the columns, ref first")
    names = [h.strip().lower() for h in header]
    unknown = [n for n in names if n not in IMPORT_COLUMNS and n not in EXPORT_ONLY_COLUMNS]
    if unknown or "ref" not in names or len(set(names)) != len(names):
        raise ImportInvalid(
            f"the header must name distinct columns among {', '.join(IMPORT_COLUMNS)}, ref included; "
            f"got {', '.join(names) or 'nothing'}"
        )
    plan = ImportPlan()
    seen: dict[str, int] = {}
    for cells in reader:
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue  # a blank line
        if len(cells) != len(names):
            plan.refused.append(RowRefused(line, None, None, f"{len(cells)} cells, the header names {len(names)}"))
            continue
        row = {n: c.strip() for n, c in zip(names, cells, strict=True)}
        ref = row["ref"]
        if not REF_PATTERN.fullmatch(ref):
            plan.refused.append(RowRefused(line, ref or None, "ref", "1 to 64 of A-Z a-z 0-9 . _ : -"))
            continue
        if ref in seen:
            plan.refused.append(RowRefused(line, ref, "ref", f"the ref is on line {seen[ref]} already"))
            continue
        seen[ref] = line
        checked = _row(line, ref, row, today)
        (plan.refused if isinstance(checked, RowRefused) else plan.rows).append(checked)  # type: ignore[arg-type]
    return plan


def _row(line: int, ref: str, row: Mapping[str, str], today: date) -> ImportRow | RowRefused:
    given: dict[str, Any] = {}
    for name in ("email", "phone", "locale", "time_zone"):
        if row.get(name):
            given[name] = row[name]
    try:
        if row.get("birthday"):
            given["birthday"] = _date(row["birthday"])
        if row.get("attributes"):
            given["attributes"] = _json_object(row["attributes"])
        profile = check_profile(given, today=today)
    except ProfileInvalid as exc:
        return RowRefused(line, ref, exc.field, str(exc).removeprefix(f"{exc.field}: "))
    source = row.get("consent_source") or "import"
    consents = []
    for channel in CHANNELS:
        cell = row.get(f"consent_{channel}", "").lower()
        if not cell:
            continue
        if cell not in _YES | _NO:
            return RowRefused(line, ref, f"consent_{channel}", f"expected yes or no, got {cell!r}")
        consents.append(ConsentGiven(channel, cell in _YES, source))
    try:
        checked_consents = check_consents(consents)
        code = check_referral_code(row["referred_by_code"]) if row.get("referred_by_code") else None
    except ConsentInvalid as exc:
        return RowRefused(line, ref, "consent_source", str(exc))
    except ReferralCodeInvalid as exc:
        return RowRefused(line, ref, "referred_by_code", str(exc))
    return ImportRow(line, ref, profile, tuple(checked_consents), code)


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ProfileInvalid("birthday", f"expected a date as YYYY-MM-DD, got {text!r}") from exc


def _json_object(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ProfileInvalid("attributes", f"not JSON: {exc}") from exc


def csv_cell(value: Any) -> str:
    """A value as an export's cell: '' for None, ISO dates, JSON objects, yes/no booleans; a cell
    that a spreadsheet would run as a formula (=, +, -, @ first) is quoted with a leading '."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False) if value else ""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") and not _PHONE_LIKE.fullmatch(text) else text


_PHONE_LIKE = re.compile(r"\+[0-9]{7,15}")  # an E.164 number starts with + and stays as it is
