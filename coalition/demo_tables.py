"""What ``coalition demo`` shows of the loyalty program, as short rich tables: the members
enrolled, each shop's earning rules with what they gave, a purchase's breakdown in the bonus
window, the tier moves, and the points payment at a till with its refund."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from coalition import program
from coalition.program import ShopPlan
from coalition.simulator import Customer, Sale, Shop
from coalition.till import PointsPayment
from partners.client import Tier

SHOWN = 6  # rows of the members table


def _short(wallet: str) -> str:
    return f"{wallet[:6]}…{wallet[-4:]}"


def print_members(console: Console, customers: Sequence[Customer]) -> None:
    table = Table(title=f"Members enrolled ({len(customers)}, each at a home shop, with a profile and consents)")
    for column in ("ref", "home", "wallet", "email", "locale", "time zone", "consents given"):
        table.add_column(column)
    for c in customers[:SHOWN]:
        assert c.member is not None
        p = c.member.profile
        given = ", ".join(sorted(x.channel for x in c.member.consents if x.granted)) or "none"
        custody = "custodial" if c.member.custodial else "own key"
        table.add_row(c.ref, c.home.name, f"{_short(c.wallet)} ({custody})", p.email, p.locale, p.time_zone, given)
    if len(customers) > SHOWN:
        table.add_row(f"… {len(customers) - SHOWN} more", "", "", "", "", "", "")
    console.print(table)


def print_rules(
    console: Console,
    shops: Sequence[Shop],
    plans: Sequence[ShopPlan],
    rules: Mapping[int, Mapping[str, Any]],
    sales: Sequence[Sale],
) -> None:
    given: dict[tuple[int, str], int] = defaultdict(int)
    for s in sales:
        for entry in s.breakdown or () if s.status == "confirmed" else ():
            given[(s.shop.partner_id, entry["rule"])] += int(entry["points"])
    table = Table(title="Earning rules in force (activated through the operator API), and what they gave")
    for column in ("shop", "version", "rule", "kind", "what", "points given"):
        table.add_column(column, justify="right" if column == "points given" else "left")
    for shop, plan in zip(shops, plans, strict=True):
        ruleset = rules[shop.partner_id]
        for i, rule in enumerate(ruleset["rules"]):
            points = "" if rule["kind"] == "exclusion" else f"{given[(shop.partner_id, rule['id'])]:,}"
            table.add_row(
                shop.name if i == 0 else "",
                f"v{ruleset['version']}" if i == 0 else "",
                rule["id"],
                rule["kind"],
                program.describe(rule, plan.points_per_unit),
                points,
            )
        table.add_section()
    console.print(table)


def _receipt(lines: Sequence[Mapping[str, Any]], excluded: str) -> str:
    parts = []
    for x in lines:
        note = " (earns nothing)" if x["category"] == excluded else ""
        quantity = program.plain(x["quantity"])
        parts.append(f"{x['sku']} ({x['category']}) {quantity} × {x['unit_price']} = {program.net_of(x)}{note}")
    return "; ".join(parts)


def print_breakdown(console: Console, sale: Sale, plan: ShopPlan, window: Mapping[str, Any]) -> None:
    table = Table(
        title=f"Bonus window: purchase {sale.purchase_id} at {sale.shop.name}, {sale.amount} {sale.shop.currency} "
        f"now, inside {window['id']} ({program.window_text(window)}): its breakdown"
    )
    for column in ("rule", "kind", "version", "points"):
        table.add_column(column, justify="right" if column in ("version", "points") else "left")
    for entry in sale.breakdown or ():
        style = "bold" if entry["kind"] == "bonus_window" else None
        table.add_row(entry["rule"], entry["kind"], str(entry["version"]), f"{entry['points']:,}", style=style)
    table.add_row("total", "", "", f"{sale.points:,}", style="bold")
    console.print(table)
    console.print(f"[dim]lines: {_receipt(sale.lines, plan.excluded)}[/dim]")


def print_tiers(
    console: Console,
    ladder: Mapping[str, Any],
    applied: bool,
    customers: Sequence[Customer],
    tiers: Mapping[str, Tier],
    changes: Mapping[str, Sequence[Mapping[str, Any]]],
) -> list[str]:
    """Prints the ladder and who moved up; answers the refs of those who did."""
    rungs = ", ".join(
        f"{t['name']} {t['threshold']:,}" + ("" if t["multiplier"] in ("1", "1.0") else f" ×{t['multiplier']}")
        for t in ladder["tiers"]
    )
    state = "applied now" if applied else "already in force"
    console.print(f"Tier ladder v{ladder['version']} ({state}): {rungs} qualifying points, rolling 12 months")
    bottom = ladder["tiers"][0]["name"]
    moved = [c for c in customers if tiers[c.ref].tier != bottom]
    table = Table(title=f"Tier moves: {len(moved)} of {len(customers)} members moved up (counted by tiers.sweep)")
    for column in ("member", "home", "qualifying points", "moves", "multiplier", "to the next tier"):
        table.add_column(column, justify="right" if column == "qualifying points" else "left")
    for c in sorted(moved, key=lambda c: -tiers[c.ref].qualifying_points):
        t = tiers[c.ref]
        moves = sorted(changes.get(c.ref, ()), key=lambda x: x["at"])  # the API lists the newest first
        path = " → ".join([bottom, *(x["to_tier"] for x in moves if x["to_tier"] != bottom)])
        following = "top" if t.next_tier is None else f"{t.points_to_next:,} to {t.next_tier}"
        table.add_row(c.ref, c.home.name, f"{t.qualifying_points:,}", path, f"×{t.multiplier}", following)
    console.print(table)
    stayed = [tiers[c.ref] for c in customers if tiers[c.ref].tier == bottom]
    if stayed:
        closest = min(stayed, key=lambda t: t.points_to_next or 0)
        console.print(
            f"[dim]{len(stayed)} stay {bottom}; the closest needs {closest.points_to_next:,} more "
            f"for {closest.next_tier}[/dim]"
        )
    return [c.ref for c in moved]


def print_payment(console: Console, pay: PointsPayment) -> None:
    sale, hold = pay.sale, pay.hold
    assert sale is not None and hold is not None
    c = pay.customer
    table = Table(title=f"Paying with points at the {pay.shop.name} till, then a refund ({c.ref}, own key)")
    for column in ("step", "what happened", "points on chain"):
        table.add_column(column, justify="right" if column == "points on chain" else "left")
    balances = dict(pay.balances)
    tx = f" (tx {pay.burn_tx[:10]}…)" if pay.burn_tx else ""
    table.add_row("before", "", f"{balances['before']:,}")
    table.add_row(
        "authorise",
        f"hold {pay.hold_id}: {pay.points:,} points = {pay.money} cUSD, signed by the customer, "
        f"answered in {pay.authorised_ms:.0f} ms",
        "",
    )
    table.add_row("capture", f"burned as redemption {hold.redemption_id}{tx}", "")
    paid = sale.amount
    table.add_row(
        "purchase",
        f"{sale.purchase_id}: {paid} {sale.shop.currency}, {pay.money} paid with points; earned {sale.points:,}",
        f"{balances['paid and earned']:,}",
    )
    table.add_row(
        "refund",
        f"{pay.refund_id}: the whole purchase; {pay.clawed_back:,} earned points clawed back, "
        f"{hold.given_back_points:,} paid points given back by {pay.shop.name}",
        f"{balances['refunded and given back']:,}",
    )
    console.print(table)
    mark = "[green]✔" if pay.given_back_on_chain else "[red]✘"
    verdict = "again" if pay.given_back_on_chain else f"on chain, not {balances['before']:,}"
    console.print(
        f"{mark} given back on chain[/]: {c.ref} has {balances['refunded and given back']:,} points {verdict} "
        f"(−{pay.points:,} paid, +{sale.points:,} earned, −{pay.clawed_back:,} clawed back, "
        f"+{hold.given_back_points:,} given back)"
    )


def print_expiry(console: Console, shop_name: str, shown: Any) -> None:
    """The customers who earned once under the demo's window: their points, expiry time, what expired
    (``shown``: coalition/demo_expiry.py's ExpiryShown)."""
    table = Table(title=f"Points expiry: customers who earned once at {shop_name}, then did nothing")
    for column in ("wallet", "points earned", "expiresAtOf (UTC)", "expired (Expired event)"):
        table.add_column(column, justify="left" if column == "wallet" else "right")
    for wallet, points in shown.earned.items():
        at = datetime.fromtimestamp(shown.expires_at[wallet], UTC).strftime("%Y-%m-%d %H:%M")
        table.add_row(wallet, f"{points:,}", at, f"{shown.expired.get(wallet, 0):,}")
    console.print(table)
