"""``coalition partner …``: onboard, list, show, fund, suspend, reactivate and re-rate partners,
over the operator API. Money is typed and shown in the settlement token's units (cUSD), not
base units; a partner without issuance headroom is called out, never shown as merely active."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from coalition import api
from coalition.api import ExitCode, console, errors
from coalition.formats import AMOUNT, Token, checksum_address, decimal, money, parse_amount, until, when

app = typer.Typer(
    help="Partners, over the operator API. Money is in the settlement token's units (cUSD): "
    "--issue-price 0.01 is 0.01 cUSD a point.",
    no_args_is_help=True,
)


def _address(value: str) -> str:
    try:
        return checksum_address(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


def _currency(value: str) -> str:
    return value.strip().upper()


def _amount_syntax(value: str | None) -> str | None:
    if value is not None and AMOUNT.fullmatch(value.strip()) is None:
        raise typer.BadParameter(f"{value!r} is not an amount: write digits with an optional decimal point, e.g. 0.01")
    return value


def _units(value: str, token: Token, option: str) -> int:
    try:
        return parse_amount(value, token.decimals)
    except ValueError as exc:
        raise typer.BadParameter(f"{exc} ({token.symbol})", param_hint=option) from exc


PartnerId = Annotated[
    int, typer.Argument(min=1, metavar="PARTNER_ID", help="the partner's id (see `coalition partner list`)")
]


def _money_option(help_text: str) -> Any:
    return typer.Option(callback=_amount_syntax, metavar="CUSD", help=help_text)


IssuePrice = Annotated[str | None, _money_option("cUSD the partner pays per point it issues, e.g. 0.01")]
ReimbursementRate = Annotated[
    str | None, _money_option("cUSD paid to the partner per point redeemed at it, e.g. 0.008")
]
IssuanceLimit = Annotated[str | None, _money_option("cap, in cUSD, on the value of its issuance not yet settled")]
PointsPerUnit = Annotated[
    str | None,
    typer.Option(metavar="POINTS", help="points a customer earns per unit of the partner's currency, e.g. 1 or 1.5"),
]


def _price(value: int, token: Token) -> str:
    return f"{money(value, token)} per point"


def _headroom(p: dict[str, Any], token: Token) -> str:
    if p["headroom"] > 0:
        return money(p["headroom"], token)
    return f"[bold red]{money(0, token)}: it cannot issue points; new purchases are held until it is funded[/bold red]"


def _warn_no_headroom(p: dict[str, Any], token: Token) -> None:
    why = (
        f"its funds in Clearing are {money(p['funds'], token)}"
        if p["funds"] <= p["exposure"]
        else f"its issuance limit of {money(p['issuance_limit'], token)} is used up"
    )
    errors.print(
        f"[bold red]WARNING: partner #{p['id']} {p['name']} cannot issue points: {why}.[/bold red]\n"
        "Every purchase it posts is held (partner-funds-exhausted) and fails after the hold timeout (7 days by "
        "default).\n"
        f"Fund it: [bold]coalition partner fund {p['id']} <amount in {token.symbol}>[/bold]"
        + (f" (or raise its limit: coalition partner rerate {p['id']} --issuance-limit …)" if p["funds"] else "")
    )


def _scheduled(p: dict[str, Any], token: Token) -> str:
    s = p.get("scheduled_rerate")
    if not s:
        return "none"
    return (
        f"issue {_price(s['issue_price'], token)}, reimbursement {_price(s['reimbursement_rate'], token)}, "
        f"in force from {when(s['effective_at'])} ({until(s['effective_at'], datetime.now(UTC))})"
    )


def show_partner(p: dict[str, Any]) -> Token:
    """Prints the operator API's partner account (GET /v1/operator/partners/{id}) as a table."""
    t = p["settlement_token"]
    token = Token(t["symbol"], int(t["decimals"]))
    table = Table(title=f"partner #{p['id']} {p['name']}", show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    status = p["status"] if p["status"] != "suspended" else "[red]suspended[/red]"
    rows = [
        ("status", status),
        ("earn rule", f"{decimal(p['points_per_unit'])} point(s) per {p['currency']}, rounded down"),
        ("issue price", _price(p["issue_price"], token)),
        ("reimbursement rate", _price(p["reimbursement_rate"], token)),
        ("scheduled re-rate", _scheduled(p, token)),
        ("issuance limit", money(p["issuance_limit"], token)),
        ("funds", money(p["funds"], token)),
        ("free funds", money(p["free_funds"], token) + " (its treasury may withdraw them)"),
        ("headroom", _headroom(p, token)),
        ("exposure", money(p["exposure"], token) + " (issued, not settled yet)"),
        ("pending credit", money(p["pending_credit"], token) + " (refunds, paid at the next settlement)"),
        ("held purchases", f"[yellow]{p['held_purchases']:,}[/yellow]" if p["held_purchases"] else "0"),
        ("failed purchases", f"[red]{p['failed_purchases']:,}[/red]" if p["failed_purchases"] else "0"),
        ("treasury", p["treasury"]),
        ("minter", p["minter"]),
    ]
    for name, value in rows:
        table.add_row(name, value)
    table.caption = f"money read from the chain at block {p['block_number']:,}"
    console.print(table)
    return token


@app.command("add")
def partner_add(
    name: Annotated[str, typer.Argument(metavar="NAME", help="the partner's name, unique in the network")],
    treasury: Annotated[
        str,
        typer.Argument(
            callback=_address,
            metavar="TREASURY",
            help="the address that receives the partner's settlements and may withdraw its funds "
            "(0x + 40 hex digits; lowercase is checksummed)",
        ),
    ],
    points_per_unit: PointsPerUnit = "1",
    currency: Annotated[
        str, typer.Option(callback=_currency, metavar="CODE", help="ISO 4217 code of the purchases it earns points on")
    ] = "EUR",
    issue_price: IssuePrice = "0.01",
    reimbursement_rate: ReimbursementRate = "0.008",
    issuance_limit: IssuanceLimit = "1000000000",
    deposit: Annotated[
        str | None,
        typer.Option(
            callback=_amount_syntax,
            metavar="CUSD",
            help="cUSD deposited for it now (local chains mint test funds). Without a deposit it cannot issue "
            "points until funded (`coalition partner fund`): a warning says so",
        ),
    ] = None,
) -> None:
    """Onboard a partner (on chain); prints its API key (shown once) and its account."""
    token = api.settlement_token()
    assert issue_price is not None and reimbursement_rate is not None and issuance_limit is not None
    body = {
        "name": name,
        "treasury": treasury,
        "currency": currency,
        "points_per_unit": points_per_unit,
        "issue_price": _units(issue_price, token, "--issue-price"),
        "reimbursement_rate": _units(reimbursement_rate, token, "--reimbursement-rate"),
        "issuance_limit": _units(issuance_limit, token, "--issuance-limit"),
        "deposit": _units(deposit, token, "--deposit") if deposit is not None else 0,
    }
    created = api.call("POST", "/v1/operator/partners", json=body)
    console.print(f"partner #{created['id']} {created['name']} onboarded; minter {created['minter']}")
    console.print(f"API key (shown once, store it now): [bold]{created['api_key']}[/bold]")
    account = api.call("GET", f"/v1/operator/partners/{created['id']}")
    show_partner(account)
    if account["headroom"] == 0:
        _warn_no_headroom(account, token)


@app.command("list")
def partner_list() -> None:
    """Partners: status, earn rule, prices, limit; funds and headroom from the chain."""
    rows = api.call("GET", "/v1/operator/partners")
    token = api.settlement_token()
    table = Table(title="partners")
    for column in ("id", "name", "status", "earn rule", "issue price", "reimbursement", "funds", "headroom", "held"):
        table.add_column(column, justify="right" if column in ("id", "funds", "headroom", "held") else "left")
    for p in rows:
        a = api.call("GET", f"/v1/operator/partners/{p['id']}")
        table.add_row(
            str(p["id"]),
            p["name"],
            p["status"] if p["status"] == "active" else f"[red]{p['status']}[/red]",
            f"{decimal(p['points_per_unit'])} pt / {p['currency']}",
            _price(p["issue_price"], token)
            + (" [yellow](re-rate scheduled)[/yellow]" if p["scheduled_rerate"] else ""),
            _price(p["reimbursement_rate"], token),
            money(a["funds"], token),
            money(a["headroom"], token) if a["headroom"] else f"[bold red]{money(0, token)}[/bold red]",
            f"[yellow]{a['held_purchases']:,}[/yellow]" if a["held_purchases"] else "0",
        )
    console.print(table)
    console.print("[dim]headroom: the value it may still issue, min(funds, issuance limit) − unsettled issuance[/dim]")


@app.command("show")
def partner_show(partner_id: PartnerId) -> None:
    """A partner with its money in Clearing (funds, free funds, headroom, exposure, pending
    credit), its held and failed purchases, and any scheduled re-rate."""
    account = api.call("GET", f"/v1/operator/partners/{partner_id}")
    token = show_partner(account)
    if account["headroom"] == 0 and account["status"] == "active":
        _warn_no_headroom(account, token)


@app.command("fund")
def partner_fund(
    partner_id: PartnerId,
    amount: Annotated[
        str, typer.Argument(callback=_amount_syntax, metavar="AMOUNT", help="cUSD to deposit for it, e.g. 1000")
    ],
) -> None:
    """Deposit funds for a partner in Clearing. Local chains: test cUSD minted and deposited now.
    Any other chain: the gateway holds no money; it prints the transactions the partner's
    treasury must send, and exits 1 (nothing was deposited)."""
    token = api.settlement_token()
    units = _units(amount, token, "AMOUNT")
    d = api.call("POST", f"/v1/operator/partners/{partner_id}/deposits", json={"amount": units})
    if d["status"] == "deposited":
        console.print(
            f"deposited {money(units, token)} for partner #{partner_id} (tx {d['tx_hash']}): "
            f"funds {money(d['funds'], token)}, headroom {money(d['headroom'], token)}"
        )
        console.print("[dim]purchases held for lack of headroom are minted within seconds, as far as it reaches[/dim]")
        return
    table = Table(title=f"nothing was deposited: send these from partner #{partner_id}'s treasury, in order")
    for column in ("to", "function", "data", "what"):
        table.add_column(column, overflow="fold")
    for tx in d["transactions"]:
        table.add_row(tx["to"], tx["function"], tx["data"], tx["description"])
    console.print(table)
    api.fail(ExitCode.REFUSED, "on this chain a deposit is the treasury's own transaction: nothing was deposited")


@app.command("suspend")
def partner_suspend(partner_id: PartnerId) -> None:
    """Suspend a partner (on chain first): it can no longer issue, reverse or redeem points."""
    p = api.call("POST", f"/v1/operator/partners/{partner_id}/suspend")
    console.print(f"partner #{p['id']} {p['name']}: {p['status']}")


@app.command("reactivate")
def partner_reactivate(partner_id: PartnerId) -> None:
    """Reactivate a suspended partner (on chain first)."""
    p = api.call("POST", f"/v1/operator/partners/{partner_id}/reactivate")
    console.print(f"partner #{p['id']} {p['name']}: {p['status']}")


@app.command("rerate")
def partner_rerate(
    ctx: typer.Context,
    partner_id: PartnerId,
    issue_price: IssuePrice = None,
    reimbursement_rate: ReimbursementRate = None,
    issuance_limit: IssuanceLimit = None,
    points_per_unit: PointsPerUnit = None,
) -> None:
    """Change a partner's terms. New prices are scheduled on chain and take effect only after
    the registry's notice period (partners can react); the issuance limit and the earn rule
    change at once. Options left out keep their value."""
    if (issue_price, reimbursement_rate, issuance_limit, points_per_unit) == (None, None, None, None):
        ctx.fail("give at least one of --issue-price, --reimbursement-rate, --issuance-limit, --points-per-unit")
    token = api.settlement_token()
    body: dict[str, Any] = {}
    for field, value, option in (
        ("issue_price", issue_price, "--issue-price"),
        ("reimbursement_rate", reimbursement_rate, "--reimbursement-rate"),
        ("issuance_limit", issuance_limit, "--issuance-limit"),
    ):
        if value is not None:
            body[field] = _units(value, token, option)
    if points_per_unit is not None:
        body["points_per_unit"] = points_per_unit
    p = api.call("PATCH", f"/v1/operator/partners/{partner_id}", json=body)
    if "issuance_limit" in body or points_per_unit is not None:
        console.print(
            f"partner #{p['id']} {p['name']}: in force now: issuance limit {money(p['issuance_limit'], token)}, "
            f"{decimal(p['points_per_unit'])} point(s) per {p['currency']}"
        )
    if "issue_price" in body or "reimbursement_rate" in body:
        console.print(f"partner #{p['id']} {p['name']}: new prices scheduled on chain: {_scheduled(p, token)}")
        console.print(
            f"until then: issue {_price(p['issue_price'], token)}, "
            f"reimbursement {_price(p['reimbursement_rate'], token)}"
        )
