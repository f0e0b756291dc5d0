"""Tiers wired to the store (gateway/services/tiers.py, tier_recalculation.py) on a migrated
store, SQLite and PostgreSQL: confirmed purchases and refunds become qualifying movements and upgrades, reviews
with a clock the test gives move members down one tier after the grace period, manual tiers end,
and a ladder change is recalculated in chunks that resume and re-run to the same result."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from gateway.errors import ManualTierEndInvalid, TierLadderInvalid, TierUnknown
from gateway.services import gdpr, tier_ladders, tier_recalculation, tiers
from loyalty.tiers import Ladder, Tier, TierPolicy
from network.store import DomainEvent, TierMovement, TierRecalculation, TierState
from network.store.events import Event, event_row, record_many
from tests.pg import StoreKind
from tests.stores import migrated_store

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
GRACE = timedelta(days=30)
LADDER = Ladder(
    (
        Tier("Member", 0, Decimal(1)),
        Tier("Silver", 100, Decimal("1.25")),
        Tier("Gold", 200, Decimal("1.5")),
    )
)
POLICY = TierPolicy(grace=GRACE)


def wallet(n: int) -> str:
    return f"0x{n:040x}"


@pytest.fixture
def tiers_store(tmp_path: Path, store: StoreKind) -> Iterator[sessionmaker[Session]]:
    """A migrated store of the kind under test ([sqlite] and [postgresql], tests/pg.py)."""
    sessions = migrated_store(store.new_url(tmp_path))
    yield sessions
    sessions.kw["bind"].dispose()


def apply_ladder(
    sessions: sessionmaker[Session], ladder: Ladder = LADDER, *, now: datetime = T0, size: int = 500
) -> int:
    with sessions() as session:
        version = tier_ladders.propose(session, ladder=ladder, policy=POLICY, now=now)
        run = tier_recalculation.apply(session, version=version.id, now=now)
        session.commit()
        run_id = run.id
    done = False
    while not done:
        with sessions() as session:
            done, _ = tier_recalculation.run_chunk(session, run_id=run_id, size=size)
            session.commit()
    return run_id


def confirm(
    sessions: sessionmaker[Session], purchase_id: str, who: str, points: int, at: datetime, partner: int = 1,
    qualifying: int | None = None,
) -> None:  # fmt: skip
    payload = {"purchase_id": purchase_id, "status": "confirmed", "customer_wallet": who, "points": points,
               "qualifying_points": qualifying}  # fmt: skip
    with sessions() as session:
        record_many(
            session, [event_row("purchase.confirmed", payload=payload, partner_id=partner, customer_wallet=who, at=at)]
        )
        session.commit()


def refund(
    sessions: sessionmaker[Session], refund_id: str, purchase_id: str, who: str, points: int, at: datetime
) -> None:
    payload = {
        "refund_id": refund_id,
        "purchase_id": purchase_id,
        "status": "confirmed",
        "customer_wallet": who,
        "points": points,
    }
    with sessions() as session:
        record_many(session, [event_row("refund.confirmed", payload=payload, partner_id=1, customer_wallet=who, at=at)])
        session.commit()


def tier_of(sessions: sessionmaker[Session], who: str, now: datetime) -> tiers.MemberTier:
    with sessions() as session:
        return tiers.tier_of(session, customer_id=tiers.customer_by_wallet(session, wallet=who), now=now)


def changed_events(sessions: sessionmaker[Session]) -> list[dict]:
    with sessions() as session:
        return [
            e.payload
            for e in session.scalars(
                select(DomainEvent).where(DomainEvent.type == "tier.changed").order_by(DomainEvent.id)
            )
        ]


def test_only_the_qualifying_points_the_rules_named_count_towards_the_tier(tiers_store) -> None:
    """A purchase earned under rules says which of its points qualify (the base rate's; a bonus
    only where its rule says so): 150 points of which 90 qualify leave the member below Silver's 100."""
    apply_ladder(tiers_store)
    confirm(tiers_store, "p-1", wallet(1), 150, T0 + timedelta(hours=1), qualifying=90)
    confirm(tiers_store, "p-2", wallet(2), 150, T0 + timedelta(hours=1))  # by the rate alone: all of them
    tiers.consume(tiers_store, now=T0 + timedelta(hours=2))
    ruled, plain = (tier_of(tiers_store, wallet(n), T0 + timedelta(hours=2)).progress for n in (1, 2))
    assert (ruled.tier, ruled.qualifying_points) == ("Member", 90)
    assert (plain.tier, plain.qualifying_points) == ("Silver", 150)


def test_a_confirmed_purchase_is_a_movement_and_crossing_a_threshold_upgrades_at_once(tiers_store) -> None:
    apply_ladder(tiers_store)
    confirm(tiers_store, "p-1", wallet(1), 120, T0 + timedelta(hours=1))
    read, events = tiers.consume(tiers_store, now=T0 + timedelta(hours=2))
    assert read == 1 and len(events) == 1
    member = tier_of(tiers_store, wallet(1), T0 + timedelta(hours=2))
    assert (member.progress.tier, member.progress.qualifying_points, member.progress.points_to_next) == (
        "Silver",
        120,
        80,
    )
    assert changed_events(tiers_store)[0] | {"at": None} == {
        "customer_id": member.customer_id,
        "from_tier": "Member",
        "to_tier": "Silver",
        "reason": "qualified",
        "at": None,
        "multiplier": "1.25",
        "ladder_version": 1,
    }
    with tiers_store() as session:
        assert tiers.multipliers_of(session, [wallet(1), wallet(9)]) == {
            wallet(1): Decimal("1.25"),
            wallet(9): Decimal(1),
        }
        held = gdpr.data_of(session, customer_id=member.customer_id)["tier"]  # the member's data download
    assert (held["state"]["tier"], held["state"]["earned"]) == ("Silver", "Silver")
    assert [(c["from_tier"], c["to_tier"], c["reason"]) for c in held["changes"]] == [("Member", "Silver", "qualified")]
    assert [(m["points"], m["kind"]) for m in held["qualifying_movements"]] == [(120, "purchase")]


def test_an_event_read_twice_records_one_movement(tiers_store) -> None:
    apply_ladder(tiers_store)
    confirm(tiers_store, "p-1", wallet(1), 120, T0)
    with tiers_store() as session:
        event = next(iter(session.scalars(select(DomainEvent))))

    again = Event(event.id, event.event_id, event.type, event.partner_id, event.customer_wallet, event.payload, T0)
    for _ in range(2):
        with tiers_store() as session:
            tiers.record_movements(session, [again])
            session.commit()
    tiers.consume(tiers_store, now=T0 + timedelta(hours=1))
    with tiers_store() as session:
        assert session.scalar(select(func.count()).select_from(TierMovement)) == 1


def test_a_refund_after_an_upgrade_keeps_the_tier_until_the_review(tiers_store) -> None:
    apply_ladder(tiers_store)
    confirm(tiers_store, "p-1", wallet(1), 150, T0)
    tiers.consume(tiers_store, now=T0 + timedelta(hours=1))
    refund(tiers_store, "r-1", "p-1", wallet(1), 100, T0 + timedelta(days=3))
    tiers.consume(tiers_store, now=T0 + timedelta(days=3, hours=1))
    member = tier_of(tiers_store, wallet(1), T0 + timedelta(days=4))
    assert member.progress.tier == "Silver" and member.progress.qualifying_points == 50
    # the window of the review starts just after the upgrade: its 50 net points will have left it
    assert (member.progress.points_to_keep, member.progress.points_leaving) == (100, 50)
    with tiers_store() as session:
        clawback = session.scalar(select(TierMovement).where(TierMovement.kind == "refund"))
        assert clawback.points == -100 and clawback.counts_at == T0  # counted at the purchase's time
    verdict = member.progress.decided_at
    assert verdict == T0 + timedelta(days=365) + GRACE
    tiers.review_due(tiers_store, now=verdict + timedelta(minutes=1))
    assert tier_of(tiers_store, wallet(1), verdict + timedelta(minutes=1)).progress.tier == "Member"


def test_the_review_moves_down_one_tier_only_after_the_grace_period_and_twice_changes_nothing(tiers_store) -> None:
    apply_ladder(tiers_store)
    confirm(tiers_store, "p-1", wallet(1), 250, T0)
    tiers.consume(tiers_store, now=T0 + timedelta(minutes=1))
    assert tier_of(tiers_store, wallet(1), T0 + timedelta(minutes=1)).progress.tier == "Gold"
    review = T0 + timedelta(days=365)
    assert tiers.review_due(tiers_store, now=review + GRACE - timedelta(seconds=1)) == (0, [])  # in the grace period
    reviewed, events = tiers.review_due(tiers_store, now=review + GRACE + timedelta(days=1))
    assert reviewed == 1 and len(events) == 1
    assert (
        changed_events(tiers_store)[-1]["from_tier"] == "Gold"
        and changed_events(tiers_store)[-1]["to_tier"] == "Silver"
    )
    assert tiers.review_due(tiers_store, now=review + GRACE + timedelta(days=1)) == (0, [])
    assert tier_of(tiers_store, wallet(1), review + GRACE + timedelta(days=2)).progress.tier == "Silver"


def test_points_earned_in_the_grace_period_keep_the_tier(tiers_store) -> None:
    apply_ladder(tiers_store)
    confirm(tiers_store, "p-1", wallet(1), 120, T0)
    tiers.consume(tiers_store, now=T0 + timedelta(minutes=1))
    review = T0 + timedelta(days=365)
    confirm(tiers_store, "p-2", wallet(1), 100, review + timedelta(days=10))
    tiers.consume(tiers_store, now=review + timedelta(days=10, minutes=1))
    tiers.review_due(tiers_store, now=review + GRACE + timedelta(days=1))
    assert tier_of(tiers_store, wallet(1), review + GRACE + timedelta(days=1)).progress.tier == "Silver"


def test_a_manual_tier_holds_until_its_end_date_then_the_earned_tier_applies(tiers_store) -> None:
    apply_ladder(tiers_store)
    confirm(tiers_store, "p-1", wallet(1), 20, T0)
    tiers.consume(tiers_store, now=T0 + timedelta(minutes=1))
    customer = tier_of(tiers_store, wallet(1), T0).customer_id
    assert customer is not None
    with tiers_store() as session:
        with pytest.raises(TierUnknown):
            tiers.set_manual_tier(session, customer_id=customer, tier="Diamond", until=T0 + timedelta(days=9), now=T0)
        with pytest.raises(ManualTierEndInvalid):
            tiers.set_manual_tier(session, customer_id=customer, tier="Gold", until=T0, now=T0 + timedelta(hours=1))
        session.rollback()
        tiers.set_manual_tier(
            session, customer_id=customer, tier="Gold", until=T0 + timedelta(days=10), now=T0 + timedelta(hours=1)
        )
        session.commit()
    assert tier_of(tiers_store, wallet(1), T0 + timedelta(days=9)).progress.tier == "Gold"
    with tiers_store() as session:
        assert tiers.multipliers_of(session, [wallet(1)], now=T0 + timedelta(days=11)) == {wallet(1): Decimal(1)}
    reviewed, _ = tiers.review_due(tiers_store, now=T0 + timedelta(days=11))
    assert reviewed == 1
    last = changed_events(tiers_store)[-1]
    assert (last["from_tier"], last["to_tier"], last["reason"]) == ("Gold", "Member", "manual_ended")
    with tiers_store() as session:
        assert session.get(TierState, customer).manual_tier is None


def test_a_ladder_that_cannot_be_used_is_refused_with_its_reason() -> None:
    with pytest.raises(TierLadderInvalid, match="must be above"):
        tier_ladders.parse([{"name": "A", "threshold": 0}, {"name": "B", "threshold": 0}], {})
    with pytest.raises(TierLadderInvalid, match="grace"):
        tier_ladders.parse([{"name": "A", "threshold": 0}], {"grace_days": 400})


def _members(sessions: sessionmaker[Session]) -> dict[int, tuple]:
    with sessions() as session:
        return {
            s.customer_id: (s.ladder_version, s.tier, s.earned, s.since, s.manual_tier)
            for s in session.scalars(select(TierState))
        }


def _populate(sessions: sessionmaker[Session]) -> None:
    apply_ladder(sessions)
    for n, points in enumerate([10, 60, 90, 120, 150, 210, 40], start=1):
        confirm(sessions, f"p-{n}", wallet(n), points, T0 + timedelta(minutes=n))
    tiers.consume(sessions, now=T0 + timedelta(hours=1))


LOWER = Ladder((Tier("Member", 0), Tier("Silver", 50, Decimal("1.25")), Tier("Gold", 140, Decimal("1.5"))))


def test_a_recalculation_stopped_after_one_chunk_resumes_to_the_result_of_one_go(
    tmp_path: Path, store: StoreKind
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    chunked = migrated_store(store.new_url(tmp_path / "a"))
    whole = migrated_store(store.new_url(tmp_path / "b"))
    for sessions in (chunked, whole):
        _populate(sessions)
    at = T0 + timedelta(days=2)
    with chunked() as session:
        version = tier_ladders.propose(session, ladder=LOWER, policy=POLICY, now=at)
        dry = tier_recalculation.dry_run_of(session, ladder=LOWER, policy=POLICY, now=at)
        run = tier_recalculation.apply(session, version=version.id, now=at)
        session.commit()
        run_id = run.id
    assert (dry.up, dry.down) == (3, 0)  # 60, 90 reach Silver; 150 reaches Gold
    assert {m.member_id for m in dry.moving_up} and all(m.to_tier != m.from_tier for m in dry.moving_up)
    with chunked() as session:
        assert tier_recalculation.run_chunk(session, run_id=run_id, size=3)[0] is False
        session.commit()
    with chunked() as session:  # a worker stopped here: a new one resumes from the cursor
        run = session.get(TierRecalculation, run_id)
        assert (run.status, run.members_done, run.cursor) == ("running", 3, 3)
    while True:
        with chunked() as session:
            done, _ = tier_recalculation.run_chunk(session, run_id=run_id, size=3)
            session.commit()
        if done:
            break
    apply_ladder(whole, LOWER, now=at, size=500)
    assert _members(chunked) == _members(whole)
    with chunked() as session:
        run = session.get(TierRecalculation, run_id)
        assert (run.status, run.members_done, run.moved_up, run.moved_down) == ("done", 7, 3, 0)
    tiers_now = {k: v[1] for k, v in _members(chunked).items()}
    assert sorted(tiers_now.values()) == ["Gold", "Gold", "Member", "Member", "Silver", "Silver", "Silver"]


def test_running_a_recalculation_again_changes_nothing(tiers_store) -> None:
    _populate(tiers_store)
    at = T0 + timedelta(days=2)
    with tiers_store() as session:
        version = tier_ladders.propose(session, ladder=LOWER, policy=POLICY, now=at)
        session.commit()
    run_id = apply_ladder_version(tiers_store, version.id, at)
    before, events_before = _members(tiers_store), len(changed_events(tiers_store))
    with tiers_store() as session:
        assert tier_recalculation.apply(session, version=version.id, now=at + timedelta(days=1)).id == run_id
        run = session.get(TierRecalculation, run_id)
        run.status, run.cursor = "running", None  # as if the run had to start over
        session.commit()
    apply_ladder_version(tiers_store, version.id, at)
    assert _members(tiers_store) == before and len(changed_events(tiers_store)) == events_before
    with tiers_store() as session, pytest.raises(TierLadderInvalid, match="version 1 is retired"):
        tier_recalculation.apply(session, version=1, now=at)


def apply_ladder_version(sessions: sessionmaker[Session], version: int, at: datetime) -> int:
    with sessions() as session:
        run_id = tier_recalculation.apply(session, version=version, now=at).id
        session.commit()
    done = False
    while not done:
        with sessions() as session:
            done, _ = tier_recalculation.run_chunk(session, run_id=run_id, size=2)
            session.commit()
    return run_id
