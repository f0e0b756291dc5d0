"""The daily RFM snapshot in SQL (gateway/services/rfm.py) against a plain-Python recomputation over
the generated rows (tests/gateway/analytics_reference.py), coalition-wide and per partner; its edge
cases (one purchase, all values equal, a refund cancelling a purchase, an erased member); its
idempotence, resumption and ``segment.changed`` events."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from bench.analytics_data import fill, wallet
from gateway.services import rfm as service
from loyalty import rfm
from network.store import (
    COALITION,
    Customer,
    CustomerWallet,
    DomainEvent,
    Member,
    OutboxPurchase,
    OutboxReversal,
    Purchase,
    PurchaseStatus,
    Refund,
    ReversalStatus,
    RfmRun,
    RfmSnapshot,
)
from tests.gateway.analytics_reference import Rows
from tests.gateway.analytics_reference import rfm as reference
from tests.stores import migrated_store

DAY = date(2026, 11, 30)


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> sessionmaker[Session]:
    sessions = migrated_store(f"sqlite:///{tmp_path_factory.mktemp('rfm') / 'store.db'}")
    with sessions() as session:
        fill(session, members=400, partners=4, end=datetime(2026, 12, 1, tzinfo=UTC), days=200)
    return sessions


def _snapshot_rows(session: Session, day: date, scope: int) -> dict[int, tuple[object, ...]]:
    rows = session.execute(select(RfmSnapshot).where(RfmSnapshot.day == day, RfmSnapshot.scope == scope)).scalars()
    return {r.customer_id: (r.last_day, r.frequency, Decimal(r.monetary), r.r, r.f, r.m, r.segment) for r in rows}


def test_the_snapshot_scores_every_scope_as_plain_python_does(filled: sessionmaker[Session]) -> None:
    runs = service.snapshot(filled, day=DAY)
    assert [r.scope for r in runs] == [COALITION, 1, 2, 3, 4] and not any(r.skipped for r in runs)
    with filled() as session:
        rows = Rows(session)
        for scope in (COALITION, 1, 2, 3, 4):
            expected = reference(rows, day=DAY, partner=None if scope == COALITION else scope)
            got = _snapshot_rows(session, DAY, scope)
            assert len(got) > 50 and set(got) == set(expected), scope
            for c, (last, f, m, rs, fs, ms) in expected.items():
                assert got[c] == (last, f, m, rs, fs, ms, rfm.segment(rs, fs, ms)), (scope, c)
        # the erased members are nowhere, and every segment that exists is one of the eleven
        assert not rows.erased & set(_snapshot_rows(session, DAY, COALITION))
        assert rows.erased
        assert set(session.scalars(select(RfmSnapshot.segment).distinct())) <= set(rfm.SEGMENTS)


def test_a_second_run_of_the_day_writes_nothing_and_a_new_day_emits_the_moves(
    filled: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "EVENT_CHUNK", 7)  # the events are written 7 members at a time
    service.snapshot(filled, day=DAY)
    with filled() as session:
        before = session.scalar(select(func.count()).select_from(RfmSnapshot))
        events = session.scalar(select(func.count()).select_from(DomainEvent))
    again = service.snapshot(filled, day=DAY)
    assert all(r.skipped for r in again)
    later = DAY + timedelta(days=60)  # recency moves everybody's R: some segments change
    runs = service.snapshot(filled, day=later)
    with filled() as session:
        assert session.scalar(select(func.count()).select_from(RfmSnapshot)) > before
        moved = session.scalars(
            select(DomainEvent).where(DomainEvent.type == "segment.changed", DomainEvent.id > 0)
        ).all()
        moved = [e for e in moved if e.payload["day"] == later.isoformat()]
        assert len(moved) == sum(r.changes for r in runs) > 0
        assert session.scalar(select(func.count()).select_from(DomainEvent)) == events + len(moved)
        old, new = _snapshot_rows(session, DAY, COALITION), _snapshot_rows(session, later, COALITION)
        want = {c for c in new if c not in old or old[c][-1] != new[c][-1]}
        coalition = [e for e in moved if e.payload["scope"] == "coalition"]
        assert {e.payload["customer_id"] for e in coalition} == want
        for e in coalition:
            c = e.payload["customer_id"]
            assert e.payload["to"] == new[c][-1] and e.payload["from"] == (old[c][-1] if c in old else None)
        sizes = service.segment_sizes(session, scope=COALITION)
        assert sizes is not None and sizes.day == later and sum(sizes.sizes.values()) == len(new)
        assert sizes.changes == len(coalition)


def test_a_run_stopped_after_some_scopes_resumes_with_the_others(filled: sessionmaker[Session]) -> None:
    day = DAY - timedelta(days=10)
    with filled() as session:
        service.snapshot_scope(session, day=day, scope=COALITION)
        service.snapshot_scope(session, day=day, scope=2)
        session.commit()
    runs = service.snapshot(filled, day=day)
    assert [(r.scope, r.skipped) for r in runs] == [(0, True), (1, False), (2, True), (3, False), (4, False)]
    with filled() as session:
        assert session.scalar(select(func.count()).select_from(RfmRun).where(RfmRun.day == day)) == 5


# ---------------------------------------------------------------------- edge cases, by hand

AT = datetime(2026, 11, 1, 12, tzinfo=UTC)


@pytest.fixture
def blank(tmp_path: Path) -> sessionmaker[Session]:
    sessions = migrated_store(f"sqlite:///{tmp_path / 'store.db'}")
    with sessions() as session:
        fill(session, members=0, partners=1)
    return sessions


def _buy(
    session: Session, c: int, amount: str, at: datetime, pk: int, status: PurchaseStatus = PurchaseStatus.MINTED
) -> None:
    if session.get(Customer, c) is None:
        session.execute(insert(Customer), [{"id": c, "created_at": at}])
        session.execute(insert(CustomerWallet), [{"address": wallet(c), "customer_id": c, "created_at": at}])
        session.execute(insert(Member), [{"customer_id": c, "enrolled_at": at}])
    session.execute(
        insert(OutboxPurchase),
        [{"id": pk, "partner_id": 1, "seq": pk, "customer": wallet(c), "points": 10, "status": status, "attempts": 0}],
    )
    session.execute(
        insert(Purchase),
        [
            {
                "id": pk,
                "partner_id": 1,
                "purchase_id": f"p{pk}",
                "request_hash": "0",
                "seq": pk,
                "customer_wallet": wallet(c),
                "amount": Decimal(amount),
                "currency": "EUR",
                "points": 10,
                "rule": {},
                "purchased_at": at,
                "outbox_id": pk,
            }
        ],
    )


def _refund(session: Session, pk: int, amount: str | None, *, failed: bool = False) -> None:
    status = ReversalStatus.FAILED if failed else ReversalStatus.CONFIRMED
    session.execute(
        insert(OutboxReversal),
        [
            {
                "id": pk,
                "partner_id": 1,
                "purchase_outbox_id": pk,
                "seq": pk,
                "customer": "0x",
                "points": 10,
                "status": status,
                "attempts": 0,
            }
        ],
    )
    session.execute(
        insert(Refund),
        [
            {
                "id": pk,
                "partner_id": 1,
                "purchase_pk": pk,
                "refund_id": f"r{pk}",
                "request_hash": "0",
                "amount": None if amount is None else Decimal(amount),
                "points": 10,
                "reversal_id": pk,
                "created_at": AT,
            }
        ],
    )


def test_edge_cases_single_purchases_equal_values_refunds_and_erasure(blank: sessionmaker[Session]) -> None:
    with blank() as s:
        for c in range(1, 6):  # five members, one equal purchase each: everybody scores 1
            _buy(s, c, "10", AT, pk=c)
        _buy(s, 6, "10", AT, pk=6)
        _refund(s, 6, None)  # a full refund without an amount: the purchase counts not at all
        _buy(s, 7, "10", AT, pk=7)
        _refund(s, 7, "10")  # a refund of the whole amount: the same
        _buy(s, 8, "10", AT, pk=8)
        _refund(s, 8, "10", failed=True)  # its reversal failed: the purchase still counts
        _buy(s, 9, "10", AT, pk=9, status=PurchaseStatus.FAILED)  # never confirmed
        _buy(s, 10, "10", AT, pk=10)
        s.execute(update(Member).where(Member.customer_id == 10).values(erased_at=AT))  # erased: left out
        s.commit()
    service.snapshot(blank, day=AT.date())
    with blank() as s:
        got = _snapshot_rows(s, AT.date(), COALITION)
        assert set(got) == {1, 2, 3, 4, 5, 8}
        assert {v[3:] for v in got.values()} == {(1, 1, 1, rfm.LOST)}
        assert _snapshot_rows(s, AT.date(), 1) == got  # 10 points, 10 EUR: the same values


def test_scores_spread_by_the_tie_rule() -> None:
    values = {i: v for i, v in enumerate([5, 5, 1, 2, 3, 3, 3, 9, 9, 10])}
    # ranks (values strictly below): 5->5, 1->0, 2->1, 3->2, 9->7, 10->9; score 1 + 5*rank//10
    assert rfm.quintiles(values) == {0: 3, 1: 3, 2: 1, 3: 1, 4: 2, 5: 2, 6: 2, 7: 4, 8: 4, 9: 5}
    assert rfm.quintiles({1: 7}) == {1: 1}
    assert rfm.segment(5, 5, 4) == rfm.CHAMPIONS and rfm.segment(1, 1, 1) == rfm.LOST
    assert rfm.segment(5, 1, 1) == rfm.NEW and rfm.segment(1, 5, 5) == rfm.CANT_LOSE
    assert {rfm.segment(r, f, f) for r in range(1, 6) for f in range(1, 6)} == set(rfm.SEGMENTS)
    with pytest.raises(ValueError):
        rfm.segment(0, 1, 1)
