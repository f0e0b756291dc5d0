"""HTML of the dashboard's message pages: the tabs (log, mailbox, delivery rates), the message log
with its filters, one message with its events, and the delivery rates with a small stacked bar per
kind and channel (inline SVG drawn here: no script, nothing inline that the CSP refuses)."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from gateway.services import dashboard_format as fmt
from gateway.services.dashboard_html import alert, badge, e, figure, panel, table
from gateway.services.dashboard_messages import (
    COUNTED,
    FILTERS,
    MessageLog,
    MessageSeen,
    RateRow,
    Rates,
)
from loyalty.messages.kinds import CHANNELS, KINDS
from network.store.messages import MESSAGE_STATUSES

BASE = "/dashboard/messages"
TABS = [("Log", BASE), ("Mailbox", f"{BASE}/mailbox"), ("Delivery rates", f"{BASE}/rates")]
BAR_PARTS = ("sent", "delivered", "bounced", "failed", "suppressed", "queued")  # the chart's segments, in order


def tabs(current: str) -> str:
    links = "".join(
        f'<a class="button{" primary" if path == current else ""}" href="{e(path)}"'
        f"{' aria-current=page' if path == current else ''}>{e(label)}</a>"
        for label, path in TABS
    )
    return f'<nav class="actions tabs" id="message-tabs" aria-label="Messages">{links}</nav>'


def head(title: str, note: str, current: str) -> str:
    return f'<div class="page-head"><div><h1>{e(title)}</h1><p class="muted">{e(note)}</p></div>{tabs(current)}</div>'


def _partner(names: dict[int, str], pid: int | None) -> str:
    if pid is None:
        return '<span class="muted">coalition</span>'
    return f'<a href="/dashboard/partners/{pid}">{e(names.get(pid, f"#{pid}"))}</a>'


def _select(name: str, label: str, options: list[tuple[str, str]], chosen: str) -> str:
    items = f'<option value="">any {e(label)}</option>' + "".join(
        f'<option value="{e(v)}"{" selected" if v == chosen else ""}>{e(text)}</option>' for v, text in options
    )
    return f'<select name="{name}" id="log-{name}" aria-label="{e(label)}">{items}</select>'


def _filters(log: MessageLog) -> str:
    f = log.filters
    return (
        f'<form method="get" action="{BASE}" class="range" id="log-filters" role="search">'
        + _select("status", "status", [(s, s) for s in MESSAGE_STATUSES], f.status)
        + _select("kind", "kind", [(k, k) for k in KINDS], f.kind)
        + _select("channel", "channel", [(c, c) for c in CHANNELS], f.channel)
        + _select(
            "partner",
            "partner",
            [(str(p), n) for p, n in log.partners.items()],
            "" if f.partner is None else str(f.partner),
        )
        + f'<input name="customer" id="log-customer" inputmode="numeric" maxlength="18" placeholder="customer id" '
        f'value="{e("" if f.customer is None else f.customer)}" aria-label="customer id">'
        '<button type="submit" class="button primary">Filter</button>'
        f'<a class="button" href="{BASE}">Clear</a></form>'
    )


def log_page(log: MessageLog, *, tz: str) -> str:
    """The log: the filters, then a page of messages newest first, each linked to its events."""
    rows = [
        f'<tr data-message="{m.id}" data-status="{e(m.status)}"><td><a href="{BASE}/{m.id}">{m.id}</a></td>'
        f"<td>{e(fmt.when(m.created_at, tz))}</td><td>{e(m.kind)}</td><td>{e(m.channel)}</td>"
        f"<td>{_partner(log.partners, m.partner_id)}</td>"
        f'<td><a href="/dashboard/members/{m.customer_id}">{m.customer_id}</a></td>'
        f'<td class="mono small">{e(m.address or "–")}</td><td>{e(m.locale)}</td>'
        f'<td>{badge(m.status)}</td><td>{e(m.reason or "")}</td><td class="num">{m.attempts}</td></tr>'
        for m in log.rows
    ]
    shown = {k: v for k, v in log.filters.query().items() if k in FILTERS}
    more = (
        f'<p><a class="button" id="next-page" href="{BASE}?{urlencode({**shown, "before": log.next_before})}">'
        "Older messages</a></p>"
        if log.next_before is not None
        else ""
    )
    note = f"{fmt.points(log.total)} message(s)" + (" matching the filters" if shown else "")
    return (
        head("Messages", "what the coalition decided to send, and what became of each", BASE)
        + panel("Filters", _filters(log))
        + panel(
            "Log",
            table(
                [
                    "Message",
                    "Planned",
                    "Kind",
                    "Channel",
                    "Partner",
                    "Customer",
                    "Address",
                    "Language",
                    "Status",
                    "Reason",
                    "#Attempts",
                ],
                rows,
                table_id="log-table",
                empty="No message.",
            ),
            note=figure("log-total", log.total, note, "span", "muted small"),
        )
        + more
    )


def message_page(seen: MessageSeen, *, tz: str) -> str:
    """One message: what it is, to whom, its template's variables, and its log."""
    m = seen.message
    facts = [
        ("Kind", f"{e(m.kind)} ({e(m.category)})"),
        ("Channel", e(m.channel)),
        ("Partner", e(seen.partner or ("coalition" if m.partner_id is None else f"#{m.partner_id}"))),
        ("Customer", f'<a href="/dashboard/members/{m.customer_id}">{m.customer_id}</a>'),
        ("Address", f'<span class="mono">{e(m.address or "–")}</span>'),
        ("Language", e(m.locale)),
        ("Status", badge(m.status) + (f" {e(m.reason)}" if m.reason else "")),
        ("Occurrence", f'<span class="mono small">{e(m.occurrence)}</span>'),
        ("Planned", e(fmt.when(m.created_at, tz, seconds=True))),
        ("Not before", e(fmt.when(m.send_after, tz, seconds=True))),
        ("Sent", e(fmt.when(m.sent_at, tz, seconds=True))),
        ("Attempts", str(m.attempts)),
        ("Provider's reference", f'<span class="mono small">{e(m.provider_ref or "–")}</span>'),
    ]
    dl = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)
    events = [
        f'<tr data-event="{ev.id}"><td>{e(fmt.when(ev.at, tz, seconds=True))}</td><td>{badge(ev.status)}</td>'
        f"<td>{e(ev.detail or '')}</td></tr>"
        for ev in seen.events
    ]
    data = json.dumps(m.data, indent=2, ensure_ascii=False, sort_keys=True)
    return (
        head(f"Message {m.id}", f"{m.kind} by {m.channel}", "")
        + f'<section class="panel" id="message-facts" data-status="{e(m.status)}"><dl class="facts">{dl}</dl></section>'
        + panel(
            "Its log",
            table(["At", "Status", "Detail"], events, table_id="message-events", empty="Nothing happened to it yet."),
            note=f"{len(events)} event(s)",
        )
        + panel("Template variables", f'<pre class="mono small">{e(data)}</pre>')
    )


def _percent(value: float | None) -> str:
    return fmt.DASH if value is None else f"{100 * value:.1f} %"


def _bar(row: RateRow, ident: str) -> str:
    """A stacked bar: each status's share of the row's messages, widths in a 100-wide viewBox."""
    parts, x = [], 0.0
    for status in BAR_PARTS:
        n = row.counts.get(status, 0) + (row.counts.get("sending", 0) if status == "queued" else 0)
        if not n or not row.total:
            continue
        width = 100 * n / row.total
        parts.append(
            f'<rect class="bar-{status}" x="{x:.3f}" y="0" width="{width:.3f}" height="10">'
            f"<title>{e(status)}: {n}</title></rect>"
        )
        x += width
    return (
        f'<svg class="rate-bar" id="bar-{e(ident)}" viewBox="0 0 100 10" preserveAspectRatio="none" role="img" '
        f'aria-label="{e(ident)} by status">{"".join(parts)}</svg>'
    )


def _rate_cells(row: RateRow, ident: str) -> str:
    cells = "".join(figure(f"{ident}-{s}", row.counts[s], fmt.points(row.counts[s])) for s in COUNTED)
    reasons = ", ".join(f"{r} {n}" for r, n in row.suppressed_by.items())
    return (
        figure(f"{ident}-total", row.total, fmt.points(row.total))
        + cells
        + f'<td class="small" data-figure="{e(ident)}-reasons" data-value="{e(reasons)}">{e(reasons)}</td>'
        + "".join(
            figure(f"{ident}-rate-{r}", "" if v is None else f"{v:.6f}", _percent(v)) for r, v in row.rates.items()
        )
    )


def rates_page(rates: Rates, *, error: str | None = None) -> str:
    """A bar per kind and channel (its statuses' shares), then the counts per status, suppressions by
    reason and the rates."""
    rows = [
        f'<tr data-kind="{e(r.kind)}" data-channel="{e(r.channel)}"><td>{e(r.kind)}</td><td>{e(r.channel)}</td>'
        + _rate_cells(r, f"{r.kind}-{r.channel}")
        + "</tr>"
        for r in rates.rows
    ]
    if rates.rows:
        rows.append(
            '<tr class="strong" data-kind="all"><td>all</td><td></td>' + _rate_cells(rates.total, "all") + "</tr>"
        )
    headers = [
        "Kind",
        "Channel",
        "#Planned",
        *(f"#{s}" for s in COUNTED),
        "Suppressed by reason",
        "#Sent rate",
        "#Delivered rate",
        "#Bounce rate",
        "#Failure rate",
        "#Suppressed rate",
    ]
    form = (
        f'<form method="get" action="{BASE}/rates" class="range" id="rates-range">'
        f'<label>From <input type="date" name="from" value="{rates.start.isoformat()}"></label>'
        f'<label>To <input type="date" name="to" value="{rates.end.isoformat()}"></label>'
        '<button type="submit" class="button primary">Show</button></form>'
    )
    legend = "".join(
        f'<span class="legend-item"><svg viewBox="0 0 10 10" class="legend-swatch"><rect class="bar-{s}" '
        f'width="10" height="10"/></svg>{e(s)}</span>'
        for s in BAR_PARTS
    )
    bars = "".join(
        f'<div class="rate-chart-row"><span>{e(r.kind)} · {e(r.channel)}</span>{_bar(r, f"{r.kind}-{r.channel}")}'
        f'<span class="num">{fmt.points(r.total)}</span></div>'
        for r in rates.rows
    )
    chart = panel(
        "Statuses per kind and channel",
        f'<div class="rate-chart" id="rates-chart">{bars}</div><p class="legend small">{legend}</p>',
        note="each bar: the messages planned in the period, by what became of them",
    )
    note = (
        "Messages planned in the period (days of the display zone). Sent rate: sent, delivered or bounced of those "
        "not suppressed; delivered and bounce rates: of those sent (a channel that does not tell leaves them sent); "
        "failure rate: gave up, of those not suppressed; suppressed rate: never sent, of all."
    )
    return (
        head("Delivery rates", f"{rates.start} to {rates.end} · days in {rates.tz}", f"{BASE}/rates")
        + alert(error)
        + panel("Period", form)
        + (chart if rates.rows else "")
        + panel(
            "Per kind and channel",
            table(headers, rows, table_id="rates-table", empty="No message in the period."),
            note=e(note),
        )
    )
