"""Paying with points at the till: pure rules, no store, no chain, no HTTP.

A partner takes points as money off a purchase at its own point value: its reimbursement rate,
what the coalition pays it for each point redeemed there, in the settlement token's base units
(cUSD, 6 decimals). So ``points`` points are worth ``points × rate`` base units, and a money
amount buys the most points that do not exceed it (rounded down: the customer never gives more
points than the amount taken off).

The points a customer can still promise are their balance on chain less everything promised and
not burned yet: redemptions in flight and holds still open (authorised and not expired). A hold
past its expiry holds nothing, whatever its stored status says until beat releases it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, Decimal

SETTLEMENT_DECIMALS = 6  # the settlement token's (cUSD's) decimals
_UNIT = Decimal(10) ** SETTLEMENT_DECIMALS


class PointsPaymentRefused(ValueError):
    """Pure refusals; ``slug`` names the problem type."""

    slug = "validation-error"


class AmountTooSmall(PointsPaymentRefused):
    slug = "points-amount-too-small"


class CaptureExceedsHold(PointsPaymentRefused):
    slug = "capture-exceeds-hold"


def to_base_units(amount: Decimal) -> int:
    """A money amount in cUSD (``Decimal('12.50')``) in base units, rounded down."""
    return int((amount * _UNIT).to_integral_value(rounding=ROUND_DOWN))


def to_money(base_units: int) -> Decimal:
    """Base units as a cUSD amount with its 6 decimals."""
    return (Decimal(base_units) / _UNIT).quantize(Decimal(1) / _UNIT)


@dataclass(frozen=True, slots=True)
class Quote:
    """What a hold takes: ``points`` worth ``money_value`` base units at ``point_value`` each."""

    points: int
    point_value: int
    money_value: int


def quote(*, point_value: int, amount: Decimal | None = None, points: int | None = None) -> Quote:
    """The points for a money ``amount`` (cUSD, the most points not worth more than it), or the
    value of a number of ``points``; exactly one of the two. Raises AmountTooSmall when the amount
    buys no point, ValueError for a rate that is not positive."""
    if point_value <= 0:
        raise ValueError(f"the point value must be positive, got {point_value}")
    if (amount is None) == (points is None):
        raise ValueError("give exactly one of amount or points")
    if amount is not None:
        points = to_base_units(amount) // point_value
        if points <= 0:
            raise AmountTooSmall(
                f"{amount} cUSD buys no point at this partner's point value of {to_money(point_value)} cUSD"
            )
    assert points is not None
    if points <= 0:
        raise AmountTooSmall("a hold takes at least one point")
    return Quote(points=points, point_value=point_value, money_value=points * point_value)


def is_open(status: str, expires_at: datetime, now: datetime) -> bool:
    """Whether a hold still holds its points: authorised and not past its expiry."""
    return status == "authorised" and now < expires_at


def available(*, balance: int, in_flight: int, held: int) -> int:
    """Points a customer can still promise: the chain's balance less redemptions not burned yet
    and open holds (never below zero)."""
    return max(0, balance - in_flight - held)


def capture_points(*, held: int, amount_points: int | None) -> int:
    """The points a capture burns: all of the hold (None), or a part of it. Raises
    CaptureExceedsHold beyond the hold, AmountTooSmall for none."""
    if amount_points is None:
        return held
    if amount_points <= 0:
        raise AmountTooSmall("a capture takes at least one point")
    if amount_points > held:
        raise CaptureExceedsHold(f"the hold has {held} points; {amount_points} asked")
    return amount_points


def given_back(*, paid_points: int, refunded: Decimal, amount: Decimal, already_given: int) -> int:
    """Points a refund gives back of a purchase paid partly with ``paid_points`` points: in
    proportion to the part of the purchase's ``amount`` refunded so far (rounded down), less what
    earlier refunds gave back; never more than the points paid in all."""
    if amount <= 0:
        return 0
    share = min(Decimal(1), refunded / amount)
    due = int((Decimal(paid_points) * share).to_integral_value(rounding=ROUND_DOWN))
    if refunded >= amount:
        due = paid_points  # the full refund gives back every point, whatever the rounding before
    return max(0, min(paid_points, due) - already_given)


def split_give_back(due: int, left: list[int]) -> list[int]:
    """``due`` points given back split over the captures of a purchase, oldest first: each takes
    at most what is ``left`` of it (what it burned less what was given back of it), since the
    contract restores each capture within its own bound. Raises ValueError if they cannot hold it."""
    pieces = []
    for room in left:
        take = min(due, max(room, 0))
        pieces.append(take)
        due -= take
    if due:
        raise ValueError(f"{due} points to give back beyond what the captures burned")
    return pieces


def paid_with_mismatch(*, paid: Decimal, captured_points: int, captured_value: int, purchase_id: str) -> str | None:
    """Why a purchase's ``paid_with.points`` (money, in units of the settlement token as the
    holds are) is not what the holds captured for it are worth (``captured_value`` base units for
    ``captured_points`` points), or None when it is exactly that."""
    if paid * _UNIT == captured_value:
        return None
    if not captured_points:
        return (
            f"paid_with.points is {paid}; no hold was captured for purchase {purchase_id!r}: capture it first "
            "(POST /v1/points-holds/{hold_id}/capture with this purchase_id)"
        )
    return (
        f"paid_with.points is {paid}; the holds captured for purchase {purchase_id!r} are worth "
        f"{to_money(captured_value)} cUSD ({captured_points} points)"
    )
