"""A holder's expiry time and its reminders, folded from the holder's indexed movements.

Pure functions: no store, no chain, no HTTP. They mirror ``CoalitionPoints`` (see loyalty/expiry.py
for the rule): every movement of a holder's points (``points != 0``) moves its expiry time to
``max(expires_at, moved_at + window)`` with the window in force at that position of the chain
(the last ``ExpiryWindowChanged`` before it), and an ``Expired`` event resets the holder to nothing.
With inactivity there is one expiry time for the holder's whole balance: the schedule has one date.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

DAY_S = 86_400
Position = tuple[int, int]  # (block number, log index): the order of the chain


@dataclass(frozen=True, slots=True)
class Movement:
    """One ledger entry of a holder: where it is on the chain, when, what kind, how many points (signed)."""

    position: Position
    block_time: int
    kind: str
    points: int


@dataclass(frozen=True, slots=True)
class HolderExpiry:
    """A holder's balance and the time after which all of it may be burned (0: nothing held)."""

    balance: int
    expires_at: int

    def due(self, now: int) -> bool:
        """The sweep may burn it at ``now`` (the contract's ``block.timestamp > expiresAt``)."""
        return self.balance > 0 and now > self.expires_at


class Windows:
    """The expiry windows in force over the chain: each from its ``ExpiryWindowChanged`` on."""

    def __init__(self, changes: Sequence[tuple[Position, int]]) -> None:
        if not changes:
            raise ValueError("no expiry window known: the deployment's ExpiryWindowChanged is not indexed")
        ordered = sorted(changes)
        self._positions = [p for p, _ in ordered]
        self._windows = [w for _, w in ordered]

    def at(self, position: Position) -> int:
        """The window in force for a movement at ``position`` (the first one before any change)."""
        i = bisect_right(self._positions, position) - 1
        return self._windows[max(i, 0)]

    @property
    def shortest(self) -> int:
        return min(self._windows)

    @property
    def single(self) -> bool:
        return len(set(self._windows)) == 1


def holder_expiry(movements: Iterable[Movement], windows: Windows) -> HolderExpiry:
    """A holder's balance and expiry time after ``movements`` (in chain order)."""
    balance = expires_at = 0
    for m in sorted(movements, key=lambda m: m.position):
        if m.kind == "expired":  # the whole balance burned: the account starts again from nothing
            balance = expires_at = 0
            continue
        balance += m.points
        if m.points:
            expires_at = max(expires_at, m.block_time + windows.at(m.position))
    return HolderExpiry(balance, expires_at)


def reminders_due(expires_at: int, now: int, days_before: Sequence[int]) -> list[int]:
    """The reminders (days before ``expires_at``) whose time has come at ``now`` and whose expiry
    has not passed yet, earliest reminder first (30 before 7)."""
    if now > expires_at:
        return []
    return sorted((d for d in set(days_before) if now >= expires_at - d * DAY_S), reverse=True)
