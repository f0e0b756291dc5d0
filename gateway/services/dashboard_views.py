"""HTML of the operator dashboard and the customer page: ``string.Template`` files in
gateway/templates filled with values escaped here (no template engine is needed for pages this
size, and no dependency is added). Every value a test or a person checks carries its raw number
in ``data-value`` next to the formatted text.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import cache
from html import escape
from pathlib import Path
from string import Template

from gateway.services import dashboard_format as fmt
from gateway.services.dashboard import Overview, PartnerFigures, statement_lines
from gateway.services.dashboard_chart import Chart
from network.store import SettlementPeriod

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
KIND_LABELS = {
    "earned": "Earned",
    "redeemed": "Redeemed",
    "reversed": "Refund clawback",
    "restored": "Given back (refund)",
    "sent": "Sent",
    "received": "Received",
    "expired": "Expired",
}
STATUS_BADGES = {
    "active": "ok",
    "settled": "ok",
    "suspended": "warn",
    "submitted": "info",
    "computing": "info",
    "failed": "bad",
}


@cache
def template(name: str) -> Template:
    return Template((TEMPLATES / name).read_text())


def e(value: object) -> str:
    return escape(str(value), quote=True)


def points(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def money(value: int | None, decimals: int) -> str:
    """Token base units as an exact decimal with thousands separators: ``-1234500000, 6`` is
    ``-1,234.500000``."""
    if value is None:
        return "—"
    whole, frac = divmod(abs(value), 10**decimals)
    sign = "-" if value < 0 else ""
    return f"{sign}{whole:,}.{frac:0{decimals}d}" if decimals else f"{sign}{whole:,}"


def badge(status: str, text: str | None = None) -> str:
    kind = STATUS_BADGES.get(status, "info")
    return f'<span class="badge {kind}">{e(text or status)}</span>'


def figure(name: str, raw: object, shown: str, tag: str = "td", cls: str = "num") -> str:
    return f'<{tag} class="{cls}" data-figure="{e(name)}" data-value="{e(raw)}">{e(shown)}</{tag}>'


def when(ts: datetime | int | None) -> str:
    if ts is None:
        return "—"
    moment = datetime.fromtimestamp(ts, UTC) if isinstance(ts, int) else ts.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def page(*, title: str, brand: str, area: str, home: str, nav: str, content: str, chain_id: int, scripts: str) -> str:
    return template("layout.html").substitute(
        title=e(title),
        brand=e(brand),
        area=e(area),
        home=e(home),
        nav=nav,
        content=content,
        chain_id=e(chain_id),
        rendered=e(when(datetime.now(UTC))),
        scripts=scripts,
    )


def login_page(hours: int, error: str | None) -> str:
    alert = f'<div class="alert bad" role="alert">{e(error)}</div>' if error else ""
    return template("login.html").substitute(hours=hours, error=alert)


def _flags(p: PartnerFigures) -> str:
    flags = p.flags
    if not flags:
        return f'<td data-figure="partner-{p.id}-flags" data-value=""></td>'
    shown = " ".join(
        f'<span class="badge {"bad" if "failed" in f or f == "no headroom" else "warn"}">{e(f)}</span>' for f in flags
    )
    return f'<td data-figure="partner-{p.id}-flags" data-value="{e(",".join(flags))}">{shown}</td>'


def _partner_row(p: PartnerFigures, d: int, sym: str) -> str:
    cells = [
        f"<td>{e(p.id)}</td>",
        f'<td class="strong" data-figure="partner-{p.id}-name" data-value="{e(p.name)}">'
        f'<a href="/dashboard/partners/{e(p.id)}">{e(p.name)}</a></td>',
        f'<td data-figure="partner-{p.id}-status" data-value="{e(p.status)}">{badge(p.status)}</td>',
        _flags(p),
        f'<td class="num">{e(fmt.units(p.issue_price, d, sym))}</td>',
        f'<td class="num">{e(fmt.units(p.reimbursement_rate, d, sym))}</td>',
        figure(f"partner-{p.id}-issued", p.points_issued, points(p.points_issued)),
        figure(f"partner-{p.id}-redeemed", p.points_redeemed, points(p.points_redeemed)),
        figure(f"partner-{p.id}-reversed", p.points_reversed, points(p.points_reversed)),
        figure(f"partner-{p.id}-exposure", _raw(p.exposure), fmt.units(p.exposure, d, sym), cls="num strong"),
        figure(f"partner-{p.id}-headroom", _raw(p.headroom), fmt.units(p.headroom, d, sym)),
        figure(f"partner-{p.id}-free-funds", _raw(p.free_funds), fmt.units(p.free_funds, d, sym)),
    ]
    return f'<tr data-partner="{e(p.id)}">{"".join(cells)}</tr>'


def _raw(value: int | None) -> str:
    return "" if value is None else str(value)


def _net(name: str, value: int | None, d: int, sym: str, tag: str = "td", extra: str = "") -> str:
    cls = f"num strong {fmt.tone(value)} {extra}".strip()
    return figure(name, _raw(value), fmt.units(value, d, sym, sign=True), tag=tag, cls=cls)


def _settlement(row: SettlementPeriod, names: dict[int, str], d: int, sym: str, tz: str, newest: bool) -> str:
    pid = row.period_id
    op_net = int(row.operator_net) if row.operator_net is not None else None
    lines = "".join(
        "<tr>"
        f'<td><a href="/dashboard/settlements/{pid}/partners/{e(line["partner_id"])}">{e(line["name"])}</a></td>'
        f'<td class="num">{e(points(int(line["points_issued"])))}</td>'
        f'<td class="num">{e(points(int(line["points_reversed"])))}</td>'
        f'<td class="num">{e(points(int(line["points_redeemed"])))}</td>'
        + _net(f"settlement-{pid}-net-{line['partner_id']}", int(line["net"]), d, sym)
        + f'<td class="small">{e(fmt.payment(int(line["net"]), line["name"], d, sym))}</td>'
        + "</tr>"
        for line in statement_lines(row, names)
    )
    table = (
        '<div class="table-wrap"><table class="table compact"><thead><tr><th>Partner</th><th class="num">Issued</th>'
        '<th class="num">Reversed</th><th class="num">Redeemed</th><th class="num">Net</th><th>Who pays whom</th>'
        f"</tr></thead><tbody>{lines}</tbody></table></div>"
        if lines
        else '<p class="muted">No statement yet.</p>'
    )
    links = (
        f'<a href="/dashboard/settlements/{pid}">statement</a> · '
        f'<a href="/dashboard/settlements/{pid}/statement-named.csv">CSV with names</a> · '
        f'<a href="/dashboard/settlements/{pid}/statement.json">JSON</a> · '
        f'<a href="/dashboard/settlements/{pid}/statement.csv">CSV with ids</a>'
        if row.statement is not None
        else ""
    )
    if row.statement is not None:  # breakage: expired points, the operator's (loyalty/expiry.py)
        expired = int(row.statement.get("points_expired", 0))
        links = (
            figure(f"settlement-{pid}-expired", expired, f"{points(expired)} points expired", tag="span", cls="")
            + " (breakage, the operator's) · "
            + links
        )
    return (
        f'<details class="settlement" data-period="{e(pid)}"{" open" if newest else ""}>'
        f'<summary><span class="strong">Period {e(pid)}</span> '
        f'<span data-figure="settlement-{pid}-status" data-value="{e(row.status)}">{badge(row.status)}</span> '
        f'<span class="muted">{e(fmt.when(row.settled_at or row.created_at, tz))}</span>'
        f'<span class="spacer"></span><span class="muted">operator net</span> '
        + _net(f"settlement-{pid}-operator-net", op_net, d, sym, tag="span")
        + f'</summary>{table}<p class="muted small">{links}</p></details>'
    )


def chart_panel(chart: Chart | None, action: str, decimals: int, symbol: str, note: str = "") -> str:
    """The business-time chart with its date range form; the data for dashboard.js in #chart-data."""
    if chart is None:
        return ""
    data = chart.as_json()
    return template("dashboard_chart.html").substitute(
        action=e(action),
        start=e(data["from"]),
        end=e(data["to"]),
        tz=e(chart.tz),
        note=e(note),
        decimals=decimals,
        symbol=e(symbol),
        chart_json=json.dumps(data).replace("<", "\\u003c"),
    )


def dashboard_page(ov: Overview, tz: str = "UTC", range_error: str | None = None) -> str:
    d, sym = ov.token_decimals, ov.token_symbol
    names = {p.id: p.name for p in ov.partners}
    rows = (
        "".join(_partner_row(p, d, sym) for p in ov.partners)
        or '<tr><td colspan="12" class="muted">No partner yet.</td></tr>'
    )
    settlements = (
        "".join(_settlement(r, names, d, sym, tz, i == 0) for i, r in enumerate(ov.settlements))
        or '<p class="muted">No period settled yet.</p>'
    )
    error = f'<div class="alert bad" role="alert">{e(ov.chain_error)}</div>' if ov.chain_error else ""
    if range_error:
        error += f'<div class="alert bad" role="alert">{e(range_error)}</div>'
    flagged = sum(1 for p in ov.partners if p.flags)
    return template("dashboard.html").substitute(
        partner_count=len(ov.partners),
        customer_count=f"{ov.customers:,}",
        token_symbol=e(sym),
        token_decimals=d,
        recon_badge=_recon_badge(ov),
        flagged=(
            f'<a class="badge bad" href="/dashboard/issues" data-figure="flagged-partners" data-value="{flagged}">'
            f"{flagged} partner(s) to look at</a>"
            if flagged
            else '<span class="badge ok" data-figure="flagged-partners" data-value="0">no partner flagged</span>'
        ),
        chain_error=error,
        points_issued_raw=ov.points_issued,
        points_issued=points(ov.points_issued),
        points_redeemed_raw=ov.points_redeemed,
        points_redeemed=points(ov.points_redeemed),
        points_reversed_raw=ov.points_reversed,
        points_reversed=points(ov.points_reversed),
        points_expired_raw=ov.points_expired,
        points_expired=points(ov.points_expired),
        total_supply_raw=_raw(ov.total_supply),
        total_supply=points(ov.total_supply),
        total_exposure_raw=_raw(ov.total_exposure),
        total_exposure=e(fmt.units(ov.total_exposure, d, sym)),
        chart=chart_panel(ov.chart, "/dashboard", d, sym),
        partner_rows=rows,
        settlements=settlements,
        reconciliation=_reconciliation(ov, tz),
        alerts=_alerts(ov, tz),
    )


def _recon_badge(ov: Overview) -> str:
    r = ov.reconciliation
    if r is None:
        return (
            '<span class="badge info" data-figure="reconciliation-status" data-value="none">not reconciled yet</span>'
        )
    kind, text = ("ok", "reconciled") if r.ok else ("bad", f"{len(r.differences)} difference(s)")
    value = "ok" if r.ok else "differences"
    return f'<span class="badge {kind}" data-figure="reconciliation-status" data-value="{value}">{e(text)}</span>'


def _reconciliation(ov: Overview, tz: str) -> str:
    r = ov.reconciliation
    if r is None:
        return '<p class="muted">No reconciliation has run yet.</p>'
    diffs = "".join(f'<li class="mono small">{e(json.dumps(diff, sort_keys=True))}</li>' for diff in r.differences[:10])
    result = badge("settled", "no difference") if r.ok else badge("failed", "differences found")
    return (
        '<dl class="facts">'
        f"<dt>Result</dt><dd>{result}</dd>"
        f"<dt>At block</dt>{figure('reconciliation-block', r.block_number, str(r.block_number), tag='dd', cls='')}"
        f"<dt>Customers checked</dt>"
        f"{figure('reconciliation-customers', r.customers_checked, str(r.customers_checked), tag='dd', cls='')}"
        f"<dt>Partners checked</dt><dd>{e(r.partners_checked)}</dd>"
        f"<dt>Total supply</dt><dd>{e(points(int(r.total_supply)))}</dd>"
        f"<dt>When</dt><dd>{e(fmt.when(r.created_at, tz))}</dd>"
        "</dl>" + (f'<ul class="diffs">{diffs}</ul>' if diffs else "")
    )


def _alerts(ov: Overview, tz: str) -> str:
    if not ov.alerts:
        return '<p class="muted">No alert.</p>'
    items = "".join(
        f'<li><span class="badge bad">{e(a.kind)}</span> {e(a.message)} '
        f'<span class="muted small">{e(fmt.when(a.created_at, tz))}</span></li>'
        for a in ov.alerts
    )
    return f'<ul class="alerts">{items}</ul>'
