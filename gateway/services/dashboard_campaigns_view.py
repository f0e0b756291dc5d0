"""HTML of the dashboard's campaign pages: the list (budget spent as a bar, members exposed per arm,
start/pause/stop), one campaign's results (the two arms side by side, the uplifts with their 95 %
interval drawn as inline SVG, the sample-ratio check, the money figures, each block as CSV), and
the confirmation of an action. Every figure carries its raw value in ``data-value``.
"""

from __future__ import annotations

from decimal import Decimal

from gateway.services import dashboard_format as fmt
from gateway.services.dashboard_campaigns import ACTIONS, BLOCKS, CampaignLine, Results, still_needed
from gateway.services.dashboard_html import alert, badge, e, figure, link, panel, table
from loyalty.campaigns.intervals import Interval
from loyalty.campaigns.stats import CampaignResult, DecimalRange

BASE = "/dashboard/campaigns"
# the interval chart's geometry (SVG user units): zero in the middle, the widest end at 90 % of a half
CHART_W, CHART_H, HALF, MID = 400, 56, 180, 200


def _pct(rate: float | None) -> str:
    return fmt.DASH if rate is None else f"{rate:.1%}"


def _money(value: Decimal | float | None) -> str:
    return fmt.DASH if value is None else f"{Decimal(value):,.2f}"


def _trigger(line: CampaignLine) -> str:
    params = line.campaign.trigger_params or {}
    detail = ", ".join(f"{k} {v}" for k, v in sorted(params.items()))
    return line.campaign.trigger_type + (f" ({detail})" if detail else "")


def budget_bar(spent: int, budget: int | None, ident: str) -> str:
    """Points spent against the total budget as a bar (no budget: the points alone)."""
    shown = f"{fmt.points(spent)} of {fmt.points(budget)}" if budget else f"{fmt.points(spent)} (no budget)"
    if not budget:
        return f'<span data-figure="budget-{e(ident)}" data-value="{spent}">{e(shown)}</span>'
    share = min(spent / budget, 1.0)
    tone = "bad" if share >= 1 else ("warn" if share >= 0.8 else "ok")
    return (
        f'<span class="budget" data-figure="budget-{e(ident)}" data-value="{spent}" data-budget="{budget}">'
        f'<svg class="budget-bar" viewBox="0 0 100 8" preserveAspectRatio="none" role="img" '
        f'aria-label="{e(shown)} points spent"><rect class="budget-track" width="100" height="8"/>'
        f'<rect class="budget-{tone}" width="{share * 100:.2f}" height="8"/></svg>'
        f'<span class="small">{e(shown)}</span></span>'
    )


def _actions(line: CampaignLine) -> str:
    cid = line.campaign.id
    return " ".join(
        f'<a class="button small-button{" danger" if a == "stop" else ""}" id="{a}-{cid}" '
        f'href="{BASE}/{cid}/{a}">{e(ACTIONS[a][0])}</a>'
        for a in line.actions
    )


def campaigns_page(lines: list[CampaignLine], *, notice: str | None = None) -> str:
    """Every campaign: funder, trigger, status, budget spent, members exposed per arm, its actions."""
    rows = [
        f'<tr data-campaign="{c.campaign.id}"><td>{link(f"{BASE}/{c.campaign.id}", c.campaign.name)}</td>'
        f"<td>{e(c.funder)}</td><td>{e(_trigger(c))}</td>"
        f'<td data-figure="status-{c.campaign.id}" data-value="{e(c.campaign.status)}">{badge(c.campaign.status)}</td>'
        f"<td>{budget_bar(c.campaign.spent_points, c.campaign.budget_points, str(c.campaign.id))}</td>"
        + figure(f"treatment-{c.campaign.id}", c.exposed["treatment"], fmt.points(c.exposed["treatment"]))
        + figure(f"control-{c.campaign.id}", c.exposed["control"], fmt.points(c.exposed["control"]))
        + f'<td class="num">{c.campaign.holdout_bp / 100:g} %</td><td class="actions">{_actions(c)}</td></tr>'
        for c in lines
    ]
    headers = ["Campaign", "Funder", "Trigger", "Status", "Budget spent (points)", "#Treatment", "#Control",
               "#Holdout", "Actions"]  # fmt: skip
    return (
        '<h1 class="page-title">Campaigns</h1>'
        + alert(notice, "ok")
        + panel(
            "Campaigns",
            table(
                headers,
                rows,
                table_id="campaigns-table",
                empty="No campaign yet: create one with POST /v1/operator/campaigns.",
            ),
            note="members exposed per arm when the trigger fired; the control arm is exposed without the effect",
        )
    )


# ------------------------------------------------------------------------------------ the interval


def _x(value: float, scale: float) -> float:
    return MID + value / scale * HALF


def interval_svg(name: str, interval: Interval, *, label: str, unit: str = "") -> str:
    """The interval as a bar across zero, the estimate as a dot, the zero line marked; green when it
    lies above zero, red below, grey when it covers zero."""
    ends = [abs(interval.low), abs(interval.high), abs(interval.estimate)]
    scale = max(ends) / 0.9 if max(ends) > 0 else 1.0
    lo, hi, dot = _x(interval.low, scale), _x(interval.high, scale), _x(interval.estimate, scale)
    tone = "inconclusive" if not interval.significant else ("positive" if interval.estimate > 0 else "negative")
    text = f"{label}: {interval.estimate:+.4g}{unit}, {interval.confidence:.0%} interval {interval.low:+.4g}{unit} to {interval.high:+.4g}{unit}"  # noqa: E501
    return (
        f'<svg class="interval-chart iv-{tone}" id="interval-{e(name)}" viewBox="0 0 {CHART_W} {CHART_H}" '
        f'role="img" aria-label="{e(text)}" data-low="{interval.low!r}" data-high="{interval.high!r}" '
        f'data-estimate="{interval.estimate!r}" data-significant="{str(interval.significant).lower()}">'
        f"<title>{e(text)}</title>"
        f'<line class="iv-axis" x1="{MID - HALF}" y1="28" x2="{MID + HALF}" y2="28"/>'
        f'<rect class="iv-bar" x="{lo:.2f}" y="21" width="{max(hi - lo, 1):.2f}" height="14" rx="3"/>'
        f'<line class="iv-zero" x1="{MID}" y1="8" x2="{MID}" y2="48"/>'
        f'<circle class="iv-dot" cx="{dot:.2f}" cy="28" r="6"/>'
        f'<text class="iv-label" x="{MID}" y="{CHART_H - 1}" text-anchor="middle">0</text>'
        f'<text class="iv-label" x="{lo:.2f}" y="14" text-anchor="end">{e(f"{interval.low:+.3g}")}</text>'
        f'<text class="iv-label" x="{hi:.2f}" y="14" text-anchor="start">{e(f"{interval.high:+.3g}")}</text>'
        "</svg>"
    )


def _uplift_row(name: str, title: str, interval: Interval | None, *, scale: float = 1.0, unit: str = "") -> str:
    if interval is None:
        return (
            f'<div class="uplift" id="uplift-{e(name)}"><h3>{e(title)}</h3><p class="muted">No interval yet: each '
            "arm needs at least 2 members (and some spread) to compute one.</p></div>"
        )
    shown = Interval(interval.estimate * scale, interval.low * scale, interval.high * scale, interval.p_value,
                     interval.standard_error * scale, interval.method, interval.confidence, interval.df)  # fmt: skip
    return (
        f'<div class="uplift" id="uplift-{e(name)}"><h3>{e(title)}</h3>'
        + interval_svg(name, shown, label=title, unit=unit)
        + '<dl class="facts">'
        + f"<dt>Estimate</dt><dd>{figure(f'{name}-estimate', interval.estimate, f'{shown.estimate:+.2f}{unit}', tag='span')}</dd>"  # noqa: E501
        + f"<dt>{interval.confidence:.0%} interval</dt><dd>"
        + figure(f"{name}-low", interval.low, f"{shown.low:+.2f}{unit}", tag="span")
        + " to "
        + figure(f"{name}-high", interval.high, f"{shown.high:+.2f}{unit}", tag="span")
        + f"</dd><dt>p-value</dt><dd>{figure(f'{name}-p', interval.p_value, f'{interval.p_value:.3g}', tag='span')}"
        + f" ({e(interval.method)}{', significant' if interval.significant else ''})</dd></dl></div>"
    )


# ------------------------------------------------------------------------------------ results


def _csv_link(campaign_id: int, name: str) -> str:
    return f'<a class="csv" id="csv-{e(name)}" href="{BASE}/{campaign_id}/{e(name)}.csv" download>CSV</a>'


def _state(result: CampaignResult) -> str:
    if result.status == "no_control":
        return alert("No control group (holdout 0 %): nothing to measure the campaign against.", "warn")
    if result.status == "collecting":
        need = still_needed(result)
        parts = [
            f'<li data-figure="needed-{arm}" data-value="{n["members"]},{n["conversions"]}">{e(arm.capitalize())}: '
            f"{fmt.points(n['members'])} more members, {fmt.points(n['conversions'])} more conversions</li>"
            for arm, n in need.items()
        ]
        return (
            '<div class="alert info" role="status" id="collecting"><strong>Collecting: no verdict yet.</strong> '
            f"A verdict needs at least {result.min_members} members and {result.min_conversions} conversions in each "
            f"arm. Still needed:<ul>{''.join(parts)}</ul>The figures below are provisional.</div>"
        )
    verdicts = (
        f'<span data-figure="verdict" data-value="{e(result.verdict)}">Revenue per member: '
        f"{badge(result.verdict or 'inconclusive')}</span> "
        f'<span data-figure="conversion-verdict" data-value="{e(result.conversion_verdict)}">Conversion: '
        f"{badge(result.conversion_verdict or 'inconclusive')}</span>"
    )
    return f'<div class="alert ok" role="status" id="measured"><strong>Measured.</strong> {verdicts}</div>'


def _arms(cid: int, result: CampaignResult) -> str:
    t, c = result.treatment, result.control

    def cells(key: str, tv: object, ts: str, cv: object, cs: str) -> str:
        return figure(f"treatment-{key}", tv, ts) + figure(f"control-{key}", cv, cs)

    rows = [
        f'<tr><th scope="row">Members</th>{cells("members", t.members, fmt.points(t.members), c.members, fmt.points(c.members))}</tr>',  # noqa: E501
        f'<tr><th scope="row">Conversions</th>{cells("conversions", t.conversions, fmt.points(t.conversions), c.conversions, fmt.points(c.conversions))}</tr>',  # noqa: E501
        f'<tr><th scope="row">Conversion rate</th>{cells("conversion_rate", t.conversion_rate, _pct(t.conversion_rate), c.conversion_rate, _pct(c.conversion_rate))}</tr>',  # noqa: E501
        f'<tr><th scope="row">Revenue per member</th>{cells("revenue_per_member", t.revenue_per_member, _money(t.revenue_per_member), c.revenue_per_member, _money(c.revenue_per_member))}</tr>',  # noqa: E501
        f'<tr><th scope="row">Revenue</th>{cells("revenue", t.revenue, _money(t.revenue), c.revenue, _money(c.revenue))}</tr>',  # noqa: E501
        f'<tr><th scope="row">Points given</th>{cells("points", t.points, fmt.points(t.points), c.points, fmt.points(c.points))}</tr>',  # noqa: E501
    ]
    if t.conversion_rate_coalition is not None and c.conversion_rate_coalition is not None:
        rows.append(
            f'<tr><th scope="row">Conversion rate, coalition-wide</th>'
            f"{cells('conversion_rate_coalition', t.conversion_rate_coalition, _pct(t.conversion_rate_coalition), c.conversion_rate_coalition, _pct(c.conversion_rate_coalition))}</tr>"  # noqa: E501
        )
    body = (
        '<div class="table-wrap"><table class="table arms" id="arms-table"><thead><tr><th></th>'
        f'<th class="num">Treatment ({100 - result.holdout_bp / 100:g} %)</th>'
        f'<th class="num">Control ({result.holdout_bp / 100:g} %)</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )
    return panel(BLOCKS["arms"], body, note=_csv_link(cid, "arms"), panel_id="block-arms")


def _uplift(cid: int, result: CampaignResult) -> str:
    cuped = result.cuped
    cuped_note = ""
    if cuped is not None:
        cuped_note = (
            f'<p class="muted small" id="cuped">CUPED (pre-period revenue as covariate, θ = {cuped.theta:.3g}) '
            f"{'narrowed the interval to' if cuped.used else 'would widen the interval to'} "
            f"{cuped.width_ratio:.0%} of its width: "
            f"{'the adjusted interval is shown' if cuped.used else 'not used'}.</p>"
        )
    srm = result.sample_ratio
    srm_text = (
        '<p class="muted small">Sample ratio: not checked (no control group or no members yet).</p>'
        if srm is None
        else f'<p class="small" id="srm">Sample ratio: {srm.control:,} control / {srm.treatment:,} treatment against '
        f"an expected control share of {srm.expected_control_share:.1%}: p = "
        + figure("srm-p", srm.p_value, f"{srm.p_value:.3g}", tag="span", cls="")
        + (" — <strong>mismatch</strong>" if srm.mismatch else " (no mismatch)")
        + "</p>"
    )
    body = (
        '<div class="uplifts">'
        + _uplift_row("revenue", "Revenue per member (treatment − control)", result.revenue_uplift)
        + _uplift_row(
            "conversion", "Conversion rate (percentage points)", result.conversion_uplift, scale=100, unit=" pp"
        )
        + (
            _uplift_row(
                "conversion-coalition",
                "Conversion rate, coalition-wide (percentage points)",
                result.conversion_uplift_coalition,
                scale=100,
                unit=" pp",
            )
            if result.conversion_uplift_coalition is not None
            else ""
        )
        + "</div>"
        + cuped_note
        + srm_text
    )
    return panel(BLOCKS["uplift"], body, note=_csv_link(cid, "uplift"), panel_id="block-uplift")


def _range(name: str, r: DecimalRange | None, label: str) -> str:
    if r is None:
        return f'<dt>{e(label)}</dt><dd data-figure="{e(name)}" data-value="">{fmt.DASH}</dd>'
    return (
        f"<dt>{e(label)}</dt><dd>{figure(name, r.estimate, _money(r.estimate), tag='span', cls='')} "
        f'<span class="muted small">(95 % interval {figure(f"{name}-low", r.low, _money(r.low), tag="span", cls="")} '
        f"to {figure(f'{name}-high', r.high, _money(r.high), tag='span', cls='')})</span></dd>"
    )


def _money_block(cid: int, result: CampaignResult) -> str:
    body = (
        '<dl class="facts" id="money">'
        + _range("incremental_revenue", result.incremental_revenue, "Incremental revenue")
        + f"<dt>Points cost</dt><dd>{figure('points_cost', result.points_cost, _money(result.points_cost), tag='span', cls='')}"  # noqa: E501
        + ' <span class="muted small">(all points given × the funder\'s issue price, in the settlement '
        "token)</span></dd>"
        + _range("return_on_points", result.return_on_points, "Return on points")
        + "</dl>"
        + '<p class="muted small">Incremental revenue = revenue uplift per member × treatment members; return on '
        "points = incremental revenue ÷ points cost.</p>"
    )
    return panel(BLOCKS["money"], body, note=_csv_link(cid, "money"), panel_id="block-money")


def results_page(seen: Results, *, tz: str) -> str:
    """One campaign's results: its facts, the state of the measurement, the warnings, three blocks."""
    c, result = seen.line.campaign, seen.result
    closes = fmt.when(seen.window_closes_at, tz) if seen.window_closes_at else fmt.DASH
    facts = (
        '<dl class="facts" id="campaign-facts">'
        f"<dt>Funder</dt><dd>{e(seen.line.funder)}</dd><dt>Trigger</dt><dd>{e(_trigger(seen.line))}</dd>"
        f'<dt>Status</dt><dd data-figure="status" data-value="{e(c.status)}">{badge(c.status)}</dd>'
        f"<dt>Budget</dt><dd>{budget_bar(c.spent_points, c.budget_points, 'campaign')}</dd>"
        f"<dt>Holdout</dt><dd>{c.holdout_bp / 100:g} %</dd>"
        f"<dt>Measurement window</dt><dd>{seen.window_days} days after each member's first exposure; the last closes "
        f"{e(closes)}</dd></dl>"
        f'<p class="actions">{_actions(seen.line)}</p>'
    )
    warnings = "".join(
        f'<div class="alert bad" role="alert" data-warning="{"srm" if w.startswith("sample ratio") else "other"}">'
        f"{e(w)}</div>"
        for w in result.warnings
    )
    return (
        f'<p class="small"><a href="{BASE}">← Campaigns</a></p>'
        f'<h1 class="page-title">{e(c.name)}</h1>'
        + panel("Campaign", facts, panel_id="campaign")
        + _state(result)
        + warnings
        + _arms(c.id, result)
        + _uplift(c.id, result)
        + _money_block(c.id, result)
    )
