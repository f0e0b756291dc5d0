"""Rewards a customer may like, from what other members redeemed (loyalty/recommendations.py's
item-to-item co-occurrence), counted in the database.

A member's *basket* is the set of catalogue rewards their wallets redeemed (a redemption of a reward,
not failed: accepted, burning, burned or fulfilled; a till's points payment has no reward). Erased
customers' redemptions are never read: those of a member with ``erased_at`` set or of a customer
with a row in ``customer_erasures`` (gateway/services/gdpr.py's marks) are left out of every count.
The customer is offered active rewards of active partners, in stock, that they have not redeemed.
Computed on each request: two grouped queries, the pairs of the rewards the customer took and the
counts of those and of the rewards paired with them (not yet a table kept up to date).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from loyalty.recommendations import recommend
from network.store import CustomerErasure, CustomerWallet, Member, Partner, Redemption, Reward

FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Recommended:
    reward_id: int
    partner_id: int
    partner: str
    sku: str
    name: str
    points: int
    score: float
    because: list[str]  # the names of the rewards the customer redeemed that brought it


def baskets() -> Any:
    """(customer_id, reward_id): each member's distinct rewards redeemed, erased customers left out."""
    erased = select(CustomerErasure.customer_id)
    return (
        select(CustomerWallet.customer_id.label("c"), Redemption.reward_id.label("r"))
        .join(CustomerWallet, CustomerWallet.address == Redemption.customer_wallet)
        .outerjoin(Member, Member.customer_id == CustomerWallet.customer_id)
        .where(
            Redemption.reward_id.is_not(None),
            Redemption.status != FAILED,
            Member.erased_at.is_(None),
            CustomerWallet.customer_id.not_in(erased),
        )
        .distinct()
        .subquery("ui")
    )


def redeemed_by(session: Session, *, wallets: list[str]) -> set[int]:
    """The rewards these wallets redeemed (not failed)."""
    if not wallets:
        return set()
    rows = session.scalars(
        select(Redemption.reward_id)
        .where(Redemption.customer_wallet.in_(wallets), Redemption.reward_id.is_not(None), Redemption.status != FAILED)
        .distinct()
    )
    return {int(r) for r in rows}


def for_wallet(session: Session, *, wallet: str, k: int) -> list[Recommended]:
    """Up to ``k`` rewards for the customer of ``wallet`` (every wallet of theirs), best first."""
    owner = session.scalar(select(CustomerWallet.customer_id).where(CustomerWallet.address == wallet))
    wallets = [wallet]
    if owner is not None:
        wallets = list(session.scalars(select(CustomerWallet.address).where(CustomerWallet.customer_id == owner)))
    mine = redeemed_by(session, wallets=wallets)
    if not mine or k <= 0:
        return []
    ui = baskets()
    a, b = ui.alias("a"), ui.alias("b")
    co = {
        (int(x), int(y)): int(c)
        for x, y, c in session.execute(
            select(a.c.r, b.c.r, func.count())
            .join(b, and_(b.c.c == a.c.c, b.c.r != a.c.r))
            .where(a.c.r.in_(mine))
            .group_by(a.c.r, b.c.r)
        )
    }
    if not co:
        return []
    needed = mine | {y for _, y in co}
    n = {
        int(r): int(c)
        for r, c in session.execute(select(ui.c.r, func.count()).where(ui.c.r.in_(needed)).group_by(ui.c.r))
    }
    offered_rows = session.execute(
        select(Reward, Partner.name)
        .join(Partner, Partner.id == Reward.partner_id)
        .where(Reward.active.is_(True), Partner.status == "active", or_(Reward.stock.is_(None), Reward.stock > 0))
    )
    offered = {int(r.id): (r, name) for r, name in offered_rows}
    names = dict(session.execute(select(Reward.id, Reward.name).where(Reward.id.in_(mine))).tuples().all())
    out = []
    for s in recommend(mine, n, co, k=k, offered=set(offered)):
        r, partner = offered[s.reward_id]
        because = [str(names.get(x, x)) for x in s.because]
        out.append(Recommended(r.id, r.partner_id, partner, r.sku, r.name, int(r.points), s.score, because))
    return out
