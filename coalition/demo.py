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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from coalition import demo_expiry, demo_messages, demo_tables, program, till
from coalition.crosscheck import points_expired_from_chain, recompute_from_chain
from coalition.demo_operator import USD, Operator
from coalition.formats import Token, amount, money, net
from coalition.processes import LocalNetwork
from coalition.program import SHOPS
from coalition.simulator import PosSimulator, Sale, Shop
from coalition.till import BalanceOf, PointsPayment
from gateway.settings import GatewaySettings
from partners.client import Tier

CUSD = Token("cUSD", 6)


@dataclass(frozen=True)
class DemoOptions:
    purchases: int = 300
    self_custody: int = 6
    custodial: int = 6
    refunds: int = 8
    redemptions: int = 30
    workers: int = 2
    exit_after: bool = False


@dataclass
class Played:
    """What the program steps of the month left to show: the purchase in the bonus window, each
    customer's tier once the tier consumer counted their purchases, the points payment."""

    bonus: Sale | None = None
    tiers: dict[str, Tier] = field(default_factory=dict)
    payment: PointsPayment | None = None


@contextmanager
def _bar(console: Console) -> Iterator[Progress]:
    columns = (TextColumn("{task.description:<34}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        yield progress


def _step(progress: Progress, description: str, total: int) -> Any:
    task = progress.add_task(description, total=total)
    return lambda: progress.advance(task)


async def play_month(sim: PosSimulator, options: DemoOptions, console: Console, balance_of: BalanceOf) -> Played:
    played = Played()
    with _bar(console) as progress:
        await sim.stock_rewards(_step(progress, "rewards stocked", sum(len(s.rewards) for s in sim.shops)))
        await sim.enrol(
            options.self_custody,
            options.custodial,
            _step(progress, "members enrolled with profiles", options.self_custody + options.custodial),
        )
        posted = _step(progress, "purchases posted (with lines)", options.purchases)
        month = sim.purchases(
            options.purchases, posted, _step(progress, "purchases confirmed on chain", options.purchases)
        )
        _, played.bonus = await asyncio.gather(
            month, _bonus_purchase(sim, _step(progress, "a purchase now, in the bonus window", 1))
        )
        played.tiers = await sim.tiers(_step(progress, "tiers counted (tiers.sweep)", len(sim.customers)))
        confirmed = sum(1 for s in sim.sales if s.status == "confirmed")
        await sim.refunds(
            options.refunds, _step(progress, "refunds (points clawed back)", min(options.refunds, confirmed))
        )
        plan = sim.plan_redemptions(options.redemptions)
        await sim.redemptions(plan, _step(progress, "redemptions across partners", len(plan)))
        tick = _step(progress, "paid with points at a till, refunded", 1)
        found = till.payer(sim)
        if found is not None:
            c, shop = found
            lines = program.till_lines(SHOPS[sim.shops.index(shop)])
            played.payment = await till.pay_and_refund(sim, c, shop, lines, balance_of=balance_of)
        tick()
    return played


async def _bonus_purchase(sim: PosSimulator, tick: Any) -> Sale:
    """A purchase now (while the month is posted) at the shop with the bonus window, by the last
    customer enrolled."""
    i = next(i for i, plan in enumerate(SHOPS) if plan.bonus_window)
    sale = await sim.sell(sim.shops[i], sim.customers[-1], f"{sim.run_id}-happy", program.till_lines(SHOPS[i]))
    tick()
    return sale


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
        "restored",
        f"issued value ({symbol})",
        f"reversed value ({symbol})",
        f"redeemed value ({symbol})",
        f"restored value ({symbol})",
        f"net ({symbol})",
    ):
        table.add_column(column, justify="left" if column == "partner" else "right")
    for p in statement["partners"]:
        table.add_row(
            names.get(p["partner_id"], f"#{p['partner_id']}"),
            f"{p['points_issued']:,}",
            f"{p['points_redeemed']:,}",
            f"{p['points_reversed']:,}",
            f"{p.get('points_restored', 0):,}",
            amount(p["issued_value"], token.decimals),
            amount(p["reversed_value"], token.decimals),
            amount(p["redeemed_value"], token.decimals),
            amount(p.get("restored_value", 0), token.decimals),
            net(p["net"], token),
        )
    table.add_row("operator", *[""] * 8, net(statement["operator_net"], token), style="bold")
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
        "points_restored",
        "issued_value",
        "reversed_value",
        "redeemed_value",
        "restored_value",
        "net",
    )
    ours = [tuple(p.get(f, 0) for f in fields) for p in statement["partners"]]  # version 2: nothing restored
    theirs = [tuple(getattr(line, f) for f in fields) for line in recomputed]
    why_zero = f"sum of {len(ours)} partner nets + operator net = {total}"
    blocks = f"{period['from_block']}-{period['to_block']}"
    why_chain = f"{len(theirs)} partner lines recomputed from eth_getLogs over blocks {blocks}"
    return zero, ours == theirs, why_zero, why_chain


def show_expiry(console: Console, op: Operator, shop: Shop, run_id: str, names: dict[int, str]) -> bool:
    """Points expiry with a short window, its reminders and the sweep, then a second settlement whose
    statement has the breakage line, checked against the chain; answers whether its checks hold."""
    began = time.monotonic()
    clock = demo_expiry.DemoClock(op.w3)
    console.print(
        f"\n[bold]Points expiry[/bold]: a {demo_expiry.DEMO_WINDOW // demo_expiry.DAY}-day window for the demo "
        "(the contract's shortest; a change applies after a 90-day notice enforced on chain)"
    )
    with console.status("expiry: window, purchases, reminders, sweep (moving the chain's clock)…"):
        shown = demo_expiry.play_expiry(op, shop, run_id, clock)
    console.print(
        f"[yellow]the chain's clock is moved {shown.moved_days} days forward: a local demo chain only[/yellow] "
        f"(anvil's evm_increaseTime; it only moves forward)"
    )
    console.print(
        f"  expiry window {'applied now' if shown.window_applied_now else 'already in force'}: "
        f"{op.contracts.points.functions.expiryWindow().call() // demo_expiry.DAY} days without activity"
    )
    demo_tables.print_expiry(console, shop.name, shown)
    for r in shown.reminders:
        console.print(
            f"  reminder {demo_expiry.REMINDER}: {r['wallet']} has {r['points']:,} points expiring at "
            f"{r['expires_at']} ({r['days_before']} days before)"
        )
    console.print(
        "  [dim](each reminder: a domain event, sent as a webhook to every partner with a ref of the customer)[/dim]"
    )
    console.print(f"  due holders (expiresAtOf past the chain's time): {len(shown.due)} of these {len(shown.earned)}")
    console.print(f"  swept by {shown.swept_by}")
    console.print(
        f"  expired: {shown.expired_holders} holder(s), {shown.expired_points:,} points in all "
        "(with every holder whose last activity is older than the window)"
    )
    with console.status("waiting for the indexer, then settling the expiry's period on chain…"):
        op.wait_indexed(op.w3.eth.block_number)
        period = op.settle()
    print_statement(console, period, names)
    statement = period["statement"]
    expired = int(statement.get("points_expired", 0))
    console.print(
        f"Breakage: {expired:,} points expired in period {period['period_id']}: the operator's; "
        "nobody is reimbursed for them (the issuing partners paid their issue price when they were earned)"
    )
    zero, chain, why_zero, why_chain = check_statement(op, period)
    on_chain = points_expired_from_chain(op.w3, op.book, period["from_block"], period["to_block"])
    mine = sum(shown.expired.values())
    breakage = expired == on_chain and mine == sum(shown.earned.values()) and mine <= expired
    for good, what, why in (
        (zero, "check 1: the nets and the operator's sum to zero", why_zero),
        (chain, "check 2: the statement matches an independent recomputation from the chain's events", why_chain),
        (breakage, "check 3: the breakage line equals the chain's Expired events",
         f"{on_chain:,} points in Expired logs over blocks {period['from_block']}-{period['to_block']}"),
    ):  # fmt: skip
        console.print(f"{'[green]✔' if good else '[red]✘'} {what}[/] ({why})")
    ok = zero and chain and breakage
    console.print("EXPIRY CHECKS HOLD" if ok else "AN EXPIRY CHECK FAILED")
    console.print(f"expiry part: {time.monotonic() - began:.0f} s")
    return ok


def run_demo(settings: GatewaySettings, options: DemoOptions, console: Console) -> bool:
    """Plays the demo; answers whether both checks hold and the points paid at the till came back."""
    net = LocalNetwork(settings, workers=options.workers)
    began = time.monotonic()
    since = demo_messages.started_at()  # the run's mails are those the local mailbox received after this
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
        with console.status("earning rules and the tier ladder (operator API)…"):
            now = datetime.now(UTC)
            rules = {
                s.partner_id: op.activate_rules(s.partner_id, program.rule_set(p, now))
                for s, p in zip(shops, SHOPS, strict=True)
            }
            ladder, applied = op.ladder(program.LADDER)
        sim = PosSimulator(net.url, shops, run_id=run_id)
        played = asyncio.run(_play(sim, options, console, op.balance_of))
        t = sim.tally
        console.print(
            f"month played: {t.purchases} purchases, {t.refunds} refunds, {t.redemptions} redemptions confirmed"
        )
        for failure in t.failed:
            console.print(f"  [yellow]not final as planned:[/yellow] {failure}")
        given_back = _show_program(console, op, sim, rules, ladder, applied, played)
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
        ok = ok and given_back
        ok = show_expiry(console, op, shops[0], run_id, names) and ok
        ok = demo_messages.show_messages(console, settings.mailbox_path, net.url, since=since) and ok
        console.print(f"demo run time: {time.monotonic() - began:.0f} s")
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


def _show_program(
    console: Console,
    op: Operator,
    sim: PosSimulator,
    rules: dict[int, dict[str, Any]],
    ladder: dict[str, Any],
    applied: bool,
    played: Played,
) -> bool:
    """The program's tables; answers whether the points paid at the till were given back on chain."""
    demo_tables.print_members(console, sim.customers)
    demo_tables.print_rules(console, sim.shops, SHOPS, rules, sim.sales)
    if played.bonus is not None:
        i = next(i for i, plan in enumerate(SHOPS) if plan.bonus_window)
        window = next(r for r in rules[sim.shops[i].partner_id]["rules"] if r["kind"] == "bonus_window")
        demo_tables.print_breakdown(console, played.bonus, SHOPS[i], window)
    bottom = ladder["tiers"][0]["name"]
    changes = {
        ref: op.tier_changes(t.customer_id)
        for ref, t in played.tiers.items()
        if t.tier != bottom and t.customer_id is not None
    }
    demo_tables.print_tiers(console, ladder, applied, sim.customers, played.tiers, changes)
    if played.payment is None:
        console.print("[yellow]no self-custody customer had points to pay with: no points payment[/yellow]")
        return True
    demo_tables.print_payment(console, played.payment)
    return played.payment.given_back_on_chain


async def _play(sim: PosSimulator, options: DemoOptions, console: Console, balance_of: BalanceOf) -> Played:
    try:
        return await play_month(sim, options, console, balance_of)
    finally:
        await sim.aclose()
