"""Unit tests of the outbox (network/outbox.py): SQLite store built by the migrations (the
``sessions`` fixture of tests/conftest.py), no chain."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from network.contracts import encode_earn_batch, encode_earn_batch_items
from network.outbox import OutboxChangedError, OutboxConflictError, enqueue, mark_sent, ready_batch, result_of
from network.purchases import MAX_SEQ, encode_purchase
from network.store import OutboxPurchase, PurchaseStatus, utcnow

ALICE = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
BOB = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"


def count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(OutboxPurchase))


def age(session: Session, seconds: float, *seqs: int) -> None:
    """Moves the creation time of items (all, if no seq) ``seconds`` into the past."""
    query = update(OutboxPurchase).values(created_at=utcnow() - timedelta(seconds=seconds))
    if seqs:
        query = query.where(OutboxPurchase.seq.in_(seqs))
    session.execute(query)
    session.commit()


# ---------------------------------------------------------------------------------- enqueue


def test_unit_enqueue_is_idempotent_for_the_same_body(sessions):
    with sessions() as session:
        first = enqueue(session, partner_id=1, seq=7, customer=ALICE, points=120)
        session.commit()
        again = enqueue(session, partner_id=1, seq=7, customer=ALICE, points=120)
        lower = enqueue(session, partner_id=1, seq=7, customer=ALICE.lower(), points=120)  # same address
        session.commit()
        assert again.id == lower.id == first.id
        assert count(session) == 1
        assert (first.status, first.attempts, first.tx_id, first.batch_id) == (PurchaseStatus.QUEUED, 0, None, None)


def test_unit_enqueue_same_body_in_a_new_session_returns_the_stored_row(sessions):
    with sessions() as session:
        item_id = enqueue(session, partner_id=1, seq=7, customer=ALICE, points=120).id
        session.commit()
    with sessions() as session:
        # even after the sender moved it on, a retry of the same purchase is a no-op
        session.execute(update(OutboxPurchase).values(status=PurchaseStatus.MINTED, batch_id=3))
        session.commit()
        again = enqueue(session, partner_id=1, seq=7, customer=ALICE, points=120)
        assert (again.id, again.status, again.batch_id) == (item_id, PurchaseStatus.MINTED, 3)
        assert count(session) == 1


@pytest.mark.parametrize(("customer", "points"), [(BOB, 120), (ALICE, 121)], ids=["other-customer", "other-points"])
def test_unit_enqueue_conflicts_for_a_different_body(sessions, customer, points):
    with sessions() as session:
        enqueue(session, partner_id=1, seq=7, customer=ALICE, points=120)
        session.commit()
        with pytest.raises(OutboxConflictError, match="partner 1 seq 7"):
            enqueue(session, partner_id=1, seq=7, customer=customer, points=points)
        session.rollback()
        stored = session.scalar(select(OutboxPurchase))
        assert (stored.customer, stored.points) == (ALICE, 120)
        assert count(session) == 1


def test_unit_enqueue_seq_is_per_partner(sessions):
    with sessions() as session:
        a = enqueue(session, partner_id=1, seq=7, customer=ALICE, points=120)
        b = enqueue(session, partner_id=2, seq=7, customer=BOB, points=5)
        session.commit()
        assert a.id != b.id and count(session) == 2


def test_unit_enqueue_does_not_commit(sessions):
    with sessions() as session:
        enqueue(session, partner_id=1, seq=7, customer=ALICE, points=120)
        session.rollback()  # the caller's transaction decides
        assert count(session) == 0


@pytest.mark.parametrize(
    ("seq", "customer", "points"),
    [
        (-1, ALICE, 1),
        (1 << 48, ALICE, 1),
        (1, ALICE, 0),
        (1, ALICE, 1 << 48),
        (1, "0x0000000000000000000000000000000000000000", 1),
        (1, "0x1234", 1),
    ],
    ids=["negative-seq", "seq-too-big", "zero-points", "points-too-big", "zero-address", "bad-address"],
)
def test_unit_enqueue_refuses_what_does_not_fit_a_purchase_word(sessions, seq, customer, points):
    with sessions() as session:
        with pytest.raises(ValueError):
            enqueue(session, partner_id=1, seq=seq, customer=customer, points=points)
        session.rollback()
        assert count(session) == 0


# ---------------------------------------------------------------------------------- ready_batch


def fill(session: Session, n: int, *, partner_id: int = 1, first_seq: int = 1) -> None:
    for seq in range(first_seq, first_seq + n):
        enqueue(session, partner_id=partner_id, seq=seq, customer=ALICE, points=1)
    session.commit()


def test_unit_ready_batch_is_empty_without_queued_items(sessions):
    with sessions() as session:
        assert ready_batch(session, partner_id=1, max_size=10, max_wait_s=0) == []
        fill(session, 3)
        session.execute(update(OutboxPurchase).values(status=PurchaseStatus.SENT))
        session.commit()
        assert ready_batch(session, partner_id=1, max_size=10, max_wait_s=0) == []


def test_unit_ready_batch_sends_a_full_batch_at_once(sessions):
    with sessions() as session:
        fill(session, 25)
        batch = ready_batch(session, partner_id=1, max_size=10, max_wait_s=3600)
        assert [i.seq for i in batch] == list(range(1, 11)), "the oldest first, at most max_size"


def test_unit_ready_batch_waits_for_a_partial_batch_until_the_oldest_is_old_enough(sessions):
    with sessions() as session:
        fill(session, 4)
        assert ready_batch(session, partner_id=1, max_size=10, max_wait_s=5) == [], "too young, too few"
        age(session, 3)
        assert ready_batch(session, partner_id=1, max_size=10, max_wait_s=5) == []
        age(session, 6, 1)  # only the oldest counts
        assert [i.seq for i in ready_batch(session, partner_id=1, max_size=10, max_wait_s=5)] == [1, 2, 3, 4]


def test_unit_ready_batch_with_no_wait_sends_whatever_is_queued(sessions):
    with sessions() as session:
        fill(session, 3)
        assert [i.seq for i in ready_batch(session, partner_id=1, max_size=10, max_wait_s=0)] == [1, 2, 3]


def test_unit_ready_batch_takes_only_queued_items_of_its_partner_in_order(sessions):
    with sessions() as session:
        fill(session, 5, partner_id=1)
        fill(session, 5, partner_id=2, first_seq=100)
        session.execute(update(OutboxPurchase).where(OutboxPurchase.seq.in_([2, 4])).values(status=PurchaseStatus.SENT))
        session.commit()
        batch = ready_batch(session, partner_id=1, max_size=10, max_wait_s=0)
        assert [(i.partner_id, i.seq) for i in batch] == [(1, 1), (1, 3), (1, 5)]
        assert [i.seq for i in ready_batch(session, partner_id=2, max_size=2, max_wait_s=3600)] == [100, 101]
        assert ready_batch(session, partner_id=3, max_size=2, max_wait_s=0) == []


def test_unit_ready_batch_age_ignores_items_no_longer_queued(sessions):
    with sessions() as session:
        fill(session, 3)
        age(session, 60, 1)
        session.execute(update(OutboxPurchase).where(OutboxPurchase.seq == 1).values(status=PurchaseStatus.MINTED))
        session.commit()
        assert ready_batch(session, partner_id=1, max_size=10, max_wait_s=5) == [], "the old one is sent already"


def test_unit_result_of_reports_where_a_purchase_stands(sessions):
    with sessions() as session:
        assert result_of(session, partner_id=1, seq=7) is None
        enqueue(session, partner_id=1, seq=7, customer=ALICE, points=120)
        session.commit()
        result = result_of(session, partner_id=1, seq=7)
        assert (result.status, result.tx_hash, result.batch_id, result.error) == (
            PurchaseStatus.QUEUED,
            None,
            None,
            None,
        )


# ---------------------------------------------------------------------------------- mark_sent


def test_unit_mark_sent_moves_queued_items_and_refuses_items_no_longer_queued(sessions):
    with sessions() as session:
        fill(session, 3)
        ids = [i.id for i in ready_batch(session, partner_id=1, max_size=10, max_wait_s=0)]
        session.execute(update(OutboxPurchase).where(OutboxPurchase.seq == 3).values(status=PurchaseStatus.SENT))
        with pytest.raises(OutboxChangedError):
            mark_sent(session, ids, tx_id=None)  # type: ignore[arg-type]
        session.rollback()
        mark_sent(session, ids[:2], tx_id=None)  # type: ignore[arg-type]
        session.commit()
        rows = session.execute(select(OutboxPurchase.seq, OutboxPurchase.status, OutboxPurchase.attempts)).all()
        assert sorted(rows) == [(1, PurchaseStatus.SENT, 1), (2, PurchaseStatus.SENT, 1), (3, PurchaseStatus.QUEUED, 0)]


# ---------------------------------------------------------------------------------- calldata


def test_unit_batch_calldata_from_rows_is_that_of_the_purchase_words():
    items = [(ALICE, 1, 10), (BOB.lower(), MAX_SEQ, MAX_SEQ), ("0X" + BOB[2:].upper(), 0, 1), (BOB[2:], 2, 3)]
    expected = encode_earn_batch([encode_purchase(*i) for i in items])
    assert encode_earn_batch_items(items) == expected


@pytest.mark.parametrize(
    "item",
    [
        (ALICE, -1, 1),
        (ALICE, MAX_SEQ + 1, 1),
        (ALICE, 1, 0),
        (ALICE, 1, MAX_SEQ + 1),
        ("0x" + "0" * 40, 1, 1),
        ("0x1234", 1, 1),
        ("0x" + "zz" * 20, 1, 1),
        ("0x" + "ab" * 19 + " a", 1, 1),
        ("ab" * 21, 1, 1),
        (" " + ALICE, 1, 1),
    ],
)
def test_unit_batch_calldata_refuses_what_encode_purchase_refuses(item):
    with pytest.raises(ValueError):
        encode_purchase(*item)
    with pytest.raises(ValueError):
        encode_earn_batch_items([(ALICE, 1, 1), item])
