"""HTML of the consent pages that work without signing in (the confirmation of an email address,
one-click unsubscribe) and of the consents' grid on ``/me``: plain forms that POST to the same
URL (no script needed), values escaped here, inside the customer page's layout."""

from __future__ import annotations

from gateway.services.consent_grid import CHANNEL_WORDS, GridCell, GridRow, me_text
from gateway.services.consents import PendingConfirmation, Unsubscription
from gateway.services.customer_views import e

ONE_CLICK = '<input type="hidden" name="List-Unsubscribe" value="One-Click">'


def _sender(partner_name: str | None) -> str:
    return partner_name or "the coalition"


def _mask(address: str | None) -> str:
    if not address or "@" not in address:
        return "your address"
    local, domain = address.split("@", 1)
    return f"{local[:1]}…@{domain}"


def confirm_page(p: PendingConfirmation, action: str) -> str:
    shown = (
        f'<blockquote class="c-note" id="text-shown">{e(p.text_shown)}</blockquote>'
        if p.text_shown
        else '<p class="c-muted c-small" id="text-shown">(the words shown were not recorded)</p>'
    )
    return (
        '<section class="c-panel" id="confirm"><h1>Confirm your email address</h1>'
        f"<p>You agreed that <strong>{e(_sender(p.partner_name))}</strong> may email "
        f'<strong class="mono" id="address">{e(_mask(p.address))}</strong>. You were shown:</p>{shown}'
        f'<form method="post" action="{e(action)}"><button class="c-button c-primary" type="submit" '
        'id="confirm-submit">Yes, confirm my address</button></form>'
        '<p class="c-muted c-small">Nothing is confirmed until you press the button. You can unsubscribe from '
        "any message, or change your choices on your page (/me).</p></section>"
    )


def confirmed_page(p: PendingConfirmation) -> str:
    return (
        '<section class="c-panel" id="confirmed"><h1>Thank you: your address is confirmed</h1>'
        f"<p>{e(_sender(p.partner_name))} may now email {e(_mask(p.address))}. Every message has a link to "
        "unsubscribe at once.</p></section>"
    )


def unsubscribe_page(u: Unsubscription, action: str) -> str:
    what = CHANNEL_WORDS.get(u.channel, u.channel)
    sender = _sender(u.partner_name)
    if u.whole_channel_withdrawn:
        return (
            '<section class="c-panel" id="unsubscribe"><h1>You are unsubscribed</h1>'
            f'<p id="state" data-state="whole">You receive no {e(what)} from anyone in the coalition.</p></section>'
        )
    own = (
        f'<p id="state" data-state="withdrawn">You receive no more {e(what)} from {e(sender)}.</p>'
        if u.withdrawn
        else f'<p id="state" data-state="subscribed">Stop {e(what)} from <strong>{e(sender)}</strong>?</p>'
        f'<form method="post" action="{e(action)}">{ONE_CLICK}<button class="c-button c-primary" type="submit" '
        f'id="unsubscribe-submit">Unsubscribe from {e(sender)}</button></form>'
    )
    whole = (
        f'<form method="post" action="{e(action)}">{ONE_CLICK}<input type="hidden" name="scope" value="coalition">'
        f'<button class="c-button" type="submit" id="unsubscribe-all">Stop all {e(what)} from every partner of '
        "the coalition</button></form>"
    )
    return (
        f'<section class="c-panel" id="unsubscribe"><h1>Unsubscribe</h1>{own}{whole}'
        '<p class="c-muted c-small">Messages about what you did yourself (a reward ready, a refund) still come '
        "unless you stop the whole channel. Your choices are also on your page (/me).</p></section>"
    )


def unsubscribed_page(u: Unsubscription, whole_channel: bool) -> str:
    what = CHANNEL_WORDS.get(u.channel, u.channel)
    whom = "anyone in the coalition" if whole_channel else _sender(u.partner_name)
    return (
        '<section class="c-panel" id="unsubscribed"><h1>You are unsubscribed</h1>'
        f'<p id="state" data-state="{"whole" if whole_channel else "withdrawn"}">You will receive no more '
        f"{e(what)} from {e(whom)}.</p></section>"
    )


# --- /me: the consents' grid


STATE_WORDS = {
    "granted": "yes",
    "pending": "yes, once you confirm the email we sent",
    "withdrawn": "no",
    "unset": "not asked",
}


def _cell(row: GridRow, c: GridCell, writable: bool) -> str:
    key = f"{'coalition' if c.partner_id is None else c.partner_id}-{c.channel}"
    checked = " checked" if c.state in ("granted", "pending") else ""
    disabled = "" if writable else " disabled"
    title = e(me_text(None if row.partner_id is None else row.name, c.channel))
    shown = (
        f'<details class="c-small"><summary>words shown</summary><span class="c-muted">{e(c.text_shown)}</span>'
        f"{f' ({e(c.source)})' if c.source else ''}</details>"
        if c.text_shown
        else ""
    )
    return (
        f'<td data-consent="{e(key)}" data-state="{e(c.state)}"><label title="{title}">'
        f'<input type="checkbox" class="c-consent" data-channel="{e(c.channel)}" '
        f'data-partner="{"" if c.partner_id is None else c.partner_id}"{checked}{disabled}> '
        f"{e(STATE_WORDS[c.state])}</label>{shown}</td>"
    )


def consent_section(rows: list[GridRow], *, writable: bool) -> str:
    """The grid: the coalition and each partner the customer has a ref with, by channel."""
    head = "".join(f"<th>{e(CHANNEL_WORDS[ch].capitalize())}</th>" for ch in CHANNEL_WORDS)
    body = "".join(
        f'<tr><th scope="row">{e(r.name)}</th>{"".join(_cell(r, c, writable) for c in r.cells)}</tr>' for r in rows
    )
    note = (
        "Tick to allow, untick to stop. An email you allow is confirmed by a link we send you first."
        if writable
        else "This session, opened with a one-time link, is read-only: sign in with your wallet to change them."
    )
    return (
        '<section class="c-panel" id="consents"><div class="c-panel-head"><h2>Messages you allow</h2>'
        '<span class="c-muted">per partner and per channel; stopping a channel for the coalition stops it for '
        f'everyone</span></div><table class="c-history" id="consent-grid"><thead><tr><th>From</th>{head}</tr>'
        f'</thead><tbody>{body}</tbody></table><p class="c-muted c-small">{e(note)}</p>'
        '<p class="c-muted c-small" id="consent-status" role="status"></p></section>'
    )
