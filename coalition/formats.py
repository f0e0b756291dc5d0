"""What the ``coalition`` command shows a person, and how it reads what a person types: money,
dates, addresses and the API's refusals. Pure functions: no HTTP, no chain, no terminal.

Money is exact: a settlement-token amount shows two decimals (fewer if the token has fewer),
and more only where the value has them, so a price of 0.008 cUSD a point is never shown as
0.01. Nets carry their sign. Dates carry their time zone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from typing import Any, NamedTuple

from eth_utils import to_checksum_address

ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}", re.ASCII)
AMOUNT = re.compile(r"([0-9]+)(?:\.([0-9]+))?", re.ASCII)


class Token(NamedTuple):
    symbol: str
    decimals: int


def amount(value: int, decimals: int) -> str:
    """Base units as an exact decimal with thousands separators: at least two decimals (fewer if
    the token has fewer), more only where the value needs them.
    ``amount(66_680_000, 6) == "66.68"``, ``amount(8_000, 6) == "0.008"``, ``amount(-10**12, 6) == "-1,000,000.00"``."""
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(value), 10**decimals)
    digits = f"{frac:0{decimals}d}".rstrip("0").ljust(min(2, decimals), "0") if decimals else ""
    return f"{sign}{whole:,}" + (f".{digits}" if digits else "")


def money(value: int, token: Token, *, signed: bool = False) -> str:
    """``money(66_680_000, cusd) == "66.68 cUSD"``; ``signed`` puts a + on positive values (nets)."""
    text = amount(value, token.decimals)
    return f"{'+' if signed and value > 0 else ''}{text} {token.symbol}"


def net(value: int, token: Token) -> str:
    """A net with its sign, in rich markup: green when positive, red when negative."""
    text = money(value, token, signed=True)
    return f"[green]{text}[/green]" if value > 0 else f"[red]{text}[/red]" if value < 0 else text


def decimal(value: str | int | Decimal) -> str:
    """A decimal the API sends as text (``"1.500000"``) as a person writes it (``1.5``)."""
    return format(Decimal(value).normalize(), "f")


def parse_amount(text: str, decimals: int) -> int:
    """What a person types (``1000``, ``0.01``) as base units; refuses signs, exponents,
    separators and more decimals than the token has."""
    match = AMOUNT.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not an amount: write digits with an optional decimal point, e.g. 1000 or 0.01")
    whole, frac = match[1], match[2] or ""
    if len(frac) > decimals:
        smallest = amount(1, decimals) if decimals else "1"
        raise ValueError(f"{text} has more than {decimals} decimals: the smallest amount is {smallest}")
    return int(whole) * 10**decimals + int(frac.ljust(decimals, "0") or "0")


def when(value: str | datetime, tz: tzinfo | None = None) -> str:
    """An instant in the local time zone (or ``tz``), with the zone's name:
    ``2026-12-01 10:00:00 UTC``. The API's instants are UTC; one without a zone is taken as UTC."""
    instant = datetime.fromisoformat(value) if isinstance(value, str) else value
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    local = instant.astimezone(tz)
    return f"{local:%Y-%m-%d %H:%M:%S} {local.tzname()}"


def until(value: str | datetime, now: datetime) -> str:
    """How long from ``now`` to an instant: ``in 6 d 23 h``, ``in 5 min``, ``due now``."""
    instant = datetime.fromisoformat(value) if isinstance(value, str) else value
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    seconds = int((instant - now).total_seconds())
    if seconds <= 0:
        return "due now"
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    if days:
        return f"in {days} d {hours} h"
    return f"in {hours} h {rest // 60} min" if hours else f"in {max(1, rest // 60)} min"


def checksum_address(text: str) -> str:
    """An address as EIP-55 checksummed text. All lowercase (or all capitals) carries no
    checksum and is checksummed; mixed case must be the checksum (else it is a typo)."""
    value = text.strip()
    if ADDRESS.fullmatch(value) is None:
        raise ValueError(f"{text!r} is not an address: write 0x and 40 hex digits")
    digits = value[2:]
    checksummed = to_checksum_address(value)
    if digits not in (digits.lower(), digits.upper()) and checksummed != value:
        raise ValueError(
            f"{value}: its capitals are not its EIP-55 checksum, so a character is probably wrong; "
            "check it (an address written all in lowercase carries no checksum and is checksummed as written)"
        )
    return checksummed


def field_words(field: str, words: Mapping[str, str]) -> str:
    """A field path of a validation problem (``body.issue_price``) in words (``the issue price
    (--issue-price)``); unknown fields without the path's plumbing (``customer wallet``)."""
    path = field.split(".", 1)[1] if field.split(".", 1)[0] in ("body", "path", "query") else field
    if field in ("body", ""):
        return "the request"
    return words.get(path, path.replace("_", " ").replace(".", " "))


def problem_lines(status: int, body: Any, text: str, words: Mapping[str, str]) -> list[str]:
    """A refusal of the API (problem+json) as sentences: its title and detail, or for an
    invalid request each field in words with what is wrong with it."""
    if not isinstance(body, dict) or not isinstance(body.get("title"), str):
        return [f"the gateway answered HTTP {status}: {text.strip()[:300] or '(no body)'}"]
    title, detail = body["title"], body.get("detail")
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        lines = [f"{title}:"]
        for error in errors:
            if isinstance(error, dict):
                message = str(error.get("message", "")).removeprefix("Value error, ")
                lines.append(f"  {field_words(str(error.get('field', '')), words)}: {message}")
        return lines
    return [f"{title}: {detail}" if detail and detail != title else title]
