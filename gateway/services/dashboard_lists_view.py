"""HTML of the dashboard's lists: search results, everything failed or held, the settlement
periods, and the operator actions' confirmation pages."""

from __future__ import annotations

from gateway.services import dashboard_format as fmt
from gateway.services.dashboard_data import Found, Issue
from gateway.services.dashboard_html import alert, badge, confirm_form, customer_cell, e, link, money_cell, panel, table
from network.store import SettlementPeriod


def _partner(names: dict[int, str], pid: int | None) -> str:
    if pid is None:
        return '<span class="muted">network</span>'
    return f'<a href="/dashboard/partners/{pid}">{e(names.get(pid, f"#{pid}"))}</a>'


def search_page(found: Found, names: dict[int, str], tz: str) -> str:
    q = found.query
    form = (
        '<form method="get" action="/dashboard/search" class="range" role="search">'
        f'<input type="search" name="q" value="{e(q)}" id="search-q" maxlength="100" '
        'placeholder="wallet, customer ref, purchase id, redemption id, voucher" aria-label="Search">'
        '<button type="submit" class="button primary">Search</button></form>'
    )
    if not q:
        return '<div class="page-head"><h1>Search</h1></div>' + panel("Search", form)
    customers = (
        f'<tr data-wallet="{e(c["wallet"])}"><td class="mono small wrap">{e(c["wallet"])}</td><td>'
        + ", ".join(f"{_partner(names, pid)}: {e(ref)}" for pid, ref in c["refs"])  # type: ignore[attr-defined]
        + "</td></tr>"
        for c in found.customers
    )
    purchases = (
        f'<tr data-purchase="{e(p.purchase_id)}"><td class="mono small">{e(p.purchase_id)}</td>'
        f"<td>{_partner(names, p.partner_id)}</td><td>{e(fmt.when(p.purchased_at, tz))}</td>"
        f"{customer_cell(p.customer_wallet, p.customer_ref)}"
        f'<td class="num">{e(fmt.fiat(p.amount, p.currency))}</td><td class="num">{e(fmt.points(p.points))}</td>'
        f'<td>{badge(status)}</td><td class="small reason">{e(reason or "")}</td></tr>'
        for p, status, reason in found.purchases
    )
    redemptions = (
        f'<tr data-redemption="{e(r.redemption_id)}"><td class="mono small">{e(r.redemption_id)}</td>'
        f"<td>{_partner(names, r.partner_id)}</td><td>{e(fmt.when(r.created_at, tz))}</td>"
        f"{customer_cell(r.customer_wallet, r.customer_ref)}"
        f'<td>{e(r.sku)}</td><td class="num">{e(fmt.points(r.points))}</td><td>{badge(r.status)}</td>'
        f'<td class="mono small">{e(r.voucher_code or "")}</td>'
        f'<td class="small reason">{e(r.failure_reason or "")}</td></tr>'
        for r in found.redemptions
    )
    count = len(found.customers) + len(found.purchases) + len(found.redemptions)
    return (
        f'<div class="page-head"><div><h1>Search</h1><p class="muted" data-figure="search-count" data-value="{count}">'
        f"{count} result(s) for “{e(q)}”</p></div></div>"
        + panel("Search", form)
        + panel("Customers", table(["Wallet", "Customer refs"], customers, table_id="found-customers",
                                   empty="No customer."))
        + panel("Purchases", table(["Purchase", "Partner", "Purchased", "Customer", "#Amount", "#Points", "Status",
                                    "Reason"], purchases, table_id="found-purchases", empty="No purchase."))
        + panel("Redemptions", table(["Redemption", "Partner", "Asked", "Customer", "Reward", "#Points", "Status",
                                      "Voucher", "Reason"], redemptions, table_id="found-redemptions",
                                     empty="No redemption."))
    )  # fmt: skip


def issues_page(issues: list[Issue], flagged: list[tuple[int, str, list[str]]], names: dict[int, str], tz: str) -> str:
    partner_rows = (
        f'<tr data-partner="{pid}"><td>{_partner(names, pid)}</td><td>'
        + " ".join(badge("failed" if "failed" in f or f == "no headroom" else "held", f) for f in flags)
        + f'</td><td class="small reason">{e(why)}</td></tr>'
        for pid, why, flags in flagged
    )
    rows = (
        f'<tr data-kind="{e(i.kind)}" data-status="{e(i.status)}"><td>{e(i.kind)}</td><td>{badge(i.status)}</td>'
        f"<td>{_partner(names, i.partner_id)}</td>"
        f'<td class="mono small">{link(i.link, i.ident)}</td>'
        f'<td class="small reason">{e(i.reason)}</td><td>{e(fmt.when(i.since, tz))}</td></tr>'
        for i in issues
    )
    held = sum(1 for i in issues if i.status == "held")
    return (
        '<div class="page-head"><div><h1>Issues</h1>'
        f'<p class="muted" data-figure="issues-count" data-value="{len(issues)}">{len(issues)} failed or held item(s), '
        f"{held} held · newest first</p></div></div>"
        + panel("Partners to look at", table(["Partner", "Flags", "Why"], partner_rows, table_id="flagged-partners",
                                             empty="No partner flagged."))
        + panel("Failed and held", table(["What", "Status", "Partner", "Id", "Reason", "Since"], rows,
                                         table_id="issues-table", empty="Nothing failed or held."))
    )  # fmt: skip


def settlements_page(rows: list[SettlementPeriod], decimals: int, symbol: str, tz: str, notice: str | None) -> str:
    body = []
    for r in rows:
        op = int(r.operator_net) if r.operator_net is not None else None
        link = (
            f'<a href="/dashboard/settlements/{r.period_id}">statement</a> · '
            f'<a href="/dashboard/settlements/{r.period_id}/statement-named.csv">CSV</a>'
            if r.statement is not None
            else ""
        )
        body.append(
            f'<tr data-period="{r.period_id}"><td>{r.period_id}</td><td>{badge(r.status)}</td><td>{e(r.trigger)}</td>'
            f"<td>{e(r.from_block)}–{e(r.to_block)}</td><td>{e(fmt.when(r.settled_at or r.created_at, tz))}</td>"
            + money_cell(f"period-{r.period_id}-operator-net", op, decimals, symbol, net=True)
            + f'<td class="small reason">{e(r.error or "")}</td><td>{link}</td></tr>'
        )
    return (
        '<div class="page-head"><div><h1>Settlements</h1><p class="muted">newest first · operator net &gt; 0: the '
        'operator keeps it</p></div><div class="actions"><a class="button primary" id="action-settle" '
        'href="/dashboard/settlements/new">Settle now</a></div></div>'
        + alert(notice, "ok")
        + panel("Periods", table(["Period", "Status", "Trigger", "Blocks", "When", "#Operator net", "Error", ""], body,
                                 table_id="settlements-table", empty="No period yet."))
    )  # fmt: skip


def confirm_page(
    *, title: str, what: str, consequences: list[str], action: str, csrf: str, button: str, cancel: str,
    hidden: dict[str, str] | None = None, danger: bool = False, error: str | None = None,
) -> str:  # fmt: skip
    """The confirmation step: what will happen, its consequences, and one button."""
    items = "".join(f"<li>{e(c)}</li>" for c in consequences)
    return (
        f'<section class="panel narrow confirm-panel" id="confirm"><h1>{e(title)}</h1>{alert(error)}'
        f'<p>{e(what)}</p><ul class="consequences">{items}</ul>'
        + confirm_form(action=action, csrf=csrf, button=button, cancel=cancel, hidden=hidden, danger=danger)
        + "</section>"
    )


def rerate_form(*, action: str, csrf: str, cancel: str, values: dict[str, str], symbol: str, error: str | None) -> str:
    """The re-rate form: prices in the token (e.g. 0.01), the limit in the token, the earn rule."""
    fields = [
        ("issue_price", f"Issue price ({symbol} a point issued)"),
        ("reimbursement_rate", f"Reimbursement ({symbol} a point redeemed)"),
        ("issuance_limit", f"Issuance limit ({symbol})"),
        ("points_per_unit", "Earn rule (points per unit of the partner's currency)"),
    ]
    inputs = "".join(
        f'<label for="{k}">{e(label)}</label>'
        f'<input id="{k}" name="{k}" value="{e(values.get(k, ""))}" inputmode="decimal" maxlength="40">'
        for k, label in fields
    )
    return (
        f'<section class="panel narrow" id="rerate"><h1>Re-rate</h1>{alert(error)}'
        '<p class="muted">Leave a field empty to keep it. New prices are scheduled on chain and take effect after '
        "the registry's notice period; the limit and the earn rule change at once. You confirm on the next page.</p>"
        f'<form method="post" action="{e(action)}" class="form"><input type="hidden" name="csrf" value="{e(csrf)}">'
        f'{inputs}<button type="submit" class="button primary" id="review">Review</button> '
        f'<a class="button" href="{e(cancel)}">Cancel</a></form></section>'
    )
