"""The partner's rewards catalogue, and the stock that redemptions reserve and release.

Stock is reserved with one conditional UPDATE (``stock >= quantity``) in the transaction that
stores the redemption, so concurrent redemptions can never take more than is left, and is given
back in the transaction that marks a redemption failed.
"""

from __future__ import annotations

from sqlalchemy import case, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.errors import NotFound, OutOfStock, RewardUnavailable, SkuExists
from gateway.schemas_redemptions import RewardCreate, RewardUpdate
from network.store import Partner, Redemption, Reward


def create_reward(session: Session, *, partner: Partner, body: RewardCreate) -> Reward:
    reward = Reward(
        partner_id=partner.id, sku=body.sku, name=body.name, points=body.points, stock=body.stock, active=body.active
    )
    session.add(reward)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise SkuExists(f"a reward with sku {body.sku!r} exists already; change it with PATCH") from None
    session.refresh(reward)
    return reward


def list_rewards(session: Session, *, partner: Partner) -> list[Reward]:
    return list(session.scalars(select(Reward).where(Reward.partner_id == partner.id).order_by(Reward.sku)))


def find_reward(session: Session, *, partner_id: int, sku: str) -> Reward | None:
    return session.scalar(select(Reward).where(Reward.partner_id == partner_id, Reward.sku == sku))


def get_reward(session: Session, *, partner: Partner, sku: str) -> Reward:
    reward = find_reward(session, partner_id=partner.id, sku=sku)
    if reward is None:
        raise NotFound(f"no reward {sku!r} in this partner's catalogue")
    return reward


def update_reward(session: Session, *, partner: Partner, sku: str, body: RewardUpdate) -> Reward:
    """Sets the fields sent (``stock`` replaces the units left; null means unlimited)."""
    reward = get_reward(session, partner=partner, sku=sku)
    changes = body.model_dump(exclude_unset=True)
    if changes.get("name") is None:
        changes.pop("name", None)
    if changes.get("active") is None:
        changes.pop("active", None)
    if changes:
        session.execute(
            update(Reward).where(Reward.id == reward.id).values(**changes).execution_options(synchronize_session=False)
        )
        session.commit()
    session.refresh(reward)
    return reward


def reserve_stock(session: Session, reward: Reward, quantity: int) -> bool:
    """Takes ``quantity`` units in the caller's transaction, or raises OutOfStock /
    RewardUnavailable. Returns whether a finite stock was decremented (False: unlimited)."""
    row = session.execute(
        update(Reward)
        .where(
            Reward.id == reward.id,
            Reward.active.is_(True),
            or_(Reward.stock.is_(None), Reward.stock >= quantity),
        )
        .values(stock=case((Reward.stock.is_(None), None), else_=Reward.stock - quantity))
        .returning(Reward.stock)
        .execution_options(synchronize_session=False)
    ).first()
    if row is not None:
        return row[0] is not None
    current = session.execute(select(Reward.active, Reward.stock).where(Reward.id == reward.id)).one()
    if not current.active:
        raise RewardUnavailable(f"reward {reward.sku!r} is not active")
    raise OutOfStock(f"reward {reward.sku!r} has {current.stock} left; {quantity} asked")


def release_stock(session: Session, redemption: Redemption) -> None:
    """Gives the units of a failed redemption back, in the caller's transaction."""
    if redemption.stock_reserved:
        session.execute(
            update(Reward)
            .where(Reward.id == redemption.reward_id, Reward.stock.is_not(None))
            .values(stock=Reward.stock + redemption.quantity)
            .execution_options(synchronize_session=False)
        )
