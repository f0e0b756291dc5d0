"""HTML of the dashboard's rule pages: every partner's rules in force, a partner's versions with
each rule in words (kind, what it matches, what it gives, when, its cap), the draft form, and a
simulation's answer with the button that activates the draft."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from gateway.services import dashboard_format as fmt
from gateway.services.dashboard_html import alert, badge, confirm_form, e, figure, panel, table
from gateway.services.dashboard_rules import PartnerRules, RulesPage, Simulated
from gateway.services.rule_sets import Version

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_DAYS = 30


def _scope(rule: dict[str, Any]) -> str:
    named = [f"{what} {', '.join(rule.get(what) or [])}" for what in ("skus", "categories", "labels") if rule.get(what)]
    return "; ".join(named) or "every line"


def _when(rule: dict[str, Any]) -> str:
    parts = []
    if rule.get("starts_on") or rule.get("ends_on"):
        parts.append(f"{rule.get('starts_on') or '…'} to {rule.get('ends_on') or '…'}")
    if rule.get("weekdays"):
        parts.append(", ".join(DAYS[d] for d in sorted(rule["weekdays"])))
    if rule.get("hours"):
        parts.append("–".join(rule["hours"]))
    return " · ".join(parts) or "always"


def _n(text: str) -> str:
    """A decimal string without its trailing zeros: 2.000000 -> 2, 1.250000 -> 1.25."""
    return format(Decimal(text).normalize(), "f")


def describe(rule: dict[str, Any], caps: list[dict[str, Any]], currency: str) -> tuple[str, str, str, str]:
    """A rule in words: (what it matches, what it gives, when, its cap), from its JSON."""
    kind = rule["kind"]
    capped = "; ".join(f"at most {fmt.points(c['limit'])} a {c['period']} ({c['id']})" for c in caps) or "–"
    if kind == "base":
        return "every line that earns", f"{_n(rule['points_per_unit'])} points per {currency}", "always", capped
    if kind == "multiplier":
        return _scope(rule), f"×{_n(rule['factor'])}", "always", capped
    if kind == "bonus_window":
        return _scope(rule), f"×{_n(rule['factor'])}", _when(rule), capped
    if kind == "tier":
        return "the whole purchase", "× the member's tier multiplier", "always", capped
    if kind == "first_purchase":
        return "the member's first purchase here", f"+{fmt.points(rule['points'])} points", "once", capped
    if kind == "minimum_order":
        return f"orders under {_n(rule['amount'])} {currency}", "nothing", "always", "–"
    if kind == "exclusion":
        return _scope(rule), "nothing (excluded)", "always", "–"
    if kind == "cap":
        target = f"rule {rule['rule']}" if rule.get("rule") else "the whole purchase"
        return target, "–", f"per {rule['period']}", f"at most {fmt.points(rule['limit'])} points per member"
    return "", "", "", ""


def rules_table(version: Version, ident: str) -> str:
    rules = version.rules["rules"]
    currency = version.rules["currency"]
    caps = [r for r in rules if r["kind"] == "cap"]
    rows = []
    for r in rules:
        matches, gives, when, cap = describe(r, [c for c in caps if c.get("rule") == r["id"]], currency)
        qualifying = "yes" if r.get("qualifying") else ("–" if "qualifying" not in r else "no")
        rows.append(
            f'<tr data-rule="{e(r["id"])}"><td class="mono small">{e(r["id"])} v{e(r.get("version", "?"))}</td>'
            f"<td>{e(r['kind'])}</td><td>{e(matches)}</td><td>{e(gives)}</td><td>{e(when)}</td><td>{e(cap)}</td>"
            f"<td>{e(qualifying)}</td></tr>"
        )
    return table(["Rule", "Kind", "Matches", "Gives", "When", "Cap", "Counts for tier"], rows, table_id=ident)


def _note(v: Version, tz: str) -> str:
    r = v.rules
    at = f" · drafted {fmt.when(v.created_at, tz)}" if v.created_at else ""
    on = f" · in force since {fmt.when(v.activated_at, tz)}" if v.activated_at else ""
    base = "the partner's rate (no rule set yet)" if v.version == 0 else f"version {v.version}"
    return f"{base} · {r['currency']} · times in {r['time_zone']} · rounded {r['rounding']}{at}{on}"


def overview_page(partners: list[PartnerRules]) -> str:
    rows = [
        f'<tr data-partner="{p.partner.id}"><td><a href="/dashboard/rules/{p.partner.id}">{e(p.partner.name)}</a></td>'
        + figure(
            f"rules-{p.partner.id}-version", p.active.version, str(p.active.version) if p.active.version else "rate"
        )
        + f'<td class="num">{len(p.active.rules["rules"])}</td>'
        + figure(f"rules-{p.partner.id}-drafts", p.drafts, str(p.drafts))
        + "</tr>"
        for p in partners
    ]
    return (
        '<div class="page-head"><div><h1>Earning rules</h1><p class="muted">per partner, versioned: '
        "write a draft, simulate it on past purchases, then activate it</p></div></div>"
        + panel("Partners", table(["Partner", "#Version in force", "#Rules", "#Drafts"], rows,
                                  table_id="rules-partners", empty="No partner yet."))
    )  # fmt: skip


def _simulate_form(pid: int, version: int) -> str:
    return (
        f'<form method="get" action="/dashboard/rules/{pid}/simulate" class="range" id="simulate-{version}">'
        f'<input type="hidden" name="version" value="{version}">'
        f'<label for="days-{version}">Last</label><input id="days-{version}" name="days" value="{DEFAULT_DAYS}" '
        'inputmode="numeric" maxlength="3" size="4"><span>days</span>'
        f'<button type="submit" class="button primary" id="simulate-button-{version}">Simulate</button></form>'
    )


def draft_form(pid: int, *, csrf: str, text: str, error: str | None) -> str:
    return panel(
        "Write a draft",
        f"{alert(error)}"
        '<p class="muted">The JSON the operator API takes (POST /v1/operator/partners/{id}/rules): '
        "<code>time_zone</code>, <code>rounding</code> and <code>rules</code>, each rule an object with its "
        "<code>kind</code> (base, multiplier, bonus_window, tier, first_purchase, minimum_order, exclusion, cap) "
        "and <code>id</code>. Nothing earns by a draft until it is activated.</p>"
        f'<form method="post" action="/dashboard/rules/{pid}/drafts" class="form" id="draft-form">'
        f'<input type="hidden" name="csrf" value="{e(csrf)}">'
        '<label for="rules">Rules (JSON)</label>'
        f'<textarea id="rules" name="rules" rows="16" class="mono">{e(text)}</textarea>'
        '<button type="submit" class="button primary" id="save-draft">Save draft</button></form>',
        panel_id="draft",
    )


def rules_page(pg: RulesPage, *, csrf: str, text: str, tz: str, notice: str | None = None,
               error: str | None = None) -> str:  # fmt: skip
    pid = pg.partner.id
    drafts = "".join(
        panel(f"Draft · version {v.version}",
              rules_table(v, f"draft-{v.version}-rules") + _simulate_form(pid, v.version),
              note=e(_note(v, tz)), panel_id=f"draft-{v.version}")
        for v in pg.drafts
    )  # fmt: skip
    retired = [
        f'<tr data-version="{v.version}"><td>{v.version}</td><td>{len(v.rules["rules"])}</td>'
        f"<td>{e(fmt.when(v.activated_at, tz) if v.activated_at else '–')}</td></tr>"
        for v in pg.retired
    ]
    active = pg.active
    return (
        f'<div class="page-head"><div><h1>Earning rules · {e(pg.partner.name)}</h1>'
        f'<p class="muted"><a href="/dashboard/rules">every partner</a></p></div></div>'
        + alert(notice, "ok")
        + panel("In force", f'<p id="in-force" data-version="{active.version}">'
                f'{badge("active", f"version {active.version}")}</p>' + rules_table(active, "active-rules"),
                note=e(_note(active, tz)), panel_id="active")
        + drafts
        + draft_form(pid, csrf=csrf, text=text, error=error)
        + panel("Retired versions", table(["Version", "#Rules", "Was in force from"], retired, table_id="retired",
                                          empty="None."))
    )  # fmt: skip


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def simulation_page(s: Simulated, *, csrf: str, symbol: str) -> str:
    """What the draft would have issued, each rule's points before and after, and the activation."""
    r = s.result
    rows = [
        f'<tr data-rule="{e(d.rule_id)}"><td class="mono small">{e(d.rule_id)}</td><td>{e(d.kind)}</td>'
        + figure(f"rule-{d.rule_id}-current", d.current, fmt.points(d.current))
        + figure(f"rule-{d.rule_id}-proposed", d.proposed, fmt.points(d.proposed))
        + figure(f"rule-{d.rule_id}-delta", d.delta, f"{d.delta:+,}")
        + "</tr>"
        for d in r.rules
    ]
    pid, v = s.partner.id, s.version.version
    action = (
        confirm_form(
            action=f"/dashboard/rules/{pid}/activate",
            csrf=csrf,
            button=f"Activate version {v}",
            cancel=f"/dashboard/rules/{pid}",
            hidden={"version": str(v)},
        )
        if s.version.status == "draft"
        else f'<p class="muted">Version {v} is {e(s.version.status)}: only a draft can be activated.</p>'
    )
    cur = f"version {s.current}" if s.current else "the partner's rate"
    return (
        f'<div class="page-head"><div><h1>Simulation · {e(s.partner.name)} · version {v}</h1>'
        f'<p class="muted">against {e(cur)}, over the purchases of the last {s.days} days; nothing is written</p>'
        "</div></div>"
        '<section class="panel" id="simulation-summary">'
        f'<p id="simulation-sentence" data-delta="{r.delta_points}" data-value="{e(format(r.value.normalize(), "f"))}" '
        f'data-members="{r.members_changed}">{e(_sentence(r.summary(symbol)))}.</p>'
        '<dl class="facts">'
        + "<dt>Purchases</dt>" + figure("sim-purchases", r.purchases, fmt.points(r.purchases), "dd", "")
        + "<dt>Points now</dt>" + figure("sim-points-current", r.points_current, fmt.points(r.points_current), "dd", "")
        + "<dt>Points with the draft</dt>"
        + figure("sim-points-proposed", r.points_proposed, fmt.points(r.points_proposed), "dd", "")
        + "<dt>Difference</dt>" + figure("sim-delta", r.delta_points, f"{r.delta_points:+,} points", "dd", "")
        + "<dt>In money at the issue price</dt>"
        + figure("sim-value", format(r.value.normalize(), "f"), f"{r.value.normalize():f} {symbol}", "dd", "")
        + "<dt>Members</dt>"
        + figure("sim-members", r.members_changed,
                 f"{r.members_changed} ({r.members_more} more, {r.members_fewer} fewer)", "dd", "")
        + f"</dl>{action}</section>"
        + panel("Each rule", table(["Rule", "Kind", "#Now", "#With the draft", "#Difference"], rows,
                                   table_id="simulation-rules", empty="No purchase in the window."))
    )  # fmt: skip
