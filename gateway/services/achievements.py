"""Achievements: the operator's badges, members' progress, awards and their rollback.

A member's *visits* are their purchases confirmed on chain and not refunded in full (the points of
its refunds not failed are below the purchase's): the rules (loyalty/campaigns/achievements.py)
read only them. The badge consumer (:func:`consume`, beat task ``gateway.tasks.achievements.sweep``)
reads ``purchase.confirmed`` and ``refund.confirmed`` domain events and re-evaluates every active
badge of each member concerned: a badge newly met is awarded, one no longer met (a refund took away
a visit it rested on) is revoked; each change is recorded (``achievement_events``) with the event
that caused it, and announced (``achievement.awarded`` / ``achievement.revoked``). Re-evaluating
from the visits makes a run idempotent: reading the same events again changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from gateway.errors import AchievementExists, AchievementInvalid, NotFound
from gateway.timeutil import as_utc
from loyalty.campaigns.achievements import AchievementRuleInvalid, Progress, Visit, parse_rule, progress, rule_json
from network.store import (
    Achievement,
    AchievementEvent,
    CustomerWallet,
    Member,
    MemberAchievement,
    OutboxPurchase,
    OutboxReversal,
    Purchase,
    PurchaseStatus,
    Refund,
    ReversalStatus,
    utcnow,
)
from network.store.events import Event, record
from network.store.events import consume as consume_events

CONSUMER = "achievements"
EVENT_TYPES = ("purchase.confirmed", "refund.confirmed")
AWARDED, REVOKED = "awarded", "revoked"
CONFIRMED = (PurchaseStatus.MINTED, PurchaseStatus.SKIPPED)


# --- definitions (the operator's)


def _checked(rule: dict[str, Any]) -> dict[str, Any]:
    try:
        return rule_json(parse_rule(rule))
    except AchievementRuleInvalid as exc:
        raise AchievementInvalid(str(exc)) from exc


def create(
    session: Session, *, slug: str, name: str, description: str, rule: dict[str, Any], active: bool
) -> Achievement:
    """A new badge; AchievementInvalid for a bad rule, AchievementExists for a slug taken. Flushed."""
    checked = _checked(rule)
    if session.scalar(select(Achievement.id).where(Achievement.slug == slug)) is not None:
        raise AchievementExists(f"an achievement with the slug {slug!r} exists already")
    badge = Achievement(slug=slug, name=name, description=description, rule=checked, active=active)
    session.add(badge)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise AchievementExists(f"an achievement with the slug {slug!r} exists already") from exc
    return badge


def get(session: Session, *, achievement_id: int) -> Achievement:
    badge = session.get(Achievement, achievement_id)
    if badge is None:
        raise NotFound(f"no achievement {achievement_id}")
    return badge


def update(
    session: Session, *, achievement_id: int, name: str, description: str, rule: dict[str, Any], active: bool
) -> Achievement:
    """Changes a badge (its slug stays): awards made stay until the next evaluation of each member."""
    badge = get(session, achievement_id=achievement_id)
    badge.rule, badge.name, badge.description, badge.active = _checked(rule), name, description, active
    badge.updated_at = utcnow()
    session.flush()
    return badge


def listed(session: Session) -> list[Achievement]:
    return list(session.scalars(select(Achievement).order_by(Achievement.id)))


def holders(session: Session, *, achievement_id: int) -> dict[str, int]:
    rows = session.execute(
        select(MemberAchievement.status, func.count())
        .where(MemberAchievement.achievement_id == achievement_id)
        .group_by(MemberAchievement.status)
    ).all()
    return {str(status): int(n) for status, n in rows}


# --- visits and evaluation


def visits(session: Session, *, customer_id: int) -> list[Visit]:
    """The customer's purchases confirmed on chain and not refunded in full, oldest first."""
    refunded = (
        select(func.coalesce(func.sum(Refund.points), 0))
        .join(OutboxReversal, OutboxReversal.id == Refund.reversal_id)
        .where(Refund.purchase_pk == Purchase.id, OutboxReversal.status != ReversalStatus.FAILED)
        .scalar_subquery()
    )
    wallets = select(CustomerWallet.address).where(CustomerWallet.customer_id == customer_id)
    rows = session.execute(
        select(Purchase.purchased_at, Purchase.partner_id)
        .join(OutboxPurchase, OutboxPurchase.id == Purchase.outbox_id)
        .where(Purchase.customer_wallet.in_(wallets), OutboxPurchase.status.in_(CONFIRMED), refunded < Purchase.points)
        .order_by(Purchase.purchased_at)
    ).all()
    return [Visit(as_utc(at), partner_id) for at, partner_id in rows]


def evaluate(session: Session, *, customer_id: int, now: datetime, cause: str | None = None) -> list[tuple[str, str]]:
    """Awards the active badges newly met and revokes those no longer met; returns the changes
    as (slug, awarded | revoked). Not committed."""
    badges = list(session.scalars(select(Achievement).where(Achievement.active.is_(True)).order_by(Achievement.id)))
    if not badges:
        return []
    held = {
        m.achievement_id: m
        for m in session.scalars(select(MemberAchievement).where(MemberAchievement.customer_id == customer_id))
    }
    seen = visits(session, customer_id=customer_id)
    changes: list[tuple[str, str]] = []
    for badge in badges:
        met = progress(parse_rule(badge.rule), seen, now=now).met
        mine = held.get(badge.id)
        if met and (mine is None or mine.status == REVOKED):
            if mine is None:
                session.add(
                    MemberAchievement(achievement_id=badge.id, customer_id=customer_id, status=AWARDED, awarded_at=now)
                )
            else:
                mine.status, mine.awarded_at, mine.revoked_at = AWARDED, now, None
            changes.append((badge.slug, AWARDED))
        elif not met and mine is not None and mine.status == AWARDED:
            mine.status, mine.revoked_at = REVOKED, now
            changes.append((badge.slug, REVOKED))
        else:
            continue
        kind = changes[-1][1]
        session.add(AchievementEvent(achievement_id=badge.id, customer_id=customer_id, kind=kind, cause=cause))
        payload = {"customer_id": customer_id, "achievement": badge.slug, "cause": cause}
        record(session, f"achievement.{kind}", payload=payload)
    session.flush()
    return changes


def consume(sessions: sessionmaker[Session], *, now: datetime, limit: int = 5_000) -> tuple[int, int]:
    """One run of the badge consumer: (events read, awards and revocations made)."""
    made = 0

    def handle(session: Session, events: list[Event]) -> None:
        nonlocal made
        causes: dict[str, str] = {}
        for event in events:
            if event.customer_wallet:
                causes[event.customer_wallet] = event.event_id  # the latest event of each wallet
        if not causes:
            return
        owners = session.execute(
            select(CustomerWallet.address, CustomerWallet.customer_id)
            .join(Member, Member.customer_id == CustomerWallet.customer_id)
            .where(CustomerWallet.address.in_(list(causes)), Member.referral_code.is_not(None))
        ).all()
        customers: dict[int, str] = {}
        for address, customer_id in owners:
            customers[customer_id] = causes[address]
        for customer_id, cause in sorted(customers.items()):
            made += len(evaluate(session, customer_id=customer_id, now=now, cause=cause))

    read = consume_events(sessions, CONSUMER, handle, wants=lambda t, _p: t in EVENT_TYPES, limit=limit)
    return read, made


# --- the member's view


@dataclass(frozen=True)
class MyAchievement:
    slug: str
    name: str
    description: str
    progress: Progress
    status: str | None  # awarded | revoked | None (never held)
    awarded_at: datetime | None


def mine(session: Session, *, customer_id: int, now: datetime) -> list[MyAchievement]:
    """Every active badge with the member's progress, and those they hold that are no longer active."""
    held = {
        m.achievement_id: m
        for m in session.scalars(select(MemberAchievement).where(MemberAchievement.customer_id == customer_id))
    }
    seen = visits(session, customer_id=customer_id)
    answer = []
    for badge in listed(session):
        mine_ = held.get(badge.id)
        if not badge.active and (mine_ is None or mine_.status != AWARDED):
            continue
        answer.append(
            MyAchievement(
                slug=badge.slug,
                name=badge.name,
                description=badge.description,
                progress=progress(parse_rule(badge.rule), seen, now=now),
                status=None if mine_ is None else mine_.status,
                awarded_at=None if mine_ is None or mine_.status != AWARDED else as_utc(mine_.awarded_at),
            )
        )
    return answer
