"""``coalition demo``: a month of a living coalition, over HTTP, ending with a settlement that is
checked twice (it sums to zero with the operator; it matches the chain's own events).

Every name and id carries a run id, so a second run on a network already up adds a new month
of new partners and customers, and its settlement covers only what happened since the last.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import redis
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from web3 import HTTPProvider, Web3

from coalition.crosscheck import recompute_from_chain
from coalition.formats import Token, amount, money, net
from coalition.processes import LocalNetwork
from coalition.simulator import PosSimulator, Reward, Shop
from gateway.operator_key import operator_key_held
from gateway.settings import GatewaySettings
from network.contracts import CoalitionContracts
from network.deployments import AddressBook, load_address_book
from network.direct import transact
from network.keys import dev_account
from network.store import IndexerCheckpoint, open_store

USD = 10**6  # cUSD has 6 decimals
CUSD = Token("cUSD", 6)


@dataclass(frozen=True)
class ShopPlan:
    kind: str
    points_per_unit: str
    issue_price: int  # cUSD base units per point issued
    reimbursement_rate: int  # cUSD base units per point redeemed
    basket: tuple[int, int]
    rewards: tuple[tuple[str, str, int, int], ...]  # sku, name, points, stock


SHOPS = (
    ShopPlan(
        "Grocery",
        "1",
        10_000,
        8_000,
        (10, 120),
        (("COFFEE", "Free coffee", 30, 60), ("BASKET", "Fruit basket", 150, 10)),
    ),
    ShopPlan(
        "Fuel station", "2", 12_000, 9_000, (20, 90), (("WASH", "Car wash", 60, 40), ("FUEL-10", "10 litres", 200, 10))
    ),
    ShopPlan(
        "Pharmacy", "1.5", 9_000, 7_000, (5, 60), (("VITAMINS", "Vitamins", 40, 40), ("SPF", "Sun cream", 90, 20))
    ),
)


@dataclass(frozen=True)
class DemoOptions:
    purchases: int = 300
    self_custody: int = 6
    custodial: int = 6
    refunds: int = 8
    redemptions: int = 30
    workers: int = 2
    exit_after: bool = False


class Operator:
    """The operator API and the chain, as the demo uses them."""

    def __init__(self, settings: GatewaySettings, net: LocalNetwork) -> None:
        self.settings = settings
        self.net = net
        self.http = httpx.Client(
            base_url=net.url, headers={"Authorization": f"Bearer {settings.operator_token}"}, timeout=60
        )
        self.w3 = Web3(HTTPProvider(settings.rpc_url, request_kwargs={"timeout": settings.rpc_timeout_s}))
        self.book: AddressBook = load_address_book(settings.chain_id, settings.deployments_dir)
        self.contracts = CoalitionContracts(self.w3, self.book)

    def call(self, method: str, path: str, **kw: Any) -> Any:
        r = self.http.request(method, path, **kw)
        if r.is_error:
            raise RuntimeError(f"{method} {path}: {r.status_code} {r.text}")
        return r.json()

    def onboard(self, plan: ShopPlan, run_id: str) -> Shop:
        treasury = Web3.to_checksum_address(Web3.keccak(text=f"demo-treasury-{run_id}-{plan.kind}")[:20])
        body = {
            "name": f"{plan.kind} {run_id}",
            "treasury": treasury,
            "currency": "EUR",
            "points_per_unit": plan.points_per_unit,
            "issue_price": plan.issue_price,
            "reimbursement_rate": plan.reimbursement_rate,
            "issuance_limit": 10**9 * USD,
            "deposit": 100_000 * USD,
        }
        created = self.call("POST", "/v1/operator/partners", json=body)
        rewards = [Reward(f"{sku}-{run_id}", name, points, stock) for sku, name, points, stock in plan.rewards]
        return Shop(
            body["name"], created["id"], created["api_key"], "EUR", Decimal(plan.points_per_unit), plan.basket, rewards
        )

    def fund_operator(self, amount: int) -> None:
        """The operator's float in Clearing, from which it pays partners owed a positive net:
        cUSD minted by the admin (local chain), approved and deposited by the operator."""
        admin, operator = dev_account(0, self.settings), dev_account(1, self.settings)
        c = self.contracts
        transact(self.w3, admin, c.token.functions.mint(operator.address, amount))
        client = redis.Redis.from_url(self.net.redis_url)
        with operator_key_held(client, operator.address, self.settings):  # the gateway signs with it too
            transact(self.w3, operator, c.token.functions.approve(c.clearing.address, amount))
            transact(self.w3, operator, c.clearing.functions.fundOperator(amount))
        client.close()

    def wait_indexed(self, block: int, timeout_s: float = 120) -> None:
        sessions = open_store(self.settings.database_url)
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                with sessions() as session:
                    cp = session.get(IndexerCheckpoint, (self.settings.chain_id, "coalition"))
                    if cp is not None and cp.block_number >= block:
                        return
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the indexer is not at block {block} after {timeout_s} s")
                time.sleep(0.2)
        finally:
            sessions.kw["bind"].dispose()

    def settle(self, timeout_s: float = 180) -> dict[str, Any]:
        started = self.call("POST", "/v1/operator/settlements")
        deadline = time.monotonic() + timeout_s
        while True:
            period = self.call("GET", f"/v1/operator/settlements/{started['period_id']}")
            if period["status"] == "settled":
                return dict(period)
            if period["status"] == "failed" or time.monotonic() > deadline:
                raise RuntimeError(
                    f"settlement of period {started['period_id']}: {period['status']} {period.get('error')}"
                )
            time.sleep(0.3)


@contextmanager
def _bar(console: Console) -> Iterator[Progress]:
    columns = (TextColumn("{task.description:<34}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        yield progress


def _step(progress: Progress, description: str, total: int) -> Any:
    task = progress.add_task(description, total=total)
    return lambda: progress.advance(task)


async def play_month(sim: PosSimulator, options: DemoOptions, console: Console) -> None:
    with _bar(console) as progress:
        await sim.stock_rewards(_step(progress, "rewards stocked", sum(len(s.rewards) for s in sim.shops)))
        await sim.enrol(
            options.self_custody,
            options.custodial,
            _step(progress, "customers enrolled", options.self_custody + options.custodial),
        )
        posted = _step(progress, "purchases posted", options.purchases)
        await sim.purchases(
            options.purchases, posted, _step(progress, "purchases confirmed on chain", options.purchases)
        )
        confirmed = sum(1 for s in sim.sales if s.status == "confirmed")
        await sim.refunds(
            options.refunds, _step(progress, "refunds (points clawed back)", min(options.refunds, confirmed))
        )
        plan = sim.plan_redemptions(options.redemptions)
        await sim.redemptions(plan, _step(progress, "redemptions across partners", len(plan)))


def print_statement(console: Console, period: dict[str, Any], names: dict[int, str]) -> None:
    statement = period["statement"]
    token = Token(statement["token"]["symbol"], int(statement["token"]["decimals"]))
    symbol = token.symbol
    table = Table(
        title=f"Settlement of period {period['period_id']} (blocks {period['from_block']}-{period['to_block']})"
    )
    for column in (
        "partner",
        "points issued",
        "redeemed",
        "reversed",
        f"issued value ({symbol})",
        f"reversed value ({symbol})",
        f"redeemed value ({symbol})",
        f"net ({symbol})",
    ):
        table.add_column(column, justify="left" if column == "partner" else "right")
    for p in statement["partners"]:
        table.add_row(
            names.get(p["partner_id"], f"#{p['partner_id']}"),
            f"{p['points_issued']:,}",
            f"{p['points_redeemed']:,}",
            f"{p['points_reversed']:,}",
            amount(p["issued_value"], token.decimals),
            amount(p["reversed_value"], token.decimals),
            amount(p["redeemed_value"], token.decimals),
            net(p["net"], token),
        )
    table.add_row("operator", "", "", "", "", "", "", net(statement["operator_net"], token), style="bold")
    console.print(table)
    console.print(
        "[dim]net > 0: the operator pays the partner; net < 0: the partner pays. " + statement["formula"] + "[/dim]"
    )
    cells = statement["bilateral"]["points"]
    if not cells:
        console.print("[dim]no points were redeemed in the period: no bilateral matrix[/dim]")
        return
    issuers = sorted({c["issued_by"] for c in cells})
    matrix = Table(title="Bilateral matrix: points redeemed at (rows), issued by (columns)")
    matrix.add_column("redeemed at")
    for issuer in issuers:
        matrix.add_column(names.get(issuer, "earlier periods" if issuer == 0 else f"#{issuer}"), justify="right")
    for redeemer in sorted({c["redeemed_at"] for c in cells}):
        row = {c["issued_by"]: c["points"] for c in cells if c["redeemed_at"] == redeemer}
        matrix.add_row(names.get(redeemer, f"#{redeemer}"), *(f"{row.get(i, 0):,}" for i in issuers))
    console.print(matrix)
    console.print(f"[dim]{statement['bilateral']['rule']}[/dim]")


def check_statement(op: Operator, period: dict[str, Any]) -> tuple[bool, bool, str, str]:
    """(sums to zero, matches the chain, and what each check compared)."""
    statement = period["statement"]
    total = sum(p["net"] for p in statement["partners"]) + statement["operator_net"]
    zero = total == 0 and statement["sum_check"]["total"] == 0
    recomputed = recompute_from_chain(op.w3, op.book, period["from_block"], period["to_block"])
    fields = (
        "partner_id",
        "points_issued",
        "points_reversed",
        "points_redeemed",
        "issued_value",
        "reversed_value",
        "redeemed_value",
        "net",
    )
    ours = [tuple(p[f] for f in fields) for p in statement["partners"]]
    theirs = [tuple(getattr(line, f) for f in fields) for line in recomputed]
    why_zero = f"sum of {len(ours)} partner nets + operator net = {total}"
    blocks = f"{period['from_block']}-{period['to_block']}"
    why_chain = f"{len(theirs)} partner lines recomputed from eth_getLogs over blocks {blocks}"
    return zero, ours == theirs, why_zero, why_chain


def run_demo(settings: GatewaySettings, options: DemoOptions, console: Console) -> bool:
    """Plays the demo; answers whether both checks hold."""
    net = LocalNetwork(settings, workers=options.workers)
    started: list[str] = []
    try:
        with console.status("starting the network…") as status:
            started = net.up(lambda name: status.update(f"starting {name}…"))
        console.print(f"network {'started' if started else 'already up, reused'}: gateway {net.url}")
        op = Operator(settings, net)
        run_id = uuid.uuid4().hex[:6]
        with console.status("onboarding partners (registration, minter key, settlement deposit)…"):
            shops = [op.onboard(plan, run_id) for plan in SHOPS]
            op.fund_operator(10_000 * USD)
        for shop, plan in zip(shops, SHOPS, strict=True):
            console.print(
                f"  {shop.name}: partner #{shop.partner_id}, {plan.points_per_unit} pt per EUR, "
                f"issued at {money(plan.issue_price, CUSD)} per point, "
                f"redeemed at {money(plan.reimbursement_rate, CUSD)} per point"
            )
        sim = PosSimulator(net.url, shops, run_id=run_id)
        asyncio.run(_play(sim, options, console))
        t = sim.tally
        console.print(
            f"month played: {t.purchases} purchases, {t.refunds} refunds, {t.redemptions} redemptions confirmed"
        )
        for failure in t.failed:
            console.print(f"  [yellow]not final as planned:[/yellow] {failure}")
        with console.status("waiting for the indexer, then settling the month on chain…"):
            op.wait_indexed(op.w3.eth.block_number)
            period = op.settle()
        names = {p["id"]: p["name"] for p in op.call("GET", "/v1/operator/partners")}
        print_statement(console, period, names)
        zero, chain, why_zero, why_chain = check_statement(op, period)
        console.print(
            f"{'[green]✔' if zero else '[red]✘'} check 1: the nets and the operator's sum to zero[/] ({why_zero})"
        )
        console.print(
            f"{'[green]✔' if chain else '[red]✘'} check 2: the statement matches an independent recomputation "
            f"from the chain's events[/] ({why_chain})"
        )
        ok = zero and chain
        console.print("BOTH CHECKS HOLD" if ok else "A CHECK FAILED")
        if not options.exit_after:
            console.print(
                f"\nThe network stays up. Gateway {net.url}  API docs {net.url}/docs  dashboard {net.url}/dashboard"
            )
            console.print(
                f"Operator token (local mode): {settings.operator_token}. "
                f"Ctrl-C stops {'it' if started else 'this command (the network was already up)'}."
            )
            stop = threading.Event()
            for sig in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C, or a service manager's stop
                signal.signal(sig, lambda *_: stop.set())
            stop.wait()
            console.print("stopping…")
        return ok
    finally:
        if started:
            net.down(only=started)  # what this run started, not a network it found up


async def _play(sim: PosSimulator, options: DemoOptions, console: Console) -> None:
    try:
        await play_month(sim, options, console)
    finally:
        await sim.aclose()
