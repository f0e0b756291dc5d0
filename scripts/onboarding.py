"""Onboarding on a local chain, shared by the demo, the gas table and the contract tests."""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

# Settlement-token amounts have 6 decimals: USD(1) is one unit of the test stablecoin.
USD = 10**6


@dataclass
class Coalition:
    """The deployed contracts and the two coalition roles."""

    registry: Any
    token: Any
    clearing: Any
    points: Any
    admin: Any
    operator: Any


def onboard_partner(
    c: Coalition,
    minter: Any,
    treasury: Any,
    *,
    issue_price: int = 10_000,
    reimbursement_rate: int = 8_000,
    issuance_limit: int = 10**6 * USD,
    deposit: int = 10_000 * USD,
) -> int:
    """Onboards a partner (operator), funds its treasury with test stablecoins (admin, the token's
    owner on a local chain) and deposits them in `Clearing` (treasury). Returns the partner id."""
    tx = c.registry.onboard(minter, treasury, issue_price, reimbursement_rate, issuance_limit, {"from": c.operator})
    partner_id = tx.events["PartnerOnboarded"]["partnerId"]
    if deposit:
        c.token.mint(treasury, deposit, {"from": c.admin})
        c.token.approve(c.clearing, deposit, {"from": treasury})
        c.clearing.deposit(partner_id, deposit, {"from": treasury})
    return partner_id


def fund_operator(c: Coalition, amount: int) -> None:
    """Gives the operator's account in `Clearing` a float to pay net reimbursements from."""
    c.token.mint(c.operator, amount, {"from": c.admin})
    c.token.approve(c.clearing, amount, {"from": c.operator})
    c.clearing.fundOperator(amount, {"from": c.operator})


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Hides brownie's per-transaction console lines (its `--silent` flag does not, in 1.22)."""
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # brownie warns about its own chain.mine()
        yield
