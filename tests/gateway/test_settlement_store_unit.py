"""The period's lines from the store (gateway/services/settlement.py): summed by the database
(GROUP BY over the events' JSON args) they must equal the plain per-event path, exactly, also
past 64-bit integers (where SQLite cannot be exact and the per-event path takes over), and
only the period's CoalitionPoints Earned/Redeemed/Reversed/Restored events of the chain count; its
expired points are the sum of its Expired events."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert
from sqlalchemy.orm import Session, sessionmaker

from gateway.services.period_lines import (
    has_period_events,
    period_events,
    period_lines,
    period_points_expired,
    period_totals,
)
from loyalty.settlement import PartnerLine, PointsEvent, partner_lines
from network.store import ChainEvent
from tests.stores import migrated_store

CHAIN = 31337
_log_index = itertools.count()


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory) -> sessionmaker[Session]:
    return migrated_store(f"sqlite:///{tmp_path_factory.mktemp('settlement-store') / 'store.db'}")


@pytest.fixture
def session(sessions: sessionmaker[Session]) -> Iterator[Session]:
    with sessions() as s:
        s.execute(delete(ChainEvent))
        s.commit()
        yield s


def _row(event: PointsEvent, block: int, *, contract: str = "CoalitionPoints", chain_id: int = CHAIN) -> dict[str, Any]:
    name = {"earned": "Earned", "redeemed": "Redeemed", "reversed": "Reversed", "restored": "Restored"}[event.kind]
    rate = "reimbursementRate" if event.kind in ("redeemed", "restored") else "issuePrice"
    args: dict[str, Any] = {"partnerId": event.partner_id, "points": event.points, rate: event.rate}
    if event.kind == "earned":
        args |= {"batchId": 1, "root": "0x" + "00" * 32, "purchases": ["0x" + "11" * 32]}
    else:
        args |= {"customer": "0x" + "22" * 20}
    return {
        "chain_id": chain_id,
        "block_number": block,
        "block_hash": "0x" + "33" * 32,
        "block_time": 1_700_000_000 + block,
        "tx_hash": "0x" + "44" * 32,
        "log_index": next(_log_index),
        "contract": contract,
        "name": name,
        "partner_id": event.partner_id,
        "customer": args.get("customer"),
        "args": args,
    }


def _store(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(ChainEvent), rows)
    session.commit()


EVENTS = [
    PointsEvent("earned", 1, 100, 10_000),
    PointsEvent("redeemed", 2, 200, 9_000),
    PointsEvent("earned", 1, 50, 12_000),
    PointsEvent("reversed", 1, 20, 10_000),
    PointsEvent("redeemed", 1, 30, 8_000),
    PointsEvent("earned", 2, 40, 5_000),
    PointsEvent("redeemed", 3, 7, 1_000),
    PointsEvent("restored", 2, 150, 9_000),
]


def test_database_sums_are_the_per_event_lines(session: Session) -> None:
    rows = [_row(e, 10 + i) for i, e in enumerate(EVENTS)]
    noise = [
        _row(PointsEvent("earned", 1, 999, 10_000), 9),  # before the period
        _row(PointsEvent("earned", 1, 999, 10_000), 30),  # after it
        _row(PointsEvent("earned", 1, 999, 10_000), 12, chain_id=1),  # another chain
        _row(PointsEvent("earned", 9, 999, 10_000), 12, contract="Clearing"),  # another contract
        {**_row(PointsEvent("earned", 1, 999, 10_000), 12), "name": "Transfer"},  # another event
    ]
    _store(session, rows + noise)
    expected = [
        PartnerLine(1, 150, 20, 30, 1_600_000, 200_000, 240_000),
        PartnerLine(2, 40, 0, 200, 200_000, 0, 1_800_000, 150, 1_350_000),  # restored at its own rate
        PartnerLine(3, 0, 0, 7, 0, 0, 7_000),
    ]
    assert period_totals(session, CHAIN, 10, 20) is not None  # the database did sum them
    assert period_lines(session, CHAIN, 10, 20) == expected
    assert partner_lines(period_events(session, CHAIN, 10, 20)) == expected
    assert has_period_events(session, CHAIN, 10, 20)
    assert not has_period_events(session, CHAIN, 31, 40)
    assert period_lines(session, CHAIN, 31, 40) == []


def test_past_64_bit_integers_the_per_event_path_keeps_it_exact(session: Session) -> None:
    big = [
        PointsEvent("earned", 1, 2**62, 3),  # the product is past 2^63: SQLite would give a REAL
        PointsEvent("earned", 1, 1, 5),
        PointsEvent("redeemed", 2, 2**63 - 1, 2**95),
        PointsEvent("redeemed", 3, 2**70, 1),  # points themselves past 64 bits
    ]
    _store(session, [_row(e, 100) for e in big])
    assert period_totals(session, CHAIN, 100, 100) is None
    assert period_lines(session, CHAIN, 100, 100) == partner_lines(big)
    assert period_lines(session, CHAIN, 100, 100)[0].issued_value == 3 * 2**62 + 5


def test_sums_overflowing_64_bits_fall_back(session: Session) -> None:
    # each product fits in 64 bits, their sum does not: SQLite's sum() raises "integer overflow"
    events = [PointsEvent("earned", 4, 2**31, 2**31 - 1) for _ in range(4)]
    _store(session, [_row(e, 200) for e in events])
    assert period_totals(session, CHAIN, 200, 200) is None
    assert period_lines(session, CHAIN, 200, 200) == partner_lines(events)


event_strategy = st.builds(
    PointsEvent,
    kind=st.sampled_from(["earned", "redeemed", "reversed", "restored"]),
    partner_id=st.integers(1, 6),
    points=st.integers(0, 10**12),
    rate=st.integers(0, 10**6),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=st.lists(event_strategy, max_size=40))
def test_property_database_and_per_event_paths_agree(session: Session, events: list[PointsEvent]) -> None:
    session.execute(delete(ChainEvent))
    _store(session, [_row(e, 1_000 + i % 5) for i, e in enumerate(events)])
    assert period_lines(session, CHAIN, 1_000, 1_004) == partner_lines(events)


def _expired(points: int, block: int, *, chain_id: int = CHAIN) -> dict[str, Any]:
    """An indexed Expired event of a holder's ``points``."""
    holder = "0x" + "55" * 20
    return {
        "chain_id": chain_id,
        "block_number": block,
        "block_hash": "0x" + "33" * 32,
        "block_time": 1_700_000_000 + block,
        "tx_hash": "0x" + "44" * 32,
        "log_index": next(_log_index),
        "contract": "CoalitionPoints",
        "name": "Expired",
        "partner_id": None,
        "customer": holder,
        "args": {"holder": holder, "points": points, "expiresAt": 1_600_000_000},
    }


def test_a_periods_expired_points_are_its_expired_events_and_no_partners(session: Session) -> None:
    _store(session, [_expired(70, 300), _expired(5, 301), _expired(999, 299), _expired(999, 300, chain_id=1)])
    _store(session, [_row(PointsEvent("earned", 1, 100, 10_000), 300)])
    assert period_points_expired(session, CHAIN, 300, 310) == 75
    assert period_points_expired(session, CHAIN, 400, 410) == 0
    assert has_period_events(session, CHAIN, 301, 301)  # an expiry alone: a period the operator may close
    assert not has_period_events(session, CHAIN, 400, 410)
    assert period_lines(session, CHAIN, 300, 310) == [PartnerLine(1, 100, 0, 0, 1_000_000, 0, 0)]


def test_expired_points_past_64_bits_are_summed_exactly(session: Session) -> None:
    _store(session, [_expired(2**62, 500), _expired(2**62, 500), _expired(2**70, 501)])
    assert period_points_expired(session, CHAIN, 500, 501) == 2**63 + 2**70
