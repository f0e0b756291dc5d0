"""What the dashboard's application pages read from the store: the search of customers,
purchases and redemptions; the list of everything failed or held, with its reason; a
partner's redemptions and webhook endpoints. Read-only; bounded lists, newest first."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from eth_utils import is_hex_address, to_checksum_address
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from gateway.services.purchases import STATUS_NAMES
from gateway.services.webhooks import shown_error
from network.store import (
    CustomerLink,
    OutboxPurchase,
    OutboxReversal,
    Partner,
    Purchase,
    PurchaseStatus,
    Redemption,
    Refund,
    ReversalStatus,
    SettlementPeriod,
    WebhookDelivery,
    WebhookEndpoint,
)

SHOWN = 50
MAX_QUERY = 100


@dataclass(frozen=True)
class Issue:
    """Something failed or held: what, whose, since when, and why (in the system's words)."""

    kind: str  # purchase | redemption | refund | webhook | settlement
    status: str  # held | failed
    partner_id: int | None
    ident: str  # the partner's id for it (purchase_id, redemption_id, refund_id, event id, period)
    reason: str
    since: datetime | None
    link: str | None = None


@dataclass
class Found:
    query: str
    customers: list[dict[str, object]] = field(default_factory=list)  # wallet, refs [(partner id, ref)]
    purchases: list[tuple[Purchase, str, str | None]] = field(default_factory=list)  # purchase, status, reason
    redemptions: list[Redemption] = field(default_factory=list)


def partner_names(session: Session) -> dict[int, str]:
    return {int(pid): name for pid, name in session.execute(select(Partner.id, Partner.name))}


def _like(q: str) -> str:
    return q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def search(session: Session, query: str, *, limit: int = SHOWN) -> Found:
    """Customers (by wallet or by a partner's customer ref), purchases (by purchase id or
    customer) and redemptions (by redemption id, voucher code, customer or on-chain ref)."""
    q = query.strip()[:MAX_QUERY]
    found = Found(query=q)
    if not q:
        return found
    wallet = to_checksum_address(q) if is_hex_address(q) else None
    like = _like(q)
    links = session.execute(
        select(CustomerLink.wallet, CustomerLink.partner_id, CustomerLink.ref)
        .where(or_(CustomerLink.ref.like(like, escape="\\"), CustomerLink.wallet == (wallet or q)))
        .limit(limit)
    ).all()
    wallets: dict[str, list[tuple[int, str]]] = {}
    for w, pid, ref in links:
        wallets.setdefault(w, []).append((int(pid), ref))
    purchase_query = (
        select(Purchase, OutboxPurchase.status, OutboxPurchase.error)
        .join(OutboxPurchase, OutboxPurchase.id == Purchase.outbox_id)
        .where(
            or_(
                Purchase.purchase_id.like(like, escape="\\"),
                Purchase.customer_ref.like(like, escape="\\"),
                Purchase.customer_wallet == (wallet or q),
            )
        )
        .order_by(Purchase.id.desc())
        .limit(limit)
    )
    for p, status, error in session.execute(purchase_query):
        name = STATUS_NAMES[status]
        found.purchases.append((p, name, error if name in ("held", "failed") else None))
        if p.customer_wallet == wallet or (p.customer_ref and p.customer_ref.startswith(q)):
            refs = wallets.setdefault(p.customer_wallet, [])
            if p.customer_ref and (p.partner_id, p.customer_ref) not in refs:
                refs.append((p.partner_id, p.customer_ref))
    found.redemptions = list(
        session.scalars(
            select(Redemption)
            .where(
                or_(
                    Redemption.redemption_id.like(like, escape="\\"),
                    Redemption.voucher_code == q,
                    Redemption.customer_wallet == (wallet or q),
                    Redemption.ref == q.lower(),
                )
            )
            .order_by(Redemption.id.desc())
            .limit(limit)
        )
    )
    if wallet is not None:
        wallets.setdefault(wallet, [])
    found.customers = [{"wallet": w, "refs": refs} for w, refs in sorted(wallets.items())]
    session.commit()
    return found


def issues(session: Session, *, limit: int = SHOWN) -> list[Issue]:
    """Everything held or failed, each kind newest first: purchases held for headroom or
    failed, redemptions and refunds that failed, webhook deliveries given up, failed periods."""
    out: list[Issue] = []
    rows = session.execute(
        select(Purchase.purchase_id, Purchase.partner_id, OutboxPurchase.status, OutboxPurchase.error,
               OutboxPurchase.held_at, OutboxPurchase.updated_at)
        .join(OutboxPurchase, OutboxPurchase.id == Purchase.outbox_id)
        .where(OutboxPurchase.status.in_((PurchaseStatus.HELD, PurchaseStatus.FAILED)))
        .order_by(OutboxPurchase.id.desc())
        .limit(limit)
    )  # fmt: skip
    for purchase_id, pid, status, error, held_at, updated_at in rows:
        held = status == PurchaseStatus.HELD
        out.append(
            Issue("purchase", "held" if held else "failed", pid, purchase_id, error or "no reason recorded",
                  held_at if held else updated_at, f"/dashboard/search?q={purchase_id}")
        )  # fmt: skip
    for r in session.scalars(
        select(Redemption).where(Redemption.status == "failed").order_by(Redemption.id.desc()).limit(limit)
    ):
        out.append(
            Issue("redemption", "failed", r.partner_id, r.redemption_id, r.failure_reason or "no reason recorded",
                  r.updated_at, f"/dashboard/search?q={r.redemption_id}")
        )  # fmt: skip
    refunds = session.execute(
        select(Refund.refund_id, Refund.partner_id, OutboxReversal.error, OutboxReversal.updated_at)
        .join(OutboxReversal, OutboxReversal.id == Refund.reversal_id)
        .where(OutboxReversal.status == ReversalStatus.FAILED)
        .order_by(Refund.id.desc())
        .limit(limit)
    )
    for refund_id, pid, error, at in refunds:
        out.append(Issue("refund", "failed", pid, refund_id, error or "no reason recorded", at))
    for d in session.scalars(
        select(WebhookDelivery)
        .where(WebhookDelivery.status == "failed")
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    ):
        code = f" {d.last_status_code}" if d.last_status_code else ""
        reason = f"{d.event_type}: {shown_error(d) or 'unknown'}{code} after {d.attempts} attempt(s)"
        out.append(Issue("webhook", "failed", d.partner_id, d.event_id, reason, d.updated_at))
    for s in session.scalars(
        select(SettlementPeriod).where(SettlementPeriod.status == "failed").order_by(SettlementPeriod.period_id.desc())
    ):
        out.append(
            Issue("settlement", "failed", None, f"period {s.period_id}", s.error or "no reason recorded", s.updated_at,
                  f"/dashboard/settlements/{s.period_id}")
        )  # fmt: skip
    session.commit()
    return out


def redemptions_of(session: Session, partner_id: int, *, limit: int = 20) -> list[Redemption]:
    return list(
        session.scalars(
            select(Redemption).where(Redemption.partner_id == partner_id).order_by(Redemption.id.desc()).limit(limit)
        )
    )


def endpoints_of(session: Session, partner_id: int) -> list[WebhookEndpoint]:
    return list(
        session.scalars(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.partner_id == partner_id, WebhookEndpoint.status == "active")
            .order_by(WebhookEndpoint.id)
        )
    )


def held_and_failed(session: Session, partner_id: int) -> tuple[int, int]:
    """How many of the partner's purchases are held (waiting for headroom) and failed."""
    rows = dict(
        session.execute(
            select(OutboxPurchase.status, func.count())
            .where(
                OutboxPurchase.partner_id == partner_id,
                OutboxPurchase.status.in_((PurchaseStatus.HELD, PurchaseStatus.FAILED)),
            )
            .group_by(OutboxPurchase.status)
        ).all()
    )
    return int(rows.get(PurchaseStatus.HELD, 0)), int(rows.get(PurchaseStatus.FAILED, 0))


def why_flagged(flags: list[str]) -> str:
    words = []
    if "no headroom" in flags:
        words.append("no headroom: nothing more can be issued until a deposit, a settlement or a higher limit")
    if any(f.endswith("held") for f in flags):
        words.append("purchases wait for headroom (minted once it returns, failed after the held timeout)")
    if any(f.endswith("failed") for f in flags):
        words.append("purchases failed: see their reasons below")
    return "; ".join(words)
