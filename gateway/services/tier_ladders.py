"""The tier ladder's versions in the store: what the operator defines (the tiers, each with its
threshold and earn multiplier, and the policy: window, review, grace) as stored JSON, read back as
loyalty/tiers.py's :class:`Ladder` and :class:`TierPolicy`.

A version is never changed once written: ``PUT`` writes a new one (``proposed``); applying it
(gateway/services/tier_recalculation.py) makes it the ``active`` one, the previous one ``retired``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.errors import NotFound, TierLadderInvalid
from loyalty.tiers import Anniversary, FixedDate, Ladder, Tier, TierError, TierPolicy, Window
from network.store import TierLadder


@dataclass(frozen=True, slots=True)
class Version:
    """A stored version of the ladder, read as the pure rules' types."""

    id: int
    ladder: Ladder
    policy: TierPolicy
    status: str
    created_at: datetime
    activated_at: datetime | None


def parse(tiers: list[dict[str, Any]], policy: dict[str, Any]) -> tuple[Ladder, TierPolicy]:
    """The ladder and policy of their JSON form; :class:`TierLadderInvalid` naming what is wrong."""
    try:
        ladder = Ladder(
            tuple(
                Tier(name=str(t["name"]), threshold=t["threshold"], multiplier=Decimal(str(t.get("multiplier", "1"))))
                for t in tiers
            )
        )
        review = policy.get("review") or {"kind": "anniversary"}
        rule = Anniversary() if review.get("kind") == "anniversary" else FixedDate(review["month"], review["day"])
        grace_days = policy.get("grace_days", 0)
        if not isinstance(grace_days, int) or isinstance(grace_days, bool):
            raise TierError(f"grace_days must be a whole number of days, got {grace_days!r}")
        return ladder, TierPolicy(
            window=Window(policy.get("window", Window.ROLLING_12_MONTHS)),
            review=rule,
            grace=timedelta(days=grace_days),
        )
    except (TierError, KeyError, ValueError, TypeError, InvalidOperation) as exc:
        detail = str(exc) if isinstance(exc, TierError | ValueError) else f"missing or bad {exc}"
        raise TierLadderInvalid(detail) from None


def tiers_json(ladder: Ladder) -> list[dict[str, Any]]:
    return [{"name": t.name, "threshold": t.threshold, "multiplier": str(t.multiplier)} for t in ladder.tiers]


def policy_json(policy: TierPolicy) -> dict[str, Any]:
    review: dict[str, Any] = (
        {"kind": "anniversary"}
        if isinstance(policy.review, Anniversary)
        else {"kind": "fixed_date", "month": policy.review.month, "day": policy.review.day}
    )
    return {"window": policy.window.value, "review": review, "grace_days": policy.grace.days}


def _version(row: TierLadder) -> Version:
    ladder, policy = parse(row.tiers, row.policy)
    return Version(row.id, ladder, policy, row.status, row.created_at, row.activated_at)


def active(session: Session) -> Version | None:
    """The ladder in force, None before the first one is applied."""
    row = session.scalar(select(TierLadder).where(TierLadder.status == "active").order_by(TierLadder.id.desc()))
    return None if row is None else _version(row)


def get(session: Session, *, version: int) -> Version:
    row = session.get(TierLadder, version)
    if row is None:
        raise NotFound(f"no tier ladder version {version}")
    return _version(row)


def latest(session: Session) -> Version | None:
    """The newest version, whatever its status."""
    row = session.scalar(select(TierLadder).order_by(TierLadder.id.desc()).limit(1))
    return None if row is None else _version(row)


def propose(session: Session, *, ladder: Ladder, policy: TierPolicy, now: datetime) -> Version:
    """Writes a new version, ``proposed`` (flushed, not committed)."""
    row = TierLadder(tiers=tiers_json(ladder), policy=policy_json(policy), status="proposed", created_at=now)
    session.add(row)
    session.flush()
    return _version(row)


def versions(session: Session) -> dict[int, Version]:
    """Every version by id (few: one per ladder change)."""
    return {row.id: _version(row) for row in session.scalars(select(TierLadder))}
