"""Points expiry by inactivity, as ``CoalitionPoints`` enforces it, and breakage in the books.

Pure functions: no store, no chain, no HTTP. The contract is the law; these mirror it so that the
gateway, the sweep and anyone's recomputation from chain events agree with it to the second.

The rule (contracts/CoalitionPoints.sol): each holder has one expiry time. Every movement of the
holder's points (earned, redeemed, reversed, sent, received; not a transfer of zero) moves it to
``max(expires_at, moved_at + window)``, with the window in force at that moment, so a policy change
never shortens the life of points already held. Once the block time is past it, the holder's whole
balance has expired: it is burned by the holder's next movement (before the movement) or by anyone's
sweep (``expire(holders)``), each emitting ``Expired(holder, points, expiresAt)``.

Breakage: expired points leave the coalition's liability. Nobody is reimbursed for them: the issuing
partners paid the issue price when the points were earned, and the standard coalition model leaves
the breakage with the operator. A settlement statement reports a period's expired points for
information; no partner's net changes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

BREAKAGE_RULE = (
    "expired points leave the liability; nobody is reimbursed for them: the issuing partners paid the issue "
    "price when they were earned, and the breakage stays with the operator"
)


@dataclass(frozen=True, slots=True)
class Expiry:
    """One ``Expired`` event: a holder's whole balance, burned after its expiry time."""

    holder: str
    points: int
    expires_at: int


def expires_after_movement(expires_at: int, *, moved_at: int, window: int, points: int) -> int:
    """A holder's expiry time after a movement of ``points`` at ``moved_at`` under ``window``."""
    return max(expires_at, moved_at + window) if points else expires_at


def expired_points(balance: int, expires_at: int, now: int) -> int:
    """What a sweep would burn at ``now``: the whole balance once ``now`` is past the expiry time."""
    return balance if now > expires_at else 0


def points_expired(expiries: Iterable[Expiry]) -> int:
    """A period's breakage in points: the sum of its ``Expired`` events."""
    total = 0
    for e in expiries:
        if e.points < 0:
            raise ValueError(f"negative points in {e}")
        total += e.points
    return total
