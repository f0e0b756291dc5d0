"""HTML of the customer page (``/me``), its sign-in and its one-time-link page: ``string.Template``
files in gateway/templates (customer*.html) filled with values escaped here. Every value a test
or a person checks carries its raw number in ``data-value`` next to the formatted text.

Times are written in UTC inside ``<time datetime>``; wallet.js rewrites them in the browser's
time zone and names the zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from html import escape
from pathlib import Path
from string import Template
from urllib.parse import quote, urlsplit

from gateway.services.history import EntryDetail
from gateway.services.points_value import Cards, Offer, Worth
from network.store import LedgerEntry

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
LOGO_PATH = "/static/points-logo.svg"
OFFERS_SHOWN = 12
KIND_LABELS = {
    "earned": "Earned",
    "redeemed": "Reward",
    "reversed": "Refund",
    "restored": "Given back",
    "sent": "Sent",
    "received": "Received",
}
# ISO 4217 minor units that are not 2 (the rest of the world's currencies have cents)
MINOR_UNITS = {"JPY": 0, "KRW": 0, "CLP": 0, "ISK": 0, "VND": 0, "BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "TND": 3}
# chain id -> (name, native currency symbol) for wallet_addEthereumChain
CHAINS = {
    31337: ("Anvil (local)", "ETH"),
    42220: ("Celo", "CELO"),
    44787: ("Celo Alfajores", "CELO"),
    11142220: ("Celo Sepolia", "CELO"),
}


@cache
def template(name: str) -> Template:
    return Template((TEMPLATES / name).read_text())


def e(value: object) -> str:
    return escape(str(value), quote=True)


def points(value: int) -> str:
    return f"{value:,}"


def money(amount: Decimal, currency: str) -> str:
    """``Decimal("1234.5"), "EUR"`` is ``1,234.50 EUR``: the currency's own decimals."""
    places = MINOR_UNITS.get(currency.upper(), 2)
    rounded = amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return f"{rounded:,.{places}f} {currency}"


def token_amount(base_units: int, decimals: int) -> str:
    """Token base units with two decimals (rounded half up): ``1284000, 6`` is ``1.28``."""
    value = Decimal(base_units).scaleb(-decimals).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"{value:,.2f}"


def rate(base_units: int, decimals: int) -> str:
    """A per-point rate with every significant decimal: ``8000, 6`` is ``0.008``."""
    text = f"{Decimal(base_units).scaleb(-decimals):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_text(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def layout(*, brand: str, chain_id: int, title: str, content: str) -> str:
    return template("customer_layout.html").substitute(
        title=e(title),
        brand=e(brand),
        chain_id=e(chain_id),
        content=content,
        rendered=e(utc_text(int(datetime.now(UTC).timestamp()))),
    )


def signin_page(page_url: str) -> str:
    """The wallet sign-in; without a wallet in the browser, links that open this page in a phone
    wallet's own browser (which has one)."""
    parts = urlsplit(page_url)
    return template("customer_signin.html").substitute(
        page_host_path=e(parts.netloc + parts.path), page_url_encoded=e(quote(page_url, safe=""))
    )


def link_page(session_minutes: int) -> str:
    return template("customer_link.html").substitute(minutes=e(session_minutes))


@dataclass(frozen=True)
class TokenView:
    address: str
    symbol: str
    decimals: int


@dataclass(frozen=True)
class CustomerView:
    """Everything the customer page shows."""

    wallet: str
    via: str  # wallet | link
    custodian: str | None  # the partner that holds the wallet, for a link session
    balance: int
    cards: Cards
    token: TokenView
    settlement_symbol: str
    settlement_decimals: int
    worth: Worth | None
    worth_rates: dict[str, int]
    offers: list[Offer]  # affordable now, dearest first
    cheapest_other: Offer | None  # the cheapest reward the balance does not reach yet
    entries: list[tuple[LedgerEntry, str | None]]
    details: dict[int, EntryDetail]
    partners: list[str]
    chain_id: int
    wallet_rpc_url: str | None
    logo_url: str


def _describe(entry: LedgerEntry, detail: EntryDetail | None, i: int) -> str:
    """What happened, in the customer's terms; each fact also as a data-figure."""

    def fact(name: str, value: object, text: str) -> str:
        return f'<span data-figure="history-{i}-{name}" data-value="{e(value)}">{e(text)}</span>'

    if entry.kind in ("sent", "received"):
        other = entry.ref or ""
        word = "to" if entry.kind == "sent" else "from"
        return f'{word} <span class="mono c-addr" title="{e(other)}">{e(other[:8])}…{e(other[-4:])}</span>'
    if detail is None:
        return ""
    if entry.kind == "redeemed":
        parts = [fact("reward", detail.reward, f"{detail.reward} ×{detail.quantity}")]
        if detail.voucher_code:
            parts.append("voucher " + fact("voucher", detail.voucher_code, detail.voucher_code))
        elif detail.redemption_status:
            parts.append(f"voucher on its way ({e(detail.redemption_status)})")
        return " · ".join(parts)
    parts = []
    if detail.purchase_id:
        label = "purchase" if entry.kind == "earned" else "of purchase"
        parts.append(f"{label} " + fact("purchase", detail.purchase_id, detail.purchase_id))
    if detail.amount is not None and detail.currency:
        parts.append(fact("amount", f"{detail.amount} {detail.currency}", money(detail.amount, detail.currency)))
    return " · ".join(parts)


def _row(i: int, entry: LedgerEntry, name: str | None, detail: EntryDetail | None) -> str:
    sign = "c-pos" if entry.points > 0 else "c-neg"
    label = KIND_LABELS.get(entry.kind, entry.kind)
    what = _describe(entry, detail, i)
    return (
        f'<tr data-kind="{e(entry.kind)}">'
        f'<td class="c-when"><time datetime="{iso(entry.block_time)}" data-local>'
        f"{e(utc_text(entry.block_time))}</time></td>"
        f'<td class="c-what"><span class="c-kind {sign}">{e(label)}</span> <span class="c-desc">{what}</span></td>'
        f'<td class="c-partner" data-figure="history-{i}-partner" data-value="{e(name or "")}">{e(name or "—")}</td>'
        f'<td class="c-num c-points {sign}" data-figure="history-{i}" data-value="{e(entry.points)}">'
        f"{e(f'{entry.points:+,}')}</td>"
        f'<td class="c-more"><details><summary>Details</summary><dl class="c-facts">'
        f"<dt>Block</dt><dd>{e(entry.block_number)}</dd>"
        f'<dt>Transaction</dt><dd class="mono c-hash">{e(entry.tx_hash)}</dd>'
        f"<dt>UTC</dt><dd>{e(utc_text(entry.block_time))}</dd>"
        "</dl></details></td></tr>"
    )


def _worth(v: CustomerView) -> str:
    d, sym = v.settlement_decimals, v.settlement_symbol
    rule = (
        "What your points are worth: a point you spend at a partner is paid to that partner by the coalition "
        "at its reimbursement rate; your balance times the lowest and the highest rate of the partners with "
        "a reward to spend it on."
    )
    if v.worth is None:
        return (
            '<p class="c-worth c-muted" data-figure="worth" data-value="">No reward to value your points against '
            f'yet. <span class="c-small">{e(rule)}</span></p>'
        )
    w = v.worth
    low = f'<span data-figure="worth-low" data-value="{w.low}">{e(token_amount(w.low, d))}</span>'
    high = f'<span data-figure="worth-high" data-value="{w.high}">{e(token_amount(w.high, d))}</span>'
    amount = low if w.low == w.high else f"{low}–{high}"
    rates = (
        f"{e(rate(v.worth_rates[w.low_partner], d))} {e(sym)} a point at {e(w.low_partner)}"
        if w.low == w.high
        else f"from {e(rate(v.worth_rates[w.low_partner], d))} {e(sym)} a point at {e(w.low_partner)} "
        f"to {e(rate(v.worth_rates[w.high_partner], d))} at {e(w.high_partner)}"
    )
    return (
        f'<p class="c-worth" id="worth">Worth <strong>{amount} {e(sym)}</strong></p>'
        f'<p class="c-note c-rule" id="worth-rule">{e(rule)} Now: {rates}.</p>'
    )


def _watch(v: CustomerView) -> str:
    if v.via == "link":
        return ""  # a custodial customer has no wallet of their own to add the token to
    chain_name, native = CHAINS.get(v.chain_id, (f"Chain {v.chain_id}", "ETH"))
    t = v.token
    return (
        f'<button type="button" class="c-button c-primary" id="watch-asset" data-address="{e(t.address)}" '
        f'data-symbol="{e(t.symbol)}" data-decimals="{e(t.decimals)}" data-image="{e(v.logo_url)}" '
        f'data-chain-id="{e(v.chain_id)}" data-chain-name="{e(chain_name)}" data-native-symbol="{e(native)}" '
        f'data-rpc-url="{e(v.wallet_rpc_url or "")}">Add {e(t.symbol)} to my wallet</button>'
        '<p class="c-muted c-small" id="watch-status" role="status"></p>'
    )


def _offers(v: CustomerView) -> str:
    sym = e(v.token.symbol)
    if not v.offers:
        nxt = v.cheapest_other
        more = (
            f" The nearest: {e(nxt.name)} at {e(nxt.partner)}, {e(points(nxt.points))} {sym}."
            if nxt is not None
            else ""
        )
        return f'<p class="c-muted" data-figure="offers-count" data-value="0">Nothing yet.{more}</p>'
    items = "".join(
        f'<li data-figure="offer-{i}" data-value="{o.points}"><span class="c-offer-name">{e(o.name)}</span>'
        f'<span class="c-muted">{e(o.partner)}</span>'
        f'<span class="c-offer-points">{e(points(o.points))} {sym}</span></li>'
        for i, o in enumerate(v.offers[:OFFERS_SHOWN])
    )
    more = len(v.offers) - OFFERS_SHOWN
    tail = f'<p class="c-muted c-small">and {more} more</p>' if more > 0 else ""
    return f'<ul class="c-offers" data-figure="offers-count" data-value="{len(v.offers)}">{items}</ul>{tail}'


def _session_note(v: CustomerView) -> str:
    if v.via != "link":
        return ""
    who = f" from {e(v.custodian)}" if v.custodian else ""
    return (
        f'<p class="c-badge" id="session-via" data-via="link">Opened with a one-time link{who}: '
        "read-only, nothing can be spent here</p>"
    )


def _pending_note(v: CustomerView) -> str:
    pending = v.cards.pending(v.balance)
    if pending == 0:
        return ""
    return (
        f'<p class="c-alert" id="pending" data-figure="pending" data-value="{pending}">'
        f"{e(f'{pending:+,}')} points are on the chain and not in your history yet: it catches up within seconds."
        "</p>"
    )


def customer_page(v: CustomerView) -> str:
    c = v.cards
    rows = "".join(_row(i, en, name, v.details.get(en.id)) for i, (en, name) in enumerate(v.entries)) or (
        '<tr><td colspan="5" class="c-muted">No movement yet.</td></tr>'
    )
    transfers = ""
    terms = "earned − spent − refunded"
    if c.received or c.sent:
        transfers = (
            f'<div class="c-card"><div class="c-label">Received</div><div class="c-value c-pos" data-figure="received" '
            f'data-value="{c.received}">{points(c.received)}</div><div class="c-note">from other wallets</div></div>'
            f'<div class="c-card"><div class="c-label">Sent</div><div class="c-value c-neg" data-figure="sent" '
            f'data-value="{c.sent}">{points(c.sent)}</div><div class="c-note">to other wallets</div></div>'
        )
        terms += " + received − sent"
    return template("customer.html").substitute(
        wallet=e(v.wallet),
        session_note=_session_note(v),
        pending_note=_pending_note(v),
        balance_raw=v.balance,
        balance=points(v.balance),
        symbol=e(v.token.symbol),
        partners=e(", ".join(v.partners) or "every partner of the coalition"),
        worth=_worth(v),
        watch=_watch(v),
        earned_raw=c.earned,
        earned=points(c.earned),
        spent_raw=c.spent,
        spent=points(c.spent),
        refunded_raw=c.refunded,
        refunded=points(c.refunded),
        transfer_cards=transfers,
        sum_text=e(terms),
        ledger_balance_raw=c.ledger_balance,
        ledger_balance=points(c.ledger_balance),
        offers=_offers(v),
        shown=len(v.entries),
        rows=rows,
    )
