"""The languages messages are written in, and how numbers, amounts, dates and plurals read in each.

A small formatter of our own (no Babel in the environment), following CLDR for the four locales
we ship: ``en`` (1,250 · 4 January 2027 · €19.90), ``pl`` (1250 but 12 250 · 4 stycznia 2027 ·
19,90 €), ``cs`` (1 250 · 4. ledna 2027 · 19,90 €), ``ru`` (1 250 · 4 января 2027 г. · 19,90 €);
groups are separated by a no-break space. Plural categories are CLDR's for integers: English
one/other, Polish one/few/many, Czech one/few/other, Russian one/few/many. Pure.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation

LOCALES: tuple[str, ...] = ("en", "pl", "cs", "ru")
DEFAULT_LOCALE = "en"
NBSP = "\u00a0"

# How many forms a plural takes per locale, in this order (the arguments of :func:`plural`).
PLURAL_FORMS: dict[str, tuple[str, ...]] = {
    "en": ("one", "other"),
    "pl": ("one", "few", "many"),
    "cs": ("one", "few", "other"),
    "ru": ("one", "few", "many"),
}
POINTS: dict[str, tuple[str, ...]] = {
    "en": ("point", "points"),
    "pl": ("punkt", "punkty", "punktów"),
    "cs": ("bod", "body", "bodů"),
    "ru": ("балл", "балла", "баллов"),
}
_SEPARATORS = {"en": (",", "."), "pl": (NBSP, ","), "cs": (NBSP, ","), "ru": (NBSP, ",")}
_MIN_GROUPING = {"pl": 2}  # Polish groups only from 10 000 on (CLDR minimumGroupingDigits)
_MONTHS = {
    "en": "January February March April May June July August September October November December",
    "pl": "stycznia lutego marca kwietnia maja czerwca lipca sierpnia września października listopada grudnia",
    "cs": "ledna února března dubna května června července srpna září října listopadu prosince",
    "ru": "января февраля марта апреля мая июня июля августа сентября октября ноября декабря",
}
_DATE = {"en": "{d} {m} {y}", "pl": "{d} {m} {y}", "cs": "{d}. {m} {y}", "ru": "{d} {m} {y}\u00a0г."}
_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "PLN": "zł", "CZK": "Kč", "RUB": "₽"}


def negotiate(tag: str | None) -> str:
    """The locale we write for a BCP 47 tag: its language if we ship it (``pl-PL`` -> ``pl``,
    ``cs_CZ`` -> ``cs``), else English."""
    language = (tag or "").strip().replace("_", "-").split("-", 1)[0].lower()
    return language if language in LOCALES else DEFAULT_LOCALE


def plural_category(locale: str, n: int) -> str:
    """CLDR's plural category of the integer ``n`` in ``locale``."""
    n = abs(int(n))
    few = 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14
    if locale == "ru":
        if n % 10 == 1 and n % 100 != 11:
            return "one"
        return "few" if few else "many"
    if n == 1:
        return "one"
    if locale == "pl":
        return "few" if few else "many"
    if locale == "cs":
        return "few" if 2 <= n <= 4 else "other"
    return "other"


def plural(locale: str, n: int, forms: tuple[str, ...]) -> str:
    """``n`` with the form of its plural category: ``forms`` in the order of PLURAL_FORMS[locale].
    A form with ``{n}`` in it is the whole phrase (for verbs that agree: ``"wygaśnie {n} punkt"``);
    otherwise the answer is the number, a space and the form."""
    order = PLURAL_FORMS[locale]
    if len(forms) != len(order):
        raise ValueError(f"{locale} plurals take {len(order)} forms ({', '.join(order)}), not {len(forms)}")
    form = forms[order.index(plural_category(locale, n))]
    shown = number(locale, n)
    return form.replace("{n}", shown) if "{n}" in form else f"{shown} {form}"


def number(locale: str, value: int | str | Decimal, places: int | None = None) -> str:
    """``value`` with the locale's grouping and decimal separator (``places`` decimals if given,
    else as many as it has)."""
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"{value!r} is not a number") from exc
    if places is not None:
        amount = amount.quantize(Decimal(1).scaleb(-places))
    sign = "-" if amount < 0 else ""
    whole, _, fraction = format(abs(amount), "f").partition(".")
    group, decimal_point = _SEPARATORS[locale]
    if len(whole) > 3 and len(whole) >= 3 + _MIN_GROUPING.get(locale, 1):
        head, tail = whole[: len(whole) % 3], whole[len(whole) % 3 :]
        whole = group.join(([head] if head else []) + [tail[i : i + 3] for i in range(0, len(tail), 3)])
    return sign + whole + (decimal_point + fraction if fraction else "")


def money(locale: str, amount: int | str | Decimal, currency: str | None) -> str:
    """An amount with its currency: ``€19.90`` in English, ``19,90 €`` in the others (the code
    when we know no symbol: ``CHF 19.90``, ``19,90 CHF``; the number alone without a currency)."""
    shown = number(locale, amount, 2)
    if not currency:
        return shown
    code = str(currency).upper()
    symbol = _SYMBOLS.get(code, code)
    if locale == "en":
        return f"{symbol}{shown}" if len(symbol) == 1 else f"{symbol}{NBSP}{shown}"
    return f"{shown}{NBSP}{symbol}"


def day(locale: str, value: date | datetime | str) -> str:
    """A calendar day, written out (``value`` a date, a datetime or an ISO 8601 string)."""
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    month = _MONTHS[locale].split()[value.month - 1]
    return _DATE[locale].format(d=value.day, m=month, y=value.year)
