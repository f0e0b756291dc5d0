"""gateway/services/expiry_schedule.py: who is due, from the store's ledger and window events only;
gateway/services/expiry_reminders.py: each points.expiring reminder told once."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gateway.services.expiry_reminders import iso, remind
from gateway.services.expiry_schedule import due_holders, expiries, holder_expiry_of
from loyalty.expiry_schedule import DAY_S, HolderExpiry
from network.store import ChainEvent, Customer, CustomerWallet, DomainEvent, LedgerEntry, utcnow
from tests.stores import migrated_store

CHAIN = 31337
W = 730 * DAY_S
A, B, C = ("0x" + c * 40 for c in "abc")


@pytest.fixture
def sessions(tmp_path: Path) -> sessionmaker[Session]:
    return migrated_store(f"sqlite:///{tmp_path / 'store.db'}")


def _window(s: Session, block: int, window: int) -> None:
    s.add(
        ChainEvent(
            chain_id=CHAIN, block_number=block, block_hash="0x", block_time=0, tx_hash="0x" + "00" * 32,
            log_index=0, contract="CoalitionPoints", name="ExpiryWindowChanged", args={"window": window},
        )
    )  # fmt: skip


def _entry(s: Session, customer: str, block: int, t: int, points: int, kind: str = "earned") -> None:
    s.add(
        LedgerEntry(
            chain_id=CHAIN, block_number=block, block_time=t, tx_hash=f"0x{block:064x}", log_index=int(customer[2], 16),
            item=0,
            kind=kind, customer=customer, points=points,
        )
    )  # fmt: skip


def test_holders_are_due_after_their_last_movement_plus_the_window(sessions: sessionmaker[Session]) -> None:
    with sessions() as s:
        _window(s, 1, W)
        _entry(s, A, 10, 1_000, 5)
        _entry(s, B, 10, 1_000, 5)
        _entry(s, B, 20, 5_000, 1)  # active later
        _entry(s, C, 10, 1_000, 5)
        _entry(s, C, 20, 5_000, -5, "redeemed")  # holds nothing
        s.commit()
        assert due_holders(s, CHAIN, now=1_000 + W) == []
        assert due_holders(s, CHAIN, now=1_001 + W) == [A]
        assert due_holders(s, CHAIN, now=5_001 + W) == [A, B]
        assert holder_expiry_of(s, CHAIN, B) == HolderExpiry(6, 5_000 + W)
        assert holder_expiry_of(s, CHAIN, C) == HolderExpiry(0, 0)


def test_an_expired_holder_is_not_due_again(sessions: sessionmaker[Session]) -> None:
    with sessions() as s:
        _window(s, 1, W)
        _entry(s, A, 10, 1_000, 5)
        _entry(s, A, 30, 2_000 + W, -5, "expired")
        s.commit()
        assert due_holders(s, CHAIN, now=10 * W) == []


def test_with_a_changed_window_each_movement_takes_the_window_of_its_block(sessions: sessionmaker[Session]) -> None:
    short = 30 * DAY_S
    with sessions() as s:
        _window(s, 1, W)
        _window(s, 15, short)
        _entry(s, A, 10, 1_000, 5)  # under the long window
        _entry(s, B, 20, 2_000, 5)  # under the short one
        s.commit()
        assert due_holders(s, CHAIN, now=2_001 + short) == [B]
        assert expiries(s, CHAIN, before=10 * W)[A] == HolderExpiry(5, 1_000 + W)


# --------------------------------------------------------------------------- reminders


def _told(s: Session) -> list[tuple[str, int, int]]:
    rows = s.scalars(select(DomainEvent).where(DomainEvent.type == "points.expiring").order_by(DomainEvent.id))
    return [(e.payload["wallet"], e.payload["days_before"], e.payload["points"]) for e in rows]


def test_reminders_are_told_once_each_30_then_7_days_before(sessions: sessionmaker[Session]) -> None:
    with sessions() as s:
        _window(s, 1, W)
        s.add(Customer(id=42, created_at=utcnow()))
        s.add(CustomerWallet(address=A, customer_id=42))
        _entry(s, A, 10, 1_000, 5)
        _entry(s, B, 10, 1_000, 5)
        _entry(s, B, 20, 50 * DAY_S, 2)  # active later: its expiry is further out
        s.commit()
        expires = 1_000 + W
        for now in (expires - 31 * DAY_S, expires - 30 * DAY_S, expires - 20 * DAY_S):
            remind(s, chain_id=CHAIN, now=now, days_before=[30, 7])
            s.commit()
        assert _told(s) == [(A, 30, 5)]
        for now in (expires - 7 * DAY_S, expires - 1):
            remind(s, chain_id=CHAIN, now=now, days_before=[30, 7])
            s.commit()
        assert _told(s) == [(A, 30, 5), (A, 7, 5)]
        event = s.scalars(select(DomainEvent).where(DomainEvent.type == "points.expiring")).first()
        assert event is not None and event.payload["customer_id"] == 42 and event.customer_wallet == A
        assert event.payload["expires_at"] == iso(expires)


def test_a_late_run_tells_only_the_nearest_reminder(sessions: sessionmaker[Session]) -> None:
    with sessions() as s:
        _window(s, 1, W)
        _entry(s, A, 10, 1_000, 5)
        s.commit()
        remind(s, chain_id=CHAIN, now=1_000 + W - 3 * DAY_S, days_before=[30, 7])
        s.commit()
        remind(s, chain_id=CHAIN, now=1_000 + W - 2 * DAY_S, days_before=[30, 7])
        s.commit()
        assert _told(s) == [(A, 7, 5)]


def test_activity_makes_new_reminders_due_for_the_new_expiry_time(sessions: sessionmaker[Session]) -> None:
    with sessions() as s:
        _window(s, 1, W)
        _entry(s, A, 10, 1_000, 5)
        s.commit()
        remind(s, chain_id=CHAIN, now=1_000 + W - 30 * DAY_S, days_before=[30, 7])
        _entry(s, A, 20, 1_000 + W - 20 * DAY_S, 1)  # earns again: its points live a whole window more
        s.commit()
        remind(s, chain_id=CHAIN, now=1_000 + W - 6 * DAY_S, days_before=[30, 7])  # the old 7-day one: no more
        remind(s, chain_id=CHAIN, now=1_000 + 2 * W - 50 * DAY_S, days_before=[30, 7])
        s.commit()
        assert _told(s) == [(A, 30, 5), (A, 30, 6)]
