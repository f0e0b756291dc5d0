"""HTML of the dashboard's member pages: the search and the list, the CSV import's form and its
report, one customer's page with its buttons (data as JSON, erase), and the erasure's
confirmation."""

from __future__ import annotations

from urllib.parse import urlencode

from gateway.services import dashboard_format as fmt
from gateway.services.churn_views import churn_panel
from gateway.services.dashboard_html import alert, badge, confirm_form, e, figure, panel, table
from gateway.services.dashboard_members import MemberList, MemberPage, MemberRow
from gateway.services.member_import import ImportReport
from gateway.services.members import ConsentView

ACTIVE = "/dashboard/members"
REFUSED_SHOWN = 200


def _partner(names: dict[int, str], pid: int | None) -> str:
    if pid is None:
        return '<span class="muted">coalition</span>'
    return f'<a href="/dashboard/partners/{pid}">{e(names.get(pid, f"#{pid}"))}</a>'


def _refs(row: MemberRow, names: dict[int, str]) -> str:
    if not row.refs:
        return '<span class="muted">none (enrolled on /me)</span>'
    return "<br>".join(f'{_partner(names, pid)}: <span class="mono small">{e(ref)}</span>' for pid, ref in row.refs)


def _members(n: int) -> str:
    return f"{fmt.points(n)} member{'' if n == 1 else 's'}"


def _search_form(found: MemberList) -> str:
    options = '<option value="">any partner</option>' + "".join(
        f'<option value="{pid}"{" selected" if pid == found.partner_id else ""}>{e(name)}</option>'
        for pid, name in found.partners.items()
    )
    return (
        '<form method="get" action="/dashboard/members" class="range" role="search" id="member-search">'
        f'<input type="search" name="q" value="{e(found.query)}" id="member-q" maxlength="100" '
        'placeholder="partner ref, email or wallet" aria-label="Find a member">'
        f'<select name="partner" id="member-partner" aria-label="Partner of the ref">{options}</select>'
        '<button type="submit" class="button primary">Find</button></form>'
    )


def import_form(*, csrf: str, partners: dict[int, str], error: str | None = None) -> str:
    """A partner's customers from a CSV file (the partner import's columns); dry-run checks only."""
    options = "".join(f'<option value="{pid}">{e(name)}</option>' for pid, name in partners.items())
    return panel(
        "Import a partner's customers (CSV)",
        f"{alert(error)}"
        '<p class="muted">The columns of the partner API\'s import: <code>ref</code> (required), email, phone, '
        "birthday, locale, time_zone, attributes, referred_by_code, consent_email, consent_sms, consent_push. "
        "Every row is checked; the valid ones are enrolled all together, each refused one is reported.</p>"
        '<form method="post" action="/dashboard/members/imports/customers" enctype="multipart/form-data" '
        f'class="form" id="import-form"><input type="hidden" name="csrf" value="{e(csrf)}">'
        f'<label for="import-partner">Partner</label><select id="import-partner" name="partner_id">{options}</select>'
        '<label for="import-file">CSV file</label>'
        '<input type="file" id="import-file" name="file" accept=".csv,text/csv">'
        '<label><input type="checkbox" name="dry_run" value="yes" id="import-dry-run"> Check only (dry run)</label>'
        '<button type="submit" class="button primary" id="import-submit">Import</button></form>',
        panel_id="import",
    )


def members_page(found: MemberList, *, csrf: str, tz: str, error: str | None = None) -> str:
    """The search, the list (a page of members, or what the search found), the export and import."""
    rows = [
        f'<tr data-customer="{r.customer_id}"><td><a href="/dashboard/members/{r.customer_id}">{r.customer_id}</a></td>'
        f"<td>{_refs(r, found.partners)}</td><td>{e(r.tier or '–')}</td>"
        f"<td>{e(fmt.when(r.enrolled_at, tz) if r.enrolled_at else 'not enrolled')}</td>"
        f"<td>{badge('failed', 'erased') if r.erased else ''}</td></tr>"
        for r in found.rows
    ]
    if found.query:
        title, note = "Found", f"{len(found.rows)} customer(s) by {found.found_by} “{found.query}”"
        more = '<p><a href="/dashboard/members">All members</a></p>'
    else:
        title, note = "Members", f"{_members(found.total)}, by enrolment"
        more = (
            f'<p><a class="button" id="next-page" href="/dashboard/members?{urlencode({"after": found.next_after})}">'
            "Next page</a></p>"
            if found.next_after is not None
            else ""
        )
    export = (
        '<a class="button" id="export-csv" href="/dashboard/members/export.csv" download>Export all members (CSV)</a>'
    )
    return (
        '<div class="page-head"><div><h1>Members</h1>'
        + figure("member-total", found.total, _members(found.total), "p", "muted")
        + f'</div><div class="actions">{export}</div></div>'
        + alert(error)
        + panel("Find a member", _search_form(found))
        + panel(title, table(["Customer", "Partner refs", "Tier", "Enrolled", "Erased"], rows, table_id="members-table",
                             empty="Nobody."), note=e(note))
        + more
        + import_form(csrf=csrf, partners=found.partners)
    )  # fmt: skip


def import_page(report: ImportReport, *, partner: str) -> str:
    """The import's report: counts, then every refused row (line, ref, field, reason)."""
    refused = [
        f'<tr data-line="{r.line}"><td class="num">{r.line}</td><td class="mono small">{e(r.ref or "")}</td>'
        f'<td>{e(r.field or "")}</td><td class="small reason">{e(r.reason)}</td></tr>'
        for r in report.refused[:REFUSED_SHOWN]
    ]
    more = f"first {REFUSED_SHOWN} of {len(report.refused)}" if len(report.refused) > REFUSED_SHOWN else ""
    head = "Import checked (dry run: nothing written)" if report.dry_run else "Import done"
    return (
        f'<div class="page-head"><div><h1>{e(head)}</h1><p class="muted">{e(partner)}</p></div></div>'
        '<section class="panel" id="import-report"><dl class="facts">'
        + "<dt>Rows</dt>" + figure("import-rows", report.rows, fmt.points(report.rows), "dd", "")
        + "<dt>Enrolled</dt>" + figure("import-enrolled", report.enrolled, fmt.points(report.enrolled), "dd", "")
        + "<dt>Unchanged</dt>" + figure("import-unchanged", report.unchanged, fmt.points(report.unchanged), "dd", "")
        + "<dt>Refused</dt>" + figure("import-refused", len(report.refused), fmt.points(len(report.refused)), "dd", "")
        + '</dl><p><a class="button" href="/dashboard/members">Back to the members</a></p></section>'
        + panel("Refused rows", table(["#Line", "Ref", "Field", "Reason"], refused, table_id="refused-rows",
                                      empty="None: every row was valid."), note=e(more))
    )  # fmt: skip


def _profile(m: MemberPage, tz: str) -> str:
    """The member's facts and the profile's fields, in one list (only the facts once erased)."""
    member, p = m.member, m.profile
    facts = (
        f"<dt>Enrolled</dt><dd>{e(fmt.when(member.enrolled_at, tz))}</dd>"
        f'<dt>Referral code</dt><dd class="mono">{e(member.referral_code or "–")}</dd>'
        f'<dt>Referred by</dt><dd class="mono">{e(member.referred_by_code or "–")}</dd>'
        if member is not None
        else "<dt>Enrolled</dt><dd>never (a customer by their wallet)</dd>"
    )
    if p is None:
        gone = "Erased: nothing personal is held any more." if m.erased else "No profile."
        return (
            f'<dl class="facts">{facts}</dl><p class="muted" id="profile-{"erased" if m.erased else "none"}">{gone}</p>'
        )
    fields = [("Email", p.email), ("Phone", p.phone), ("Birthday", p.birthday), ("Locale", p.locale),
              ("Time zone", p.time_zone), ("Attributes", p.attributes or None)]  # fmt: skip
    return (
        f'<dl class="facts" id="profile">{facts}'
        + "".join(f'<dt>{e(k)}</dt><dd data-field="{e(k.lower())}">{e("–" if v is None else v)}</dd>'
                  for k, v in fields)
        + f"<dt>Updated</dt><dd>{e(fmt.when(p.updated_at, tz))}</dd></dl>"
    )  # fmt: skip


def _consents(m: MemberPage, tz: str) -> str:
    def row(c: ConsentView, i: int) -> str:
        return (
            f'<tr data-consent="{i}"><td>{e(c.channel)}</td><td>{_partner(m.partners, c.partner_id)}</td>'
            f"<td>{badge('active' if c.granted else 'failed', 'given' if c.granted else 'withdrawn')}</td>"
            f"<td>{e(c.source)}</td><td>{e(fmt.when(c.recorded_at, tz))}</td></tr>"
        )

    headers = ["Channel", "Scope", "Consent", "Source", "Recorded"]
    return table(headers, [row(c, i) for i, c in enumerate(m.consents_in_force)], table_id="consents-table",
                 empty="No consent recorded.") + (
        '<details><summary>History (every change, oldest first)</summary>'
        + table(headers, [row(c, i) for i, c in enumerate(m.consent_history)], table_id="consent-history",
                empty="No change.")
        + "</details>"
    )  # fmt: skip


def _tier(m: MemberPage, tz: str) -> str:
    if m.tier is None:
        return '<p class="muted">No tier ladder is in force.</p>'
    p = m.tier.progress
    facts = [
        "<dt>Tier</dt>" + figure("member-tier", p.tier, f"{p.tier} (×{m.tier.multiplier})", "dd", ""),
        "<dt>Qualifying points</dt>" + figure("member-qualifying", p.qualifying_points,
                                              fmt.points(p.qualifying_points), "dd", ""),
        "<dt>Next tier</dt><dd>"
        + e(f"{p.next_tier}: {fmt.points(p.points_to_next)} points to go" if p.next_tier else "at the top")
        + "</dd>",
    ]  # fmt: skip
    if p.decided_at is not None:
        facts.append(f"<dt>To keep {e(p.earned)}</dt><dd>{e(fmt.points(p.points_to_keep))} more points by "
                     f"{e(fmt.when(p.decided_at, tz))}</dd>")  # fmt: skip
    if p.manual_until is not None:
        facts.append(f"<dt>Set by hand</dt><dd>until {e(fmt.when(p.manual_until, tz))}</dd>")
    return '<dl class="facts" id="tier">' + "".join(facts) + "</dl>"


def _purchases(m: MemberPage, tz: str) -> str:
    rows = []
    for seen in m.purchases:
        p = seen.purchase
        parts = "; ".join(f"{b['rule']} v{b['version']} ({b['kind']}): {b['points']}" for b in p.breakdown or [])
        rows.append(
            f'<tr data-purchase="{e(p.purchase_id)}"><td class="mono small">{e(p.purchase_id)}</td>'
            f"<td>{_partner(m.partners, p.partner_id)}</td><td>{e(fmt.when(p.purchased_at, tz))}</td>"
            f'<td class="num">{e(fmt.fiat(p.amount, p.currency))}</td>'
            + figure(f"purchase-{p.purchase_id}-points", p.points, fmt.points(p.points))
            + f"<td>{badge(seen.status)}</td>"
            f'<td class="small breakdown">{e(parts or "the partner’s rate")}</td></tr>'
        )
    return table(["Purchase", "Partner", "Purchased", "#Amount", "#Points", "Status", "Breakdown"], rows,
                 table_id="member-purchases", empty="No purchase.")  # fmt: skip


def member_page(m: MemberPage, *, tz: str, notice: str | None = None) -> str:
    """A customer's page: who, consents, wallets, tier, purchases, erasures, and the buttons."""
    state = (
        badge("failed", "erased")
        if m.erased
        else badge("active", "member")
        if m.member is not None
        else badge("pending", "not enrolled")
    )
    buttons = (
        f'<a class="button" id="download-data" href="/dashboard/members/{m.customer_id}/data.json" download>'
        "Download data (JSON)</a>"
    )
    if not m.erased:
        buttons += f' <a class="button danger" id="erase" href="/dashboard/members/{m.customer_id}/erase">Erase…</a>'
    refs = [
        f'<tr data-partner="{link.partner_id}"><td>{_partner(m.partners, link.partner_id)}</td>'
        f'<td class="mono small">{e(link.ref)}</td><td class="mono small wrap">{e(link.wallet)}</td></tr>'
        for link in m.links
    ]
    wallets = [
        f'<tr data-wallet="{e(w)}"><td class="mono small wrap">{e(w)}</td><td>{"custodial" if c else "own"}</td></tr>'
        for w, c in m.wallets
    ]
    erasures = [
        f'<tr data-erasure="{x.id}"><td>{e(fmt.when(x.erased_at, tz))}</td><td>{e(x.requested_by)}</td>'
        f'<td class="small">{e(", ".join(f"{k}: {v}" for k, v in sorted(x.erased.items())))}</td></tr>'
        for x in m.erasures
    ]
    return (
        f'<div class="page-head"><div><h1>Customer {m.customer_id} <span id="member-state" '
        f'data-erased="{"yes" if m.erased else "no"}">{state}</span></h1>'
        f'<p class="muted">a customer since {e(fmt.when(m.created_at, tz))}</p></div>'
        f'<div class="actions">{buttons}</div></div>'
        + alert(notice, "ok")
        + panel("Profile", _profile(m, tz), panel_id="member-profile")
        + panel("Consents in force", _consents(m, tz), panel_id="member-consents")
        + panel("Partners' refs", table(["Partner", "Ref", "Wallet"], refs, table_id="member-refs", empty="None."))
        + panel("Wallets", table(["Address", "Key"], wallets, table_id="member-wallets", empty="None."))
        + panel("Tier", _tier(m, tz), panel_id="member-tier-panel")
        + panel("Churn risk", churn_panel(m.churn), panel_id="member-churn",
                note=e("the features that drive the score, largest first"))
        + panel("Recent purchases", _purchases(m, tz), note=e("with each rule's points"))
        + panel("Erasures", table(["Erased", "Asked by", "Rows changed"], erasures, table_id="member-erasures",
                                  empty="Never erased."))
    )  # fmt: skip


def erase_confirm(m: MemberPage, *, csrf: str) -> str:
    """The erasure's confirmation: what goes, what stays, irreversible."""
    refs = ", ".join(f"{m.partners.get(link.partner_id, link.partner_id)}: {link.ref}" for link in m.links) or "none"
    return (
        '<div class="page-head"><div><h1>Erase customer '
        f"{m.customer_id}?</h1></div></div>"
        '<section class="panel" id="confirm"><p><strong>This cannot be undone.</strong> '
        "The profile, the enrolment requests, sessions and sign-in links are deleted; every partner's ref "
        "becomes a random pseudonym; consents keep their dates with their source erased; the referral code "
        "is retired.</p><p>The ledger stays: wallets, points, purchases' amounts and every settlement figure.</p>"
        f'<p class="muted">Refs: {e(refs)}</p>'
        + confirm_form(action=f"/dashboard/members/{m.customer_id}/erase", csrf=csrf,
                       button=f"Erase customer {m.customer_id}", cancel=f"/dashboard/members/{m.customer_id}",
                       danger=True)
        + "</section>"
    )  # fmt: skip
