"""HTML of the dashboard's mailbox (what the embedded SMTP server received): the list, newest first,
and one mail with its headers, its plain text and its HTML. The HTML is shown in an iframe with
``srcdoc`` and an empty ``sandbox`` (no scripts, no forms, no same origin, no popups), escaped into
the attribute like any other value."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from gateway.services import dashboard_format as fmt
from gateway.services.dashboard_html import e, figure, panel, table
from gateway.services.dashboard_messages_view import BASE, head
from gateway.services.mailbox import MailList, MailRow, MailSeen

MAILBOX = f"{BASE}/mailbox"


def mail_url(key: str) -> str:
    return f"{MAILBOX}/{quote(key, safe='')}"


def _log_link(row: MailRow) -> str:
    return f'<a href="{BASE}/{row.message_id}">{row.message_id}</a>' if row.message_id is not None else ""


def mailbox_page(found: MailList, *, tz: str) -> str:
    """The list, or why there is none: the folder the embedded SMTP server would write to."""
    if not found.exists:
        return head("Mailbox", "what the embedded SMTP server received", MAILBOX) + panel(
            "No mailbox",
            f'<p id="no-mailbox">No mailbox at <code>{e(found.path)}</code>. The embedded SMTP server of '
            "<code>make demo</code> and <code>coalition up</code> keeps what it receives there (a Maildir); "
            "elsewhere mail goes to the SMTP server of the settings and is not kept here. "
            "<code>COALITION_MAILBOX_DIR</code> names another folder.</p>",
        )
    rows = [
        f'<tr data-mail="{e(r.key)}"><td>{e(fmt.when(r.at, tz, seconds=True))}</td><td>{e(r.to)}</td>'
        f'<td><a href="{e(mail_url(r.key))}">{e(r.subject or "(no subject)")}</a></td><td>{e(r.language)}</td>'
        f"<td>{e(r.kind)}</td><td>{_log_link(r)}</td></tr>"
        for r in found.rows
    ]
    more = (
        f'<p><a class="button" id="next-page" href="{MAILBOX}?{urlencode({"start": found.next_start})}">'
        "Older mail</a></p>"
        if found.next_start is not None
        else ""
    )
    note = f"{fmt.points(found.total)} mail(s) in {found.path}"
    return (
        head("Mailbox", "what the embedded SMTP server received, newest first", MAILBOX)
        + panel(
            "Received",
            table(
                ["Date", "To", "Subject", "Language", "Kind", "Message"],
                rows,
                table_id="mailbox-table",
                empty="No mail received yet.",
            ),
            note=figure("mailbox-total", found.total, note, "span", "muted small"),
        )
        + more
    )


def mail_page(seen: MailSeen, *, tz: str) -> str:
    """One mail: its headers (List-Unsubscribe and the rest, in order), the plain text, the HTML sandboxed."""
    r = seen.row
    headers = [
        f'<tr data-header="{e(k.lower())}"><td class="mono small">{e(k)}</td><td class="mono small wrap">{e(v)}</td>'
        "</tr>"
        for k, v in seen.headers
    ]
    text = (
        f'<pre class="mail-text" id="mail-text">{e(seen.text)}</pre>'
        if seen.text is not None
        else ('<p class="muted">No plain text part.</p>')
    )
    html = (
        f'<iframe class="mail-frame" id="mail-html" sandbox="" referrerpolicy="no-referrer" '
        f'title="The mail as HTML (sandboxed: no scripts)" srcdoc="{e(seen.html)}"></iframe>'
        if seen.html is not None
        else '<p class="muted">No HTML part.</p>'
    )
    facts = [
        ("To", e(r.to)),
        ("Subject", e(r.subject)),
        ("Language", e(r.language or "–")),
        ("Kind", e(r.kind or "–")),
        ("Date", e(fmt.when(r.at, tz, seconds=True))),
        ("Message", _log_link(r) or "–"),
    ]
    dl = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)
    return (
        head(r.subject or "(no subject)", f"to {r.to}", "")
        + f'<p><a href="{MAILBOX}">← Mailbox</a></p>'
        + f'<section class="panel" id="mail-facts" data-kind="{e(r.kind)}" data-language="{e(r.language)}">'
        f'<dl class="facts">{dl}</dl></section>'
        + panel("HTML", html, note="shown sandboxed: scripts, forms and remote images do not run or load")
        + panel("Plain text", text)
        + panel("Headers", table(["Header", "Value"], headers, table_id="mail-headers"))
    )
