"""The liability over time from the store (gateway/services/liability.py): the database's sums per
quarter hour must give, per business day, exactly what the pure rule gives event by event
(loyalty/liability.py), also in a zone whose day starts at a quarter past, with expiries (which are
nobody's partner's) and the registry's rates from its indexed events."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert
from sqlalchemy.orm import Session, sessionmaker

from gateway.services.liability import liability
from loyalty.liability import SIGNS, Movement, RateEvent, business_days, liability_by_day
from network.store import ChainEvent, LedgerEntry
from tests.stores import migrated_store

CHAIN = 31337
T0 = 1_764_547_200  # 2025-12-01 00:00 UTC
_n = itertools.count()


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory) -> sessionmaker[Session]:
    return migrated_store(f"sqlite:///{tmp_path_factory.mktemp('liability-store') / 'store.db'}")


@pytest.fixture
def session(sessions: sessionmaker[Session]) -> Iterator[Session]:
    with sessions() as s:
        s.execute(delete(ChainEvent))
        s.execute(delete(LedgerEntry))
        s.commit()
        yield s


def _entry(kind: str, points: int, at: int, *, partner_id: int | None = 1, chain_id: int = CHAIN) -> dict[str, Any]:
    n = next(_n)
    return {
        "chain_id": chain_id, "block_number": n, "block_time": at, "tx_hash": "0x" + "44" * 32, "log_index": 0,
        "item": 0, "kind": kind, "customer": "0x" + "22" * 20, "partner_id": None if kind == "expired" else partner_id,
        "seq": None, "points": SIGNS.get(kind, 1) * points, "rate": None, "ref": None,
    }  # fmt: skip


def _registry(name: str, pid: int, at: int, rate: int | None = None) -> dict[str, Any]:
    n = next(_n)
    args: dict[str, Any] = {"partnerId": pid} | ({} if rate is None else {"reimbursementRate": rate, "issuePrice": 1})
    return {
        "chain_id": CHAIN, "block_number": n, "block_hash": "0x" + "33" * 32, "block_time": at,
        "tx_hash": "0x" + "44" * 32, "log_index": 0, "contract": "PartnerRegistry", "name": name,
        "partner_id": pid, "customer": None, "args": args,
    }  # fmt: skip


def _store(session: Session, entries: list[dict[str, Any]], events: list[dict[str, Any]] = ()) -> None:  # type: ignore[assignment]
    if entries:
        session.execute(insert(LedgerEntry), entries)
    if events:
        session.execute(insert(ChainEvent), list(events))
    session.commit()


def test_the_store_nets_expiry_and_ignores_transfers_and_other_chains(session: Session) -> None:
    _store(
        session,
        [
            _entry("earned", 1_000, T0 - 50),  # before the range: the opening balance
            _entry("redeemed", 100, T0 + 10),
            _entry("sent", 40, T0 + 11),
            _entry("received", 40, T0 + 11),
            _entry("expired", 300, T0 + 86_400 + 5),
            _entry("earned", 999, T0 + 20, chain_id=1),
        ],
        [_registry("PartnerOnboarded", 1, T0 - 100, 8_000), _registry("PartnerOnboarded", 2, T0 - 100, 9_000)],
    )
    days = liability(session, chain_id=CHAIN, start=date(2025, 12, 1), end=date(2025, 12, 2), tz="UTC")
    assert [(d.day, d.outstanding, d.expired) for d in days] == [("2025-12-01", 900, 0), ("2025-12-02", 600, 300)]
    assert (days[1].value_low, days[1].value_high) == (600 * 8_000, 600 * 9_000)
    # a partner's own: its issuance net of its redemptions; an expiry is nobody's partner's
    mine = liability(session, chain_id=CHAIN, start=date(2025, 12, 1), end=date(2025, 12, 2), tz="UTC", partner_id=1)
    assert [d.outstanding for d in mine] == [900, 900]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    moves=st.lists(
        st.tuples(st.sampled_from(sorted(SIGNS)), st.integers(0, 10**12), st.integers(-86_400, 3 * 86_400)),
        max_size=40,
    ),
    tz=st.sampled_from(["UTC", "Asia/Kathmandu", "America/St_Johns", "Europe/Berlin"]),
)
def test_property_the_database_path_equals_the_rule_event_by_event(
    session: Session, moves: list[tuple[str, int, int]], tz: str
) -> None:
    session.execute(delete(LedgerEntry))
    session.execute(delete(ChainEvent))
    _store(session, [_entry(kind, points, T0 + at) for kind, points, at in moves])
    start, end = date(2025, 12, 1), date(2025, 12, 2)
    days = business_days(start, end, tz)
    movements = [Movement(T0 + at, kind, points) for kind, points, at in moves]
    expected = liability_by_day(days, movements, list[RateEvent]())
    assert liability(session, chain_id=CHAIN, start=start, end=end, tz=tz) == expected
