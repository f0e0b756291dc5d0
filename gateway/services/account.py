"""A partner's account as the partner sees it (``GET /v1/account``) and as the operator's
dashboard shows it: its money in ``Clearing`` (read from the chain), its recent purchases with
where they stand, its settlement statements (its own lines only) and its webhook deliveries.

Every query is scoped to the one partner: nothing of another partner is read. The headroom
warning's rule (:func:`headroom_low`) is pure, and shared by the warning webhook
(gateway/tasks/earn.py) and the dashboard's flags.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from web3.exceptions import Web3Exception

from gateway.chain import Chain
from gateway.errors import ChainUnavailable
from gateway.services.purchases import STATUS_NAMES
from gateway.services.webhooks import shown_error
from loyalty.statement import partner_view
from network.errors import TransientRpcError, failure_name
from network.store import ChainTransaction, OutboxPurchase, Partner, Purchase, SettlementPeriod, WebhookDelivery

CHAIN_ERRORS = (TransientRpcError, Web3Exception)
RATIO_SCALE = 10**6


@dataclass(frozen=True)
class Money:
    """A partner's position in ``Clearing``, in settlement-token base units."""

    funds: int
    free_funds: int
    headroom: int
    exposure: int
    pending_credit: int
    issuance_limit: int
    token_symbol: str
    token_decimals: int

    @property
    def bound(self) -> int:
        """What issuance may reach: the lower of the funds and the issuance limit."""
        return min(self.funds, self.issuance_limit)


@dataclass(frozen=True)
class PurchaseLine:
    purchase_id: str
    status: str
    points: int
    amount: Decimal
    currency: str
    customer_wallet: str
    customer_ref: str | None
    purchased_at: datetime
    created_at: datetime
    tx_hash: str | None
    reason: str | None


@dataclass
class Account:
    partner: Partner
    money: Money | None  # None: the chain could not be read (the dashboard degrades, the API answers 503)
    purchases: list[PurchaseLine] = field(default_factory=list)
    statements: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[WebhookDelivery] = field(default_factory=list)


def headroom_low(headroom: int, bound: int, ratio: float) -> bool:
    """Whether the headroom is below ``ratio`` of the bound (``min(funds, limit)``): a partner
    with no funds at all is low; ``ratio`` 0 turns the warning off. Integer maths: exact."""
    if ratio <= 0:
        return False
    if bound <= 0:
        return True
    scaled = int(Decimal(str(ratio)) * RATIO_SCALE)
    return headroom * RATIO_SCALE < scaled * bound


def read_money(chain: Chain, partner_id: int) -> Money:
    """The partner's funds, free funds, headroom, exposure and pending credit from ``Clearing``,
    its issuance limit from the registry. Raises the node's errors (see ``CHAIN_ERRORS``)."""
    c = chain.contracts
    clearing = c.clearing.functions
    return Money(
        funds=int(clearing.fundsOf(partner_id).call()),
        free_funds=int(clearing.freeFundsOf(partner_id).call()),
        headroom=int(clearing.headroomOf(partner_id).call()),
        exposure=int(clearing.exposureOf(partner_id).call()),
        pending_credit=int(clearing.pendingCreditOf(partner_id).call()),
        issuance_limit=int(c.registry.functions.partner(partner_id).call()[5]),
        token_symbol=str(c.token.functions.symbol().call()),
        token_decimals=int(c.token.functions.decimals().call()),
    )


def read_headroom(chain: Chain, partner_id: int) -> tuple[int, int]:
    """(issuance headroom, its bound min(funds, limit)): the three reads of ``read_money`` that a
    periodic look at every partner needs. Raises the node's errors (see ``CHAIN_ERRORS``)."""
    c = chain.contracts
    clearing = c.clearing.functions
    funds = int(clearing.fundsOf(partner_id).call())
    limit = int(c.registry.functions.partner(partner_id).call()[5])
    return int(clearing.headroomOf(partner_id).call()), min(funds, limit)


def money_or_none(chain: Chain, partner_id: int) -> Money | None:
    try:
        return read_money(chain, partner_id)
    except CHAIN_ERRORS:
        return None


def recent_purchases(
    session: Session, partner_id: int, *, limit: int = 20, statuses: tuple[str, ...] = ()
) -> list[PurchaseLine]:
    """The partner's latest purchases with their status (the names of GET /v1/purchases/{id})
    and, for held or failed ones, the reason."""
    query = (
        select(Purchase, OutboxPurchase.status, OutboxPurchase.error, ChainTransaction.tx_hash)
        .join(OutboxPurchase, OutboxPurchase.id == Purchase.outbox_id)
        .outerjoin(ChainTransaction, ChainTransaction.id == OutboxPurchase.tx_id)
        .where(Purchase.partner_id == partner_id)
        .order_by(Purchase.id.desc())
        .limit(limit)
    )
    if statuses:
        raw = [s for s, name in STATUS_NAMES.items() if name in statuses]
        query = query.where(OutboxPurchase.status.in_(raw))
    lines = []
    for p, status, error, tx_hash in session.execute(query):
        name = STATUS_NAMES[status]
        lines.append(
            PurchaseLine(
                purchase_id=p.purchase_id,
                status=name,
                points=p.points,
                amount=p.amount,
                currency=p.currency,
                customer_wallet=p.customer_wallet,
                customer_ref=p.customer_ref,
                purchased_at=p.purchased_at,
                created_at=p.created_at,
                tx_hash=tx_hash,
                reason=error if name in ("held", "failed") else None,
            )
        )
    return lines


def statements(session: Session, partner_id: int, *, limit: int = 12) -> list[dict[str, Any]]:
    """The partner's lines of the latest computed statements (never another partner's line):
    period, blocks, status, its own figures and the bilateral cells it is part of."""
    rows = session.scalars(
        select(SettlementPeriod)
        .where(SettlementPeriod.statement.is_not(None))
        .order_by(SettlementPeriod.period_id.desc())
        .limit(limit)
    )
    out = []
    for row in rows:
        view = partner_view(row.statement or {}, partner_id)
        if view is None:
            continue
        out.append(
            {
                "period_id": row.period_id,
                "status": row.status,
                "from_block": row.from_block,
                "to_block": row.to_block,
                "statement_hash": row.statement_hash,
                "settled_at": row.settled_at,
                **view,
            }
        )
    return out


def deliveries(session: Session, partner_id: int, *, limit: int = 20) -> list[WebhookDelivery]:
    return list(
        session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.partner_id == partner_id)
            .order_by(WebhookDelivery.id.desc())
            .limit(limit)
        )
    )


def account(session: Session, chain: Chain, partner: Partner, *, strict: bool = True, limit: int = 20) -> Account:
    """Everything of one partner's account. ``strict``: an unreachable node is a 503
    (``ChainUnavailable``); otherwise the money is left out (None)."""
    found = Account(
        partner=partner,
        money=None,
        purchases=recent_purchases(session, partner.id, limit=limit),
        statements=statements(session, partner.id),
        deliveries=deliveries(session, partner.id, limit=limit),
    )
    session.commit()  # the store is read: release the connection before the chain calls
    try:
        found.money = read_money(chain, partner.id)
    except CHAIN_ERRORS as exc:
        if strict:
            raise ChainUnavailable(f"the chain cannot be read ({failure_name(exc)}); retry later") from exc
    return found


def delivery_error(d: WebhookDelivery) -> str | None:
    return shown_error(d)
