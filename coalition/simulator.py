"""A point-of-sale simulator: shops and customers doing a month of business through the partner
SDK over HTTP (``AsyncPartnerClient``). ``coalition demo`` plays it; benchmarks can too.
Customers are enrolled members with a profile; every purchase carries its receipt's lines (the
shop's earning rules read them: coalition/program.py) and its breakdown is kept once confirmed.

It keeps its own book of every customer's points (confirmed earns, minus refunds and
redemptions), so that it only ever asks for what a real customer could do: a refund before the
points are spent, a redemption the balance covers. Self-custody customers sign their consents
with their own key (EIP-712); custodial ones need none (the gateway signs with the key it keeps),
but spend only at their home shop, the custodian, which names them by its own ref.
Deterministic for a seed, unique per ``run_id`` (every id the partners send carries it).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount

from coalition import program
from coalition.program import Item
from partners.client import AsyncPartnerClient, Member, OperationFailed, Tier, signed_consent

T = TypeVar("T")
Tick = Callable[[], None]


@dataclass
class Reward:
    sku: str
    name: str
    points: int
    stock: int


@dataclass
class Shop:
    """A partner as its POS sees it: its API key, its earn rate, its products and its reward catalogue."""

    name: str
    partner_id: int
    api_key: str
    currency: str
    points_per_unit: Decimal
    catalogue: tuple[Item, ...]  # what its till rings up
    excluded: frozenset[str] = frozenset()  # categories that earn nothing here
    rewards: list[Reward] = field(default_factory=list)


@dataclass
class Customer:
    """``key`` is None for a custodial customer (the gateway holds the key)."""

    ref: str
    home: Shop
    wallet: str = ""
    key: LocalAccount | None = None
    points: int = 0
    member: Member | None = None  # as enrolment answered

    @property
    def custodial(self) -> bool:
        return self.key is None


@dataclass
class Sale:
    shop: Shop
    customer: Customer
    purchase_id: str
    amount: str
    lines: list[dict[str, Any]] = field(default_factory=list)
    points: int = 0
    status: str = "accepted"
    breakdown: list[dict[str, Any]] | None = None  # which rule gave how many points, once confirmed


@dataclass
class Tally:
    purchases: int = 0
    refunds: int = 0
    redemptions: int = 0
    failed: list[str] = field(default_factory=list)


class PosSimulator:
    def __init__(self, base_url: str, shops: list[Shop], *, run_id: str, seed: int = 7, concurrency: int = 16) -> None:
        self.shops = shops
        self.run_id = run_id
        self.random = random.Random(seed)
        self.clients = {s.partner_id: AsyncPartnerClient(base_url, s.api_key) for s in shops}
        self.customers: list[Customer] = []
        self.sales: list[Sale] = []
        self.tally = Tally()
        self._limit = asyncio.Semaphore(concurrency)
        self.month_start = datetime.now(UTC).replace(day=1, hour=9, minute=0, second=0, microsecond=0)

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.aclose()

    def client(self, shop: Shop) -> AsyncPartnerClient:
        return self.clients[shop.partner_id]

    async def _bounded(self, work: Awaitable[T], tick: Tick) -> T:
        async with self._limit:
            try:
                return await work
            finally:
                tick()

    async def _all(self, works: Iterable[Awaitable[T]], tick: Tick) -> list[T]:
        return list(await asyncio.gather(*(self._bounded(w, tick) for w in works)))

    # ------------------------------------------------------------------ set-up

    async def stock_rewards(self, tick: Tick = lambda: None) -> None:
        await self._all(
            (self.client(s).add_reward(r.sku, r.name, r.points, stock=r.stock) for s in self.shops for r in s.rewards),
            tick,
        )

    async def enrol(self, self_custody: int, custodial: int, tick: Tick = lambda: None) -> list[Customer]:
        """Customers enrolled at a home shop with a profile and consents (coalition/program.py):
        self-custody ones with the wallet they prove by signing the ref's link challenge
        (EIP-4361), custodial ones with a wallet the gateway keeps for them."""
        start = len(self.customers)
        new = [
            Customer(
                f"{self.run_id}-c{i}",
                self.shops[i % len(self.shops)],
                key=Account.create() if i - start < self_custody else None,
            )
            for i in range(start, start + self_custody + custodial)
        ]

        async def enrol_one(i: int, c: Customer) -> None:
            client = self.client(c.home)
            wallet: str | dict[str, str] = "custodial"
            if c.key is not None:
                challenge = await client.wallet_challenge(c.ref, c.key.address)
                signed = c.key.sign_message(encode_defunct(text=challenge["message"]))
                wallet = {
                    "message": challenge["message"],
                    "signature": "0x" + signed.signature.hex().removeprefix("0x"),
                }
            c.member = await client.enrol(c.ref, wallet=wallet, **program.profile(i, c.ref))
            assert c.member.wallet is not None
            c.wallet = c.member.wallet

        await self._all((enrol_one(start + n, c) for n, c in enumerate(new)), tick)
        self.customers += new
        return new

    # ------------------------------------------------------------------ the month

    def _who(self, c: Customer, shop: Shop) -> dict[str, str]:
        """At home by the shop's own ref, elsewhere by wallet."""
        return {"ref": c.ref} if c.home is shop else {"wallet": c.wallet}

    async def purchases(self, count: int, posted: Tick = lambda: None, final: Tick = lambda: None) -> list[Sale]:
        """``count`` purchases at every shop over the month, each a basket of the shop's
        catalogue (its lines add up to the amount), posted concurrently, then each followed
        until it is final."""
        start = len(self.sales)
        sales = []
        for i in range(count):
            shop = self.shops[i % len(self.shops)]
            c = self.random.choice(self.customers)
            lines, amount = program.basket(shop.catalogue, self.random, shop.excluded)
            sales.append(Sale(shop, c, f"{self.run_id}-p{start + i}", f"{amount:.2f}", lines))
        self.sales += sales

        async def post(s: Sale, day: int) -> None:
            at = self.month_start + timedelta(days=day, minutes=self.random.randint(0, 600))
            await self.client(s.shop).post_purchase(
                s.purchase_id,
                amount=s.amount,
                currency=s.shop.currency,
                purchased_at=at,
                lines=s.lines,
                **self._who(s.customer, s.shop),
            )

        await self._all((post(s, i * 28 // max(count, 1)) for i, s in enumerate(sales)), posted)
        await self._all((self.follow(s) for s in sales), final)
        return sales

    async def sell(self, shop: Shop, c: Customer, purchase_id: str, lines: list[dict[str, Any]], **extra: Any) -> Sale:
        """One purchase at the till now (``extra``: ``paid_with``), followed until it is final."""
        amount = sum((program.net_of(line) for line in lines), Decimal(0))
        sale = Sale(shop, c, purchase_id, f"{amount:.2f}", lines)
        self.sales.append(sale)
        await self.client(shop).post_purchase(
            purchase_id,
            amount=sale.amount,
            currency=shop.currency,
            purchased_at=datetime.now(UTC),
            lines=lines,
            **self._who(c, shop),
            **extra,
        )
        await self.follow(sale, month=False)
        return sale

    async def follow(self, s: Sale, *, month: bool = True) -> None:
        """Waits until the purchase is final; ``month``: it counts in the month's tally."""
        try:
            body = await self.client(s.shop).wait(f"/v1/purchases/{s.purchase_id}", timeout_s=180, poll_s=0.3)
        except OperationFailed as failed:
            s.status = "failed"
            self.tally.failed.append(f"purchase {s.purchase_id}: {failed.slug}: {failed.failure_reason}")
            return
        s.status, s.points, s.breakdown = body["status"], int(body["points"]), body.get("breakdown")
        s.customer.points += s.points
        self.tally.purchases += month

    async def tiers(self, tick: Tick = lambda: None, timeout_s: float = 90) -> dict[str, Tier]:
        """Each customer's coalition-wide tier, read at their home shop (by its ref) once the
        tier consumer (the workers' ``tiers.sweep``) has counted every confirmed purchase of
        theirs: their qualifying points are the base points of those purchases (none refunded
        yet). A customer still short of them at the timeout is answered as found, and noted."""
        expected = {c.ref: 0 for c in self.customers}
        for s in self.sales:
            if s.status == "confirmed":
                expected[s.customer.ref] += program.qualifying_points(s.breakdown, s.points)

        async def tier_of(c: Customer) -> Tier:
            deadline = asyncio.get_running_loop().time() + timeout_s
            while True:
                tier = await self.client(c.home).customer_tier(c.ref)
                if tier.qualifying_points >= expected[c.ref]:
                    return tier
                if asyncio.get_running_loop().time() > deadline:
                    self.tally.failed.append(
                        f"tier of {c.ref}: {tier.qualifying_points} qualifying points, {expected[c.ref]} expected"
                    )
                    return tier
                await asyncio.sleep(0.5)

        found = await self._all((tier_of(c) for c in self.customers), tick)
        return {c.ref: t for c, t in zip(self.customers, found, strict=True)}

    async def refunds(self, count: int, tick: Tick = lambda: None) -> None:
        """Refunds of confirmed sales, every other one in part (half the amount)."""
        candidates = [s for s in self.sales if s.status == "confirmed" and s.points > 1]
        chosen = self.random.sample(candidates, min(count, len(candidates)))

        async def refund(i: int, s: Sale) -> None:
            client = self.client(s.shop)
            amount = f"{Decimal(s.amount) / 2:.2f}" if i % 2 else None
            refund_id = f"{s.purchase_id}-r"
            await client.refund(s.purchase_id, refund_id, amount=amount, reason="customer returned goods")
            try:
                body = await client.wait(
                    f"/v1/purchases/{s.purchase_id}/refunds/{refund_id}", timeout_s=180, poll_s=0.3
                )
            except OperationFailed as failed:
                self.tally.failed.append(f"refund {refund_id}: {failed.slug}: {failed.failure_reason}")
                return
            s.customer.points -= int(body["points"])
            self.tally.refunds += 1

        await self._all((refund(i, s) for i, s in enumerate(chosen)), tick)

    def plan_redemptions(self, count: int) -> list[tuple[Customer, Shop, Reward]]:
        """Up to ``count`` rewards for customers whose points cover them, preferably at a shop
        other than their home (points earned at one partner, spent at another; a custodial
        customer only at home: no other shop can spend for them); the points and the stock are
        set aside at once."""
        plan: list[tuple[Customer, Shop, Reward]] = []
        for _ in range(count * 4):
            if len(plan) == count:
                break
            c = self.random.choice(self.customers)
            shops = [c.home] if c.custodial else [s for s in self.shops if s is not c.home] or self.shops
            shop = self.random.choice(shops)
            affordable = [r for r in shop.rewards if r.stock > 0 and r.points <= c.points]
            if affordable:
                reward = min(affordable, key=lambda r: r.points)
                reward.stock -= 1
                c.points -= reward.points
                plan.append((c, shop, reward))
        return plan

    async def redemptions(self, plan: list[tuple[Customer, Shop, Reward]], tick: Tick = lambda: None) -> None:
        """Plays a plan of :meth:`plan_redemptions`: consent (self-custody), redemption, until final."""

        async def redeem(i: int, c: Customer, shop: Shop, reward: Reward) -> None:
            client = self.client(shop)
            redemption_id = f"{self.run_id}-x{i}"
            consent: dict[str, Any] | None = None
            if c.key is not None:
                prepared = await client.redemption_consent(redemption_id, reward.sku, wallet=c.wallet)
                signature = Account.sign_typed_data(c.key.key, full_message=prepared["typed_data"]).signature
                consent = signed_consent(prepared, signature)
            if c.custodial:  # the custodian, by its own ref
                await client.redeem(redemption_id, reward.sku, ref=c.ref)
            else:
                await client.redeem(redemption_id, reward.sku, wallet=c.wallet, consent=consent)
            try:
                await client.wait(f"/v1/redemptions/{redemption_id}", timeout_s=180, poll_s=0.3)
            except OperationFailed as failed:
                c.points += reward.points
                self.tally.failed.append(f"redemption {redemption_id}: {failed.slug}: {failed.failure_reason}")
                return
            self.tally.redemptions += 1

        await self._all((redeem(i, *p) for i, p in enumerate(plan)), tick)
