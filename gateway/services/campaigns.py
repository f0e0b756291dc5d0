"""Campaigns for the operator and partners: create (checked by loyalty/campaigns/evaluation.py),
read, list, start, pause, stop, simulate on the last N days, and the results of both arms
(loyalty/campaigns/stats.py). The accept path's side is gateway/services/campaigns_accept.py.

A campaign's funder is a partner: a partner's own campaigns are funded by it; the operator's by the
partner it names, or by the house partner (``COALITION_HOUSE_PARTNER_ID``): the coalition as a
funded participant, whose points are minted by its minter within its deposit and settled like any
partner's. Status: ``draft`` → ``running`` ⇄ ``paused`` → ``stopped`` (a draft can be stopped too;
a stopped campaign never runs again). Every change of status bumps ``version``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.errors import CampaignRefused, CampaignStatusConflict, HousePartnerMissing, NotFound
from gateway.services.campaigns_accept import compiled_of, limits_of
from gateway.services.earning import basket_of
from loyalty.campaigns.assignment import TREATMENT, arm, holdout_warning, new_salt
from loyalty.campaigns.attribution import CampaignCost, campaign_costs
from loyalty.campaigns.evaluation import CampaignInvalid, PurchaseFacts, compile_campaign, evaluate_purchase
from loyalty.campaigns.limits import Usage, allot
from loyalty.campaigns.stats import CampaignResult, Observation, analyse_observations
from network.purchases import decode_purchase
from network.store import (
    Campaign,
    CampaignAward,
    CampaignExposure,
    ChainEvent,
    CustomerWallet,
    Partner,
    Purchase,
    utcnow,
)

TRANSITIONS = {
    "start": ({"draft", "paused"}, "running"),
    "pause": ({"running"}, "paused"),
    "stop": ({"draft", "running", "paused"}, "stopped"),
}
SIMULATION_MAX_PURCHASES = 200_000


def create(
    session: Session,
    *,
    owner: str,
    funder_partner_id: int | None,
    house_partner_id: int | None,
    name: str,
    trigger: dict[str, Any],
    conditions: dict[str, Any],
    effects: list[dict[str, Any]],
    limits: dict[str, Any],
    holdout_bp: int,
    starts_at: datetime | None,
    ends_at: datetime | None,
) -> tuple[Campaign, list[str]]:
    """A new draft campaign (checked) and its warnings (a holdout of 0: nothing to measure against)."""
    funder = funder_partner_id if funder_partner_id is not None else house_partner_id
    if funder is None:
        raise HousePartnerMissing("the coalition's own campaigns need a funder: set COALITION_HOUSE_PARTNER_ID")
    if session.get(Partner, funder) is None:
        raise CampaignRefused(f"funder_partner_id: no partner {funder}", field="funder_partner_id")
    salt = new_salt()
    try:
        compile_campaign(
            id=1, version=1, funder_partner_id=funder, owner=owner, trigger_type=trigger.get("type"),
            trigger_params=trigger.get("params", {}), conditions=conditions, effects=effects, limits=limits,
            holdout_bp=holdout_bp, salt=salt, starts_at=starts_at, ends_at=ends_at,
        )  # fmt: skip
    except CampaignInvalid as exc:
        raise CampaignRefused(str(exc), field=exc.field) from None
    row = Campaign(
        name=name,
        funder_partner_id=funder,
        owner=owner,
        trigger_type=trigger["type"],
        trigger_params=trigger.get("params", {}),
        conditions=conditions,
        effects=effects,
        budget_points=limits.get("budget_points"),
        period=limits.get("period"),
        period_budget_points=limits.get("period_budget_points"),
        member_period_points=limits.get("member_period_points"),
        max_members=limits.get("max_members"),
        starts_at=starts_at,
        ends_at=ends_at,
        status="draft",
        holdout_bp=holdout_bp,
        salt=salt,
        spent_points=0,
        members_awarded=0,
        awards_count=0,
        version=1,
    )
    session.add(row)
    session.flush()
    warning = holdout_warning(holdout_bp)
    return row, [warning] if warning else []


def get(session: Session, *, campaign_id: int, partner_id: int | None = None) -> Campaign:
    """The campaign; for a partner, only one it funds (another's is a 404, like every partner read)."""
    row = session.get(Campaign, campaign_id)
    if row is None or (partner_id is not None and row.funder_partner_id != partner_id):
        raise NotFound(f"no campaign {campaign_id}")
    return row


def listed(session: Session, *, partner_id: int | None = None) -> list[Campaign]:
    query = select(Campaign).order_by(Campaign.id)
    if partner_id is not None:
        query = query.where(Campaign.funder_partner_id == partner_id)
    return list(session.scalars(query))


def transition(session: Session, *, campaign_id: int, action: str, partner_id: int | None = None) -> Campaign:
    """Starts, pauses or stops the campaign (``campaign-status-conflict`` when its status does not allow it)."""
    row = get(session, campaign_id=campaign_id, partner_id=partner_id)
    allowed, to = TRANSITIONS[action]
    if row.status not in allowed:
        raise CampaignStatusConflict(f"campaign {row.id} is {row.status}: it cannot {action}")
    now = utcnow()
    row.status = to
    row.version += 1
    if to == "running" and row.started_at is None:
        row.started_at = now
    if to == "stopped":
        row.stopped_at = now
    session.flush()
    return row


@dataclass(frozen=True)
class Simulation:
    days: int
    purchases: int  # purchases of the last N days the trigger fired on
    members: int  # distinct members exposed
    treatment_members: int
    points: int  # what the treatment arm would have been given, within the limits
    cost: int  # points x the funder's issue price (settlement token units)


def simulate(session: Session, *, campaign: Campaign, days: int, now: datetime | None = None) -> Simulation:
    """What the campaign would have done on the last ``days`` days of purchases (purchase trigger):
    exposures, members, and points within its limits (from zero usage), at the funder's issue price."""
    now = now or utcnow()
    compiled = compiled_of(campaign)
    p = Purchase.__table__
    rows = session.execute(
        select(p.c.partner_id, p.c.customer_wallet, p.c.amount, p.c.currency, p.c.purchased_at, p.c.created_at,
               p.c.lines, p.c.points, p.c.id)
        .where(p.c.created_at >= now - timedelta(days=days), p.c.created_at <= now)
        .order_by(p.c.id)
        .limit(SIMULATION_MAX_PURCHASES)
    ).all()  # fmt: skip
    wallets = {r.customer_wallet for r in rows}
    customers = dict(
        session.execute(select(CustomerWallet.address, CustomerWallet.customer_id).where(
            CustomerWallet.address.in_(wallets))).all()
    ) if wallets else {}  # fmt: skip
    firsts = set(
        session.execute(select(func.min(p.c.id)).group_by(p.c.partner_id, p.c.customer_wallet)).scalars()
    ) if compiled.conditions.first_purchase is not None else set()  # fmt: skip
    asks: list[tuple[int, int]] = []
    exposed: set[int] = set()
    fired = 0
    for r in rows:
        customer = customers.get(r.customer_wallet)
        if customer is None:
            continue
        basket = basket_of(r.amount, r.currency, r.purchased_at, r.lines, None)
        facts = PurchaseFacts(r.partner_id, customer, r.amount, r.purchased_at, basket.lines, r.points, r.id in firsts)
        at = r.created_at if r.created_at.tzinfo else r.created_at.replace(tzinfo=now.tzinfo)
        for f in evaluate_purchase([compiled], facts, at):
            fired += 1
            exposed.add(customer)
            if f.arm == TREATMENT and f.points:
                asks.append((customer, f.points))
    grants = allot(compiled.limits, Usage(), asks)
    points = sum(g.points for g in grants)
    price = session.scalar(select(Partner.issue_price).where(Partner.id == campaign.funder_partner_id)) or 0
    treated = sum(1 for c in exposed if arm(campaign.salt, c, campaign.holdout_bp) == TREATMENT)
    return Simulation(days, fired, len(exposed), treated, points, points * int(price))


def results(
    session: Session, *, campaign: Campaign, window_days: int, token_decimals: int = 6
) -> tuple[CampaignResult, datetime | None]:
    """Both arms of the campaign measured (loyalty/campaigns/stats.py) and when its window closes.

    Each exposed member counts once, from their first exposure ``t``: converted when they made a
    purchase in (t, t + window] (at the funder for a partner's campaign, anywhere for the
    coalition's own), their revenue the amounts of those purchases, the pre-period's the amounts
    in [t − window, t), their points the campaign's awards. Revenue is summed in the purchases'
    currencies as they are (one currency per coalition is assumed)."""
    window = timedelta(days=window_days)
    e = CampaignExposure
    first = session.execute(
        select(e.customer_id, e.arm, func.min(e.fired_at)).where(e.campaign_id == campaign.id)
        .group_by(e.customer_id, e.arm)
    ).all()  # fmt: skip
    members: dict[int, tuple[str, datetime]] = {}
    for customer, side, at in first:
        at = at if at.tzinfo else at.replace(tzinfo=utcnow().tzinfo)
        if customer not in members or at < members[customer][1]:
            members[customer] = (side, at)
    points = dict(
        session.execute(
            select(CampaignAward.customer_id, func.sum(CampaignAward.points))
            .where(CampaignAward.campaign_id == campaign.id)
            .group_by(CampaignAward.customer_id)
        ).all()
    )
    wallets: dict[str, int] = {}
    if members:
        wallets = dict(
            session.execute(
                select(CustomerWallet.address, CustomerWallet.customer_id).where(
                    CustomerWallet.customer_id.in_(list(members))
                )
            ).all()
        )
    bought: dict[int, list[tuple[datetime, int, Decimal]]] = defaultdict(list)
    if wallets:
        lo = min(at for _, at in members.values()) - window
        hi = max(at for _, at in members.values()) + window
        p = Purchase.__table__
        for wallet, partner_id, amount, created in session.execute(
            select(p.c.customer_wallet, p.c.partner_id, p.c.amount, p.c.created_at).where(
                p.c.customer_wallet.in_(list(wallets)), p.c.created_at >= lo, p.c.created_at <= hi
            )
        ):
            created = created if created.tzinfo else created.replace(tzinfo=lo.tzinfo)
            bought[wallets[wallet]].append((created, partner_id, Decimal(amount)))
    own = campaign.owner == "partner"
    arms: dict[str, list[Observation]] = {"control": [], "treatment": []}
    for customer, (side, at) in members.items():
        after = [(pid, a) for t, pid, a in bought[customer] if at < t <= at + window]
        before = [(pid, a) for t, pid, a in bought[customer] if at - window <= t < at]
        mine = [a for pid, a in after if not own or pid == campaign.funder_partner_id]
        pre = [a for pid, a in before if not own or pid == campaign.funder_partner_id]
        arms[side].append(
            Observation(
                converted=bool(mine),
                revenue=sum(mine, Decimal(0)),
                pre_revenue=sum(pre, Decimal(0)),
                points=int(points.get(customer, 0)),
                converted_coalition=bool(after),
            )
        )
    price = session.scalar(select(Partner.issue_price).where(Partner.id == campaign.funder_partner_id)) or 0
    result = analyse_observations(
        control=arms["control"],
        treatment=arms["treatment"],
        holdout_bp=campaign.holdout_bp,
        issue_price=int(price),
        token_decimals=token_decimals,
    )
    last = max((at for _, at in members.values()), default=None)
    return result, None if last is None else last + window


def chain_costs(
    session: Session, *, chain_id: int, from_block: int = 0, to_block: int | None = None
) -> dict[int, CampaignCost]:
    """Each campaign's awards, points and their value (points x the issue price each batch carried)
    from the indexed ``Earned`` events of the block range alone: the words whose seq is in the
    award range (loyalty/campaigns/attribution.py). ``coalition.crosscheck`` can do the same from
    ``eth_getLogs``; nothing here reads the campaigns' own tables."""
    query = select(ChainEvent.args).where(
        ChainEvent.chain_id == chain_id,
        ChainEvent.contract == "CoalitionPoints",
        ChainEvent.name == "Earned",
        ChainEvent.block_number >= from_block,
    )
    if to_block is not None:
        query = query.where(ChainEvent.block_number <= to_block)

    def words() -> Any:
        for args in session.execute(query.execution_options(yield_per=10_000)).scalars():
            for word in args["purchases"]:
                p = decode_purchase(bytes.fromhex(word[2:]))
                yield int(args["partnerId"]), int(args["issuePrice"]), p.seq, p.points

    return campaign_costs(words())


def points_by_funder(costs: dict[int, CampaignCost]) -> dict[int, tuple[int, int]]:
    """Campaign points and their value per funder: the settlement statement's campaign line."""
    out: dict[int, tuple[int, int]] = {}
    for c in costs.values():
        points, value = out.get(c.funder_partner_id, (0, 0))
        out[c.funder_partner_id] = (points + c.points, value + c.value)
    return out


def public(row: Campaign) -> dict[str, Any]:
    """The campaign as the API answers it."""
    return {
        "id": row.id,
        "name": row.name,
        "funder_partner_id": row.funder_partner_id,
        "owner": row.owner,
        "trigger": {"type": row.trigger_type, "params": row.trigger_params},
        "conditions": row.conditions,
        "effects": row.effects,
        "limits": {k: v for k, v in limits_of(row).items() if v is not None},
        "holdout_bp": row.holdout_bp,
        "starts_at": row.starts_at,
        "ends_at": row.ends_at,
        "status": row.status,
        "spent_points": row.spent_points,
        "members_awarded": row.members_awarded,
        "awards": row.awards_count,
        "created_at": row.created_at,
        "started_at": row.started_at,
        "stopped_at": row.stopped_at,
    }
