"""Paying with points at a shop's till, then refunding that purchase, through the partner SDK
(``coalition demo`` plays it once).

A self-custody customer signs the hold of their points (EIP-712, the typed data the gateway
prepares); the till authorises it (the answer a card terminal waits for), captures it for the
purchase (the points burn as a redemption at the shop) and posts the purchase with the part paid
with points in ``paid_with``, which earns nothing. The refund of the whole purchase then claws
back what it earned and gives the paid points back (the shop mints them again). The customer's balance
is read on chain at each step: after the refund it is what it was before the payment.

The shop's point value is in the settlement token (cUSD); the demo's shops sell in EUR and take
the points' cUSD value off the bill at par (the demo has no exchange rate).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from eth_account import Account

from coalition.program import CENT
from coalition.simulator import Customer, PosSimulator, Sale, Shop
from partners.client import PointsHold, signed_consent

BalanceOf = Callable[[str], int]  # a wallet's points on chain


@dataclass
class PointsPayment:
    shop: Shop
    customer: Customer
    hold_id: str
    purchase_id: str
    refund_id: str
    points: int = 0
    money: Decimal = Decimal(0)
    authorised_ms: float = 0.0
    burn_tx: str | None = None
    sale: Sale | None = None
    clawed_back: int = 0
    hold: PointsHold | None = None
    balances: list[tuple[str, int]] = field(default_factory=list)  # (after what, points on chain)
    given_back_on_chain: bool = False


def payer(sim: PosSimulator) -> tuple[Customer, Shop] | None:
    """The self-custody customer with the most points (by the simulator's book), at a shop other
    than their home; None if nobody has ten points."""
    wallets = [c for c in sim.customers if not c.custodial and c.points >= 10]
    if not wallets:
        return None
    c = max(wallets, key=lambda c: c.points)
    return c, next(s for s in sim.shops if s is not c.home)


async def pay_and_refund(
    sim: PosSimulator,
    c: Customer,
    shop: Shop,
    lines: list[dict[str, Any]],
    *,
    balance_of: BalanceOf,
    points: int = 400,
    timeout_s: float = 120,
) -> PointsPayment:
    """Pays part of a purchase of ``lines`` with up to ``points`` of ``c``'s points (half their
    points at most, in tens), then refunds the purchase; waits for each step to be final."""
    assert c.key is not None, "a self-custody customer signs the hold"
    client = sim.client(shop)
    run = sim.run_id
    pay = PointsPayment(shop, c, f"{run}-hold", f"{run}-till", f"{run}-till-back")
    pay.points = min(points, c.points // 2 // 10 * 10)

    async def balance(after: str) -> int:
        found = await asyncio.to_thread(balance_of, c.wallet)
        pay.balances.append((after, found))
        return found

    before = await balance("before")
    prepared = await client.points_hold_consent(pay.hold_id, wallet=c.wallet, points=pay.points)
    signature = Account.sign_typed_data(c.key.key, full_message=prepared["typed_data"]).signature
    started = time.monotonic()
    held = await client.authorise_points(
        pay.hold_id, wallet=c.wallet, points=pay.points, consent=signed_consent(prepared, signature)
    )
    pay.authorised_ms = (time.monotonic() - started) * 1000
    pay.money = held.money_value.quantize(CENT)
    c.points -= pay.points
    await client.capture_points(pay.hold_id, pay.purchase_id)
    burned, pay.sale = await asyncio.gather(
        client.wait(f"/v1/redemptions/hold:{pay.hold_id}", timeout_s=timeout_s, poll_s=0.3),
        sim.sell(shop, c, pay.purchase_id, lines, paid_with={"points": str(pay.money)}),
    )
    pay.burn_tx = burned["tx_hash"]
    await balance("paid and earned")

    await client.refund(pay.purchase_id, pay.refund_id, reason="customer returned goods")
    refunded = await client.wait(
        f"/v1/purchases/{pay.purchase_id}/refunds/{pay.refund_id}", timeout_s=timeout_s, poll_s=0.3
    )
    pay.clawed_back = int(refunded["points"])
    c.points += pay.points - pay.clawed_back
    deadline = time.monotonic() + timeout_s
    while (now := await asyncio.to_thread(balance_of, c.wallet)) != before and time.monotonic() < deadline:
        await asyncio.sleep(0.3)  # the give-back is minted after the refund is confirmed
    pay.balances.append(("refunded and given back", now))
    pay.given_back_on_chain = now == before
    pay.hold = await client.points_hold(pay.hold_id)
    return pay
