"""The operator dashboard's building blocks: the navigation, the page frame, tables, badges and
the confirmation form. A new page adds one line to ``NAV`` and renders its content with these
(see gateway/routes/dashboard_pages.py). Every value is escaped here; every figure a test or a
person checks carries its raw value in ``data-value`` next to the formatted text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from html import escape

from gateway.services import dashboard_format as fmt
from gateway.services.dashboard_views import template

# (label, path): the operator's navigation, in order; a page is "active" under its path
NAV: list[tuple[str, str]] = [
    ("Overview", "/dashboard"),
    ("Partners", "/dashboard/partners"),
    ("Issues", "/dashboard/issues"),
    ("Settlements", "/dashboard/settlements"),
    ("Members", "/dashboard/members"),
    ("Rules", "/dashboard/rules"),
    ("Tiers", "/dashboard/tiers"),
    ("Messages", "/dashboard/messages"),
    ("Campaigns", "/dashboard/campaigns"),
    ("Analytics", "/dashboard/analytics"),
    ("Search", "/dashboard/search"),
]
STATUS_BADGES = {
    "active": "ok",
    "settled": "ok",
    "confirmed": "ok",
    "delivered": "ok",
    "fulfilled": "ok",
    "suspended": "warn",
    "held": "warn",
    "pending": "info",
    "accepted": "info",
    "submitted": "info",
    "computing": "info",
    "burning": "info",
    "burned": "info",
    "failed": "bad",
    "sent": "ok",  # messages (network/store/messages.py)
    "queued": "info",
    "sending": "info",
    "bounced": "bad",
    "suppressed": "warn",
    "running": "ok",  # campaigns (network/store/campaigns.py)
    "paused": "warn",
    "stopped": "bad",
    "positive": "ok",  # a campaign's verdict
    "negative": "bad",
}


def e(value: object) -> str:
    return escape(str(value), quote=True)


def badge(status: str, text: str | None = None) -> str:
    kind = STATUS_BADGES.get(status, "info")
    return f'<span class="badge {kind}">{e(text or status)}</span>'


def figure(name: str, raw: object, shown: str, tag: str = "td", cls: str = "num") -> str:
    raw_text = "" if raw is None else raw
    return f'<{tag} class="{cls}" data-figure="{e(name)}" data-value="{e(raw_text)}">{e(shown)}</{tag}>'


def money_cell(name: str, value: int | None, decimals: int, symbol: str, *, net: bool = False, tag: str = "td") -> str:
    """An amount of the settlement token; ``net`` adds its sign and colour."""
    cls = f"num {fmt.tone(value)}".strip() if net else "num"
    return figure(name, value, fmt.units(value, decimals, symbol, sign=net), tag=tag, cls=cls)


def customer_cell(wallet: str, ref: str | None) -> str:
    """A customer: the partner's ref if it has one, else the wallet shortened (whole on hover)."""
    return f'<td class="mono small" title="{e(wallet)}">{e(ref or fmt.short_address(wallet))}</td>'


def link(href: str | None, text: str) -> str:
    return f'<a href="{e(href)}">{e(text)}</a>' if href else e(text)


def alert(text: str | None, kind: str = "bad") -> str:
    return f'<div class="alert {kind}" role="{"alert" if kind == "bad" else "status"}">{e(text)}</div>' if text else ""


def table(headers: Sequence[str], rows: Iterable[str], *, table_id: str = "", empty: str = "Nothing yet.") -> str:
    """A table that scrolls inside its panel on a narrow screen; a header starting with ``#``
    is right-aligned (a number), the ``#`` dropped."""
    body = "".join(rows)
    ths = "".join(f'<th class="num">{e(h[1:])}</th>' if h.startswith("#") else f"<th>{e(h)}</th>" for h in headers)
    if not body:
        body = f'<tr><td colspan="{len(headers)}" class="muted">{e(empty)}</td></tr>'
    ident = f' id="{e(table_id)}"' if table_id else ""
    return (
        f'<div class="table-wrap"><table class="table"{ident}><thead><tr>{ths}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def panel(title: str, content: str, note: str = "", panel_id: str = "") -> str:
    ident = f' id="{e(panel_id)}"' if panel_id else ""
    note_html = f'<span class="muted small">{note}</span>' if note else ""
    return (
        f'<section class="panel"{ident}><div class="panel-head"><h2>{e(title)}</h2>{note_html}</div>{content}</section>'
    )


def nav(active: str, csrf: str) -> str:
    """The navigation links (the current one marked), the search box and Sign out."""
    links = "".join(
        f'<a href="{e(path)}"{" class=active aria-current=page" if path == active else ""}>{e(label)}</a>'
        for label, path in NAV
    )
    return (
        f"{links}"
        '<form method="get" action="/dashboard/search" class="nav-search" role="search">'
        '<input type="search" name="q" placeholder="Search" aria-label="Search customers, purchases, redemptions" '
        'maxlength="100"></form>'
        '<form method="post" action="/dashboard/logout" class="inline">'
        f'<input type="hidden" name="csrf" value="{e(csrf)}">'
        '<button class="link" type="submit">Sign out</button></form>'
    )


def frame(
    *, title: str, brand: str, active: str, csrf: str, content: str, chain_id: int, tz: str, scripts: str = ""
) -> str:
    """A whole operator page: the layout, the navigation, the content, the time zone stated."""
    return template("layout.html").substitute(
        title=e(title),
        brand=e(brand),
        area="Operator",
        home="/dashboard",
        nav=nav(active, csrf),
        content=content,
        chain_id=e(chain_id),
        rendered=e(f"{fmt.when(datetime.now(UTC), tz)} · times in {tz}"),
        scripts=scripts,
    )


def confirm_form(
    *, action: str, csrf: str, button: str, cancel: str, hidden: dict[str, str] | None = None, danger: bool = False
) -> str:
    """The confirmation step of an operator action: a POST with the session's CSRF token."""
    fields = "".join(f'<input type="hidden" name="{e(k)}" value="{e(v)}">' for k, v in (hidden or {}).items())
    cls = "button danger" if danger else "button primary"
    return (
        f'<form method="post" action="{e(action)}" class="confirm">'
        f'<input type="hidden" name="csrf" value="{e(csrf)}"><input type="hidden" name="confirmed" value="yes">{fields}'
        f'<button type="submit" class="{cls}" id="confirm-action">{e(button)}</button> '
        f'<a class="button" href="{e(cancel)}">Cancel</a></form>'
    )
