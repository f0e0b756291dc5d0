"""Stores for tests: migrated here, as ``coalition up`` and ``python -m network migrate`` do before
any process opens one (processes never migrate on their own)."""

from __future__ import annotations

import sqlite3
import tempfile
from contextlib import closing
from functools import cache
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from network.store import Partner, migrate, open_store

SQLITE_FILE = "sqlite:///"


def migrated_store(url: str) -> sessionmaker[Session]:
    """Migrates the store at ``url`` to head and opens a session factory on it. A new SQLite file is
    a page-for-page copy (sqlite3's backup) of one this process migrated with the same migrations:
    running the ~30 migrations again for each of a thousand unit tests cost minutes of CI."""
    path = Path(url.removeprefix(SQLITE_FILE)) if url.startswith(SQLITE_FILE) else None
    if path is not None and not path.exists():
        with closing(sqlite3.connect(_migrated_template())) as source, closing(sqlite3.connect(path)) as copy:
            source.backup(copy)
    else:
        migrate(url)
    return open_store(url)


@cache
def _migrated_template() -> str:
    """A SQLite store migrated to head, once per process, in a folder of its own."""
    path = Path(tempfile.mkdtemp(prefix="coalition-template-")) / "store.db"
    migrate(f"{SQLITE_FILE}{path}")
    return str(path)


def add_partner(sessions: sessionmaker[Session], *, partner_id: int = 7, name: str = "Grocer") -> None:
    """Adds a partner row (no chain behind it: for store-level tests of what refers to partners)."""

    with sessions() as session:
        session.add(
            Partner(
                id=partner_id,
                name=name,
                minter="0x" + "1" * 40,
                treasury="0x" + "2" * 40,
                api_key_prefix=f"ck_{name.lower()}",
                api_key_hash="0" * 64,
                currency="EUR",
                points_per_unit=1,
                issue_price=10_000,
                reimbursement_rate=8_000,
                issuance_limit=10**9,
            )
        )
        session.commit()
