"""HTML of the dashboard's tier page: the ladder in force and its members, the recalculations,
the proposed ladder's form, and a dry-run's result with the button that applies it."""

from __future__ import annotations

from gateway.services import dashboard_format as fmt
from gateway.services.dashboard_html import alert, badge, confirm_form, e, figure, panel, table
from gateway.services.dashboard_tiers import FIELDS, TierPage
from loyalty.tier_changes import DryRun, MemberMove
from loyalty.tiers import FixedDate

WINDOWS = {"rolling_12_months": "rolling 12 months", "calendar_year": "calendar year"}
LISTED = 20


def _ladder(page: TierPage) -> str:
    if page.active is None:
        return panel("Ladder in force", '<p class="muted">No ladder yet: every member is untiered and earns ×1. '
                     "Propose one below, dry-run it, then apply it.</p>")  # fmt: skip
    v = page.active
    rows = [
        f'<tr data-tier="{e(t.name)}"><td>{e(t.name)}</td><td class="num">{e(fmt.points(t.threshold))}</td>'
        f'<td class="num">×{e(t.multiplier)}</td>'
        + figure(f"members-{t.name}", page.members.get(t.name, 0), fmt.points(page.members.get(t.name, 0)))
        + "</tr>"
        for t in v.ladder.tiers
    ]
    review = v.policy.review
    review_text = (
        f"each year on {review.month:02d}-{review.day:02d}"
        if isinstance(review, FixedDate)
        else "on each member's anniversary"
    )
    note = (
        f"version {v.id} · {WINDOWS.get(v.policy.window.value, v.policy.window.value)} · reviewed {review_text} · "
        f"{v.policy.grace.days} days of grace"
    )
    return panel("Ladder in force", table(["Tier", "#Qualifying points", "#Earn multiplier", "#Members"], rows,
                                          table_id="ladder-table"), note=e(note))  # fmt: skip


def _runs(page: TierPage, tz: str) -> str:
    rows = [
        f'<tr data-run="{r.id}"><td>{r.id}</td><td>{e(r.from_version or "–")} → {e(r.to_version)}</td>'
        f"<td>{badge(r.status)}</td><td>{e(fmt.when(r.at, tz))}</td>"
        + figure(f"run-{r.id}-done", r.members_done, f"{fmt.points(r.members_done)} of {fmt.points(page.member_count)}")
        + figure(f"run-{r.id}-up", r.moved_up, fmt.points(r.moved_up))
        + figure(f"run-{r.id}-down", r.moved_down, fmt.points(r.moved_down))
        + "</tr>"
        for r in page.runs
    ]
    return panel("Recalculations", table(["Run", "Versions", "Status", "Applied", "#Members done", "#Up", "#Down"],
                                         rows, table_id="runs-table", empty="No ladder applied yet."))  # fmt: skip


def ladder_form(*, csrf: str, values: dict[str, str], error: str | None) -> str:
    """The proposed ladder: one tier a line, window, review and grace; "Dry-run" shows what it would do."""
    window = values.get("window", "rolling_12_months")
    options = "".join(
        f'<option value="{e(k)}"{" selected" if k == window else ""}>{e(label)}</option>'
        for k, label in WINDOWS.items()
    )
    return panel(
        "Propose a ladder",
        f"{alert(error)}"
        '<p class="muted">One tier a line, from the bottom: <code>name, qualifying points, earn multiplier</code>. '
        "Qualifying points are earned on confirmed purchases net of refunds, never the balance. Members move up "
        "at once; down only at their review, one tier, after the grace days.</p>"
        '<form method="post" action="/dashboard/tiers/dry-run" class="form" id="ladder-form">'
        f'<input type="hidden" name="csrf" value="{e(csrf)}">'
        '<label for="tiers">Tiers</label>'
        '<textarea id="tiers" name="tiers" rows="6" maxlength="1200" class="mono">'
        f"{e(values.get('tiers', ''))}</textarea>"
        f'<label for="window">Window</label><select id="window" name="window">{options}</select>'
        '<label for="review">Review: <code>anniversary</code> or a date <code>MM-DD</code></label>'
        f'<input id="review" name="review" value="{e(values.get("review", "anniversary"))}" maxlength="11">'
        '<label for="grace_days">Grace (days)</label>'
        f'<input id="grace_days" name="grace_days" value="{e(values.get("grace_days", "0"))}" inputmode="numeric" '
        'maxlength="3"><button type="submit" class="button primary" id="dry-run">Dry-run</button></form>',
        panel_id="propose",
    )


def tiers_page(page: TierPage, *, csrf: str, values: dict[str, str], tz: str, notice: str | None,
               error: str | None = None) -> str:  # fmt: skip
    return (
        '<div class="page-head"><div><h1>Tiers</h1><p class="muted">one ladder for the whole coalition · '
        f"{e(fmt.points(page.member_count))} members</p></div></div>"
        + alert(notice, "ok")
        + _ladder(page)
        + ladder_form(csrf=csrf, values=values, error=error)
        + _runs(page, tz)
    )


def _moves(title: str, moves: tuple[MemberMove, ...], total: int, ident: str) -> str:
    rows = [
        f'<tr data-customer="{m.member_id}"><td>{m.member_id}</td><td>{e(m.from_tier)}</td><td>{e(m.to_tier)}</td></tr>'
        for m in moves[:LISTED]
    ]
    note = f"first {LISTED} of {fmt.points(total)}" if total > LISTED else ""
    return panel(title, table(["Customer", "From", "To"], rows, table_id=ident, empty="Nobody."), note=note)


def dry_run_page(seen: DryRun, *, csrf: str, values: dict[str, str]) -> str:
    """What the proposed ladder would do now, and the form that applies it (the same fields again)."""
    tiers = list(dict.fromkeys([*seen.before, *seen.after]))
    rows = [
        f'<tr data-tier="{e(name)}"><td>{e(name)}</td>'
        + figure(
            f"before-{name}",
            seen.before.get(name, 0),
            fmt.points(seen.before.get(name, 0)) if name in seen.before else "–",
        )
        + figure(
            f"after-{name}", seen.after.get(name, 0), fmt.points(seen.after.get(name, 0)) if name in seen.after else "–"
        )
        + "</tr>"
        for name in tiers
    ]
    apply = confirm_form(
        action="/dashboard/tiers/apply", csrf=csrf, button="Apply this ladder", cancel="/dashboard/tiers",
        hidden={k: values.get(k, "") for k in FIELDS},
    )  # fmt: skip
    return (
        '<div class="page-head"><div><h1>Dry-run</h1>'
        '<p class="muted">nothing is written until you apply</p></div></div>'
        + f'<section class="panel" id="dry-run-summary"><p data-up="{seen.up}" data-down="{seen.down}" '
        f'data-unchanged="{seen.unchanged}">{e(seen.summary())}.</p>'
        '<p class="muted">Applying puts the ladder in force at once and recalculates every member in chunks; '
        "a raised threshold is met at each member's next review, never as an immediate drop.</p>"
        f"{apply}</section>"
        + panel("Members per tier", table(["Tier", "#Now", "#With this ladder"], rows, table_id="dry-run-tiers"))
        + _moves("Would move up", seen.moving_up, seen.up, "moving-up")
        + _moves("Would move down", seen.moving_down, seen.down, "moving-down")
    )
