"""Unit tests of domain events (network/store/events.py): written with the change or not at
all, read by consumers with cursors of their own (at least once, idempotent, resumed after a
restart), and late commits of lower ids not skipped. SQLite store built by the migrations (the
``sessions`` fixture of tests/conftest.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from network.outbox import enqueue
from network.store import DomainEvent, OutboxPurchase, PurchaseStatus, utcnow
from network.store.events import (
    CURSORS,
    EVENTS,
    Event,
    advance,
    consume,
    cursor_of,
    event_row,
    prunable_below,
    prune,
    record,
    record_many,
)

ALICE = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def events(sessions: sessionmaker[Session]) -> list[DomainEvent]:
    with sessions() as s:
        return list(s.scalars(select(DomainEvent).order_by(DomainEvent.id)))


class Recorder:
    """A consumer that keeps what it was handed, and whose effect is idempotent (a set of ids)."""

    def __init__(self) -> None:
        self.handed: list[int] = []
        self.fail_next = False

    def __call__(self, session: Session, batch: list[Event]) -> None:
        self.handed += [e.id for e in batch]
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("the consumer's transaction fails")


# ------------------------------------------------------------------ written with the change


def test_an_event_is_committed_with_its_change(sessions):
    with sessions() as s:
        enqueue(s, partner_id=1, seq=1, customer=ALICE, points=10)
        public_id = record(s, "purchase.accepted", payload={"seq": 1}, partner_id=1, customer_wallet=ALICE)
        s.commit()
    (event,) = events(sessions)
    assert (event.event_id, event.type, event.partner_id, event.customer_wallet) == (
        public_id,
        "purchase.accepted",
        1,
        ALICE,
    )
    assert event.payload == {"seq": 1} and event.created_at.tzinfo is not None
    assert public_id.startswith("evt_") and len(public_id) == 36


def test_a_rolled_back_change_leaves_no_event(sessions):
    with sessions() as s:
        enqueue(s, partner_id=1, seq=1, customer=ALICE, points=10)
        record(s, "purchase.accepted", payload={"seq": 1}, partner_id=1)
        record_many(s, [event_row("purchase.accepted", payload={"seq": n}) for n in (2, 3)])
        s.rollback()
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(OutboxPurchase)) == 0
    assert events(sessions) == []


def test_ids_are_never_reused_after_the_newest_is_deleted(sessions):
    with sessions() as s:
        record_many(s, [event_row("t", payload={}) for _ in range(3)])
        s.commit()
        s.execute(EVENTS.delete().where(EVENTS.c.id == 3))
        s.commit()
        record(s, "t", payload={})
        s.commit()
    assert [e.id for e in events(sessions)] == [1, 2, 4]


# ------------------------------------------------------------------ consumers


def test_a_consumer_gets_every_event_once_and_resumes_where_it_stopped(sessions):
    consumer = Recorder()
    with sessions() as s:
        record_many(s, [event_row("t", payload={"n": n}) for n in range(5)])
        s.commit()
    assert consume(sessions, "c", consumer, limit=3) == 3
    assert consume(sessions, "c", consumer, limit=3) == 2
    assert consume(sessions, "c", consumer) == 0
    assert consumer.handed == [1, 2, 3, 4, 5]
    restarted = Recorder()  # a new process: the cursor is in the store, not in memory
    with sessions() as s:
        record(s, "t", payload={"n": 5})
        s.commit()
    assert consume(sessions, "c", restarted) == 1
    assert restarted.handed == [6]
    with sessions() as s:
        assert cursor_of(s, "c") == (6, [])


def test_consumers_have_cursors_of_their_own(sessions):
    a, b = Recorder(), Recorder()
    with sessions() as s:
        record_many(s, [event_row("t", payload={}) for _ in range(2)])
        s.commit()
    consume(sessions, "a", a)
    consume(sessions, "b", b)
    assert a.handed == b.handed == [1, 2]


def test_a_failed_consumer_gets_the_same_events_again(sessions):
    consumer = Recorder()
    with sessions() as s:
        record_many(s, [event_row("t", payload={}) for _ in range(2)])
        s.commit()
    consumer.fail_next = True
    with pytest.raises(RuntimeError):
        consume(sessions, "c", consumer)
    with sessions() as s:
        assert cursor_of(s, "c") == (0, [])  # the cursor moved back with the consumer's transaction
    consume(sessions, "c", consumer)
    assert consumer.handed == [1, 2, 1, 2]  # at least once


def test_unwanted_events_are_passed_unread(sessions):
    consumer = Recorder()
    with sessions() as s:
        record_many(s, [event_row(t, payload={}, partner_id=p) for t, p in (("a", 1), ("b", 1), ("a", 2))])
        s.commit()
    assert consume(sessions, "c", consumer, wants=lambda t, p: t == "a" and p == 1) == 3
    assert consumer.handed == [1]
    with sessions() as s:
        assert cursor_of(s, "c") == (3, [])


def test_a_lower_id_committed_late_is_not_skipped(sessions):
    """PostgreSQL: a transaction takes id 2, another takes 3 and commits first. The consumer
    reads 1 and 3 and moves past 2 remembering it as a gap; 2 commits; the next run hands it over."""
    consumer = Recorder()
    with sessions() as s:
        for n in (1, 3):
            s.execute(insert(EVENTS), [{**event_row("t", payload={}), "id": n}])
        s.commit()
    consume(sessions, "c", consumer)
    with sessions() as s:
        last_id, gaps = cursor_of(s, "c")
    assert consumer.handed == [1, 3] and last_id == 3 and [g[:2] for g in gaps] == [[2, 2]]
    with sessions() as s:  # the late one commits
        s.execute(insert(EVENTS), [{**event_row("t", payload={}), "id": 2}])
        s.commit()
    assert consume(sessions, "c", consumer) == 1
    assert consumer.handed == [1, 3, 2]
    with sessions() as s:
        assert cursor_of(s, "c") == (3, [])
    assert consume(sessions, "c", consumer) == 0


def test_a_gap_that_never_fills_is_given_up_after_its_ttl(sessions):
    consumer = Recorder()
    with sessions() as s:
        s.execute(insert(EVENTS), [{**event_row("t", payload={}), "id": 5}])
        s.commit()
    consume(sessions, "c", consumer)
    with sessions() as s:
        assert [g[:2] for g in cursor_of(s, "c")[1]] == [[1, 4]]
    consume(sessions, "c", consumer, gap_ttl_s=-1)  # the rolled-back ids 1..4 are given up
    with sessions() as s:
        assert cursor_of(s, "c") == (5, [])


def test_pruning_deletes_only_old_events_every_consumer_has_read(sessions):
    """Two consumers: the slower one's cursor and a gap it still waits for bound what goes;
    events newer than the retention stay even when read; no consumer at all: nothing goes."""
    old, new = utcnow() - timedelta(days=40), utcnow()
    with sessions() as s:
        rows = [{**event_row("t", payload={}, at=old), "id": n} for n in (1, 2, 3, 5, 6)]
        s.execute(insert(EVENTS), [*rows, {**event_row("t", payload={}, at=new), "id": 7}])
        s.commit()
    with sessions() as s:
        assert prune(s, before=new - timedelta(days=30)) == 0  # nobody has read anything yet
    fast, slow = Recorder(), Recorder()
    consume(sessions, "fast", fast)  # reads 1..7, remembers 4 as a gap
    with sessions() as s:
        s.execute(update(CURSORS).where(CURSORS.c.consumer == "fast").values(gaps=[]))  # 4 given up
        s.execute(insert(CURSORS), [{"consumer": "slow", "last_id": 2, "gaps": [], "updated_at": new}])
        s.commit()
    with sessions() as s:
        assert prunable_below(s) == 2
        assert prune(s, before=new - timedelta(days=30)) == 2
        s.commit()
    consume(sessions, "slow", slow)
    with sessions() as s:
        assert prunable_below(s) == 3  # the slow one still waits for 4
        assert prune(s, before=new - timedelta(days=30)) == 1
        s.execute(update(CURSORS).values(gaps=[]))
        assert prune(s, before=new - timedelta(days=30)) == 2  # 5 and 6; 7 is too recent
        assert prune(s, before=new - timedelta(days=30)) == 0
        s.commit()
    assert [e.id for e in events(sessions)] == [7]


@pytest.mark.parametrize(
    ("last_id", "gaps", "seen", "expected"),
    [
        (0, [], [1, 2, 3], (3, [])),
        (0, [], [2, 5], (5, [[1, 1], [3, 4]])),
        (5, [[1, 1], [3, 4]], [3, 6], (6, [[1, 1], [4, 4]])),
        (6, [[2, 8]], [4, 6], (6, [[2, 3], [5, 5], [7, 8]])),
        (6, [[1, 1]], [1], (6, [])),
    ],
)
def test_advance_moves_the_cursor_and_keeps_the_holes(last_id, gaps, seen, expected):
    new_last, live, expired = advance(last_id, [[*g, 100.0] for g in gaps], seen, now=100.0, ttl_s=10)
    assert (new_last, [g[:2] for g in live]) == expected and expired == []


def test_advance_gives_up_old_gaps():
    new_last, live, expired = advance(9, [[1, 2, 0.0], [4, 4, 95.0]], [], now=100.0, ttl_s=10)
    assert (new_last, live, expired) == (9, [[4, 4, 95.0]], [[1, 2, 0.0]])


def add_purchase(session: Session) -> int:
    """A partner and one accepted purchase, as the gateway stores them; returns its outbox id."""
    from sqlalchemy import insert

    from network.store import Partner, Purchase

    session.add(
        Partner(
            id=1,
            name="p",
            minter=ALICE,
            treasury=ALICE,
            api_key_prefix="k",
            api_key_hash="h",
            currency="EUR",
            points_per_unit=1,
            issue_price=1,
            reimbursement_rate=1,
            issuance_limit=1,
        )
    )
    item = enqueue(session, partner_id=1, seq=1, customer=ALICE, points=10)
    session.execute(  # Core, naming only the columns every revision has: a migration test writes it at 0014
        insert(Purchase.__table__).values(
            partner_id=1,
            purchase_id="p-1",
            request_hash="x",
            seq=1,
            customer_wallet=ALICE,
            amount=10,
            currency="EUR",
            points=10,
            rule={},
            purchased_at=item.created_at,
            outbox_id=item.id,
            created_at=item.created_at,
        )
    )
    session.commit()
    return item.id


def test_outcome_events_are_written_once_per_purchase(sessions):
    """The sender's change points call network/outcomes.py; a purchase minted again after a
    reorg (sent, then minted once more) is not announced twice."""
    from network.outcomes import purchases_settled

    with sessions() as s:
        item_id = add_purchase(s)
        assert purchases_settled(s, outbox_ids=[item_id]) == 0  # still queued: nothing final
        s.execute(update(OutboxPurchase).values(status=PurchaseStatus.MINTED, batch_id=7))
        assert purchases_settled(s, outbox_ids=[item_id]) == 1
        s.commit()
        s.execute(update(OutboxPurchase).values(status=PurchaseStatus.SENT))  # a reorg reopened it
        s.execute(update(OutboxPurchase).values(status=PurchaseStatus.MINTED))
        assert purchases_settled(s, outbox_ids=[item_id]) == 0
        s.commit()
    (event,) = events(sessions)
    assert event.type == "purchase.confirmed" and event.partner_id == 1 and event.customer_wallet == ALICE
    assert event.payload == {
        "purchase_id": "p-1",
        "status": "confirmed",
        "customer_wallet": ALICE,
        "points": 10,
        "seq": 1,
        "tx_hash": None,
        "batch_id": 7,
        "failure_reason": None,
        "qualifying_points": None,  # earned by the partner's rate alone: all of them count towards the tier
    }


def test_held_released_and_failed_after_the_hold_are_events(sessions):
    from datetime import timedelta

    from network.outbox import fail_held_since, hold_items, requeue_held
    from network.store import utcnow

    with sessions() as s:
        item_id = add_purchase(s)
        hold_items(s, [item_id], "no headroom")
        hold_items(s, [item_id], "no headroom")  # held already: no second event
        s.commit()
        requeue_held(s, [item_id])
        s.commit()
        hold_items(s, [item_id], "no headroom again")
        assert fail_held_since(s, 1, utcnow() + timedelta(seconds=1)) == 1
        s.commit()
    found = [
        (e.type, e.payload["status"], e.payload.get("reason") or e.payload.get("failure_reason"))
        for e in events(sessions)
    ]
    assert found[:3] == [
        ("purchase.held", "held", "no headroom"),
        ("purchase.released", "accepted", None),
        ("purchase.held", "held", "no headroom again"),
    ]
    assert found[3][:2] == ("purchase.failed", "failed") and "held since" in found[3][2]


def test_the_migration_writes_the_events_the_old_sweep_had_not_told_yet(tmp_path):
    """Before 0015 a sweep found final purchases with ``notified_status`` unset; the migration
    writes their events, so a purchase confirmed just before an upgrade is not left untold."""
    from sqlalchemy.orm import sessionmaker as make_sessions

    from network.store import Purchase, make_engine, migrate

    url = f"sqlite:///{tmp_path / 'old.db'}"
    migrate(url, "0014")
    engine = make_engine(url)
    old = make_sessions(engine)
    with old() as s:
        item_id = add_purchase(s)
        s.execute(update(OutboxPurchase).values(status=PurchaseStatus.FAILED, error="boom"))
        s.commit()
    migrate(url)
    with old() as s:
        (event,) = s.scalars(select(DomainEvent)).all()
        told = s.scalar(select(Purchase.notified_status).where(Purchase.outbox_id == item_id))
    engine.dispose()
    assert told == "failed" and event.type == "purchase.failed" and event.payload["failure_reason"] == "boom"
    assert event.payload["purchase_id"] == "p-1" and event.partner_id == 1
