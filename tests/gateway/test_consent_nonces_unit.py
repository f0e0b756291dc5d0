"""The redemption nonces the gateway hands out (gateway/services/consent_nonces.py), SQLite and
PostgreSQL: each wallet's in order from SEQUENTIAL_NONCE_BASE, never one twice (threads taking
them at once included), a rolled-back transaction's given back, and consecutive ones in one word
of the contract's nonce bitmap."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from gateway.services.consent_nonces import next_nonce
from network.signatures import SEQUENTIAL_NONCE_BASE
from tests.pg import StoreKind
from tests.stores import migrated_store

A = "0x" + "aa" * 20
B = "0x00000000000000000000000000000000000000b0"


@pytest.fixture
def sessions(tmp_path: Path, store: StoreKind) -> Iterator[sessionmaker[Session]]:
    factory = migrated_store(store.new_url(tmp_path))
    yield factory
    factory.kw["bind"].dispose()


def take(sessions: sessionmaker[Session], wallet: str, commit: bool = True) -> int:
    with sessions() as session:
        nonce = next_nonce(session, wallet)
        if commit:
            session.commit()
        return nonce


def test_each_wallet_counts_from_the_base_in_order(sessions) -> None:
    assert [take(sessions, A) for _ in range(3)] == [SEQUENTIAL_NONCE_BASE + i for i in range(3)]
    assert take(sessions, B) == SEQUENTIAL_NONCE_BASE  # its own counter
    assert take(sessions, A.upper().replace("0X", "0x")) == SEQUENTIAL_NONCE_BASE + 3  # one wallet, any case
    # above every random 64-bit nonce handed out before, and 256 in a row share a bitmap word
    assert SEQUENTIAL_NONCE_BASE >= 2**64 and SEQUENTIAL_NONCE_BASE % 256 == 0


def test_a_rolled_back_transaction_takes_none(sessions) -> None:
    assert take(sessions, A, commit=False) == SEQUENTIAL_NONCE_BASE
    assert take(sessions, A) == SEQUENTIAL_NONCE_BASE


def test_concurrent_callers_never_get_the_same_nonce(sessions) -> None:
    got: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(10):
            for attempt in range(50):  # SQLite: a writer may find the database locked; it tries again
                try:
                    nonce = take(sessions, A)
                    break
                except Exception:
                    if attempt == 49:
                        raise
            with lock:
                got.append(nonce)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == [SEQUENTIAL_NONCE_BASE + i for i in range(40)]
