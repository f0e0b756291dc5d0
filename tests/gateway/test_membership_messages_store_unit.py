"""Membership messages (loyalty/messages/kinds.py ``membership_*``) planned by the message planner
(gateway/services/message_planner.py) from the ``membership.*`` domain events the membership
service records: a failed renewal payment plans one transactional message per channel the customer
has an address for, with the plan's name and the grace's end, once whatever the replays; a
customer who opted out of the selling partner's email gets it suppressed, as every transactional
message. A trial about to end is told by the schedule (message_schedule.py), once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from gateway.services import customer_records, memberships, message_planner, message_schedule
from network.store import EventCursor, MembershipSubscription, Message, Partner
from tests.stores import add_partner, migrated_store

T0 = datetime(2027, 1, 10, 9, tzinfo=UTC)
GRACE = 7


@pytest.fixture
def sessions(tmp_path: Path) -> sessionmaker[Session]:
    made = migrated_store(f"sqlite:///{tmp_path / 'store.db'}")
    add_partner(made, partner_id=7, name="Grocer")
    with made() as session:
        assert session.get(Partner, 7) is not None
        for i, ref in enumerate(("ann", "bob", "cat")):
            link = customer_records.link(session, partner_id=7, ref=ref, wallet="0x" + f"{i + 10:x}" * 40)
            customer_records.set_profile(
                session, customer_id=link.customer_id, email=f"{ref}@example.com", attributes={"first_name": "Ann"}
            )
        session.commit()
    return made


def _failed_renewal(session: Session, ref: str, plan_id: int, *, early: bool = True) -> int:
    """A renewal payment reported failed a day before the period's end (``membership.payment_failed``),
    or at its end, after the sweep's ``membership.past_due``: one message either way."""
    customer = memberships.customer_of_ref(session, partner_id=7, ref=ref)
    done = memberships.subscribe(
        session, partner_id=7, customer_id=customer, plan_id=plan_id, now=T0, grace_days=GRACE, provider_ref=f"pi_{ref}"
    )
    assert isinstance(done, memberships.Reported)
    failed = memberships.report_payment(
        session, partner_id=7, subscription_id=done.subscription.id, provider_ref=f"pi_{ref}_2", outcome="failed",
        amount=Decimal("9.99"), currency="EUR", grace_days=GRACE,
        now=done.subscription.period_end - timedelta(days=1 if early else 0),
    )  # fmt: skip
    assert failed.subscription.status == "past_due"
    return customer


def test_a_failed_payment_plans_one_transactional_message(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        plan_id = memberships.create_plan(
            session, owner_partner_id=7, name="Plus", price=Decimal("9.99"), currency="EUR", period="monthly",
            trial_days=0, earn_multiplier=Decimal(1), tier_protection=False, members_only_skus=[], perks=[],
            honoured_by=[], coalition_share=Decimal("0.1"),
        ).id  # fmt: skip
        ann = _failed_renewal(session, "ann", plan_id)
        bob = memberships.customer_of_ref(session, partner_id=7, ref="bob")
        customer_records.record_consent(
            session, customer_id=bob, channel="email", partner_id=7, granted=False, source="web-form", at=T0
        )
        _failed_renewal(session, "bob", plan_id)
        cat = _failed_renewal(session, "cat", plan_id, early=False)
        session.commit()
    now = T0 + timedelta(days=40)
    message_planner.consume(sessions, policy=message_planner.Policy(), now=now)
    with sessions() as session:
        session.execute(update(EventCursor).where(EventCursor.consumer == "messages").values(last_id=0, gaps=[]))
        session.commit()
    message_planner.consume(sessions, policy=message_planner.Policy(), now=now)  # a replay adds nothing

    with sessions() as session:
        rows = list(session.scalars(select(Message).where(Message.kind.like("membership_%")).order_by(Message.id)))
        grace = memberships.get_subscription(session, subscription_id=1).grace_until
    assert [(m.kind, m.customer_id, m.channel, m.category, m.partner_id) for m in rows] == [
        ("membership_payment_failed", ann, "email", "transactional", 7),
        ("membership_payment_failed", bob, "email", "transactional", 7),
        ("membership_payment_failed", cat, "email", "transactional", 7),
    ]
    assert rows[0].status == "queued" and rows[0].address == "ann@example.com"
    assert rows[0].data["plan"] == "Plus" and grace is not None
    assert rows[0].data["grace_until"] == grace.date().isoformat()
    assert (rows[1].status, rows[1].reason) == ("suppressed", "opted-out")
    assert rows[2].status == "queued" and rows[2].data["grace_until"] == rows[0].data["grace_until"]


def test_a_trial_ending_is_told_once_days_before_and_not_once_cancelled(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        plan_id = memberships.create_plan(
            session, owner_partner_id=7, name="Plus", price=Decimal("9.99"), currency="EUR", period="monthly",
            trial_days=14, earn_multiplier=Decimal(1), tier_protection=False, members_only_skus=[], perks=[],
            honoured_by=[], coalition_share=Decimal("0.1"),
        ).id  # fmt: skip
        subs = {}
        for ref in ("ann", "bob"):
            customer = memberships.customer_of_ref(session, partner_id=7, ref=ref)
            row = memberships.subscribe(
                session, partner_id=7, customer_id=customer, plan_id=plan_id, now=T0, grace_days=GRACE
            )
            assert isinstance(row, MembershipSubscription) and row.status == "trialing"
            subs[ref] = (customer, row.id, row.period_end)
        bob = memberships.get_subscription(session, subscription_id=subs["bob"][1])
        memberships.cancel(session, row=bob, now=T0 + timedelta(days=1), grace_days=GRACE)
        session.commit()
    policy = message_planner.Policy()
    end = subs["ann"][2]
    early = message_schedule.trials_ending(sessions, policy=policy, now=end - timedelta(days=4), days=3)
    assert early == (0, 0)  # not yet within 3 days
    told = message_schedule.run(
        sessions, policy=policy, now=end - timedelta(days=2), backfill_days=3, at_risk_days=30, trial_ending_days=3
    )
    again = message_schedule.trials_ending(sessions, policy=policy, now=end - timedelta(days=1), days=3)
    assert (told.trials_ending, told.messages, again) == (1, 1, (1, 0))  # the second run adds nothing
    with sessions() as session:
        rows = list(session.scalars(select(Message).where(Message.kind == "membership_trial_ending")))
    assert [(m.customer_id, m.partner_id, m.category, m.status) for m in rows] == [
        (subs["ann"][0], 7, "transactional", "queued")
    ]
    assert rows[0].data["trial_ends_on"] == end.date().isoformat() and rows[0].data["plan"] == "Plus"
    assert rows[0].occurrence == f"membership_trial_ending:{subs['ann'][1]}:{end.date().isoformat()}"
