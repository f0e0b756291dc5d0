"""Scheduled and transition triggers of campaigns (issue 20 item 6): ``birthday``, ``win_back`` and
``segment_entered``, fired by one beat task (gateway/tasks/campaigns.py) from what the store says
is due. The accept path's purchase trigger is gateway/services/campaigns_accept.py; both give
points the same way (its :func:`award`: limits under the campaign row's lock, an outbox word of the
funder at the campaign's award seq).

Every occurrence of a trigger has a reference that names it, and an exposure is unique per
(campaign, customer, reference), so an occurrence fires once whatever the number of runs:

- ``birthday``: ``birthday:<year>`` on the member's birthday (``customer_profiles.birthday``, the
  UTC day; a 29 February birthday falls on 28 February in other years);
- ``win_back`` ``{days}``: ``win_back:<day>``, the day the member's last counted purchase (at the
  funder for a partner's campaign, anywhere for the coalition's own; ``member_partner_totals``,
  brought up to date first) became ``days`` days old: one firing per lapse, a new one after the
  next purchase lapses again;
- ``segment_entered`` ``{segment}``: ``segment:<segment>:<day>`` from the ``segment.changed``
  events (gateway/services/rfm.py) read by the ``campaigns.segment_entered`` consumer
  (network/store/events.py ``consume``, a cursor): a member whose RFM segment became ``segment``
  on the snapshot of ``day`` (coalition-wide for the operator's campaigns, at the funder for a
  partner's), for transitions recorded since the campaign started.

Back-fill: each run looks at the days from ``backfill_days`` ago (not before the campaign started)
to today, so a day the beat missed is done by a later run, once; events wait behind the cursor.
Exposures are written with ``ON CONFLICT DO NOTHING`` and only those a run wrote are given points,
so two runs at once give nothing twice. Both arms are exposed (the control arm without the effect).
Points: a ``fixed`` or ``per_unit`` bonus gives its points (one unit); a ``multiplier`` needs a
purchase and gives nothing here (the exposure says so). Purchase conditions (partners, SKUs, amount,
hours) do not apply to these triggers; an ``audience`` condition (the segments' language) does: only
the members it holds for at the run are exposed (gateway/services/segments.py's compiler).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, extract, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from gateway.services import segments
from gateway.services.campaigns_accept import Ask, award, compiled_of
from loyalty.campaigns.assignment import TREATMENT, arm
from loyalty.campaigns.evaluation import CampaignInvalid, CompiledCampaign, Firing
from loyalty.segments import parse
from network.store import (
    Campaign,
    CampaignExposure,
    CustomerProfile,
    CustomerWallet,
    Member,
    MemberPartnerTotal,
)
from network.store.analytics_totals import catch_up
from network.store.events import Event, consume

CONSUMER = "campaigns.segment_entered"
SEGMENT_EVENT = "segment.changed"
SCHEDULED = ("birthday", "win_back")
EVENT_READ = 10_000  # events per consumer transaction
MAX_EVENT_READS = 50  # per run; the next run goes on
CHUNK = 2_000  # exposures per statement (7 columns: under SQLite's variable limit)


@dataclass
class TriggersRun:
    """What one run did: exposures written (both arms), treatment exposures asking for points,
    events read, funders whose outboxes have new entries (their drains to start)."""

    exposed: int = 0
    treated: int = 0  # treatment exposures that asked for points (the limits may have cut them)
    events: int = 0
    funders: set[int] = field(default_factory=set)

    def as_dict(self) -> dict[str, int]:
        return {"exposed": self.exposed, "treated": self.treated, "events": self.events, "funders": len(self.funders)}


@dataclass(frozen=True)
class _Running:
    campaign: CompiledCampaign
    started_at: datetime


def run_due(sessions: sessionmaker[Session], *, now: datetime, backfill_days: int, chain_id: int) -> TriggersRun:
    """One run of the scheduled and transition triggers (see the module doc): the birthdays and
    lapses due in the back-fill window, then the new ``segment.changed`` events."""
    done = TriggersRun()
    with sessions() as session:
        due = _running(session, SCHEDULED, now)
        if any(r.campaign.trigger_type == "win_back" for r in due):
            catch_up(session)  # the totals' last purchases up to date (its own short transaction)
            session.commit()
        for r in due:
            days = _days(r, now, backfill_days)
            if r.campaign.trigger_type == "birthday":
                occurrences = _birthdays(session, days)
            else:
                occurrences = _lapsed(session, r.campaign, days, now)
            _fire(session, r.campaign, occurrences, now, done, chain_id)
        session.commit()

    def handle(session: Session, events: list[Event]) -> None:
        _segments_entered(session, events, now, done, chain_id)

    for _ in range(MAX_EVENT_READS):  # a snapshot's many transitions: read on until caught up
        read = consume(sessions, CONSUMER, handle, wants=lambda kind, _partner: kind == SEGMENT_EVENT, limit=EVENT_READ)
        done.events += read
        if read < EVENT_READ:
            break
    return done


def _running(session: Session, types: Sequence[str], now: datetime) -> list[_Running]:
    rows = session.scalars(
        select(Campaign).where(Campaign.status == "running", Campaign.trigger_type.in_(types)).order_by(Campaign.id)
    ).all()
    out = []
    for row in rows:
        try:
            compiled = compiled_of(row)
        except CampaignInvalid:
            continue  # checked when written; a row that no longer checks fires nothing
        if compiled.in_schedule(now):
            started = _utc(row.started_at or row.created_at)
            out.append(_Running(compiled, started))
    return out


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _days(r: _Running, now: datetime, backfill_days: int) -> list[date]:
    """The UTC days a run covers for the campaign: the back-fill window, from the day it started."""
    first = max(now.date() - timedelta(days=backfill_days), r.started_at.date())
    if r.campaign.starts_at is not None:
        first = max(first, _utc(r.campaign.starts_at).date())
    return [first + timedelta(days=i) for i in range((now.date() - first).days + 1)]


def _birthdays(session: Session, days: list[date]) -> list[tuple[int, str]]:
    """(customer, ``birthday:<year>``) of the members whose birthday falls on one of ``days``."""
    year_of: dict[tuple[int, int], int] = {}
    for d in days:
        year_of[(d.month, d.day)] = d.year
        if (d.month, d.day) == (2, 28) and not _leap(d.year):
            year_of[(2, 29)] = d.year
    if not year_of:
        return []
    month, day = extract("month", CustomerProfile.birthday), extract("day", CustomerProfile.birthday)
    rows = session.execute(
        select(CustomerProfile.customer_id, month, day).where(
            CustomerProfile.birthday.is_not(None), or_(*(and_(month == m, day == d) for m, d in year_of))
        )
    ).all()
    return [(int(c), f"birthday:{year_of[(int(m), int(d))]}") for c, m, d in rows]


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _lapsed(session: Session, c: CompiledCampaign, days: list[date], now: datetime) -> list[tuple[int, str]]:
    """(customer, ``win_back:<day>``) of the members whose last counted purchase became the
    campaign's ``days`` old on one of ``days`` (and by ``now``)."""
    if not days:
        return []
    gap = timedelta(days=int(c.trigger_params["days"]))
    lo = datetime.combine(days[0], datetime.min.time(), tzinfo=UTC) - gap
    t = MemberPartnerTotal
    last = func.max(t.last_at)
    query = select(t.customer_id, last).group_by(t.customer_id).having(last >= lo, last <= now - gap)
    if c.owner == "partner":
        query = query.where(t.partner_id == c.funder_partner_id)
    rows = session.execute(query).all()
    return [(int(customer), f"win_back:{(_utc(at) + gap).date().isoformat()}") for customer, at in rows]


def _segments_entered(session: Session, events: list[Event], now: datetime, done: TriggersRun, chain_id: int) -> None:
    for r in _running(session, ("segment_entered",), now):
        c = r.campaign
        segment = c.trigger_params["segment"]
        occurrences = []
        for e in events:
            p = e.payload
            if p.get("to") != segment or p.get("from") == segment or _utc(e.created_at) < r.started_at:
                continue
            mine = e.partner_id == c.funder_partner_id if c.owner == "partner" else p.get("scope") == "coalition"
            if mine:
                occurrences.append((int(p["customer_id"]), f"segment:{segment}:{p.get('day')}"))
        _fire(session, c, occurrences, now, done, chain_id)


def scheduled_points(c: CompiledCampaign) -> int:
    """The points a scheduled firing asks for: a fixed bonus, or one unit of a per-unit one."""
    if c.bonus is None or c.bonus[0] == "multiplier":
        return 0
    return int(c.bonus[1])


def _fire(
    session: Session,
    c: CompiledCampaign,
    occurrences: Iterable[tuple[int, str]],
    now: datetime,
    done: TriggersRun,
    chain_id: int,
) -> None:
    """Exposes the customers to the campaign for each new occurrence and awards the treatment arm."""
    fresh = sorted(set(occurrences))
    if fresh and c.conditions.audience is not None:
        fresh = _in_audience(session, c.conditions.audience, fresh, now, chain_id)
    if not fresh:
        return
    erased = set(
        session.scalars(
            select(Member.customer_id).where(
                Member.customer_id.in_({customer for customer, _ in fresh}), Member.erased_at.is_not(None)
            )
        )
    )
    rows = [
        {
            "campaign_id": c.id,
            "customer_id": customer,
            "arm": arm(c.salt, customer, c.holdout_bp),
            "fired_at": now,
            "trigger_ref": ref,
            "effect_note": None,
        }
        for customer, ref in fresh
        if customer not in erased
    ]
    written: list[tuple[int, int, str]] = []
    for start in range(0, len(rows), CHUNK):
        written += _insert_new(session, rows[start : start + CHUNK])
    done.exposed += len(written)
    treated = [(exposure, customer) for exposure, customer, side in written if side == TREATMENT]
    if not treated:
        return
    points = scheduled_points(c)
    if points <= 0:
        if c.bonus is not None:
            _note(session, [e for e, _ in treated], "a multiplier needs a purchase: nothing given")
        return
    wallets = _wallets(session, {customer for _, customer in treated})
    asks: list[Ask] = [
        (exposure, wallets[customer], Firing(c.id, customer, TREATMENT, points, c.messages))
        for exposure, customer in treated
        if customer in wallets
    ]
    walletless = [e for e, customer in treated if customer not in wallets]
    if walletless:
        _note(session, walletless, "the member has no wallet")
    if asks and award(session, c, asks, now):
        done.treated += len(asks)
        done.funders.add(c.funder_partner_id)


def _in_audience(
    session: Session, audience: dict[str, Any], occurrences: list[tuple[int, str]], now: datetime, chain_id: int
) -> list[tuple[int, str]]:
    """The occurrences of the members the audience condition holds for now."""
    holds: set[int] = set()
    query = segments.compiler(session, chain_id=chain_id, now=now).members(parse(audience))
    ids = sorted({customer for customer, _ in occurrences})
    for start in range(0, len(ids), CHUNK):
        holds.update(session.scalars(query.where(Member.customer_id.in_(ids[start : start + CHUNK]))))
    return [(customer, ref) for customer, ref in occurrences if customer in holds]


def _insert_new(session: Session, rows: list[dict[str, Any]]) -> list[tuple[int, int, str]]:
    """Inserts the exposures not written before (the unique occurrence): (id, customer, arm) of those written."""
    t = CampaignExposure.__table__
    ins = pg_insert(t) if session.get_bind().dialect.name == "postgresql" else sqlite_insert(t)
    statement = ins.values(rows).on_conflict_do_nothing(index_elements=["campaign_id", "customer_id", "trigger_ref"])
    written = session.execute(statement.returning(t.c.id, t.c.customer_id, t.c.arm)).all()
    return [(int(i), int(c), str(a)) for i, c, a in written]


def _wallets(session: Session, customers: set[int]) -> dict[int, str]:
    """Each customer's first wallet (the earliest linked; the address breaks ties)."""
    out: dict[int, str] = {}
    rows = session.execute(
        select(CustomerWallet.customer_id, CustomerWallet.address)
        .where(CustomerWallet.customer_id.in_(customers))
        .order_by(CustomerWallet.customer_id, CustomerWallet.created_at, CustomerWallet.address)
    )
    for customer, address in rows:
        out.setdefault(int(customer), address)
    return out


def _note(session: Session, exposure_ids: list[int], note: str) -> None:
    t = CampaignExposure.__table__
    session.execute(update(t).where(t.c.id.in_(exposure_ids)).values(effect_note=note))
