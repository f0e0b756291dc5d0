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

from gateway.services.expiry_view import ExpiryView
from gateway.services.history import EntryDetail
from gateway.services.points_value import Cards, Offer, Worth
from gateway.services.tiers import MemberTier
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
    "expired": "Expired",
}
RULE_KINDS = {
    "base": "Base rate",
    "multiplier": "Multiplier",
    "bonus_window": "Bonus window",
    "tier": "Tier bonus",
    "first_purchase": "First purchase",
    "cap": "Cap",
}
# the kinds of rows an erasure counts (gateway/services/gdpr.py), in the customer's words
ERASED_KINDS = {
    "customer_profiles": "your profile",
    "customer_links.ref": "your partners' references to you (now pseudonyms)",
    "member_enrolments": "your enrolment requests",
    "members.referral_codes": "your referral code (retired)",
    "customer_sessions": "your sign-in sessions",
    "wallet_challenges": "your sign-in messages",
    "sign_in_links": "your one-time sign-in links",
    "customer_consents.source": "how your consents were collected",
    "messages.address": "the addresses and contents of the messages sent to you",
    "refunds.reason": "the reasons partners wrote for your refunds",
    "copies": "copies of your references in the network's records",
}
ERASE_WORD = "erase"  # what the customer types to confirm an erasure (the API's ErasureCreate.confirm)
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


def day(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d")


def iso_of(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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
    offers: list[Offer]  # affordable now with the free points, dearest first
    cheapest_other: Offer | None  # the cheapest reward the balance does not reach yet
    entries: list[tuple[LedgerEntry, str | None]]
    details: dict[int, EntryDetail]
    partners: list[str]
    chain_id: int
    wallet_rpc_url: str | None
    logo_url: str
    tier: MemberTier | None = None  # None: no ladder in force
    promised: int = 0  # points held at a till or being spent on a reward, not burned yet
    known: bool = False  # the wallet is a customer's: there is data to download or erase
    member: bool = False  # enrolled in the program
    expiry: ExpiryView | None = None  # when the points expire (None: not read)
    consents_html: str = ""  # the consents' grid (gateway/services/consent_views.py), for a member
    recommended_html: str = ""  # rewards you may like (gateway/services/churn_views.py)
    rewards_html: str = ""  # the referral and badges panels (gateway/services/rewards_view.py), for a member
    memberships_html: str = ""  # "My plans" (gateway/services/membership_views.py), for a subscriber


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


def _tender(i: int, name: str, what: str, amount: str, currency: str | None) -> str:
    """A part of a purchase paid with points or gift cards (``amount`` as posted): it earns nothing."""
    value = Decimal(amount)
    if value == 0:
        return ""
    text = money(value, currency) if currency else f"{value:f}"
    return (
        f'<dt>{e(what)}</dt><dd data-figure="history-{i}-{name}" data-value="{e(f"{value:f}")}">'
        f'{e(text)} <span class="c-muted">· earns no points</span></dd>'
    )


def _rule_item(i: int, j: int, b: dict[str, object]) -> str:
    rule, version, kind = str(b.get("rule", "")), str(b.get("version", "")), str(b.get("kind", ""))
    pts = b.get("points")
    value = int(pts) if isinstance(pts, int | str) else 0
    return (
        f'<li data-figure="history-{i}-rule-{j}" data-value="{value}" data-rule="{e(rule)}" '
        f'data-version="{e(version)}">'
        f'<span class="c-rule-kind">{e(RULE_KINDS.get(kind, kind))}</span> <span class="mono">{e(rule)}</span> '
        f'<span class="c-muted">v{e(version)}</span> <span class="c-rule-points">{value:+,}</span></li>'
    )


def breakdown_facts(i: int, entry: LedgerEntry, detail: EntryDetail | None) -> str:
    """An earn's points, rule by rule (which rule, its version, how many points: a cap's are
    negative), the rule set's version, the lines posted, and the parts paid with points or gift
    cards (which earn nothing); a purchase earned by the partner's rate alone says so."""
    if entry.kind != "earned" or detail is None or detail.purchase_id is None:
        return ""
    rule = detail.rule or {}
    facts = []
    if detail.breakdown:
        items = "".join(_rule_item(i, j, b) for j, b in enumerate(detail.breakdown))
        facts.append(f'<dt>Points by rule</dt><dd><ul class="c-breakdown" id="breakdown-{i}">{items}</ul></dd>')
        if rule.get("ruleset_version") is not None:
            facts.append(
                f'<dt>Rule set</dt><dd data-figure="history-{i}-ruleset" data-value="{e(rule["ruleset_version"])}">'
                f"version {e(rule['ruleset_version'])}</dd>"
            )
    elif rule.get("points_per_unit") is not None:
        facts.append(
            f'<dt>Points by rule</dt><dd data-figure="history-{i}-rate" data-value="{e(rule["points_per_unit"])}">'
            f"{e(rule['points_per_unit'])} a {e(rule.get('currency') or detail.currency or '')}, the partner's rate"
            "</dd>"
        )
    if detail.lines is not None:
        n = detail.lines
        facts.append(f'<dt>Lines</dt><dd data-figure="history-{i}-lines" data-value="{n}">{n}</dd>')
    paid, currency = detail.paid_with or {}, detail.currency
    facts.append(_tender(i, "paid-points", "Paid with points", str(paid.get("points") or 0), currency))
    facts.append(_tender(i, "paid-gift-cards", "Paid with gift cards", str(paid.get("gift_cards") or 0), currency))
    return "".join(facts)


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
        f"{breakdown_facts(i, entry, detail)}"
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


def expiry_section(x: ExpiryView | None, symbol: str) -> str:
    """When the points expire (the figures of GET /v1/me/expiry): one date for the whole balance,
    since points expire by inactivity; nothing when the wallet holds no points."""
    if x is None or not x.points or not x.expires_at:
        return ""
    on = datetime.fromtimestamp(x.expires_at, UTC)
    at = on.isoformat()
    date = f'<time data-figure="expiry-date" data-value="{at}" datetime="{at}">{on:%d %B %Y}</time>'
    pts = f'<strong data-figure="expiry-points" data-value="{x.points}">{points(x.points)}</strong> {e(symbol)}'
    if x.expired_points:
        line = f"Your {pts} expired on {date}: they are burned at the next sweep."
    else:
        line = f"Your {pts} expire on {date} unless you earn, spend or move points before."
    return (
        f'<section class="c-panel" id="expiry"><p class="c-expiry">{line}</p>'
        f'<p class="c-note c-muted">Points expire after {x.window_days} days without activity, all together: '
        "there is one date for your whole balance, and any earn, spend or transfer moves it out by the whole "
        "window again.</p></section>"
    )


def tier_section(t: MemberTier | None, symbol: str) -> str:
    """The tier in force, the points to the next one, and the date and points needed to keep it
    (the figures of GET /v1/me/tier); nothing without a ladder in force."""
    if t is None:
        return ""
    p = t.progress
    sym = e(symbol)
    lines = [
        f'<p class="c-tier-name"><strong data-figure="tier" data-value="{e(p.tier)}">{e(p.tier)}</strong> '
        f'<span class="c-muted">· earns <span data-figure="tier-multiplier" data-value="{e(t.multiplier)}">'
        f"×{e(t.multiplier)}</span> the points</span></p>",
        f'<p class="c-note">Qualifying points in the window now: <strong data-figure="tier-qualifying" '
        f'data-value="{p.qualifying_points}">{points(p.qualifying_points)}</strong> {sym}</p>',
    ]
    if p.next_tier is not None and p.points_to_next is not None:
        target = p.qualifying_points + p.points_to_next
        lines.append(
            f'<progress class="c-progress" id="tier-progress" max="{target}" value="{p.qualifying_points}">'
            f"{p.qualifying_points} / {target}</progress>"
            f'<p class="c-tier-next"><strong data-figure="tier-to-next" data-value="{p.points_to_next}">'
            f"{points(p.points_to_next)}</strong> more qualifying points to "
            f'<strong data-figure="tier-next" data-value="{e(p.next_tier)}">{e(p.next_tier)}</strong></p>'
        )
    else:
        lines.append('<p class="c-tier-next" data-figure="tier-next" data-value="">The top tier.</p>')
    if p.decided_at is not None:
        review = (
            f' (reviewed on <time datetime="{iso_of(p.review_at)}" data-figure="tier-review" '
            f'data-value="{iso_of(p.review_at)}">{day(p.review_at)}</time>)'
            if p.review_at is not None
            else ""
        )
        when = (
            f'<time datetime="{iso_of(p.decided_at)}" data-figure="tier-decided" data-value="{iso_of(p.decided_at)}">'
            f"{day(p.decided_at)}</time>"
        )
        keep = (
            f'To keep {e(p.earned)}: <strong data-figure="tier-keep" data-value="{p.points_to_keep}">'
            f"{points(p.points_to_keep)}</strong> more qualifying points by {when}{review}."
            if p.points_to_keep > 0
            else f'<span data-figure="tier-keep" data-value="0"></span>{e(p.earned)} is kept at the review of '
            f"{when}{review}: you have the points."
        )
        lines.append(f'<p class="c-tier-keep" id="tier-keep">{keep}</p>')
        if p.points_leaving:
            lines.append(
                f'<p class="c-note"><span data-figure="tier-leaving" data-value="{p.points_leaving}">'
                f"{points(p.points_leaving)}</span> of today's qualifying points leave the window "
                "before the review.</p>"
            )
    else:
        lines.append('<p class="c-note" id="tier-keep">The first tier: it cannot be lost.</p>')
    if p.manual_until is not None:
        lines.append(
            f'<p class="c-note" data-figure="tier-manual-until" data-value="{iso_of(p.manual_until)}">{e(p.tier)} '
            f"was given to you until {day(p.manual_until)}; then the tier of your points ({e(p.earned)}) applies.</p>"
        )
    return (
        '<section class="c-panel" id="tier"><div class="c-panel-head"><h2>Your tier</h2>'
        '<span class="c-muted">qualifying points earned at every partner count</span></div>'
        f"{''.join(lines)}</section>"
    )


def offers_note(v: CustomerView) -> str:
    """Points promised (held at a till, or being spent on a reward) are not free to spend."""
    if v.promised <= 0:
        return ""
    free = max(0, v.balance - v.promised)
    return (
        f'<p class="c-note" id="offers-held"><span data-figure="promised" data-value="{v.promised}">'
        f"{points(v.promised)}</span> of your points are held at a till or being spent on a reward: what follows "
        f'fits in the other <span data-figure="free" data-value="{free}">{points(free)}</span>.</p>'
    )


def data_section(v: CustomerView) -> str:
    """Download everything held about the customer (GET /me/data: the JSON of GET /v1/me/data),
    erase their personal data (a wallet's session only, as the API), and join the program."""
    if not v.known:
        return (
            '<section class="c-panel" id="my-data"><div class="c-panel-head"><h2>Your data</h2></div>'
            '<p class="c-muted" id="no-data">Nothing is held about you here beyond your wallet\'s movements on the '
            "chain.</p>"
            f"{_enrol(v)}</section>"
        )
    if v.via == "wallet":
        erase = template("customer_erase.html").substitute(word=e(ERASE_WORD))
    else:
        who = e(v.custodian) if v.custodian else "your partner"
        erase = (
            '<p class="c-muted c-small" id="erase-read-only">This session, opened with a one-time link, is read-only: '
            f"to erase your personal data, ask {who} or the coalition.</p>"
        )
    return (
        '<section class="c-panel" id="my-data"><div class="c-panel-head"><h2>Your data</h2>'
        '<span class="c-muted">everything held about you, and your right to have it erased</span></div>'
        '<p><a class="c-button" id="download-data" href="/me/data" download="my-data.json">Download my data</a> '
        '<span class="c-muted c-small">as JSON: profile, consents, wallets, purchases, refunds, rewards</span></p>'
        f"{erase}{_enrol(v)}</section>"
    )


def _enrol(v: CustomerView) -> str:
    if v.member or v.via != "wallet":
        return ""
    return template("customer_enrol.html").substitute()


def erased_page(erased: dict[str, int] | None, erased_at: datetime | None) -> str:
    """After an erasure: what was erased (how many rows of each kind) and what stays."""
    rows = "".join(
        f'<li data-figure="erased-{e(kind)}" data-value="{n}">{e(ERASED_KINDS.get(kind, kind))}: {n} '
        f'<span class="c-muted c-small mono">{e(kind)}</span></li>'
        for kind, n in sorted((erased or {}).items())
    )
    done = (
        f'<p>Erased on <time datetime="{iso_of(erased_at)}" data-local>{e(utc_text(int(erased_at.timestamp())))}</time>'
        f':</p><ul class="c-erased" id="erased-counts">{rows or "<li>nothing was left to erase</li>"}</ul>'
        if erased_at is not None
        else ""
    )
    return template("customer_erased.html").substitute(done=done)


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
    if c.expired:
        transfers += (
            f'<div class="c-card"><div class="c-label">Expired</div><div class="c-value c-neg" data-figure="expired" '
            f'data-value="{c.expired}">{points(c.expired)}</div><div class="c-note">after a stretch without any '
            "activity (the ledger's rule)</div></div>"
        )
        terms += " − expired"
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
        offers_note=offers_note(v),
        recommended=v.recommended_html,
        expiry=expiry_section(v.expiry, v.token.symbol),
        tier=tier_section(v.tier, v.token.symbol) + v.rewards_html + v.memberships_html,
        my_data=v.consents_html + data_section(v),
        shown=len(v.entries),
        rows=rows,
    )
