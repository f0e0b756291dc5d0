"""The purge of expired challenges and sessions (gateway/services/purge.py) on a real SQLite
store migrated by the real migrations: expired rows go, live ones stay, a second run finds
nothing, and a backlog larger than one batch goes in several."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from gateway.services.purge import Purged, purge_expired
from network.store import CustomerSession, DomainEvent, OperatorSession, WalletChallenge, utcnow
from network.store.events import consume, event_row, record_many
from tests.stores import migrated_store


def test_purge_removes_expired_challenges_and_sessions_and_keeps_live_ones(tmp_path: Path) -> None:
    sessions = migrated_store(f"sqlite:///{tmp_path / 'store.db'}")
    now = utcnow()
    past, future = now - timedelta(seconds=1), now + timedelta(hours=1)
    with sessions() as session:
        for i, (expires, used) in enumerate([(past, None), (past, now), (past, None), (future, None), (future, now)]):
            session.add(
                WalletChallenge(
                    nonce=f"nonce{i:04d}", purpose="session", address="0x" + "1" * 40, message="m",
                    expires_at=expires, used_at=used,
                )
            )  # fmt: skip
        for i, expires in enumerate([past, past, past, future]):
            session.add(CustomerSession(token_hash=f"{i:064x}", wallet="0x" + "2" * 40, expires_at=expires))
        for i, expires in enumerate([past, future]):
            session.add(OperatorSession(token_hash=f"{i:064x}", credential="0" * 64, expires_at=expires))
        session.commit()

    assert purge_expired(sessions, now=now, batch=2) == Purged(challenges=3, customer_sessions=3, operator_sessions=1)
    assert purge_expired(sessions, now=now, batch=2) == Purged(0, 0, 0)  # idempotent
    with sessions() as session:
        left = {
            model.__name__: list(session.scalars(select(model.expires_at)))
            for model in (WalletChallenge, CustomerSession, OperatorSession)
        }
        assert {name: len(rows) for name, rows in left.items()} == {
            "WalletChallenge": 2, "CustomerSession": 1, "OperatorSession": 1,
        }  # fmt: skip
        assert all(e > now for rows in left.values() for e in rows)  # only live rows stay
        assert (
            session.scalar(
                select(func.count()).select_from(WalletChallenge).where(WalletChallenge.used_at.is_not(None))
            )
            == 1
        )
    sessions.kw["bind"].dispose()


def test_purge_prunes_read_events_past_the_retention_in_batches(tmp_path: Path) -> None:
    """With a retention, the purge deletes the domain events every consumer has read and that
    are older than it, a batch per transaction; without one (``event_retention_days`` 0) none."""
    sessions = migrated_store(f"sqlite:///{tmp_path / 'store.db'}")
    now = utcnow()
    with sessions() as session:
        record_many(session, [event_row("t", payload={"n": n}, at=now - timedelta(days=40)) for n in range(5)])
        record_many(session, [event_row("t", payload={"n": 5}, at=now)])
        session.commit()
    consume(sessions, "webhooks", lambda session, batch: None)
    assert purge_expired(sessions, now=now, batch=2).events == 0  # no retention: kept
    assert purge_expired(sessions, now=now, batch=2, event_retention=timedelta(days=30)).events == 5
    assert purge_expired(sessions, now=now, batch=2, event_retention=timedelta(days=30)).events == 0
    with sessions() as session:
        assert [e.payload["n"] for e in session.scalars(select(DomainEvent))] == [5]
    sessions.kw["bind"].dispose()
