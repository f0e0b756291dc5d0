"""A partner's money as the operator sees it, and deposits for it.

Clearing holds each partner's funds; the figures are read from the chain at one block (funds,
free funds, issuance headroom, exposure, pending credit), with the store's count of the
partner's purchases held for lack of headroom or failed.

A deposit moves settlement tokens into Clearing in the partner's name (``Clearing.deposit``:
anyone may pay in for a partner). On a local chain the gateway mints test tokens and deposits
them itself, as onboarding does with its ``deposit``. On any other chain the gateway holds no
money and no treasury key, so it sends nothing: it answers the two transactions the partner's
treasury (or whoever pays for it) signs and sends, approve then deposit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.chain import Chain
from gateway.services.onboarding import deposit_test_funds
from gateway.services.partner_admin import chain_errors, get_partner
from gateway.settings import GatewaySettings
from network.store import OutboxPurchase, Partner, PurchaseStatus


@dataclass(frozen=True)
class Token:
    """The settlement token: its address, symbol and decimals."""

    address: str
    symbol: str
    decimals: int


@dataclass(frozen=True)
class UnsignedCall:
    """A transaction for someone else to sign and send."""

    to: str
    data: str
    function: str
    description: str


@dataclass(frozen=True)
class Deposit:
    """A deposit done (``deposited``, with its transaction and the partner's funds and headroom
    after it), or the calls the partner's treasury must send (``treasury-must-send``)."""

    partner_id: int
    amount: int
    status: Literal["deposited", "treasury-must-send"]
    tx_hash: str | None = None
    funds: int | None = None
    headroom: int | None = None
    transactions: list[UnsignedCall] = field(default_factory=list)


@dataclass(frozen=True)
class AccountFigures:
    settlement_token: Token
    block_number: int
    funds: int
    free_funds: int
    headroom: int
    exposure: int
    pending_credit: int
    held_purchases: int
    failed_purchases: int


def settlement_token(chain: Chain) -> Token:
    token = chain.contracts.token
    return Token(
        address=token.address,
        symbol=str(token.functions.symbol().call()),
        decimals=int(token.functions.decimals().call()),
    )


def _purchase_counts(session: Session, partner_id: int) -> dict[PurchaseStatus, int]:
    rows = session.execute(
        select(OutboxPurchase.status, func.count())
        .where(
            OutboxPurchase.status.in_((PurchaseStatus.HELD, PurchaseStatus.FAILED)),
            OutboxPurchase.partner_id == partner_id,
        )
        .group_by(OutboxPurchase.status)
    ).all()
    return {PurchaseStatus(status): int(n) for status, n in rows}


def figures(session: Session, chain: Chain, partner_id: int) -> tuple[Partner, AccountFigures]:
    """The partner (404 if unknown) and its money, read at the latest block."""
    partner = get_partner(session, partner_id)
    counts = _purchase_counts(session, partner_id)
    session.commit()  # no connection held during the chain calls
    clearing = chain.contracts.clearing.functions
    with chain_errors(session):
        block = int(chain.w3.eth.block_number)
        at = {"block_identifier": block}
        read = {
            name: int(getattr(clearing, fn)(partner_id).call(**at))
            for name, fn in (
                ("funds", "fundsOf"),
                ("free_funds", "freeFundsOf"),
                ("headroom", "headroomOf"),
                ("exposure", "exposureOf"),
                ("pending_credit", "pendingCreditOf"),
            )
        }
        token = settlement_token(chain)
    return partner, AccountFigures(
        settlement_token=token,
        block_number=block,
        held_purchases=counts.get(PurchaseStatus.HELD, 0),
        failed_purchases=counts.get(PurchaseStatus.FAILED, 0),
        **read,
    )


def deposits_directly(settings: GatewaySettings, chain: Chain) -> bool:
    """Whether :func:`deposit` sends the deposit itself (local chains: test tokens minted by the
    admin) or answers the transactions the partner's treasury must send."""
    return settings.mode == "local" and chain.admin is not None


def deposit(session: Session, chain: Chain, settings: GatewaySettings, partner_id: int, amount: int) -> Deposit:
    """Local chains: mints ``amount`` test tokens and deposits them for the partner, at once.
    Other chains: the transactions the partner's treasury must send (nothing is sent)."""
    partner = get_partner(session, partner_id)
    session.commit()
    c = chain.contracts
    if not deposits_directly(settings, chain):
        return Deposit(
            partner_id=partner_id,
            amount=amount,
            status="treasury-must-send",
            transactions=[
                UnsignedCall(
                    to=c.token.address,
                    data=c.token.encode_abi("approve", [c.clearing.address, amount]),
                    function="approve(address,uint256)",
                    description=f"from the payer (the partner's treasury {partner.treasury}): let Clearing "
                    f"take {amount} base units of the settlement token",
                ),
                UnsignedCall(
                    to=c.clearing.address,
                    data=c.clearing.encode_abi("deposit", [partner_id, amount]),
                    function="deposit(uint32,uint256)",
                    description=f"then, from the same account: deposit them for partner {partner_id}",
                ),
            ],
        )
    with chain_errors(session):
        tx_hash = deposit_test_funds(chain, partner_id, amount)
        clearing = c.clearing.functions
        funds = int(clearing.fundsOf(partner_id).call())
        headroom = int(clearing.headroomOf(partner_id).call())
    return Deposit(
        partner_id=partner_id, amount=amount, status="deposited", tx_hash=tx_hash, funds=funds, headroom=headroom
    )
