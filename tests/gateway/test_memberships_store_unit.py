"""Paid memberships in the store (gateway/services/memberships.py, membership_benefits.py) on a
migrated SQLite store: a trial that converts, renews and is cancelled then swept to a lapse; the
payment reports idempotent by the provider's reference; the perk check and the earn multipliers
read what is entitled at the time given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from gateway.errors import IdempotencyConflict, MembershipTransitionInvalid
from gateway.services import customer_records, membership_benefits, memberships
from network.store import DomainEvent, MembershipPayment, Partner
from tests.stores import add_partner, migrated_store

T0 = datetime(2027, 1, 10, 9, tzinfo=UTC)
WALLET = "0x" + "a" * 40
GRACE = 7


@pytest.fixture
def sessions(tmp_path: Path) -> sessionmaker[Session]:
    made = migrated_store(f"sqlite:///{tmp_path / 'store.db'}")
    add_partner(made, partner_id=7, name="Grocer")
    with made() as session:
        bakery = session.get(Partner, 7)
        assert bakery is not None
        session.add(Partner(**{c.name: getattr(bakery, c.name) for c in Partner.__table__.columns} | {
            "id": 8, "name": "Bakery", "minter": "0x" + "3" * 40, "api_key_prefix": "ck_bakery",
        }))  # fmt: skip
        customer_records.link(session, partner_id=7, ref="ann", wallet=WALLET)
        customer_records.link(session, partner_id=8, ref="ann-b", wallet=WALLET)
        session.commit()
    return made


def _plan(session: Session) -> int:
    plan = memberships.create_plan(
        session, owner_partner_id=7, name="Plus", price=Decimal("9.99"), currency="EUR", period="monthly",
        trial_days=14, earn_multiplier=Decimal("1.5"), tier_protection=True, members_only_skus=[],
        perks=["free_delivery"], honoured_by=[8], coalition_share=Decimal("0.1"),
    )  # fmt: skip
    return plan.id


def test_a_trial_converts_renews_and_lapses_after_a_cancellation(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        plan_id = _plan(session)
        customer_id = memberships.customer_of_ref(session, partner_id=7, ref="ann")
        row = memberships.subscribe(
            session, partner_id=7, customer_id=customer_id, plan_id=plan_id, now=T0, grace_days=GRACE
        )
        assert not isinstance(row, memberships.Reported)
        sid = row.id
        session.commit()
    with sessions() as session:
        seen = membership_benefits.perks_of(session, partner_id=8, ref="ann-b", now=T0 + timedelta(days=1))
        assert seen.benefits.plan_ids == (plan_id,) and seen.benefits.perks == ("free_delivery",)
        assert membership_benefits.plan_multipliers(session, [(8, WALLET), (9, WALLET)], now=T0) == {
            (8, WALLET): Decimal("1.5")
        }
        paid = memberships.report_payment(
            session, partner_id=7, subscription_id=sid, provider_ref="pi_1", outcome="succeeded",
            amount=Decimal("9.99"), currency="EUR", now=T0 + timedelta(days=13), grace_days=GRACE,
        )  # fmt: skip
        assert (
            paid.created and paid.subscription.status == "active" and paid.payment.coalition_amount == Decimal("1.00")
        )
        session.commit()
    with sessions() as session:
        again = memberships.report_payment(
            session, partner_id=7, subscription_id=sid, provider_ref="pi_1", outcome="succeeded",
            amount=Decimal("9.99"), currency="EUR", now=T0 + timedelta(days=13), grace_days=GRACE,
        )  # fmt: skip
        assert not again.created and again.payment.id == paid.payment.id
        with pytest.raises(IdempotencyConflict):
            memberships.report_payment(
                session, partner_id=7, subscription_id=sid, provider_ref="pi_1", outcome="failed",
                amount=Decimal("9.99"), currency="EUR", now=T0 + timedelta(days=13), grace_days=GRACE,
            )  # fmt: skip
        row = memberships.get_subscription(session, subscription_id=sid, partner_id=7)
        end = row.period_end
        memberships.cancel(session, row=row, now=T0 + timedelta(days=20), grace_days=GRACE)
        session.commit()
    with sessions() as session:
        assert memberships.sweep(session, now=end - timedelta(seconds=1), grace_days=GRACE) == []
        assert len(memberships.sweep(session, now=end, grace_days=GRACE)) == 1
        session.commit()
    with sessions() as session:
        row = memberships.get_subscription(session, subscription_id=sid)
        assert row.status == "lapsed" and row.entitled_until is None
        assert membership_benefits.perks_of(session, partner_id=8, ref="ann-b", now=end).plans == []
        types = [
            e.type for e in session.query(DomainEvent).order_by(DomainEvent.id) if e.type.startswith("membership.")
        ]
        assert types == [
            "membership.trial_started",
            "membership.converted",
            "membership.cancelled",
            "membership.lapsed",
        ]
        assert session.query(MembershipPayment).count() == 1
        with pytest.raises(MembershipTransitionInvalid):  # the trial was once: a paid start needs its payment
            memberships.subscribe(
                session, partner_id=7, customer_id=customer_id, plan_id=plan_id, now=end, grace_days=GRACE
            )
