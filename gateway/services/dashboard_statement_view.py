"""HTML of a settlement statement for people: the whole period (every partner, the operator,
the bilateral matrix by name) and one partner's printable statement (its figures, who pays
whom, the points of its own that others redeemed and the other way round)."""

from __future__ import annotations

from typing import Any

from gateway.services import dashboard_format as fmt
from gateway.services.dashboard_html import badge, e, money_cell, table
from gateway.services.dashboard_statement import HumanStatement
from gateway.services.dashboard_views import template
from loyalty.expiry import BREAKAGE_RULE


def _period_facts(h: HumanStatement) -> str:
    row = h.row
    return (
        '<dl class="facts">'
        f"<dt>Period</dt><dd>{e(row.period_id)} {badge(row.status)}</dd>"
        f'<dt>From</dt><dd data-figure="period-start">{e(fmt.when(h.start, h.tz, seconds=True))} '
        f'<span class="muted">(block {e(row.from_block)})</span></dd>'
        f'<dt>To</dt><dd data-figure="period-end">{e(fmt.when(h.end, h.tz, seconds=True))} '
        f'<span class="muted">(block {e(row.to_block)})</span></dd>'
        f"<dt>Settled</dt><dd>{e(fmt.when(row.settled_at, h.tz, seconds=True))}</dd>"
        f'<dt>Statement hash</dt><dd class="mono small wrap">{e(row.statement_hash or "—")}</dd>'
        f'<dt>Transaction</dt><dd class="mono small wrap">{e(row.tx_hash or "—")}</dd>'
        "</dl>"
    )


def _breakage(h: HumanStatement) -> str:
    """The period's expired points and whose money they are (loyalty/expiry.py's rule)."""
    expired = int(h.statement.get("points_expired", 0))
    rule = str(h.statement.get("breakage_rule", BREAKAGE_RULE))
    return (
        '<section class="panel" id="breakage"><div class="panel-head"><h2>Breakage</h2>'
        '<span class="muted small">points that expired in the period, from the chain\'s Expired events</span></div>'
        '<dl class="facts"><dt>Points expired</dt>'
        f'<dd class="strong" data-figure="points-expired" data-value="{expired}">{e(fmt.points(expired))}</dd>'
        "<dt>Whose money</dt><dd>The operator's: no partner's net changes. "
        f'<span class="muted small">{e(rule)}</span></dd></dl></section>'
    )


def _fees(h: HumanStatement, partner_id: int | None = None) -> str:
    """The membership fees reported in the period (statement version 5), in each plan's currency:
    per selling partner and plan, the coalition's share and the partner's net; the sum check per
    currency on the whole period's page. Nothing for statements before version 5."""
    section = h.statement.get("membership_fees")
    if section is None:
        return ""
    lines = [f for f in section["lines"] if partner_id is None or int(f["partner_id"]) == partner_id]
    rows = [
        f'<tr data-fee="{int(f["partner_id"])}-{int(f["plan_id"])}-{e(f["currency"])}">'
        f"<td>{e(h.name(int(f['partner_id'])))}</td><td>#{e(f['plan_id'])}</td><td>{e(f['currency'])}</td>"
        f'<td class="num">{e(f["payments"])}</td><td class="num">{e(f["fees"])}</td>'
        f'<td class="num">{e(f["coalition_share"])}</td><td class="num">{e(f["partner_net"])}</td></tr>'
        for f in lines
    ]
    if partner_id is None:
        rows += [
            f'<tr class="total" data-fee-total="{e(cur)}"><td class="strong">All partners</td><td></td>'
            f'<td>{e(cur)}</td><td></td><td class="num">{e(c["fees"])}</td>'
            f'<td class="num">{e(c["coalition_share"])}</td><td class="num">{e(c["partners_net"])}</td></tr>'
            for cur, c in section["sum_check"].items()
        ]
    headers = ["Selling partner", "Plan", "Currency", "#Payments", "#Fees", "#Coalition's share", "#Partner's net"]
    return (
        '<section class="panel" id="membership-fees"><div class="panel-head"><h2>Membership fees</h2>'
        "<span class=\"muted small\">reported by the selling partners' payment providers, in each plan's "
        "currency; not settled in the token</span></div>"
        + table(headers, rows, table_id="membership-fees", empty="No membership fee reported in the period.")
        + "</section>"
    )


def _line_row(h: HumanStatement, line: dict[str, Any], link: bool) -> str:
    pid = int(line["partner_id"])
    d, sym, name = h.decimals, h.symbol, h.name(pid)
    shown = f'<a href="/dashboard/settlements/{h.row.period_id}/partners/{pid}">{e(name)}</a>' if link else e(name)
    return (
        f'<tr data-partner="{pid}"><td class="strong">{shown}</td>'
        f'<td class="num">{e(fmt.points(int(line["points_issued"])))}</td>'
        + money_cell(f"line-{pid}-issued-value", int(line["issued_value"]), d, sym)
        + f'<td class="num">{e(fmt.points(int(line["points_reversed"])))}</td>'
        + money_cell(f"line-{pid}-reversed-value", int(line["reversed_value"]), d, sym)
        + f'<td class="num">{e(fmt.points(int(line["points_redeemed"])))}</td>'
        + money_cell(f"line-{pid}-redeemed-value", int(line["redeemed_value"]), d, sym)
        + f'<td class="num">{e(fmt.points(int(line.get("points_restored", 0))))}</td>'
        + money_cell(f"line-{pid}-restored-value", int(line.get("restored_value", 0)), d, sym)
        + money_cell(f"line-{pid}-net", int(line["net"]), d, sym, net=True)
        + f'<td class="reason" data-figure="line-{pid}-pays">{e(fmt.payment(int(line["net"]), name, d, sym))}</td></tr>'
    )


# "restored": points a refund gave back of a purchase paid with points (statement version 3; 0 before)
LINE_HEADERS = ["Partner", "#Points issued", "#Value issued", "#Points reversed", "#Value reversed",
                "#Points redeemed", "#Value redeemed", "#Points restored", "#Value restored", "#Net",
                "Who pays whom"]  # fmt: skip


def _bilateral(h: HumanStatement, cells: list[dict[str, Any]]) -> str:
    rows = (
        f"<tr><td>{e(h.name(int(c['redeemed_at'])))}</td><td>{e(h.name(int(c['issued_by'])))}</td>"
        f'<td class="num">{e(fmt.points(int(c["points"])))}</td></tr>'
        for c in cells
    )
    return table(["Redeemed at", "Issued by", "#Points"], rows, empty="No points redeemed in the period.")


def period_page(h: HumanStatement, *, links: bool = True) -> str:
    """The whole period: every partner's line, the operator's net, the bilateral matrix."""
    pid = h.row.period_id
    op = int(h.statement["operator_net"])
    lines = [_line_row(h, line, links) for line in h.statement["partners"]]
    operator_row = (
        '<tr class="total"><td class="strong">The operator</td>' + '<td></td>' * 8
        + money_cell("operator-net", op, h.decimals, h.symbol, net=True)
        + '<td class="muted small">the opposite of the partners\' nets</td></tr>'
    )  # fmt: skip
    downloads = (
        f'<a href="/dashboard/settlements/{pid}/statement-named.csv">CSV with names and dates</a> · '
        f'<a href="/dashboard/settlements/{pid}/statement.json">JSON (hashed on chain)</a> · '
        f'<a href="/dashboard/settlements/{pid}/statement.csv">CSV with ids and blocks</a>'
        if links
        else ""
    )
    return template("dashboard_statement.html").substitute(
        title=e(f"Settlement statement · period {pid}"),
        subtitle=e(f"amounts in {h.symbol}; a positive net is paid to the partner, a negative one by it"),
        facts=_period_facts(h),
        lines=table(LINE_HEADERS, [*lines, operator_row], table_id="statement-lines"),
        breakage=_breakage(h) + _fees(h),
        bilateral=_bilateral(h, h.statement["bilateral"]["points"]),
        formula=e(h.statement.get("formula", "")),
        downloads=downloads,
    )


def partner_page(h: HumanStatement, partner_id: int, *, links: bool = True) -> str:
    """One partner's printable statement: its figures, who pays whom, its bilateral cells."""
    view = h.view_of(partner_id)
    line = view["line"]
    name, d, sym = h.name(partner_id), h.decimals, h.symbol
    net = int(line["net"])
    pid = h.row.period_id
    summary = (
        f'<p class="payment {fmt.tone(net)}" data-figure="partner-pays" data-value="{net}">'
        f"{e(fmt.payment(net, name, d, sym))}</p>"
    )
    downloads = (
        f'<a href="/dashboard/settlements/{pid}/statement-named.csv?partner={partner_id}">CSV with names and dates</a>'
        f' · <a href="/dashboard/settlements/{pid}">the whole period</a>'
        if links
        else ""
    )
    return template("dashboard_statement.html").substitute(
        title=e(f"{name} · settlement statement · period {pid}"),
        subtitle=e(f"amounts in {h.symbol}"),
        facts=summary + _period_facts(h),
        lines=table(LINE_HEADERS, [_line_row(h, line, False)], table_id="statement-lines"),
        breakage=_fees(h, partner_id),
        bilateral=_bilateral(h, view["bilateral"]),
        formula=e(h.statement.get("formula", "")),
        downloads=downloads,
    )
