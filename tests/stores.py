"""Stores for tests: migrated here, as ``coalition up`` and ``python -m network migrate`` do before
any process opens one (processes never migrate on their own)."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from network.store import migrate, open_store


def migrated_store(url: str) -> sessionmaker[Session]:
    """Migrates the store at ``url`` to head and opens a session factory on it."""
    migrate(url)
    return open_store(url)
