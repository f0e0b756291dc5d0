"""Purchase-triggered campaigns in the accept path: the store's side of loyalty/campaigns/.

The purchase writer (gateway/services/purchase_writer.py) makes one call per group, after its
purchases, outbox entries and sequence numbers are written: :func:`apply_purchase_campaigns`.

1. The running ``purchase`` campaigns are read (one query: ids and versions) and compiled once per
   (id, version) (:class:`CampaignsCache`). No running campaign: nothing more is read.
2. The purchases' customers (one query, wallets → customer ids) and, only when a campaign asks,
   whether each is the member's first purchase at its partner (one query).
3. Each purchase is evaluated (loyalty/campaigns/evaluation.py): the campaigns that fire, the
   customer's arm, the points asked. Every firing is an exposure, control included
   (``campaign_exposures``, one INSERT).
4. The campaigns with points to give are locked (``SELECT … FOR NO KEY UPDATE`` in id order, after the
   writer's partner rows: one lock order everywhere) and re-read with their usage (the period's
   and the members' lines of ``campaign_spend``); loyalty/campaigns/limits.py allots; the counters
   move by one conditional UPDATE each (``spent_points + x <= budget_points`` in its WHERE, so even
   a reader that skipped the lock could not overspend), and each award is an outbox entry of the
   funder at its award ``seq`` (loyalty/campaigns/attribution.py) with its ``campaign_awards`` row.

On SQLite the writer already holds the database's write lock when it gets here (its purchases are
written), so nothing runs between the read and the write.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from threading import Lock
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from loyalty.campaigns.attribution import award_seq
from loyalty.campaigns.evaluation import (
    TREATMENT,
    CampaignInvalid,
    CompiledCampaign,
    Firing,
    PurchaseFacts,
    compile_campaign,
    evaluate_purchase,
)
from loyalty.campaigns.limits import CAMPAIGN_LINE, EVER, Usage, allot, period_start
from loyalty.lines import Line
from network.outbox import enqueue_many
from network.store import Campaign, CampaignAward, CampaignExposure, CampaignSpend, CustomerWallet, Purchase

Ask = tuple[int, str, Firing]  # (exposure id, the wallet to credit, the firing): a treatment exposure's points


@dataclass(frozen=True, slots=True)
class AcceptedPurchase:
    """A purchase the writer just accepted, as the campaigns need it."""

    partner_id: int
    purchase_id: str
    wallet: str
    amount: Decimal
    purchased_at: datetime
    lines: Sequence[Line]
    earned: int


def compiled_of(row: Campaign) -> CompiledCampaign:
    """The compiled campaign of a stored row (raises CampaignInvalid for a row that no longer checks)."""
    return compile_campaign(
        id=row.id,
        version=row.version,
        funder_partner_id=row.funder_partner_id,
        owner=row.owner,
        trigger_type=row.trigger_type,
        trigger_params=row.trigger_params,
        conditions=row.conditions,
        effects=row.effects,
        limits=limits_of(row),
        holdout_bp=row.holdout_bp,
        salt=row.salt,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
    )


def limits_of(row: Campaign) -> dict[str, Any]:
    return {
        "budget_points": row.budget_points,
        "period": row.period,
        "period_budget_points": row.period_budget_points,
        "member_period_points": row.member_period_points,
        "max_members": row.max_members,
    }


class CampaignsCache:
    """Compiled running purchase campaigns by (id, version): a version never changes once written."""

    def __init__(self, max_versions: int = 4096) -> None:
        self._compiled: dict[tuple[int, int], CompiledCampaign | None] = {}
        self._max = max_versions
        self._lock = Lock()

    def running(self, session: Session) -> list[CompiledCampaign]:
        t = Campaign.__table__
        rows = (
            session.connection()
            .execute(select(t.c.id, t.c.version).where(t.c.status == "running", t.c.trigger_type == "purchase"))
            .all()
        )
        out = []
        for campaign_id, version in rows:
            key = (campaign_id, version)
            if key not in self._compiled:
                row = session.get(Campaign, campaign_id)
                try:
                    compiled: CompiledCampaign | None = compiled_of(row) if row is not None else None
                except CampaignInvalid:
                    compiled = None  # checked when written; a row that no longer checks fires nothing
                with self._lock:
                    if len(self._compiled) >= self._max:
                        self._compiled.clear()
                    self._compiled[key] = compiled
            compiled = self._compiled[key]
            if compiled is not None:
                out.append(compiled)
        return out


def apply_purchase_campaigns(
    session: Session, *, accepted: Sequence[AcceptedPurchase], now: datetime, cache: CampaignsCache
) -> set[int]:
    """The campaigns of the accepted purchases, in the caller's transaction (see the module doc).
    Returns the funders that have new outbox entries (their drains to start)."""
    if not accepted:
        return set()
    campaigns = cache.running(session)
    if not campaigns:
        return set()
    customers = _customers(session, {p.wallet for p in accepted})
    if any(c.conditions.first_purchase is not None for c in campaigns):
        firsts = _firsts(session, accepted, now)
    else:
        firsts = set()
    by_id = {c.id: c for c in campaigns}
    fired: list[tuple[AcceptedPurchase, Firing]] = []
    for p in accepted:
        customer = customers.get(p.wallet)
        if customer is None:
            continue  # a wallet of nobody: no member to expose
        facts = PurchaseFacts(
            partner_id=p.partner_id,
            customer_id=customer,
            amount=p.amount,
            purchased_at=p.purchased_at,
            lines=p.lines,
            earned=p.earned,
            first_purchase=(p.partner_id, p.wallet, p.purchase_id) in firsts,
        )
        fired += [(p, f) for f in evaluate_purchase(campaigns, facts, now)]
    if not fired:
        return set()
    exposure_ids = _expose(session, fired, now)
    asks: dict[int, list[Ask]] = {}
    for exposure_id, (p, f) in zip(exposure_ids, fired, strict=True):
        if f.arm == TREATMENT and f.points > 0:
            asks.setdefault(f.campaign_id, []).append((exposure_id, p.wallet, f))
    funders: set[int] = set()
    for campaign_id in sorted(asks):  # one lock order: by id
        if award(session, by_id[campaign_id], asks[campaign_id], now):
            funders.add(by_id[campaign_id].funder_partner_id)
    return funders


def _customers(session: Session, wallets: set[str]) -> dict[str, int]:
    t = CustomerWallet.__table__
    rows = session.connection().execute(select(t.c.address, t.c.customer_id).where(t.c.address.in_(wallets)))
    return {address: customer for address, customer in rows}


def _firsts(session: Session, accepted: Sequence[AcceptedPurchase], now: datetime) -> set[tuple[int, str, str]]:
    """(partner, wallet, purchase_id) of the accepted purchases that are their member's first at the
    partner: no purchase before this group, and the first of the member's in it."""
    t = Purchase.__table__
    rows = session.connection().execute(
        select(t.c.partner_id, t.c.customer_wallet)
        .where(t.c.customer_wallet.in_({p.wallet for p in accepted}), t.c.created_at < now)
        .group_by(t.c.partner_id, t.c.customer_wallet)
    )
    seen = {(pid, wallet) for pid, wallet in rows}
    out = set()
    for p in accepted:
        if (p.partner_id, p.wallet) not in seen:
            seen.add((p.partner_id, p.wallet))
            out.add((p.partner_id, p.wallet, p.purchase_id))
    return out


def _expose(session: Session, fired: list[tuple[AcceptedPurchase, Firing]], now: datetime) -> list[int]:
    rows = [
        {
            "campaign_id": f.campaign_id,
            "customer_id": f.customer_id,
            "arm": f.arm,
            "fired_at": now,
            "trigger_ref": f"purchase:{p.partner_id}:{p.purchase_id}",
            "effect_note": None,
        }
        for p, f in fired
    ]
    t = CampaignExposure.__table__
    returning = insert(t).returning(t.c.id, sort_by_parameter_order=True)
    return list(session.connection().execute(returning, rows).scalars())


def award(session: Session, campaign: CompiledCampaign, asks: list[Ask], now: datetime) -> bool:
    """Allots one campaign's asks (treatment exposures already written) under its row's lock and
    writes the awards; False: none given. The accept path's and the scheduled triggers' one way to
    give points (gateway/services/campaigns_scheduled.py)."""
    t = Campaign.__table__
    row = session.connection().execute(
        select(t.c.status, t.c.spent_points, t.c.members_awarded, t.c.awards_count).where(t.c.id == campaign.id)
        .with_for_update(key_share=True)  # FOR NO KEY UPDATE: the exposures' and awards' foreign keys take KEY SHARE
    ).one()  # fmt: skip
    exposures = CampaignExposure.__table__
    if row.status != "running":  # paused or stopped since the group read it: exposed, nothing given
        _note(session, [e for e, _, _ in asks], f"the campaign is {row.status}")
        return False
    limits = campaign.limits
    start = period_start(limits.period, now, campaign.zone)
    customers = {f.customer_id for _, _, f in asks}
    s = CampaignSpend.__table__
    lines = (
        session.connection()
        .execute(
            select(s.c.customer_id, s.c.period_start, s.c.points).where(
                s.c.campaign_id == campaign.id,
                s.c.customer_id.in_(customers | {CAMPAIGN_LINE}),
                s.c.period_start.in_({start, EVER}),
            )
        )
        .all()
    )
    stored = {(c, d): points for c, d, points in lines}
    usage = Usage(
        spent=row.spent_points,
        members=row.members_awarded,
        period_spent=stored.get((CAMPAIGN_LINE, start), 0),
        member_period={c: stored.get((c, start), 0) for c in customers},
        awarded_before={c for c in customers if (c, EVER) in stored},
    )
    grants = allot(limits, usage, [(f.customer_id, f.points) for _, _, f in asks])
    given = [(a, g) for a, g in zip(asks, grants, strict=True) if g.points > 0]
    notes = [(a[0], g.note) for a, g in zip(asks, grants, strict=True) if g.note]
    if notes:
        session.connection().execute(
            update(exposures).where(exposures.c.id == bindparam("eid")).values(effect_note=bindparam("note")),
            [{"eid": e, "note": n[:200]} for e, n in notes],
        )
    if not given:
        return False
    total = sum(g.points for _, g in given)
    new_members = usage.members - row.members_awarded
    moved = session.connection().execute(
        update(t)
        .where(t.c.id == campaign.id)
        .where((t.c.budget_points.is_(None)) | (t.c.spent_points + total <= t.c.budget_points))
        .values(
            spent_points=t.c.spent_points + total,
            members_awarded=t.c.members_awarded + new_members,
            awards_count=t.c.awards_count + len(given),
        )
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        raise RuntimeError(f"campaign {campaign.id}: its budget moved under the lock")
    _spend(session, campaign.id, stored, given, start)
    seqs = [award_seq(campaign.id, row.awards_count + i + 1) for i in range(len(given))]
    outbox_ids = enqueue_many(
        session,
        [
            (campaign.funder_partner_id, seq, wallet, g.points)
            for ((_, wallet, _), g), seq in zip(given, seqs, strict=True)
        ],
        at=now,
    )
    session.connection().execute(
        insert(CampaignAward.__table__),
        [
            {
                "campaign_id": campaign.id,
                "exposure_id": exposure_id,
                "customer_id": f.customer_id,
                "wallet": wallet,
                "funder_partner_id": campaign.funder_partner_id,
                "points": g.points,
                "seq": seq,
                "outbox_id": outbox_id,
                "created_at": now,
            }
            for ((exposure_id, wallet, f), g), seq, outbox_id in zip(given, seqs, outbox_ids, strict=True)
        ],
    )
    return True


def _note(session: Session, exposure_ids: Iterable[int], note: str) -> None:
    t = CampaignExposure.__table__
    session.connection().execute(update(t).where(t.c.id.in_(list(exposure_ids))).values(effect_note=note))


def _spend(
    session: Session,
    campaign_id: int,
    stored: dict[tuple[int, Any], int],
    given: list[tuple[Ask, Any]],
    start: Any,
) -> None:
    """Adds the awards to the campaign's period line and each member's period and whole-campaign lines."""
    added: dict[tuple[int, Any], int] = {}
    for (_, _, f), g in given:
        for key in {(CAMPAIGN_LINE, start), (f.customer_id, start), (f.customer_id, EVER)}:
            added[key] = added.get(key, 0) + g.points
    s = CampaignSpend.__table__
    existing = [{"c": c, "d": d, "x": x} for (c, d), x in added.items() if (c, d) in stored]
    fresh = [
        {"campaign_id": campaign_id, "customer_id": c, "period_start": d, "points": x}
        for (c, d), x in added.items()
        if (c, d) not in stored
    ]
    connection = session.connection()
    if existing:
        connection.execute(
            update(s)
            .where(
                s.c.campaign_id == campaign_id, s.c.customer_id == bindparam("c"), s.c.period_start == bindparam("d")
            )
            .values(points=s.c.points + bindparam("x")),
            existing,
        )
    if fresh:
        connection.execute(insert(s), fresh)
