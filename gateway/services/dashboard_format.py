"""How the dashboard writes numbers and dates for people: pure functions, no store, no chain.

- Money carries its currency, with the currency's two decimals (none for a currency without
  minor units), and more digits only when the amount has them: nothing is rounded away, so
  ``7500`` base units of a 6-decimal token are ``0.0075 cUSD``, not ``0.01 cUSD``.
- A net carries its sign and a class (``pos``/``neg``) for its colour; the words say who pays.
- Dates are written in one stated time zone (``COALITION_DISPLAY_TIMEZONE``), with its name.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from functools import cache
from zoneinfo import ZoneInfo

from loyalty.statement import who_pays

DISPLAY_DECIMALS = 2
# ISO 4217 currencies whose minor unit is not a hundredth (the others have two decimals)
MINOR_UNITS = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
    "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
}  # fmt: skip
DASH = "—"


@cache
def zone(name: str) -> tzinfo:
    return UTC if name == "UTC" else ZoneInfo(name)


def points(value: int | None) -> str:
    return DASH if value is None else f"{value:,}"


def _digits(whole: int, frac: int, decimals: int, shown: int) -> str:
    """``whole.frac`` with ``decimals`` digits of fraction, trailing zeros dropped down to ``shown``."""
    if decimals == 0:
        return f"{whole:,}"
    text = f"{frac:0{decimals}d}".rstrip("0")
    text = text.ljust(min(shown, decimals), "0")
    return f"{whole:,}.{text}" if text else f"{whole:,}"


def units(value: int | None, decimals: int, symbol: str = "", *, sign: bool = False) -> str:
    """Token base units as money: ``1234500000, 6, "cUSD"`` is ``1,234.50 cUSD``; ``sign`` adds
    ``+`` to a positive amount (nets)."""
    if value is None:
        return DASH
    whole, frac = divmod(abs(value), 10**decimals)
    shown = min(DISPLAY_DECIMALS, decimals)
    prefix = "-" if value < 0 else ("+" if sign and value > 0 else "")
    text = prefix + _digits(whole, frac, decimals, shown)
    return f"{text} {symbol}" if symbol else text


def fiat(amount: Decimal | None, currency: str) -> str:
    """A purchase's amount in its currency, with the currency's decimals (more if it has them)."""
    if amount is None:
        return DASH
    minor = MINOR_UNITS.get(currency.upper(), DISPLAY_DECIMALS)
    exponent = -int(amount.normalize().as_tuple().exponent)
    decimals = max(minor, exponent, 0)
    scaled = int(abs(amount).scaleb(decimals))
    whole, frac = divmod(scaled, 10**decimals)
    text = ("-" if amount < 0 else "") + _digits(whole, frac, decimals, minor)
    return f"{text} {currency}"


def tone(value: int | None) -> str:
    """The class that colours a net: green when positive, red when negative."""
    if not value:
        return ""
    return "pos" if value > 0 else "neg"


def payment(net: int, partner: str, decimals: int, symbol: str) -> str:
    """A partner's net in words: who pays whom how much (loyalty/statement.py's rule)."""
    pay = who_pays(net, partner)
    if pay.amount == 0:
        return "nothing to pay"
    return f"{pay.payer} pays {pay.payee} {units(pay.amount, decimals, symbol)}"


def when(moment: datetime | int | None, tz: str = "UTC", *, seconds: bool = False) -> str:
    """A moment in the display zone, with the zone's abbreviation: ``2026-11-23 11:00 CET``."""
    if moment is None:
        return DASH
    at = datetime.fromtimestamp(moment, UTC) if isinstance(moment, int) else moment
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    local = at.astimezone(zone(tz))
    return local.strftime("%Y-%m-%d %H:%M:%S %Z" if seconds else "%Y-%m-%d %H:%M %Z")


def day_of(moment: datetime | int, tz: str = "UTC") -> date:
    """The calendar day of a moment in the display zone."""
    at = datetime.fromtimestamp(moment, UTC) if isinstance(moment, int) else moment
    return at.astimezone(zone(tz)).date()


def short_address(address: str | None) -> str:
    if not address:
        return DASH
    return f"{address[:6]}…{address[-4:]}" if len(address) > 12 else address


def parse_units(text: str, decimals: int) -> int:
    """An amount typed in the token (``0.0125``, ``1,000``) as base units, exactly: ValueError
    for a negative amount, one that is not a number, or one with more decimals than the token."""
    cleaned = text.strip().replace(",", "").replace("_", "x")
    try:
        amount = Decimal(cleaned)
    except InvalidOperation as exc:
        raise ValueError(f"{text!r} is not an amount") from exc
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"{text!r} is not a positive amount")
    scaled = amount.scaleb(decimals)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{text!r} has more than {decimals} decimals")
    return int(scaled)
