"""A wallet's expiry schedule, read from the chain (the contract's ``expiresAtOf`` is the law)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from web3.exceptions import Web3Exception

from gateway.chain import Chain
from gateway.errors import ChainUnavailable
from loyalty.expiry_schedule import DAY_S
from network.errors import TransientRpcError, failure_name


@dataclass(frozen=True)
class ExpiryView:
    wallet: str
    points: int
    expires_at: int  # 0: holds nothing
    expired_points: int
    window_s: int
    reminder_days: tuple[int, ...]

    @property
    def window_days(self) -> int:
        return self.window_s // DAY_S

    def reminders(self) -> list[datetime]:
        return [_at(self.expires_at - d * DAY_S) for d in sorted(self.reminder_days, reverse=True)]

    def rule(self) -> str:
        days = self.window_days
        return (
            f"Points expire after {days} days without activity: any earn, spend or transfer of points keeps all of "
            f"them for {days} days more. One date holds for the whole balance."
        )


def _at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def expiry_of(chain: Chain, wallet: str, *, reminder_days: Sequence[int]) -> ExpiryView:
    """The wallet's points, expiry time and expired points, from the chain."""
    points = chain.contracts.points.functions
    try:
        return ExpiryView(
            wallet=wallet,
            points=int(points.balanceOf(wallet).call()),
            expires_at=int(points.expiresAtOf(wallet).call()),
            expired_points=int(points.expiredPointsOf(wallet).call()),
            window_s=int(points.expiryWindow().call()),
            reminder_days=tuple(reminder_days),
        )
    except (TransientRpcError, Web3Exception) as exc:
        raise ChainUnavailable(f"the points' expiry cannot be read from the chain ({failure_name(exc)})") from exc


def expires_on(view: ExpiryView) -> datetime | None:
    return _at(view.expires_at) if view.points and view.expires_at else None
