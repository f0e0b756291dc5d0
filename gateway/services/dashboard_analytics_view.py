"""HTML of the dashboard's analytics section: the filters (period, partner, days or weeks), the KPIs
as figures with their definitions beside (and on hover), the charts (points over time, outstanding
liability, segment sizes, tier distribution: drawn by /static/analytics.js from #analytics-data,
no inline script), and the tables a person reads by their shading (segment moves, cohort retention
as a heat map, the cross-partner flow and the shared members as matrices). Each block links its
CSV. Every figure carries its raw value in ``data-value``."""

from __future__ import annotations

import json
from decimal import Decimal
from math import ceil
from typing import Any
from urllib.parse import urlencode

from gateway.services import dashboard_format as fmt
from gateway.services.analytics_series import NONE
from gateway.services.dashboard_analytics import BLOCKS, Analytics, Filters, kpi_rows
from gateway.services.dashboard_html import alert, e, figure, panel, table
from loyalty.rfm import SEGMENTS

BASE = "/dashboard/analytics"
LEVELS = 9  # shades heat-1 .. heat-9 (dashboard.css); heat-0: nothing
LABELS = {
    "members_enrolled": "Members", "members_new": "New members", "active_30d": "Active, 30 days",
    "active_90d": "Active, 90 days", "purchases": "Purchases", "buyers": "Buyers",
    "repeat_purchase_rate": "Repeat purchase rate", "purchase_frequency": "Purchase frequency",
    "average_basket": "Average basket", "clv": "Customer lifetime value", "churn_rate": "Churn rate",
    "points_issued": "Points issued", "points_redeemed": "Points redeemed", "points_reversed": "Points reversed",
    "points_expired": "Points expired", "redemption_rate": "Redemption rate", "breakage_rate": "Breakage rate",
    "outstanding_points": "Outstanding points", "outstanding_value_low": "Liability, lowest rate",
    "outstanding_value_high": "Liability, highest rate",
}  # fmt: skip
RATES = {"repeat_purchase_rate", "churn_rate", "redemption_rate", "breakage_rate"}


def csv_href(name: str, filters: Filters) -> str:
    return f"{BASE}/{name}.csv?{urlencode(filters.query())}"


def csv_link(name: str, filters: Filters) -> str:
    return f'<a class="csv" id="csv-{e(name)}" href="{e(csv_href(name, filters))}" download>CSV</a>'


def heat(value: float, top: float) -> str:
    """The shade of a value out of the largest: heat-0 (nothing) .. heat-9."""
    return f"heat-{0 if value <= 0 or top <= 0 else max(1, min(LEVELS, ceil(LEVELS * value / top)))}"


def _shown(name: str, value: object, decimals: int, symbol: str) -> str:
    if value is None:
        return fmt.DASH
    if name in RATES:
        return f"{float(str(value)) * 100:.1f} %"
    if name == "purchase_frequency":
        return f"{float(str(value)):.2f}"
    if name.startswith(("average_basket_", "clv_")):
        return fmt.fiat(Decimal(str(value)), name.rsplit("_", 1)[1])
    if name.startswith("outstanding_value"):
        return fmt.units(int(str(value)), decimals, symbol)
    return fmt.points(int(str(value)))


def _filters(a: Analytics) -> str:
    f = a.filters
    options = '<option value="">the coalition</option>' + "".join(
        f'<option value="{pid}"{" selected" if pid == f.partner_id else ""}>{e(name)}</option>'
        for pid, name in a.partners.items()
    )
    grains = "".join(
        f'<option value="{g}"{" selected" if g == f.asked_grain else ""}>{text}</option>'
        for g, text in (("", "by the period's length"), ("day", "per day"), ("week", "per week"))
    )
    return (
        f'<form method="get" action="{BASE}" class="range" id="analytics-filters">'
        f'<label>From <input type="date" name="from" id="filter-from" value="{f.start.isoformat()}" required></label>'
        f'<label>To <input type="date" name="to" id="filter-to" value="{f.end.isoformat()}" required></label>'
        f'<label>Partner <select name="partner" id="filter-partner">{options}</select></label>'
        f'<label>Charts <select name="grain" id="filter-grain">{grains}</select></label>'
        '<button type="submit" class="button primary">Show</button>'
        f'<a class="button" href="{BASE}">Last 30 days</a></form>'
    )


def _kpis(a: Analytics, decimals: int, symbol: str) -> str:
    cards = []
    for name, definition, value in kpi_rows(a.kpis):
        key = name
        for prefix in ("average_basket_", "clv_"):
            if name.startswith(prefix):
                key = prefix[:-1]
        label = LABELS.get(key, key) + (f" ({name.rsplit('_', 1)[1]})" if key != name else "")
        cards.append(
            f'<div class="card kpi" title="{e(definition)}">'
            f'<div class="card-label">{e(label)}</div>'
            + figure(
                f"kpi-{name}",
                "" if value is None else value,
                _shown(name, value, decimals, symbol),
                "div",
                "card-value small-value",
            )
            + f'<div class="card-note">{e(definition)}</div></div>'
        )
    return f'<div class="cards kpis" id="kpi-cards">{"".join(cards)}</div>'


def _chart(canvas: str, label: str) -> str:
    return f'<div class="chart-box"><canvas id="{canvas}" aria-label="{e(label)}" role="img"></canvas></div>'


def _matrix(ident: str, rows: list[str], cols: list[str], cells: dict[tuple[str, str], float], *,
            corner: str, figure_prefix: str, whole: bool = True) -> str:  # fmt: skip
    """A matrix table, each cell shaded by its share of the largest."""
    if not rows or not cols:
        return '<p class="muted">Nothing in this period.</p>'
    top = max(cells.values(), default=0)
    head = "".join(f'<th class="num">{e(c)}</th>' for c in cols)
    body = []
    for r in rows:
        tds = []
        for c in cols:
            v = cells.get((r, c), 0)
            text = f"{round(v):,}" if whole or v == 0 else f"{v:,.1f}"
            tds.append(
                f'<td class="num {heat(v, top)}" data-figure="{e(figure_prefix)}-{e(r)}-{e(c)}" data-value="{e(v)}" '
                f'title="{e(r)} → {e(c)}: {e(text)}">{e(text if v else "")}</td>'
            )
        body.append(f"<tr><th>{e(r)}</th>{''.join(tds)}</tr>")
    return (
        f'<div class="table-wrap"><table class="table compact matrix" id="{ident}"><thead><tr><th>{e(corner)}</th>'
        f"{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def _cohorts(a: Analytics) -> str:
    rows = a.kpis.cohorts
    if not rows:
        return '<p class="muted">No member enrolled in this period.</p>'
    width = max(len(c["active"]) for c in rows)
    head = "".join(f'<th class="num">{"M" + str(i)}</th>' for i in range(width))
    body = []
    for c in rows:
        size = int(c["members"])
        tds = []
        for i, n in enumerate(c["active"]):
            share = n / size if size else 0.0
            tds.append(
                f'<td class="num {heat(share, 1.0)}" data-figure="cohort-{e(c["cohort"])}-m{i}" data-value="{n}" '
                f'title="{n} of {size} members bought in month {i}">{share * 100:.0f}%</td>'
            )
        body.append(
            f'<tr data-cohort="{e(c["cohort"])}"><th>{e(c["cohort"])}</th>'
            + figure(f"cohort-{c['cohort']}-members", size, fmt.points(size))
            + "".join(tds)
            + "</tr>"
        )
    return (
        '<div class="table-wrap"><table class="table compact matrix" id="cohort-table"><thead><tr><th>Enrolled</th>'
        f'<th class="num">Members</th>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'
    )


def _flow(a: Analytics) -> str:
    names = a.partners

    def who(pid: int) -> str:
        return names.get(pid, f"#{pid}")

    flow = a.kpis.flow
    earned = sorted({int(r["earned_at"]) for r in flow})
    redeemed = sorted({int(r["redeemed_at"]) for r in flow})
    cells = {(who(int(r["earned_at"])), who(int(r["redeemed_at"]))): float(r["points"]) for r in flow}
    return _matrix("flow-table", [who(p) for p in earned], [who(p) for p in redeemed], cells,
                   corner="earned at ↓ · redeemed at →", figure_prefix="flow")  # fmt: skip


def _shared(a: Analytics) -> str:
    names = a.partners
    rows = a.kpis.shared_members
    ids = sorted({int(r["a"]) for r in rows} | {int(r["b"]) for r in rows})
    labels = [names.get(p, f"#{p}") for p in ids]
    cells: dict[tuple[str, str], float] = {}
    for r in rows:
        x, y = names.get(int(r["a"]), f"#{r['a']}"), names.get(int(r["b"]), f"#{r['b']}")
        cells[(x, y)] = cells[(y, x)] = float(r["members"])
    return _matrix("shared-table", labels, labels, cells, corner="members of both", figure_prefix="shared")


def _moves(a: Analytics) -> str:
    m = a.moves
    if m.day is None:
        return '<p class="muted">No RFM snapshot on or before the period\'s end yet (beat writes one a day).</p>'
    if m.previous is None:
        return f'<p class="muted">The snapshot of {e(m.day)} is the first: nothing to compare it with.</p>'
    order = [NONE, *SEGMENTS]
    froms = [s for s in order if any(r["from"] == s for r in m.moves)]
    tos = [s for s in SEGMENTS if any(r["to"] == s for r in m.moves)]
    cells = {(str(r["from"]), str(r["to"])): float(str(r["members"])) for r in m.moves}
    note = (f'<p class="muted small">from the snapshot of {e(m.previous)} to that of {e(m.day)}; '
            f"{e(NONE)}: new to the snapshot</p>")  # fmt: skip
    return note + _matrix("moves-table", froms, tos, cells, corner="from ↓ · to →", figure_prefix="move")


def _tier_moves(a: Analytics) -> str:
    rows = [
        f"<tr><td>{e(r['from'])}</td><td>{e(r['to'])}</td>"
        + figure(f"tier-move-{r['from']}-{r['to']}", r["members"], fmt.points(int(r["members"])))
        + "</tr>"
        for r in a.kpis.tier_moves
    ]
    return table(["From", "To", "#Members"], rows, table_id="tier-moves-table", empty="No tier change in the period.")


def chart_data(a: Analytics, decimals: int) -> dict[str, Any]:
    """What analytics.js draws (points, liability, segment sizes, tiers)."""
    p = a.points
    return {
        "grain": p.grain,
        "labels": p.labels,
        "issued": p.issued,
        "redeemed": p.redeemed,
        "reversed": p.reversed,
        "expired": p.expired,
        "days": [d.day for d in a.liability],
        "outstanding": [d.outstanding for d in a.liability],
        "value_low": [None if d.value_low is None else d.value_low / 10**decimals for d in a.liability],
        "value_high": [None if d.value_high is None else d.value_high / 10**decimals for d in a.liability],
        "segments": {} if a.segments is None else a.segments.sizes,
        "tiers": a.kpis.tiers,
    }


def analytics_page(a: Analytics, *, decimals: int, symbol: str, error: str | None = None) -> str:
    f = a.filters
    scope = "coalition-wide" if f.partner_id is None else a.partners.get(f.partner_id, f"partner #{f.partner_id}")
    link = {name: csv_link(name, f) for name in BLOCKS}
    seg = a.segments
    seg_note = (
        "no RFM snapshot on or before the period's end yet" if seg is None
        else f"snapshot of {seg.day}: {seg.members:,} members with a counted purchase"
    )  # fmt: skip
    data = json.dumps(chart_data(a, decimals)).replace("<", "\\u003c")
    return (
        f'<div class="page-head"><div><h1>Analytics</h1><p class="muted" id="analytics-scope" '
        f'data-partner="{e("" if f.partner_id is None else f.partner_id)}">{e(scope)} · {e(f.start)} to {e(f.end)} '
        '(UTC days) · definitions in the README\'s "Analytics: RFM and KPIs"</p></div></div>'
        + alert(error)
        + panel("Filters", _filters(a))
        + panel(
            BLOCKS["kpis"],
            _kpis(a, decimals, symbol),
            note=f"hover a figure for its definition · {link['kpis']}",
            panel_id="kpis",
        )
        + '<div class="chart-grid">'
        + panel(
            BLOCKS["points"],
            _chart("points-chart", "Points issued, redeemed, reversed and expired over time"),
            note=f"per {e(f.grain)} · {link['points']}",
            panel_id="points",
        )
        + panel(
            BLOCKS["liability"],
            _chart("liability-chart", "Outstanding points at each day's end"),
            note=f"points outstanding at each day's end, net of expiry · {link['liability']}",
            panel_id="liability",
        )
        + panel(
            BLOCKS["segments"],
            _chart("segments-chart", "Members per RFM segment"),
            note=f"{e(seg_note)} · {link['segments']}",
            panel_id="segments",
        )
        + panel(
            BLOCKS["tiers"],
            _chart("tiers-chart", "Members per tier"),
            note=f"members per tier · {link['tiers']}",
            panel_id="tiers",
        )
        + "</div>"
        + panel(
            BLOCKS["segment-moves"],
            _moves(a),
            note=f"members per (from, to) · {link['segment-moves']}",
            panel_id="segment-moves",
        )
        + panel(
            BLOCKS["cohorts"],
            _cohorts(a),
            note=f"per enrolment month: the share of its members buying in month 0, 1, 2 … · {link['cohorts']}",
            panel_id="cohorts",
        )
        + panel(
            BLOCKS["flow"],
            _flow(a),
            note=f"points redeemed at a partner, by where they were earned (pro rata) · {link['flow']}",
            panel_id="flow",
        )
        + '<div class="grid-2">'
        + panel(
            BLOCKS["shared"], _shared(a), note=f"customers with a ref at both · {link['shared']}", panel_id="shared"
        )
        + panel(
            BLOCKS["tier-moves"],
            _tier_moves(a),
            note=f"tier changes in the period · {link['tier-moves']}",
            panel_id="tier-moves",
        )
        + "</div>"
        + f'<script type="application/json" id="analytics-data">{data}</script>'
    )
