"""The scheduled triggers of messages (one beat task, gateway/tasks/message_planning.py): safe to
run at any time, twice, or after beat was down (what a run missed, the next one plans; the
occurrence of each message makes a second plan add nothing).

- **The daily points digest** (``points_earned``, marketing): each customer's tally of a day
  (``message_digests``, added up by the planner from confirmed purchases, the day in the
  customer's zone) becomes one message ``points_earned:<customer>:<day>`` once that day has ended
  in the customer's zone (and :data:`DIGEST_SETTLE` more, for confirmations still committing),
  and is marked planned. A tally older than ``backfill_days`` is marked without a message.
- **Tier at risk** (``tier_at_risk``, marketing): a member whose tier's review is
  ``at_risk_days`` away (up to ``backfill_days`` less, for runs missed) and who lacks qualifying
  points to keep it (loyalty/tier_progress.py ``points_to_keep``) gets
  ``tier_at_risk:<customer>:<review date>``.
- **Trial ending** (``membership_trial_ending``, transactional, issue 21): a subscription still in
  its free trial, not cancelled, whose trial ends within ``trial_ending_days`` (and after now)
  gets ``membership_trial_ending:<subscription>:<trial end date>``, from its selling partner.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from gateway.errors import TierLadderNotSet
from gateway.services import tiers
from gateway.services.message_planner import Intent, Policy, plan
from gateway.timeutil import as_utc
from loyalty.messages.policy import day_ended, zone_of
from network.store import (
    CustomerProfile,
    MembershipPlan,
    MembershipSubscription,
    Message,
    MessageDigest,
    TierState,
)

DIGEST_SETTLE = timedelta(minutes=10)
BATCH = 500


@dataclass(frozen=True, slots=True)
class Scheduled:
    """What one run planned: digests and tier-at-risk occurrences, and the messages added."""

    digests: int = 0
    at_risk: int = 0
    messages: int = 0
    trials_ending: int = 0


def run(
    sessions: sessionmaker[Session],
    *,
    policy: Policy,
    now: datetime,
    backfill_days: int,
    at_risk_days: int,
    trial_ending_days: int = 3,
) -> Scheduled:
    d, m1 = digests(sessions, policy=policy, now=now, backfill_days=backfill_days)
    r, m2 = tiers_at_risk(sessions, policy=policy, now=now, at_risk_days=at_risk_days, backfill_days=backfill_days)
    t, m3 = trials_ending(sessions, policy=policy, now=now, days=trial_ending_days)
    return Scheduled(d, r, m1 + m2 + m3, t)


def trials_ending(sessions: sessionmaker[Session], *, policy: Policy, now: datetime, days: int) -> tuple[int, int]:
    """Plans membership_trial_ending for the trials (not cancelled) that end after ``now`` and
    within ``days``; (subscriptions told, messages added). A run missed is made up by the next
    one while the trial has not ended; the occurrence makes a second run add nothing."""
    told = added = 0
    after = -1
    while True:
        with sessions() as session:
            rows = session.execute(
                select(
                    MembershipSubscription.id,
                    MembershipSubscription.customer_id,
                    MembershipSubscription.seller_partner_id,
                    MembershipSubscription.period_end,
                    MembershipPlan.name,
                )
                .join(MembershipPlan, MembershipPlan.id == MembershipSubscription.plan_id)
                .where(
                    MembershipSubscription.status == "trialing",
                    MembershipSubscription.cancel_at_period_end.is_(False),
                    MembershipSubscription.period_end > now,
                    MembershipSubscription.period_end <= now + timedelta(days=days),
                    MembershipSubscription.id > after,
                )
                .order_by(MembershipSubscription.id)
                .limit(BATCH)
            ).all()
            if not rows:
                return told, added
            after = rows[-1].id
            intents = [
                Intent(
                    f"membership_trial_ending:{sid}:{as_utc(end).date().isoformat()}",
                    "membership_trial_ending",
                    customer,
                    seller,
                    {"plan": name, "trial_ends_on": as_utc(end).date().isoformat()},
                )
                for sid, customer, seller, end, name in rows
            ]
            added += plan(session, intents, policy=policy, now=now)
            told += len(intents)
            session.commit()
            if len(rows) < BATCH:
                return told, added


def digests(sessions: sessionmaker[Session], *, policy: Policy, now: datetime, backfill_days: int) -> tuple[int, int]:
    """Plans the digests of the days that ended; (digests planned, messages added). A
    transaction per batch of customers."""
    stale = (now - timedelta(days=backfill_days + 1)).date()
    planned = added = 0
    after = -1
    with sessions() as session:  # far too old to tell: marked, never sent; and the planned ones of then pruned
        session.execute(
            update(MessageDigest)
            .where(MessageDigest.planned_at.is_(None), MessageDigest.day < stale)
            .values(planned_at=now)
        )
        session.execute(delete(MessageDigest).where(MessageDigest.day < stale - timedelta(days=backfill_days)))
        session.commit()
    while True:
        with sessions() as session:
            pending = session.execute(
                select(MessageDigest, CustomerProfile.time_zone)
                .outerjoin(CustomerProfile, CustomerProfile.customer_id == MessageDigest.customer_id)
                .where(
                    MessageDigest.planned_at.is_(None),
                    MessageDigest.day <= now.date(),
                    MessageDigest.customer_id > after,
                )
                .order_by(MessageDigest.customer_id, MessageDigest.day)
                .limit(BATCH)
            ).all()
            if not pending:
                return planned, added
            after = pending[-1][0].customer_id
            due = [
                t
                for t, zone in pending
                if day_ended(t.day, now, zone_of(zone, policy.default_zone), settle=DIGEST_SETTLE)
            ]
            intents = [
                Intent(
                    f"points_earned:{t.customer_id}:{t.day.isoformat()}",
                    "points_earned",
                    t.customer_id,
                    None,
                    {"day": t.day.isoformat(), "points": int(t.points), "purchases": int(t.purchases)},
                )
                for t in due
                if t.points > 0
            ]
            added += plan(session, intents, policy=policy, now=now)
            for t in due:
                t.planned_at = now
            planned += len(due)
            session.commit()
            if len(pending) < BATCH:
                return planned, added


def tiers_at_risk(
    sessions: sessionmaker[Session], *, policy: Policy, now: datetime, at_risk_days: int, backfill_days: int
) -> tuple[int, int]:
    """Plans tier-at-risk messages; (members told, messages added)."""
    latest = now + timedelta(days=at_risk_days)
    earliest = latest - timedelta(days=backfill_days)
    told = added = 0
    after = -1
    while True:
        with sessions() as session:
            rows = session.execute(
                select(TierState.customer_id, TierState.review_at)
                .where(TierState.review_at > earliest, TierState.review_at <= latest, TierState.customer_id > after)
                .order_by(TierState.customer_id)
                .limit(BATCH)
            ).all()
            if not rows:
                return told, added
            after = rows[-1].customer_id
            occurrences = {f"tier_at_risk:{c}:{as_utc(r).date().isoformat()}": c for c, r in rows}
            done = set(session.scalars(select(Message.occurrence).where(Message.occurrence.in_(list(occurrences)))))
            intents = []
            for occurrence, customer in occurrences.items():
                if occurrence in done:
                    continue
                try:
                    seen = tiers.tier_of(session, customer_id=customer, now=now).progress
                except TierLadderNotSet:
                    return told, added
                review = seen.review_at
                if review is None or seen.points_to_keep <= 0 or not earliest < review <= latest:
                    continue
                intents.append(
                    Intent(
                        f"tier_at_risk:{customer}:{review.date().isoformat()}",
                        "tier_at_risk",
                        customer,
                        None,
                        {
                            "tier": seen.earned,
                            "review_on": review.date().isoformat(),
                            "points_missing": seen.points_to_keep,
                        },
                    )
                )
            added += plan(session, intents, policy=policy, now=now)
            told += len(intents)
            session.commit()
            if len(rows) < BATCH:
                return told, added
