"""The partner's issuance headroom and the purchases that fit it: pure rules, no store, no chain.

``Clearing`` refuses a whole ``earnBatch`` when its value (points x issue price) would take the
partner's unsettled issuance over its funds or its issuance limit. So that one purchase that does
not fit never fails the others, the sender packs each batch within the headroom it read from the
chain (less what its own unmined transactions will reserve) and holds back the purchases that do
not fit: they wait, ``held``, until the headroom returns (a deposit, a settlement, a higher
limit), and fail only after ``held_purchase_timeout_s``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

FUNDS_EXHAUSTED = "partner-funds-exhausted"  # the problem type a held or timed-out purchase carries
OVER_BOUND_ERRORS = ("ClearingIssuanceOverFunds", "ClearingIssuanceOverLimit")


class HasPoints(Protocol):
    @property
    def points(self) -> int: ...


T = TypeVar("T", bound=HasPoints)


def fit_to_headroom(items: Sequence[T], issue_price: int, headroom: int) -> tuple[list[T], list[T]]:
    """(items that fit, items held back), in the given order: each item is taken if its value
    still fits what is left of ``headroom``, else held; a later, smaller item may still fit."""
    fit: list[T] = []
    held: list[T] = []
    left = headroom
    for item in items:
        value = item.points * issue_price
        if value <= left:
            fit.append(item)
            left -= value
        else:
            held.append(item)
    return fit, held


def held_reason(headroom: int) -> str:
    """Why a purchase waits, in words a partner understands."""
    return (
        f"{FUNDS_EXHAUSTED}: the partner may issue points worth only {headroom} more (settlement-token units) "
        "until a deposit or a settlement; the purchase is minted as soon as its value fits"
    )


def is_over_bound(reason: str | None) -> bool:
    """Whether a revert reason is the issuance bound (the batch is sent again, never failed)."""
    return reason is not None and reason.startswith(OVER_BOUND_ERRORS)
