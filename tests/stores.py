"""Stores for tests: migrated here, as ``coalition up`` and ``python -m network migrate`` do before
any process opens one (processes never migrate on their own)."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from network.store import Partner, migrate, open_store


def migrated_store(url: str) -> sessionmaker[Session]:
    """Migrates the store at ``url`` to head and opens a session factory on it."""
    migrate(url)
    return open_store(url)


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
