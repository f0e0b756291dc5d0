"""Campaign rows, customers and accepted purchases for the campaigns' store-level tests."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from eth_account import Account
from sqlalchemy.orm import Session, sessionmaker

from gateway.services.campaigns_accept import AcceptedPurchase
from network.store import Campaign, Customer, CustomerWallet

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def add_campaign(sessions: sessionmaker[Session], **changes: Any) -> int:
    spec: dict[str, Any] = {
        "name": "Double up",
        "funder_partner_id": 7,
        "owner": "operator",
        "trigger_type": "purchase",
        "trigger_params": {},
        "conditions": {},
        "effects": [{"kind": "bonus_points", "mode": "fixed", "points": 3}],
        "status": "running",
        "holdout_bp": 0,
        "salt": "salt-1",
    }
    spec.update(changes)
    with sessions() as session:
        row = Campaign(**spec)
        session.add(row)
        session.commit()
        return row.id


def add_customers(sessions: sessionmaker[Session], n: int) -> list[tuple[int, str]]:
    """``n`` customers with a wallet each: (customer id, wallet)."""
    out = []
    with sessions() as session:
        for i in range(n):
            customer = Customer()
            session.add(customer)
            session.flush()
            wallet = Account.from_key((i + 1).to_bytes(32, "big")).address
            session.add(CustomerWallet(address=wallet, customer_id=customer.id))
            out.append((customer.id, wallet))
        session.commit()
    return out


def accepted(wallet: str, purchase_id: str, *, partner_id: int = 7, earned: int = 20) -> AcceptedPurchase:
    return AcceptedPurchase(
        partner_id=partner_id,
        purchase_id=purchase_id,
        wallet=wallet,
        amount=Decimal("20.00"),
        purchased_at=NOW,
        lines=(),
        earned=earned,
    )


def member(sessions: sessionmaker[Session], wallet: str) -> int:
    """A customer with ``wallet``: its id."""
    with sessions() as session:
        customer = Customer()
        session.add(customer)
        session.flush()
        session.add(CustomerWallet(address=wallet, customer_id=customer.id))
        session.commit()
        return customer.id
