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

from gateway.models import SettlementPeriod
from gateway.services.dashboard import Overview, PartnerFigures, statement_lines

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
STEP_NAMES = {60: "minute", 3_600: "hour", 86_400: "day"}
KIND_LABELS = {
    "earned": "Earned",
    "redeemed": "Redeemed",
    "reversed": "Refund clawback",
    "sent": "Sent",
    "received": "Received",
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


def _partner_row(p: PartnerFigures, d: int) -> str:
    cells = [
        f"<td>{e(p.id)}</td>",
        f'<td class="strong" data-figure="partner-{p.id}-name" data-value="{e(p.name)}">{e(p.name)}</td>',
        f'<td data-figure="partner-{p.id}-status" data-value="{e(p.status)}">{badge(p.status)}</td>',
        f'<td class="num">{e(money(p.issue_price, d))}</td>',
        f'<td class="num">{e(money(p.reimbursement_rate, d))}</td>',
        figure(f"partner-{p.id}-issued", p.points_issued, points(p.points_issued)),
        figure(f"partner-{p.id}-redeemed", p.points_redeemed, points(p.points_redeemed)),
        figure(f"partner-{p.id}-reversed", p.points_reversed, points(p.points_reversed)),
        figure(f"partner-{p.id}-exposure", _raw(p.exposure), money(p.exposure, d), cls="num strong"),
        figure(f"partner-{p.id}-free-funds", _raw(p.free_funds), money(p.free_funds, d)),
    ]
    return f'<tr data-partner="{e(p.id)}">{"".join(cells)}</tr>'


def _raw(value: int | None) -> str:
    return "" if value is None else str(value)


def _settlement(row: SettlementPeriod, names: dict[int, str], d: int, newest: bool) -> str:
    pid = row.period_id
    op_net = int(row.operator_net) if row.operator_net is not None else None
    lines = "".join(
        "<tr>"
        f"<td>{e(line['name'])}</td>"
        f'<td class="num">{e(points(int(line["points_issued"])))}</td>'
        f'<td class="num">{e(points(int(line["points_reversed"])))}</td>'
        f'<td class="num">{e(points(int(line["points_redeemed"])))}</td>'
        + figure(
            f"settlement-{pid}-net-{line['partner_id']}", int(line["net"]), money(int(line["net"]), d), cls="num strong"
        )
        + "</tr>"
        for line in statement_lines(row, names)
    )
    table = (
        '<div class="table-wrap"><table class="table compact"><thead><tr><th>Partner</th><th class="num">Issued</th>'
        '<th class="num">Reversed</th><th class="num">Redeemed</th><th class="num">Net</th></tr></thead>'
        f"<tbody>{lines}</tbody></table></div>"
        if lines
        else '<p class="muted">No statement yet.</p>'
    )
    links = (
        f'<a href="/dashboard/settlements/{pid}/statement.json">statement.json</a> · '
        f'<a href="/dashboard/settlements/{pid}/statement.csv">CSV</a>'
        if row.statement is not None
        else ""
    )
    digest = (
        f'<span class="mono small" title="keccak256 on chain">{e(row.statement_hash[:18])}…</span>'
        if row.statement_hash
        else ""
    )
    return (
        f'<details class="settlement" data-period="{e(pid)}"{" open" if newest else ""}>'
        f'<summary><span class="strong">Period {e(pid)}</span> '
        f'<span data-figure="settlement-{pid}-status" data-value="{e(row.status)}">{badge(row.status)}</span> '
        f'<span class="muted">blocks {e(row.from_block)}–{e(row.to_block)}</span>'
        f'<span class="spacer"></span><span class="muted">operator net</span> '
        + figure(f"settlement-{pid}-operator-net", _raw(op_net), money(op_net, d), tag="span", cls="strong")
        + f'</summary>{table}<p class="muted small">{links} {digest} {e(when(row.settled_at))}</p></details>'
    )


def dashboard_page(ov: Overview) -> str:
    d = ov.token_decimals
    names = {p.id: p.name for p in ov.partners}
    rows = (
        "".join(_partner_row(p, d) for p in ov.partners)
        or '<tr><td colspan="10" class="muted">No partner yet.</td></tr>'
    )
    settlements = (
        "".join(_settlement(r, names, d, i == 0) for i, r in enumerate(ov.settlements))
        or '<p class="muted">No period settled yet.</p>'
    )
    chart = {
        "labels": [when(s) for s in ov.series.starts],
        "issued": ov.series.issued,
        "redeemed": ov.series.redeemed,
    }
    error = f'<div class="alert bad" role="alert">{e(ov.chain_error)}</div>' if ov.chain_error else ""
    return template("dashboard.html").substitute(
        partner_count=len(ov.partners),
        customer_count=f"{ov.customers:,}",
        token_symbol=e(ov.token_symbol),
        token_decimals=d,
        recon_badge=_recon_badge(ov),
        chain_error=error,
        points_issued_raw=ov.points_issued,
        points_issued=points(ov.points_issued),
        points_redeemed_raw=ov.points_redeemed,
        points_redeemed=points(ov.points_redeemed),
        points_reversed_raw=ov.points_reversed,
        points_reversed=points(ov.points_reversed),
        total_supply_raw=_raw(ov.total_supply),
        total_supply=points(ov.total_supply),
        total_exposure_raw=_raw(ov.total_exposure),
        total_exposure=e(money(ov.total_exposure, d)),
        step_name=STEP_NAMES.get(ov.series.step_s, f"{ov.series.step_s} s"),
        chart_json=json.dumps(chart).replace("<", "\\u003c"),
        partner_rows=rows,
        settlements=settlements,
        reconciliation=_reconciliation(ov),
        alerts=_alerts(ov),
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


def _reconciliation(ov: Overview) -> str:
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
        f"<dt>When</dt><dd>{e(when(r.created_at))}</dd>"
        "</dl>" + (f'<ul class="diffs">{diffs}</ul>' if diffs else "")
    )


def _alerts(ov: Overview) -> str:
    if not ov.alerts:
        return '<p class="muted">No alert.</p>'
    items = "".join(
        f'<li><span class="badge bad">{e(a.kind)}</span> {e(a.message)} '
        f'<span class="muted small">{e(when(a.created_at))}</span></li>'
        for a in ov.alerts
    )
    return f'<ul class="alerts">{items}</ul>'
