"""A purchase's line items and what of it can earn points (pure: no store, no chain, no HTTP).

A purchase is a :class:`Basket`: its amount, currency and time, its lines (optional), and how much
of it was paid with points or with gift cards. Money is exact: every amount is a Decimal of at
most :data:`MONEY_DECIMALS` decimals (the API's precision), held inside as an integer number of
``10**-MONEY_DECIMALS`` units, so nothing here ever rounds by accident.

The rules, each in one place:

- **A line's net** is ``quantity × unit price − discount``, rounded half-up to the currency's minor
  unit (cents for EUR, yen for JPY: :func:`minor_units`), which is what a till prints for a weighed
  item (0.345 kg at 2.99 is 1.03). A line's net is never negative (a discount is at most the line).
- **The lines add up to the amount**, exactly; otherwise :func:`lines_mismatch` names the
  difference ("the lines add up to 95.00 EUR, 5.00 less than the amount 100.00"). Without lines,
  the purchase is one line of its whole amount (today's behaviour).
- **What earns nothing:** the lines an exclusion names (SKUs, categories, labels), and the part
  paid with points or gift cards. That part pays for the whole basket: it is spread over every
  line in proportion to its net (excluded lines included), in whole minor units, by the largest
  remainder: each line's share rounded down, the cents left over one each to the lines with the
  largest remainders, ties to the line that sorts first by (sku, category, labels, quantity, unit
  price, discount), so the split does not depend on the order the till sent the lines in
  (:func:`split_by_lines`). A line's eligible amount is its net minus its share, or 0 if excluded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from loyalty.settlement import split_pro_rata

MONEY_DECIMALS = 4  # the API takes amounts of up to 4 decimals
# ISO 4217 minor units where they are not 2 (the common case)
_MINOR_UNITS = {
    "BHD": 3, "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "IQD": 3, "ISK": 0, "JOD": 3, "JPY": 0, "KMF": 0,
    "KRW": 0, "KWD": 3, "LYD": 3, "OMR": 3, "PYG": 0, "RWF": 0, "TND": 3, "UGX": 0, "UYI": 0, "VND": 0,
    "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
}  # fmt: skip
_ZERO = Decimal(0)
_ONE = Decimal(1)
_STEPS = {digits: Decimal(1).scaleb(-digits) for digits in range(MONEY_DECIMALS + 1)}


class BasketInvalid(ValueError):
    """A purchase's lines or tenders that cannot be evaluated: ``field`` names the bad field (e.g.
    ``lines[2].discount``), the message says what is expected."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True, slots=True)
class Line:
    """One line of a receipt. ``discount`` is money off the whole line (not per unit); ``labels``
    are free tags the partner's catalogue gives the product (``"organic"``, ``"own-brand"``)."""

    sku: str
    unit_price: Decimal
    quantity: Decimal = _ONE
    category: str | None = None
    discount: Decimal = _ZERO
    labels: frozenset[str] = frozenset()

    def sort_key(self) -> tuple[str, str, tuple[str, ...], Decimal, Decimal, Decimal]:
        """The order that breaks ties between lines: it depends on what a line is, never on where it is."""
        return (
            self.sku,
            self.category or "",
            tuple(sorted(self.labels)),
            self.quantity,
            self.unit_price,
            self.discount,
        )


@dataclass(frozen=True, slots=True)
class Basket:
    """What the earning rules look at in a purchase. ``purchased_at`` is an aware datetime (the
    rules read it in the partner's time zone); ``paid_with_points`` and ``paid_with_gift_cards``
    are money amounts in the purchase's currency, the rest of ``amount`` was paid otherwise."""

    amount: Decimal
    currency: str
    purchased_at: datetime
    lines: tuple[Line, ...] = ()
    paid_with_points: Decimal = _ZERO
    paid_with_gift_cards: Decimal = _ZERO


@dataclass(frozen=True, slots=True)
class LinesMismatch:
    """The lines' net total is not the amount: ``difference`` is total − amount."""

    total: Decimal
    amount: Decimal
    currency: str

    @property
    def difference(self) -> Decimal:
        return self.total - self.amount

    @property
    def message(self) -> str:
        """E.g. "the lines add up to 95.00 EUR, 5.00 less than the amount 100.00"."""
        digits = max(minor_units(self.currency), -_exponent(self.amount), -_exponent(self.total))
        step = _STEPS[min(digits, MONEY_DECIMALS)]
        gap = abs(self.difference).quantize(step)
        side = "less" if self.difference < 0 else "more"
        return (
            f"the lines add up to {self.total.quantize(step)} {self.currency}, {gap} {side} than the amount "
            f"{self.amount.quantize(step)}"
        )


@dataclass(frozen=True, slots=True)
class Eligibility:
    """Per line (in the basket's line order; one line of the whole amount when it has none): its
    net, the share paid with points or gift cards, and what can earn; all in money units
    (``10**-MONEY_DECIMALS``). ``excluded`` marks the lines an exclusion names."""

    nets: tuple[int, ...]
    non_earning_shares: tuple[int, ...]
    eligible: tuple[int, ...]
    excluded: tuple[bool, ...]

    @property
    def eligible_total(self) -> int:
        return sum(self.eligible)

    @property
    def excluded_total(self) -> int:
        """Money of the excluded lines that was not paid with points or gift cards."""
        if True not in self.excluded:
            return 0
        return sum([n - s for n, s, x in zip(self.nets, self.non_earning_shares, self.excluded, strict=True) if x])


def minor_units(currency: str) -> int:
    """Decimals of the currency's minor unit (ISO 4217): 2 unless listed otherwise."""
    return _MINOR_UNITS.get(currency, 2)


def to_units(value: Decimal, field: str = "amount") -> int:
    """``value`` in money units (``10**-MONEY_DECIMALS``), exactly; raises :class:`BasketInvalid`
    if it has more decimals than that or is not a finite number."""
    try:
        scaled = value.scaleb(MONEY_DECIMALS)
        units = int(scaled)
    except (InvalidOperation, ValueError, OverflowError) as exc:
        raise BasketInvalid(field, f"expected a decimal amount, got {value!r}") from exc
    if units != scaled:
        raise BasketInvalid(field, f"{value} has more than {MONEY_DECIMALS} decimals")
    return units


def from_units(units: int) -> Decimal:
    """Money units back to a Decimal amount (``12345`` → ``1.2345``)."""
    return Decimal(units).scaleb(-MONEY_DECIMALS)


def line_net(line: Line, currency: str) -> Decimal:
    """quantity × unit price − discount, rounded half-up to the currency's minor unit."""
    return _net(line, _STEPS[minor_units(currency)])


def _net(line: Line, step: Decimal) -> Decimal:
    raw = line.unit_price if line.quantity == _ONE else line.quantity * line.unit_price
    if line.discount:
        raw -= line.discount
    return raw.quantize(step, rounding=ROUND_HALF_UP)


def lines_mismatch(lines: Sequence[Line], amount: Decimal, currency: str) -> LinesMismatch | None:
    """None when the lines' nets add up to ``amount`` exactly (or there are no lines), else what
    they add up to, for a refusal that names the difference."""
    if not lines:
        return None
    total = sum((line_net(line, currency) for line in lines), _ZERO)
    return None if total == amount else LinesMismatch(total=total, amount=amount, currency=currency)


def check_basket(basket: Basket) -> None:
    """Raises :class:`BasketInvalid` on the first thing the rules cannot evaluate: a negative or
    zero quantity, a negative price or discount, a discount larger than its line, an amount of
    more than 4 decimals, tenders below zero or above the amount, lines that do not add up
    (:func:`lines_mismatch`'s message), a naive ``purchased_at``."""
    if basket.purchased_at.tzinfo is None or basket.purchased_at.utcoffset() is None:
        raise BasketInvalid("purchased_at", "expected an aware datetime (with its UTC offset)")
    amount = to_units(basket.amount)
    if amount <= 0:
        raise BasketInvalid("amount", f"expected more than 0, got {basket.amount}")
    paid = 0
    for field in ("paid_with_points", "paid_with_gift_cards"):
        given = getattr(basket, field)
        value = to_units(given, field) if given else 0
        if value < 0:
            raise BasketInvalid(field, f"expected 0 or more, got {given}")
        paid += value
    if paid > amount:
        raise BasketInvalid(
            "paid_with_points",
            f"points and gift cards pay {from_units(paid)}, more than the amount {basket.amount}",
        )
    if basket.lines:
        step = _STEPS[minor_units(basket.currency)]
        total = sum([_check_line(line, i, step) for i, line in enumerate(basket.lines)], _ZERO)
        if total != basket.amount:
            mismatch = LinesMismatch(total=total, amount=basket.amount, currency=basket.currency)
            raise BasketInvalid("lines", mismatch.message)


def _check_line(line: Line, i: int, step: Decimal) -> Decimal:
    """The line's net, once it is known to be a line."""
    quantity, price, discount = line.quantity, line.unit_price, line.discount
    if not (line.sku and quantity > 0 and price >= 0 and discount >= 0):
        _refuse_line(line, f"lines[{i}]")
    try:
        net = _net(line, step)
    except InvalidOperation as exc:
        raise BasketInvalid(f"lines[{i}]", "quantity × unit price is too large") from exc
    if net < 0:
        raise BasketInvalid(f"lines[{i}].discount", f"{discount} is more than the line's {quantity * price}")
    return net


def _refuse_line(line: Line, where: str) -> None:
    if not line.sku:
        raise BasketInvalid(f"{where}.sku", "expected a non-empty SKU")
    for field in ("quantity", "unit_price", "discount"):
        value = getattr(line, field)
        if not isinstance(value, Decimal) or not value.is_finite():
            raise BasketInvalid(f"{where}.{field}", f"expected a decimal number, got {value!r}")
    if line.quantity <= 0:
        raise BasketInvalid(f"{where}.quantity", f"expected more than 0, got {line.quantity}")
    if line.unit_price < 0:
        raise BasketInvalid(f"{where}.unit_price", f"expected 0 or more, got {line.unit_price}")
    raise BasketInvalid(f"{where}.discount", f"expected 0 or more, got {line.discount}")


def split_by_lines(paid: int, nets: Sequence[int], lines: Sequence[Line], unit: int) -> list[int]:
    """``paid`` (money units) spread over the lines in proportion to their nets, in whole
    ``unit``s when ``paid`` is a multiple of it: the largest-remainder split of the settlement
    maths (loyalty/settlement.py), the lines ranked by :meth:`Line.sort_key` for its ties. The
    shares add up to ``paid`` exactly; none is more than its line's net."""
    if len(nets) == 1:
        return [paid]
    if paid % unit or any(net % unit for net in nets):
        unit = 1
    ranked = sorted(range(len(lines)), key=lambda i: lines[i].sort_key())
    rank_of = {i: rank for rank, i in enumerate(ranked)}
    shares = split_pro_rata(paid // unit, {rank_of[i]: net // unit for i, net in enumerate(nets)})
    return [shares.get(rank_of[i], 0) * unit for i in range(len(nets))]


def eligibility(
    basket: Basket,
    *,
    excluded_skus: frozenset[str] = frozenset(),
    excluded_categories: frozenset[str] = frozenset(),
    excluded_labels: frozenset[str] = frozenset(),
) -> Eligibility:
    """What of each line can earn (see the module doc): the basket is assumed checked
    (:func:`check_basket`)."""
    currency = basket.currency
    paid = _paid_units(basket)
    if not basket.lines:
        amount = to_units(basket.amount)
        return Eligibility((amount,), (paid,), (amount - paid,), (False,))
    step = _STEPS[minor_units(currency)]
    nets = [int(_net(line, step).scaleb(MONEY_DECIMALS)) for line in basket.lines]  # whole minor units: exact
    if excluded_skus or excluded_categories or excluded_labels:
        excluded = [
            line.sku in excluded_skus
            or (line.category is not None and line.category in excluded_categories)
            or (bool(line.labels) and not excluded_labels.isdisjoint(line.labels))
            for line in basket.lines
        ]
    else:
        excluded = [False] * len(nets)
    if paid:
        shares = split_by_lines(paid, nets, basket.lines, 10 ** (MONEY_DECIMALS - minor_units(currency)))
    else:
        shares = [0] * len(nets)
    eligible = tuple([0 if x else n - s for n, s, x in zip(nets, shares, excluded, strict=True)])
    return Eligibility(tuple(nets), tuple(shares), eligible, tuple(excluded))


def _paid_units(basket: Basket) -> int:
    points, gift_cards = basket.paid_with_points, basket.paid_with_gift_cards
    return (to_units(points, "paid_with_points") if points else 0) + (
        to_units(gift_cards, "paid_with_gift_cards") if gift_cards else 0
    )


def _exponent(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return exponent if isinstance(exponent, int) else 0
