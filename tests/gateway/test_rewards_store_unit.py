"""Referrals and achievements on a real store (gateway/services/referrals.py, achievements.py), on
SQLite and PostgreSQL: a referral waits for its first purchase's refund window, then pays both
members once through the funder's outbox; self-referral, a refunded first purchase and the cap
reject with their reasons; a badge is awarded from confirmed purchases and revoked when a refund
takes away what earned it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from gateway.errors import AchievementExists, AchievementInvalid
from gateway.services import achievements, referrals
from gateway.settings import WorkerSettings
from loyalty.campaigns.referrals import FIRST_PURCHASE_REFUNDED, REFERRER_CAP, SELF_EMAIL
from network.store import (
    AchievementEvent,
    Customer,
    CustomerProfile,
    CustomerWallet,
    DomainEvent,
    Member,
    MemberEnrolment,
    OutboxPurchase,
    OutboxReversal,
    Partner,
    Purchase,
    PurchaseStatus,
    Referral,
    ReferralAward,
    ReferralEvent,
    Refund,
    ReversalStatus,
)
from network.store.events import event_row, record_many
from tests.pg import StoreKind
from tests.stores import add_partner, migrated_store

T0 = datetime(2026, 11, 2, 10, tzinfo=UTC)
DEADLINES = {1: 1_000}  # batch 1's refund deadline, standing for CoalitionPoints.refundDeadlineOf
SETTINGS = WorkerSettings(referral_cap=1, referral_referrer_points=500, referral_referee_points=250)  # type: ignore[call-arg]


def wallet(n: int) -> str:
    return f"0x{n:040x}"


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory, store: StoreKind) -> Iterator[sessionmaker[Session]]:
    """One store per kind for the module (a migration costs seconds): the tests use their own customers."""
    made = migrated_store(store.new_url(tmp_path_factory.mktemp(f"rewards-{store.name}")))
    add_partner(made, partner_id=7, name="Grocer")
    with made() as session:  # add_partner's minter and treasury are unique: move the first's
        session.execute(update(Partner).where(Partner.id == 7).values(minter="0x" + "3" * 40, treasury="0x" + "4" * 40))
        session.commit()
    add_partner(made, partner_id=8, name="Books")
    yield made
    made.kw["bind"].dispose()


def member(session: Session, n: int, *, referrer: int | None = None, email: str | None = None) -> None:
    session.add(Customer(id=n))
    session.flush()
    session.add(CustomerWallet(address=wallet(n), customer_id=n))
    session.add(Member(customer_id=n, referral_code=f"CODE{n:06d}", referred_by_id=referrer))
    session.add(MemberEnrolment(partner_id=7, ref=f"r{n}", customer_id=n, request_hash="0" * 64, source="api"))
    if email:
        session.add(CustomerProfile(customer_id=n, email=email, attributes={}))
    session.flush()


def purchase(session: Session, n: int, pid: str, *, partner: int = 7, day: int = 0, points: int = 100) -> Purchase:
    seq = 1_000 + len(session.scalars(select(OutboxPurchase.id)).all())
    item = OutboxPurchase(partner_id=partner, seq=seq, customer=wallet(n), points=points, status=PurchaseStatus.MINTED,
                          batch_id=1)  # fmt: skip
    session.add(item)
    session.flush()
    row = Purchase(
        partner_id=partner, purchase_id=pid, request_hash="0" * 64, seq=seq, customer_wallet=wallet(n),
        amount=Decimal(10), currency="EUR", points=points, rule={}, purchased_at=T0 + timedelta(days=day),
        outbox_id=item.id,
    )  # fmt: skip
    session.add(row)
    session.flush()
    return row


def refund(session: Session, p: Purchase, points: int, rid: str = "rf-1") -> None:
    reversal = OutboxReversal(partner_id=p.partner_id, purchase_outbox_id=p.outbox_id, seq=p.seq,
                              customer=p.customer_wallet, points=points, status=ReversalStatus.CONFIRMED)  # fmt: skip
    session.add(reversal)
    session.flush()
    session.add(Refund(partner_id=p.partner_id, purchase_pk=p.id, refund_id=rid, request_hash="0" * 64, points=points,
                       reversal_id=reversal.id))  # fmt: skip
    session.flush()


def run(sessions: sessionmaker[Session], now_s: int) -> referrals.RunResult:
    with sessions() as session:
        done = referrals.run(session, SETTINGS, now_s=now_s, refund_deadline=DEADLINES.__getitem__)
        session.commit()
    return done


def test_a_referral_pays_both_once_after_the_refund_window_and_rejects_with_reasons(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        member(session, 1, email="alice@example.com")
        member(session, 2, referrer=1)  # bob: pays
        member(session, 3, referrer=1, email=" ALICE@example.com")  # carol: alice herself
        member(session, 4, referrer=1)  # dave: refunds his first purchase
        member(session, 5, referrer=1)  # erin: beyond alice's cap of 1
        purchase(session, 2, "b-1")
        purchase(session, 3, "c-1")
        refund(session, purchase(session, 4, "d-1"), 10)  # in part: still pays nobody
        purchase(session, 4, "d-2", day=1)
        purchase(session, 5, "e-1")
        session.commit()

    first = run(sessions, now_s=1_000)  # the deadline itself: the window is still open
    assert (first.opened, first.qualified, first.rejected, first.awards) == (4, 0, 2, 0)
    second = run(sessions, now_s=1_001)
    assert (second.opened, second.qualified, second.rejected, second.awards) == (0, 1, 1, 2)
    assert run(sessions, now_s=5_000) == referrals.RunResult(0, 0, 0, 0)  # idempotent: nothing more

    with sessions() as session:
        decided = {r.referee_id: (r.status, r.reason) for r in session.scalars(select(Referral))}
        assert decided == {
            2: ("qualified", None),
            3: ("rejected", SELF_EMAIL),
            4: ("rejected", FIRST_PURCHASE_REFUNDED),
            5: ("rejected", REFERRER_CAP),
        }
        awards = session.execute(
            select(ReferralAward.role, ReferralAward.wallet, ReferralAward.points, OutboxPurchase.partner_id,
                   OutboxPurchase.seq, OutboxPurchase.customer, OutboxPurchase.points, ReferralAward.seq)
            .join(OutboxPurchase, OutboxPurchase.id == ReferralAward.outbox_id)
            .order_by(ReferralAward.id)
        ).all()  # fmt: skip
        assert [(a[0], a[1], a[2], a[3]) for a in awards] == [
            ("referrer", wallet(1), 500, 7),
            ("referee", wallet(2), 250, 7),
        ]
        assert all(a[4] == a[7] and a[5] == a[1] and a[6] == a[2] for a in awards)  # the outbox carries the award
        assert len({a[4] for a in awards}) == 2  # a sequence number each, of the funder's
        bob = session.scalar(select(Referral).where(Referral.referee_id == 2))
        assert bob is not None
        trail = [e.kind for e in session.scalars(select(ReferralEvent).where(ReferralEvent.referral_id == bob.id))]
        assert trail == ["enrolled", "qualified", "awarded", "awarded"]
        events = [
            e.payload for e in session.scalars(select(DomainEvent).where(DomainEvent.type == "referral.qualified"))
        ]
        assert [(e["referrer_id"], e["referee_id"]) for e in events] == [(1, 2)]
        with pytest.raises(IntegrityError):
            referrals.pay(session, SETTINGS, bob)  # paying again breaks the unique constraint per beneficiary
        session.rollback()
        assert len(session.scalars(select(ReferralAward.id)).all()) == 2


def confirmed(sessions: sessionmaker[Session], event_type: str, n: int) -> None:
    with sessions() as session:
        record_many(session, [event_row(event_type, payload={}, partner_id=7, customer_wallet=wallet(n))])
        session.commit()


def test_a_badge_is_awarded_from_confirmed_purchases_and_revoked_when_a_refund_undoes_it(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        achievements.create(session, slug="explorer", name="Explorer", description="", active=True,
                            rule={"kind": "partners", "partners": 2})  # fmt: skip
        achievements.create(session, slug="busy-week", name="Busy week", description="", active=True,
                            rule={"kind": "count", "purchases": 2, "days": 7})  # fmt: skip
        with pytest.raises(AchievementExists):
            achievements.create(session, slug="explorer", name="x", description="", active=True,
                                rule={"kind": "partners", "partners": 3})  # fmt: skip
        with pytest.raises(AchievementInvalid):
            achievements.create(session, slug="bad", name="x", description="", active=True, rule={"kind": "count"})
        member(session, 11)
        purchase(session, 11, "k-1", partner=7)
        books = purchase(session, 11, "k-2", partner=8, day=2)
        session.commit()
    now = T0 + timedelta(days=30)
    confirmed(sessions, "purchase.confirmed", 11)
    assert achievements.consume(sessions, now=now)[1] == 2
    assert achievements.consume(sessions, now=now)[1] == 0  # its own events read again: nothing changes
    with sessions() as session:
        refund(session, session.get(Purchase, books.id), 50, "rf-k1")  # in part: the visit stays
        session.commit()
    confirmed(sessions, "refund.confirmed", 11)
    assert achievements.consume(sessions, now=now)[1] == 0
    with sessions() as session:
        refund(session, session.get(Purchase, books.id), 50, "rf-k2")  # the rest: the visit goes
        session.commit()
    confirmed(sessions, "refund.confirmed", 11)
    assert achievements.consume(sessions, now=now)[1] == 2
    with sessions() as session:
        mine = {
            a.slug: (a.status, a.progress.value, a.progress.target)
            for a in achievements.mine(session, customer_id=11, now=now)
        }
        assert mine == {"explorer": ("revoked", 1, 2), "busy-week": ("revoked", 1, 2)}
        kinds = [
            (e.kind, e.cause is not None)
            for e in session.scalars(select(AchievementEvent).order_by(AchievementEvent.id))
        ]
        assert kinds == [("awarded", True), ("awarded", True), ("revoked", True), ("revoked", True)]
        purchase(session, 11, "k-3", partner=8, day=3)
        session.commit()
    confirmed(sessions, "purchase.confirmed", 11)
    assert achievements.consume(sessions, now=now)[1] == 2  # earned back: awarded again, the same rows
    with sessions() as session:
        assert {a.status for a in achievements.mine(session, customer_id=11, now=now)} == {"awarded"}
        assert achievements.holders(session, achievement_id=1) == {"awarded": 1}
