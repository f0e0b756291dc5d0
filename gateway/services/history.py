"""What a customer has and what happened to it: the balance read from the chain (the truth), the
history from the ledger the indexer derives from the chain's events (so it lags by the indexer's
beat, about a second).

A partner sees only the movements at itself (``partner_id`` is its own) plus the total balance;
the customer sees every movement, with the partners' names. Pages go newest first; the cursor
is the id of the last entry of the previous page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session
from web3.contract import Contract
from web3.exceptions import Web3Exception

from gateway.chain import Chain
from gateway.errors import ChainUnavailable
from gateway.services.points_value import Offer
from network.errors import TransientRpcError, failure_name
from network.store import (
    ChainTransaction,
    CustomerLink,
    LedgerEntry,
    OutboxReversal,
    Partner,
    PointsHold,
    Purchase,
    Redemption,
    Refund,
    Reward,
)


@dataclass(frozen=True)
class Earn:
    """The purchase behind an earn entry: its id and its breakdown (None: by the rate alone)."""

    purchase_id: str
    breakdown: list[dict[str, Any]] | None


@dataclass(frozen=True)
class HistoryPage:
    entries: list[tuple[LedgerEntry, str | None]]  # with the partner's name, if any
    next_cursor: int | None
    earns: dict[int, Earn] = field(default_factory=dict)  # by entry id: the purchase of each earn


def balance_of(chain: Chain, wallet: str) -> int:
    """The wallet's points, from the token contract."""
    try:
        return int(chain.contracts.points.functions.balanceOf(wallet).call())
    except (TransientRpcError, Web3Exception) as exc:
        raise ChainUnavailable(f"the points balance cannot be read from the chain ({failure_name(exc)})") from exc


@dataclass(frozen=True)
class Token:
    address: str
    symbol: str
    decimals: int


def _token(contract: Contract, what: str) -> Token:
    try:
        symbol, decimals = str(contract.functions.symbol().call()), int(contract.functions.decimals().call())
    except (TransientRpcError, Web3Exception) as exc:
        raise ChainUnavailable(f"the {what} cannot be read from the chain ({failure_name(exc)})") from exc
    return Token(address=str(contract.address), symbol=symbol, decimals=decimals)


def points_token(chain: Chain) -> Token:
    """The points token (what a wallet watches: EIP-747)."""
    return _token(chain.contracts.points, "points token")


def settlement_token(chain: Chain) -> Token:
    """The stablecoin partners are paid in (cUSD): what points are valued in."""
    return _token(chain.contracts.token, "settlement token")


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
    return HistoryPage(
        entries=page,
        next_cursor=page[-1][0].id if len(rows) > limit else None,
        earns=_earns(session, [entry for entry, _ in page]),
    )


def _earns(session: Session, entries: list[LedgerEntry]) -> dict[int, Earn]:
    """The purchase (id, breakdown) of each earn entry, one query per partner on the page."""
    by_partner: dict[int, dict[int, int]] = {}
    for e in entries:
        if e.kind == "earned" and e.partner_id is not None and e.seq is not None:
            by_partner.setdefault(e.partner_id, {})[e.seq] = e.id
    out: dict[int, Earn] = {}
    for partner_id, seqs in by_partner.items():
        rows = session.execute(
            select(Purchase.seq, Purchase.purchase_id, Purchase.breakdown).where(
                Purchase.partner_id == partner_id, Purchase.seq.in_(seqs)
            )
        )
        for seq, purchase_id, breakdown in rows:
            out[seqs[seq]] = Earn(purchase_id, breakdown)
    return out


@dataclass(frozen=True)
class EntryDetail:
    """What a customer cares about in a movement, from the gateway's own records: the purchase
    (its id, amount and currency; for an earn, which rule gave how many points, the rule set's
    version, its lines and what was paid with points or gift cards), the redemption (reward,
    voucher), the refund (its amount)."""

    purchase_id: str | None = None
    amount: Decimal | None = None  # of the purchase; of the refund for a clawback
    currency: str | None = None
    breakdown: list[dict[str, Any]] | None = None  # of an earn: loyalty/earning.py Entry.as_json each
    rule: dict[str, Any] | None = None  # of an earn: the earn rule in force (points_per_unit, ruleset_version)
    lines: int | None = None  # of an earn: how many lines were posted (None: posted without)
    paid_with: dict[str, Any] | None = None  # of an earn: {"points": "5.00", "gift_cards": "0"} as posted
    reward: str | None = None
    quantity: int | None = None
    voucher_code: str | None = None
    redemption_status: str | None = None


def details(session: Session, entries: list[LedgerEntry]) -> dict[int, EntryDetail]:
    """The detail of each entry that has one, by the entry's id (a few queries per page)."""
    out: dict[int, EntryDetail] = {}
    by_seq = {(e.partner_id, e.seq): e for e in entries if e.kind in ("earned", "reversed") and e.seq is not None}
    purchases: dict[tuple[int, int], Purchase] = {}
    for partner_id in {pid for pid, _ in by_seq if pid is not None}:
        seqs = [seq for pid, seq in by_seq if pid == partner_id]
        for p in session.scalars(select(Purchase).where(Purchase.partner_id == partner_id, Purchase.seq.in_(seqs))):
            purchases[(p.partner_id, p.seq)] = p
    refunds = _refund_amounts(session, [e for e in entries if e.kind == "reversed"])
    refs = [e.ref for e in entries if e.kind in ("redeemed", "restored") and e.ref]
    redemptions = {
        r.ref: (r, name)
        for r, name in session.execute(
            select(Redemption, Reward.name)
            .outerjoin(Reward, Reward.id == Redemption.reward_id)  # none: points paid at a till
            .where(Redemption.ref.in_(refs))
        )
    }
    restored = [redemptions[e.ref][0].id for e in entries if e.kind == "restored" and e.ref in redemptions]
    holds = select(PointsHold.redemption_pk, PointsHold.purchase_id).where(PointsHold.redemption_pk.in_(restored))
    paid_for = {pk: purchase_id for pk, purchase_id in session.execute(holds)} if restored else {}
    for e in entries:
        purchase = purchases.get((e.partner_id or 0, e.seq or 0))
        if e.kind == "earned" and purchase is not None:
            out[e.id] = EntryDetail(
                purchase_id=purchase.purchase_id,
                amount=purchase.amount,
                currency=purchase.currency,
                breakdown=purchase.breakdown,
                rule=purchase.rule,
                lines=None if purchase.lines is None else len(purchase.lines),
                paid_with=purchase.paid_with,
            )
        elif e.kind == "reversed" and purchase is not None:
            out[e.id] = EntryDetail(
                purchase_id=purchase.purchase_id, amount=refunds.get(e.id), currency=purchase.currency
            )
        elif e.kind == "restored" and e.ref in redemptions:  # a refund gave back points paid at a till
            out[e.id] = EntryDetail(purchase_id=paid_for.get(redemptions[e.ref][0].id))
        elif e.kind == "redeemed" and e.ref in redemptions:
            r, name = redemptions[e.ref]
            out[e.id] = EntryDetail(
                reward=name or "Paid with points",
                quantity=r.quantity,
                voucher_code=r.voucher_code,
                redemption_status=r.status,
            )
    return out


def _refund_amounts(session: Session, reversed_entries: list[LedgerEntry]) -> dict[int, Decimal]:
    """The refund amount behind each clawback: its reversal went out in the entry's transaction,
    for the entry's purchase."""
    if not reversed_entries:
        return {}
    rows = session.execute(
        select(ChainTransaction.tx_hash, OutboxReversal.partner_id, OutboxReversal.seq, Refund.amount)
        .join(OutboxReversal, OutboxReversal.tx_id == ChainTransaction.id)
        .join(Refund, Refund.reversal_id == OutboxReversal.id)
        .where(ChainTransaction.tx_hash.in_([e.tx_hash for e in reversed_entries]))
    )
    amounts = {(tx, pid, seq): amount for tx, pid, seq, amount in rows if amount is not None}
    return {
        e.id: amounts[(e.tx_hash, e.partner_id, e.seq)]
        for e in reversed_entries
        if (e.tx_hash, e.partner_id, e.seq) in amounts
    }


def ledger_sums(session: Session, wallet: str) -> dict[str, int]:
    """The wallet's whole ledger, summed per kind (signed points)."""
    rows = session.execute(
        select(LedgerEntry.kind, func.sum(LedgerEntry.points))
        .where(LedgerEntry.customer == wallet)
        .group_by(LedgerEntry.kind)
    )
    return {kind: int(total or 0) for kind, total in rows}


def catalogue(session: Session) -> list[Offer]:
    """Every active reward of every active partner."""
    rows = session.execute(
        select(Reward, Partner.name)
        .join(Partner, Partner.id == Reward.partner_id)
        .where(Reward.active.is_(True), Partner.status == "active")
        .order_by(Reward.id)
    )
    return [Offer(partner=name, name=r.name, sku=r.sku, points=r.points, stock=r.stock) for r, name in rows]


def redeem_rates(session: Session) -> dict[str, int]:
    """The reimbursement rate of each active partner with an active reward (name -> rate)."""
    with_reward = exists().where(Reward.partner_id == Partner.id, Reward.active.is_(True))
    rows = session.execute(
        select(Partner.name, Partner.reimbursement_rate).where(Partner.status == "active", with_reward)
    )
    return {name: int(rate) for name, rate in rows}


def wallet_known_to(session: Session, partner_id: int, wallet: str) -> bool:
    """Whether a partner may read this wallet: linked to one of its customers, or it has a
    purchase there. Anything else is answered as if the wallet did not exist."""
    linked = exists().where(CustomerLink.partner_id == partner_id, CustomerLink.wallet == wallet)
    bought = exists().where(Purchase.partner_id == partner_id, Purchase.customer_wallet == wallet)
    return bool(session.scalar(select(linked | bought)))


def active_partner_names(session: Session) -> list[str]:
    """The names of the partners where points are earned and spent now, in the order of onboarding."""
    return list(session.scalars(select(Partner.name).where(Partner.status == "active").order_by(Partner.id)))
