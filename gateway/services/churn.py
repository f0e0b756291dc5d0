"""Churn risk from the store: the members' values at a cut-off (aggregated in the database), the
training of loyalty/churn.py's model on a past cut-off and its validation on a later one, the daily
scores, and a member's explanation.

**Training** (:func:`train`, the beat's call through :func:`run`): with ``H`` = churn days and
``D`` = the start of today (UTC), the model is fitted on the members' values at ``T0 = D - 2H``
labelled by "no counted purchase in [T0, T0 + H)", and validated on the values at ``T1 = D - H``
with the labels of [T1, D): a period held out and entirely later than anything the fit saw (its
labels end where the validation's features begin). The AUC stored is the validation's. One model
per (T0, H): the key makes a second training of the same day a no-op, so the task is idempotent.

**Who is scored**: members, not erased, enrolled before the cut-off, with at least one counted
purchase before it (loyalty/rfm.py's counting: confirmed, net of refunds above zero); a member who
never bought has no score (and matches no ``churn_risk`` condition).

**Scores** (:func:`score`): the latest model applied to every member's values as of the end of
the last complete UTC day, written to ``churn_scores`` with the raw values (replaced whole in one
transaction), once per day. Stored rather than computed on each request: the segment condition
``churn_risk`` compiles to SQL, and SQLite has no ``exp``/``ln`` to compute it there; one
member's explanation is then read from their row (:func:`explain`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Any

from sqlalchemy import Select, case, delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from gateway.services import tier_ladders
from gateway.services.rfm import counted
from loyalty import churn
from network.store import ChurnModel, ChurnScore, Member, TierChangeRecord

log = logging.getLogger(__name__)
CHUNK = 5_000
TOP = 3


def day_start(d: date) -> datetime:
    return datetime.combine(d, dtime(), tzinfo=UTC)


def tier_levels(session: Session) -> dict[str, int]:
    """Each tier of the ladder in force by its level (0: the lowest threshold); empty without a ladder."""
    version = tier_ladders.active(session)
    if version is None:
        return {}
    ordered = sorted(version.ladder.tiers, key=lambda t: t.threshold)
    return {t.name: i for i, t in enumerate(ordered)}


def values_query(*, at: datetime, churn_days: int) -> Select[Any]:
    """Per member to score at ``at`` (see the module): customer id, last purchase, frequency,
    purchases in the ``churn_days`` before, net points, partners, enrolment, tier in force (or None)."""
    p = counted(end=at, partner_id=None).subquery("c")
    since = at - timedelta(days=churn_days)
    per = (
        select(
            p.c.customer_id,
            func.max(p.c.at).label("last_at"),
            func.count().label("frequency"),
            func.sum(case((p.c.at >= since, 1), else_=0)).label("recent"),
            func.sum(p.c.points).label("points"),
            func.count(func.distinct(p.c.partner_id)).label("partners"),
        )
        .group_by(p.c.customer_id)
        .subquery("a")
    )
    last_change = (
        select(TierChangeRecord.customer_id, func.max(TierChangeRecord.id).label("id"))
        .where(TierChangeRecord.at < at)
        .group_by(TierChangeRecord.customer_id)
        .subquery("lc")
    )
    tier = (
        select(TierChangeRecord.customer_id, TierChangeRecord.to_tier)
        .join(last_change, last_change.c.id == TierChangeRecord.id)
        .subquery("t")
    )
    return (
        select(
            per.c.customer_id,
            per.c.last_at,
            per.c.frequency,
            per.c.recent,
            per.c.points,
            per.c.partners,
            Member.enrolled_at,
            tier.c.to_tier,
        )
        .join(Member, Member.customer_id == per.c.customer_id)
        .outerjoin(tier, tier.c.customer_id == per.c.customer_id)
        .where(Member.erased_at.is_(None), Member.enrolled_at < at)
        .order_by(per.c.customer_id)
    )


def values_at(
    session: Session, *, at: datetime, churn_days: int, levels: dict[str, int]
) -> Iterator[tuple[int, list[float]]]:
    """(customer id, raw feature values) of every member scored at ``at``, by id."""
    rows = session.execute(values_query(at=at, churn_days=churn_days)).yield_per(CHUNK)
    for cid, last_at, frequency, recent, points, partners, enrolled_at, tier in rows:
        v = churn.Values(
            last_purchase=last_at,
            frequency=int(frequency),
            recent_purchases=int(recent or 0),
            monetary_points=int(points or 0),
            partners_visited=int(partners),
            enrolled_at=enrolled_at,
            tier_level=levels.get(tier, 0) if tier is not None else 0,
        )
        yield int(cid), churn.raw(v, at=at)


def buyers(session: Session, *, start: datetime, end: datetime) -> set[int]:
    """Customers with a counted purchase in [start, end)."""
    p = counted(end=end, partner_id=None, since=start).subquery("b")
    return {int(c) for c in session.scalars(select(p.c.customer_id).distinct())}


def labelled(
    session: Session, *, at: datetime, churn_days: int, levels: dict[str, int], stride: int = 1
) -> tuple[list[int], list[list[float]], list[int]]:
    """Ids, raw values at ``at`` and labels (1: no counted purchase in the ``churn_days`` after) of
    the members whose id is a multiple of ``stride`` (a deterministic sample; 1: all of them)."""
    ids, xs = [], []
    for cid, x in values_at(session, at=at, churn_days=churn_days, levels=levels):
        if cid % stride:
            continue
        ids.append(cid)
        xs.append(x)
    bought = buyers(session, start=at, end=at + timedelta(days=churn_days))
    return ids, xs, [0 if c in bought else 1 for c in ids]


def model_of(row: ChurnModel) -> churn.Model:
    return churn.Model(
        features=tuple(row.features),
        means=tuple(float(v) for v in row.means),
        scales=tuple(float(v) for v in row.scales),
        intercept=float(row.intercept),
        coefficients=tuple(float(v) for v in row.coefficients),
    )


def train(
    session: Session,
    *,
    today: date,
    churn_days: int,
    min_members: int = 20,
    max_members: int = 100_000,
    l2: float = 1.0,
) -> ChurnModel | None:
    """The model of cut-off ``today - 2 churn_days`` (see the module), trained and stored in the
    caller's transaction; the stored one when it exists; None when the training set has fewer than
    ``min_members`` members or lacks a class (not enough history yet). Beyond ``max_members``
    members (not erased), the training and held-out sets are the members whose id is a multiple of
    ``ceil(members / max_members)``: the fit's time and memory stay bounded (pure Python)."""
    t1 = day_start(today) - timedelta(days=churn_days)
    t0 = t1 - timedelta(days=churn_days)
    found = session.scalar(select(ChurnModel).where(ChurnModel.cutoff == t0, ChurnModel.churn_days == churn_days))
    if found is not None:
        return found
    started = time.perf_counter()
    levels = tier_levels(session)
    members = int(session.scalar(select(func.count()).where(Member.erased_at.is_(None))) or 0)
    stride = max(1, -(-members // max(1, max_members)))
    _, xs, ys = labelled(session, at=t0, churn_days=churn_days, levels=levels, stride=stride)
    if len(xs) < min_members or len(set(ys)) < 2:
        log.info("churn model: not enough history at %s (%d members, classes %s)", t0, len(xs), sorted(set(ys)))
        return None
    model = churn.fit(xs, ys, l2=l2)
    _, vx, vy = labelled(session, at=t1, churn_days=churn_days, levels=levels, stride=stride)
    auc = churn.auc([churn.risk(model, x) for x in vx], vy) if len(set(vy)) == 2 else None
    row = ChurnModel(
        cutoff=t0,
        validation_cutoff=t1,
        churn_days=churn_days,
        features=list(model.features),
        means=list(model.means),
        scales=list(model.scales),
        intercept=model.intercept,
        coefficients=list(model.coefficients),
        n_train=len(ys),
        churned_train=sum(ys),
        n_validation=len(vy),
        churned_validation=sum(vy),
        auc=auc,
        seconds=time.perf_counter() - started,
    )
    session.add(row)
    session.flush()
    return row


def latest_model(session: Session) -> ChurnModel | None:
    return session.scalar(select(ChurnModel).order_by(ChurnModel.cutoff.desc(), ChurnModel.id.desc()).limit(1))


def score(session: Session, *, model: ChurnModel, day: date) -> int:
    """Every member's risk as of the end of ``day`` under ``model``, replacing the stored scores,
    in the caller's transaction; how many members were scored."""
    at = day_start(day + timedelta(days=1))
    m = model_of(model)
    session.execute(delete(ChurnScore))
    batch: list[dict[str, Any]] = []
    n = 0
    for cid, x in values_at(session, at=at, churn_days=model.churn_days, levels=tier_levels(session)):
        batch.append({"customer_id": cid, "model_id": model.id, "day": day, "risk": churn.risk(m, x), "values": x})
        if len(batch) >= CHUNK:
            session.execute(insert(ChurnScore), batch)
            n += len(batch)
            batch = []
    if batch:
        session.execute(insert(ChurnScore), batch)
        n += len(batch)
    model.scored_day = day
    session.flush()
    return n


@dataclass(frozen=True, slots=True)
class Run:
    model_id: int | None
    trained: bool
    scored: int | None  # members scored by this run; None: nothing to score or already done


def run(
    sessions: sessionmaker[Session],
    *,
    now: Callable[[], datetime],
    churn_days: int,
    min_members: int = 20,
    max_members: int = 100_000,
    l2: float = 1.0,
) -> Run:
    """The beat's call: train today's model if missing, then score yesterday with the latest model
    if not done; each step in its own transaction, a step another run did first is skipped."""
    today = now().astimezone(UTC).date()
    trained = False
    with sessions() as session:
        before = session.scalar(select(func.count()).select_from(ChurnModel))
        try:
            train(session, today=today, churn_days=churn_days, min_members=min_members, max_members=max_members, l2=l2)
            session.commit()
            trained = session.scalar(select(func.count()).select_from(ChurnModel)) != before
        except IntegrityError:  # another run stored this cut-off's model first
            session.rollback()
    yesterday = today - timedelta(days=1)
    with sessions() as session:
        model = latest_model(session)
        if model is None or model.scored_day == yesterday:
            return Run(None if model is None else model.id, trained, None)
        try:
            n = score(session, model=model, day=yesterday)
            session.commit()
        except IntegrityError:  # another run scored at the same time
            session.rollback()
            return Run(model.id, trained, None)
        return Run(model.id, trained, n)


# ---------------------------------------------------------------------- reading


@dataclass(frozen=True, slots=True)
class Contribution:
    feature: str
    description: str
    value: float  # the raw value (after its log, where the feature has one)
    standardized: float
    coefficient: float
    contribution: float  # coefficient x standardized: its term of the log-odds


@dataclass(frozen=True, slots=True)
class MemberChurn:
    customer_id: int
    risk: float
    day: date
    model: ChurnModel
    contributions: list[Contribution]  # every feature, largest term (by size) first


def explain(session: Session, *, customer_id: int) -> MemberChurn | None:
    """The member's stored score with each feature's term; None without a score (or erased since)."""
    row = session.get(ChurnScore, customer_id)
    member = session.get(Member, customer_id)
    if row is None or member is None or member.erased_at is not None:
        return None
    model_row = session.get(ChurnModel, row.model_id)
    if model_row is None:  # pragma: no cover: scores are written with their model
        return None
    m = model_of(model_row)
    x = [float(v) for v in row.values]
    z = m.standardized(x)
    terms = churn.contributions(m, x)
    out = [
        Contribution(f, churn.DESCRIPTIONS.get(f, f), x[i], z[i], m.coefficients[i], terms[f])
        for i, f in enumerate(m.features)
    ]
    out.sort(key=lambda c: (-abs(c.contribution), c.feature))
    return MemberChurn(customer_id, float(row.risk), row.day, model_row, out)
