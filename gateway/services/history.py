"""What a customer has and what happened to it: the balance read from the chain (the truth), the
history from the ledger the indexer derives from the chain's events (so it lags by the indexer's
beat, about a second).

A partner sees only the movements at itself (``partner_id`` is its own) plus the total balance;
the customer sees every movement, with the partners' names. Pages go newest first; the cursor
is the id of the last entry of the previous page.
"""

from __future__ import annotations

from dataclasses import dataclass

import requests
from sqlalchemy import exists, select
from sqlalchemy.orm import Session
from web3.exceptions import Web3Exception

from gateway.chain import Chain
from gateway.errors import ChainUnavailable
from gateway.models import CustomerLink, Partner, Purchase
from network.errors import TransientRpcError
from network.store import LedgerEntry


@dataclass(frozen=True)
class HistoryPage:
    entries: list[tuple[LedgerEntry, str | None]]  # with the partner's name, if any
    next_cursor: int | None


def balance_of(chain: Chain, wallet: str) -> int:
    """The wallet's points, from the token contract."""
    try:
        return int(chain.contracts.points.functions.balanceOf(wallet).call())
    except (requests.ConnectionError, requests.Timeout, TransientRpcError, Web3Exception) as exc:
        raise ChainUnavailable(f"the points balance cannot be read from the chain ({type(exc).__name__})") from exc


def history(
    session: Session, wallet: str, *, partner_id: int | None = None, cursor: int | None = None, limit: int = 50
) -> HistoryPage:
    """One page of the wallet's ledger, newest first; only entries at ``partner_id`` if given."""
    query = (
        select(LedgerEntry, Partner.name)
        .outerjoin(Partner, Partner.id == LedgerEntry.partner_id)
        .where(LedgerEntry.customer == wallet)
        .order_by(LedgerEntry.id.desc())
        .limit(limit + 1)
    )
    if partner_id is not None:
        query = query.where(LedgerEntry.partner_id == partner_id)
    if cursor is not None:
        query = query.where(LedgerEntry.id < cursor)
    rows = [(entry, name) for entry, name in session.execute(query)]
    page = rows[:limit]
    return HistoryPage(entries=page, next_cursor=page[-1][0].id if len(rows) > limit else None)


def wallet_known_to(session: Session, partner_id: int, wallet: str) -> bool:
    """Whether a partner may read this wallet: linked to one of its customers, or it has a
    purchase there. Anything else is answered as if the wallet did not exist."""
    linked = exists().where(CustomerLink.partner_id == partner_id, CustomerLink.wallet == wallet)
    bought = exists().where(Purchase.partner_id == partner_id, Purchase.customer_wallet == wallet)
    return bool(session.scalar(select(linked | bought)))
