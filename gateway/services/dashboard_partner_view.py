"""HTML of the partners list and of a partner's page: its money in ``Clearing`` (funds, free
funds, headroom, liability, pending credit), its rates and any scheduled re-rate, its business
over time, purchases, redemptions, webhooks and statements, and the operator's actions (with
the fund action's form and, outside local mode, the transactions the treasury must send)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gateway.services import dashboard_format as fmt
from gateway.services.account import Account, Money, delivery_error, headroom_low
from gateway.services.dashboard import PartnerFigures
from gateway.services.dashboard_chart import Chart
from gateway.services.dashboard_html import alert, badge, customer_cell, e, figure, money_cell, panel, table
from gateway.services.dashboard_views import chart_panel
from gateway.services.partner_account import Deposit
from network.store import Partner, Redemption, WebhookEndpoint


@dataclass
class PartnerPage:
    account: Account
    redemptions: list[Redemption]
    endpoints: list[WebhookEndpoint]
    held: int
    failed: int
    chart: Chart | None
    names: dict[int, str]
    warning_ratio: float
    token_symbol: str = "cUSD"
    token_decimals: int = 6


def partners_list(partners: list[PartnerFigures], decimals: int, symbol: str) -> str:
    rows = []
    for p in partners:
        flags = " ".join(badge("failed" if "failed" in f or f == "no headroom" else "held", f) for f in p.flags)
        rows.append(
            f'<tr data-partner="{p.id}"><td>{p.id}</td>'
            f'<td class="strong"><a href="/dashboard/partners/{p.id}">{e(p.name)}</a></td>'
            f"<td>{badge(p.status)}</td>"
            f'<td data-figure="list-{p.id}-flags" data-value="{e(",".join(p.flags))}">{flags}</td>'
            + money_cell(f"list-{p.id}-funds", p.funds, decimals, symbol)
            + money_cell(f"list-{p.id}-headroom", p.headroom, decimals, symbol)
            + money_cell(f"list-{p.id}-exposure", p.exposure, decimals, symbol)
            + "</tr>"
        )
    return (
        '<div class="page-head"><div><h1>Partners</h1><p class="muted">flagged: no headroom left, purchases held '
        "for headroom, or failed</p></div></div>"
        + panel("All partners", table(["#", "Partner", "Status", "Flags", "#Funds", "#Headroom", "#Liability"], rows,
                                      table_id="partners-list", empty="No partner yet."))
    )  # fmt: skip


def _actions(p: Partner) -> str:
    base = f"/dashboard/partners/{p.id}"
    status = (
        f'<a class="button danger" id="action-suspend" href="{base}/suspend">Suspend</a>'
        if p.status == "active"
        else f'<a class="button primary" id="action-reactivate" href="{base}/reactivate">Reactivate</a>'
    )
    return (
        f'<div class="actions">{status}<a class="button" id="action-fund" href="{base}/fund">Fund</a>'
        f'<a class="button" id="action-rerate" href="{base}/rerate">Re-rate</a>'
        '<a class="button" id="action-settle" href="/dashboard/settlements/new">Settle now</a></div>'
    )


def _money(pg: PartnerPage) -> str:
    m, d, sym = pg.account.money, pg.token_decimals, pg.token_symbol
    if m is None:
        return alert("The chain cannot be read: funds, headroom and liability are not shown.")
    low = headroom_low(m.headroom, m.bound, pg.warning_ratio)
    share = f"{m.headroom * 100 // m.bound}% of min(funds, limit)" if m.bound else "no funds"
    cards = [
        ("Funds", "funds", m.funds, "deposits + settled nets − withdrawals"),
        ("Free funds", "free-funds", m.free_funds, "withdrawable: not backing issuance"),
        ("Headroom", "headroom", m.headroom, share + (" · low" if low else "")),
        ("Liability", "exposure", m.exposure, "issuance not yet settled"),
        ("Pending credit", "pending-credit", m.pending_credit, "refunds the next settlement pays back"),
        ("Issuance limit", "issuance-limit", m.issuance_limit, "cap on unsettled issuance"),
    ]
    html = "".join(
        f'<div class="card{" warn" if key == "headroom" and low else ""}"><div class="card-label">{e(label)}</div>'
        + figure(f"partner-{key}", value, fmt.units(value, d, sym), tag="div", cls="card-value small-value")
        + f'<div class="card-note">{e(note)}</div></div>'
        for label, key, value, note in cards
    )
    return f'<section class="cards">{html}</section>'


def _rates(p: Partner, d: int, sym: str, tz: str) -> str:
    rerate = p.scheduled_rerate
    scheduled = (
        "<dt>Scheduled re-rate</dt>"
        f'<dd data-figure="partner-scheduled-rerate" data-value="{e(rerate["effective_at"])}">'
        f"issue price {e(fmt.units(int(rerate['issue_price']), d, sym))}, reimbursement "
        f"{e(fmt.units(int(rerate['reimbursement_rate']), d, sym))}, in force from "
        f"{e(fmt.when(datetime.fromisoformat(rerate['effective_at']), tz))}</dd>"
        if rerate
        else '<dt>Scheduled re-rate</dt><dd data-figure="partner-scheduled-rerate" data-value="">none</dd>'
    )
    return (
        '<dl class="facts">'
        f"<dt>Earn rule</dt><dd>{e(p.points_per_unit.normalize())}"
        f" points per {e(p.currency)}, rounded down</dd>"
        "<dt>Issue price</dt>"
        + figure("partner-issue-price", p.issue_price, fmt.units(p.issue_price, d, sym) + " a point", "dd", "")
        + "<dt>Reimbursement</dt>"
        + figure("partner-reimbursement", p.reimbursement_rate, fmt.units(p.reimbursement_rate, d, sym), "dd", "")
        + f"{scheduled}"
        f'<dt>Treasury</dt><dd class="mono small wrap">{e(p.treasury)}</dd>'
        f'<dt>Minter</dt><dd class="mono small wrap">{e(p.minter)}</dd>'
        "</dl>"
    )  # fmt: skip


def _purchases(pg: PartnerPage, tz: str) -> str:
    rows = (
        f'<tr data-purchase="{e(x.purchase_id)}"><td class="mono small">{e(x.purchase_id)}</td>'
        f"<td>{e(fmt.when(x.purchased_at, tz))}</td>"
        f"{customer_cell(x.customer_wallet, x.customer_ref)}"
        f'<td class="num">{e(fmt.fiat(x.amount, x.currency))}</td><td class="num">{e(fmt.points(x.points))}</td>'
        f'<td>{badge(x.status)}</td><td class="small reason">{e(x.reason or "")}</td></tr>'
        for x in pg.account.purchases
    )
    return table(["Purchase", "Purchased", "Customer", "#Amount", "#Points", "Status", "Reason"], rows,
                 table_id="partner-purchases", empty="No purchase yet.")  # fmt: skip


def _redemptions(pg: PartnerPage, tz: str) -> str:
    rows = (
        f'<tr><td class="mono small">{e(r.redemption_id)}</td><td>{e(fmt.when(r.created_at, tz))}</td>'
        f'<td>{e(r.sku)} × {e(r.quantity)}</td><td class="num">{e(fmt.points(r.points))}</td>'
        f'<td>{badge(r.status)}</td><td class="mono small">{e(r.voucher_code or "")}</td>'
        f'<td class="small reason">{e(r.failure_reason or "")}</td></tr>'
        for r in pg.redemptions
    )
    return table(["Redemption", "Asked", "Reward", "#Points", "Status", "Voucher", "Reason"], rows,
                 table_id="partner-redemptions", empty="No redemption yet.")  # fmt: skip


def _webhooks(pg: PartnerPage, tz: str) -> str:
    endpoints = "".join(
        f'<li><span class="mono small wrap">{e(w.url)}</span> <span class="muted small">'
        f"{e(', '.join(w.event_types))}</span></li>"
        for w in pg.endpoints
    )
    rows = (
        f"<tr><td>{e(d.event_type)}</td><td>{e(fmt.when(d.created_at, tz))}</td><td>{badge(d.status)}</td>"
        f'<td class="num">{e(d.attempts)}</td><td class="small">{e(delivery_error(d) or "")}'
        f"{e(' ' + str(d.last_status_code)) if d.last_status_code else ''}</td></tr>"
        for d in pg.account.deliveries
    )
    return (
        (f'<ul class="endpoints">{endpoints}</ul>' if endpoints else '<p class="muted">No webhook endpoint.</p>')
        + table(["Event", "Created", "Status", "#Attempts", "Last error"], rows, table_id="partner-deliveries",
                empty="No delivery yet.")
    )  # fmt: skip


def _statements(pg: PartnerPage, tz: str) -> str:
    name, d, sym = pg.account.partner.name, pg.token_decimals, pg.token_symbol
    rows = []
    for s in pg.account.statements:
        net = int(s["line"]["net"])
        rows.append(
            f'<tr><td><a href="/dashboard/settlements/{s["period_id"]}/partners/{pg.account.partner.id}">'
            f"Period {e(s['period_id'])}</a></td><td>{badge(s['status'])}</td>"
            f"<td>{e(fmt.when(s['settled_at'], tz))}</td>"
            + money_cell(f"statement-{s['period_id']}-net", net, d, sym, net=True)
            + f"<td>{e(fmt.payment(net, name, d, sym))}</td></tr>"
        )
    return table(["Period", "Status", "Settled", "#Net", "Who pays whom"], rows, table_id="partner-statements",
                 empty="In no statement yet.")  # fmt: skip


def partner_page(pg: PartnerPage, tz: str, notice: str | None = None) -> str:
    p = pg.account.partner
    d, sym = pg.token_decimals, pg.token_symbol
    flags = []
    m = pg.account.money
    if m is not None and m.headroom == 0 and p.status == "active":
        flags.append(badge("failed", "no headroom"))
    if pg.held:
        flags.append(badge("held", f"{pg.held} purchase(s) held"))
    if pg.failed:
        flags.append(badge("failed", f"{pg.failed} purchase(s) failed"))
    head = (
        '<div class="page-head"><div>'
        f'<h1 data-figure="partner-name" data-value="{e(p.name)}">{e(p.name)}</h1>'
        f'<p class="muted">partner #{p.id} · {e(p.currency)} · '
        f'<span data-figure="partner-status" data-value="{e(p.status)}">{badge(p.status)}</span> '
        f'<span data-figure="partner-flags" data-value="{len(flags)}">{" ".join(flags)}</span></p>'
        f"</div>{_actions(p)}</div>"
    )
    return (
        head
        + alert(notice, "ok")
        + _money(pg)
        + '<div class="grid-2">'
        + panel("Rates", _rates(p, d, sym, tz), "new prices take effect after the registry's notice")
        + panel("Webhooks", _webhooks(pg, tz), "latest deliveries")
        + "</div>"
        + chart_panel(pg.chart, f"/dashboard/partners/{p.id}", d, sym, "· this partner only")
        + panel("Purchases", _purchases(pg, tz), "newest first · held: waiting for headroom")
        + panel("Redemptions", _redemptions(pg, tz), "newest first")
        + panel("Statements", _statements(pg, tz), "its own line of each period")
    )


def fund_form(
    *, p: Partner, action: str, csrf: str, cancel: str, money: Money | None, symbol: str, decimals: int,
    direct: bool, value: str = "", error: str | None = None,
) -> str:  # fmt: skip
    """The fund form: an amount in the settlement token, the partner's funds and headroom now,
    and what confirming does here (``direct``: test tokens minted and deposited at once)."""
    now = (
        f"Funds now {fmt.units(m.funds, decimals, symbol)}, headroom {fmt.units(m.headroom, decimals, symbol)}."
        if (m := money) is not None
        else "The chain cannot be read now: funds and headroom are not shown."
    )
    how = (
        f"On this local network, test {symbol} are minted and deposited for the partner at once."
        if direct
        else f"The gateway holds no money here: you get the two transactions the partner's treasury "
        f"({p.treasury}) must sign and send; nothing is sent."
    )
    return (
        f'<section class="panel narrow" id="fund"><h1>Fund {e(p.name)}</h1>{alert(error)}'
        f'<p class="muted">{e(now)} {e(how)} Purchases held for headroom are minted once they fit. '
        "You confirm on the next page.</p>"
        f'<form method="post" action="{e(action)}" class="form"><input type="hidden" name="csrf" value="{e(csrf)}">'
        f'<label for="amount">Amount ({e(symbol)})</label>'
        f'<input id="amount" name="amount" value="{e(value)}" inputmode="decimal" maxlength="40" required>'
        '<button type="submit" class="button primary" id="review">Review</button> '
        f'<a class="button" href="{e(cancel)}">Cancel</a></form></section>'
    )


def fund_consequences(p: Partner, amount: int, decimals: int, symbol: str, direct: bool) -> list[str]:
    """What confirming a deposit does, for the confirmation page."""
    shown = fmt.units(amount, decimals, symbol)
    if direct:
        return [
            f"{shown} of test tokens are minted and deposited in Clearing for partner #{p.id}, on chain, now.",
            "Its funds and issuance headroom grow by that much; purchases held for headroom are minted once they fit.",
            "Each confirmation deposits again.",
        ]
    return [
        "Nothing is sent: the gateway holds no money on this network.",
        f"The next page shows the two transactions the partner's treasury ({p.treasury}) must sign and send, "
        f"in order: approve, then deposit {shown}.",
    ]


def treasury_calls(p: Partner, deposit: Deposit, decimals: int, symbol: str) -> str:
    """Outside local mode: the unsigned transactions a deposit needs, for the treasury to send."""
    shown = fmt.units(deposit.amount, decimals, symbol)
    rows = (
        f'<tr data-call="{i}"><td>{i}</td><td class="mono small">{e(c.function)}</td>'
        f'<td class="mono small wrap">{e(c.to)}</td><td class="mono small wrap">{e(c.data)}</td>'
        f'<td class="small">{e(c.description)}</td></tr>'
        for i, c in enumerate(deposit.transactions, start=1)
    )
    return (
        f'<section class="panel" id="treasury-calls"><h1>Fund {e(p.name)}: for its treasury to send</h1>'
        f'<p data-figure="fund-amount" data-value="{deposit.amount}">Nothing was sent. To deposit '
        f"<strong>{e(shown)}</strong> for partner #{p.id}, the partner's treasury "
        f'<span class="mono small wrap">{e(p.treasury)}</span> (or anyone paying for it) signs and sends these '
        "transactions, in order, from the same account. Its funds grow once the second is mined.</p>"
        + table(["#", "Function", "To", "Data", "What"], rows, table_id="fund-transactions")
        + f'<p><a class="button" href="/dashboard/partners/{p.id}">Back to {e(p.name)}</a></p></section>'
    )
