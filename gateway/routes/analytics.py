"""Analytics over HTTP: a partner reads the KPIs and the RFM segments of its own data; the operator
reads them coalition-wide or for any partner. The figures: gateway/services/analytics.py and rfm.py
(computed in the database; the RFM segments from the last daily snapshot)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError
from sqlalchemy.orm import Session

from gateway.deps import CurrentPartner, OperatorDep, SessionDep, SettingsDep
from gateway.errors import NotFound
from gateway.problems import problem_responses
from gateway.schemas import Ident
from gateway.schemas_analytics import (
    CohortPublic,
    FlowPublic,
    KpisPublic,
    MemberRfmPublic,
    RfmPublic,
    SharedPublic,
    TierMovePublic,
)
from gateway.services import analytics, rfm
from loyalty.rfm import SCORE_RULE, SEGMENT_RULE, SEGMENTS
from network.store import COALITION

partner = APIRouter(prefix="/v1/analytics", tags=["analytics"], responses=problem_responses("rate-limited"))
operator = APIRouter(prefix="/v1/operator/analytics", tags=["operator"], responses=problem_responses("rate-limited"))

FROM = Query(
    alias="from", max_length=10, description="YYYY-MM-DD, the period's first UTC day; default: 29 days before `to`",
    examples=["2026-11-01"],
)  # fmt: skip
TO = Query(
    alias="to", max_length=10, description="YYYY-MM-DD, its last day; default: yesterday", examples=["2026-11-30"]
)
PARTNER = Query(ge=1, lt=2**32, description="a partner's figures; left out: the coalition's", examples=[1])
KPI_PROBLEMS = problem_responses("unauthorized", "validation-error")
RFM_PROBLEMS = problem_responses("unauthorized", "not-found", "validation-error")


def _kpis(
    session: Session, *, chain_id: int, churn_days: int, start: str | None, end: str | None, partner_id: int | None
) -> KpisPublic:
    try:
        lo, hi = analytics.parse_period(start, end, today=datetime.now(UTC).date())
    except analytics.PeriodError as exc:
        session.commit()
        raise RequestValidationError([{"loc": ("query", "from"), "msg": str(exc), "type": "value_error"}]) from exc
    k = analytics.kpis(session, start=lo, end=hi, chain_id=chain_id, churn_days=churn_days, partner_id=partner_id)
    session.commit()
    return KpisPublic(
        start=k.start.isoformat(),
        end=k.end.isoformat(),
        partner_id=k.partner_id,
        churn_days=k.churn_days,
        members_enrolled=k.members_enrolled,
        members_new=k.members_new,
        active_30d=k.active_30d,
        active_90d=k.active_90d,
        purchases=k.purchases,
        buyers=k.buyers,
        repeat_purchase_rate=k.repeat_purchase_rate,
        average_basket={c: str(v) for c, v in k.average_basket.items()},
        purchase_frequency=k.purchase_frequency,
        points_issued=k.points_issued,
        points_redeemed=k.points_redeemed,
        points_reversed=k.points_reversed,
        points_expired=k.points_expired,
        redemption_rate=k.redemption_rate,
        breakage_rate=k.breakage_rate,
        outstanding_points=k.outstanding_points,
        outstanding_value_low=k.outstanding_value_low,
        outstanding_value_high=k.outstanding_value_high,
        churn_rate=k.churn_rate,
        clv={c: str(v) for c, v in k.clv.items()},
        cohorts=[CohortPublic(**c) for c in k.cohorts],
        tiers=k.tiers,
        tier_moves=[TierMovePublic(from_tier=m["from"], to_tier=m["to"], members=m["members"]) for m in k.tier_moves],
        flow=[FlowPublic(**f) for f in k.flow],
        shared_members=[SharedPublic(**s) for s in k.shared_members],
    )


def _rfm(session: Session, *, scope: int, customer_id: int | None) -> RfmPublic:
    sizes = rfm.segment_sizes(session, scope=scope)
    member = None
    if customer_id is not None:
        found = rfm.member_rfm(session, scope=scope, customer_id=customer_id)
        if found is None:
            session.commit()
            raise NotFound(f"customer {customer_id} is in no RFM snapshot of this scope (no counted purchase yet)")
        member = MemberRfmPublic(
            customer_id=found.customer_id,
            day=found.day.isoformat(),
            recency_days=found.recency_days,
            frequency=found.frequency,
            monetary=str(found.monetary),
            r=found.r,
            f=found.f,
            m=found.m,
            segment=found.segment,
        )
    session.commit()
    return RfmPublic(
        scope="coalition" if scope == COALITION else "partner",
        partner_id=None if scope == COALITION else scope,
        day=None if sizes is None else sizes.day.isoformat(),
        members=0 if sizes is None else sizes.members,
        changes=0 if sizes is None else sizes.changes,
        sizes=dict.fromkeys(SEGMENTS, 0) if sizes is None else sizes.sizes,
        score_rule=SCORE_RULE,
        segment_rule=SEGMENT_RULE,
        member=member,
    )


@partner.get("/kpis", response_model=KpisPublic, response_model_by_alias=True, responses=KPI_PROBLEMS)
def partner_kpis(
    current: CurrentPartner,
    session: SessionDep,
    settings: SettingsDep,
    start: Annotated[str | None, FROM] = None,
    end: Annotated[str | None, TO] = None,
) -> KpisPublic:
    """The partner's own KPIs over ``from..to`` (UTC days, at most 366): its members, their purchases
    at it, the points it issued and that were redeemed at it, its liability, churn, CLV, cohorts,
    tiers, the points flowing between it and the other partners and the customers it shares."""
    return _kpis(
        session, chain_id=settings.chain_id, churn_days=settings.churn_days, start=start, end=end,
        partner_id=current.id,
    )  # fmt: skip


@partner.get("/rfm", response_model=RfmPublic, responses=RFM_PROBLEMS)
def partner_rfm(
    current: CurrentPartner,
    session: SessionDep,
    ref: Annotated[Ident | None, Query(description="a customer's ref: their scores too", examples=["c-1042"])] = None,
) -> RfmPublic:
    """The segments' sizes among the partner's customers in the last daily RFM snapshot (purchases at
    this partner only), and with ``ref`` that customer's values, scores and segment (404 when the
    ref is unknown or the customer has no counted purchase at the partner yet)."""
    customer_id = None
    if ref is not None:
        customer_id = rfm.customer_of_ref(session, partner_id=current.id, ref=ref)
        if customer_id is None:
            session.commit()
            raise NotFound(f"no customer with ref {ref!r}")
    return _rfm(session, scope=current.id, customer_id=customer_id)


@operator.get("/kpis", response_model=KpisPublic, response_model_by_alias=True, responses=KPI_PROBLEMS)
def operator_kpis(
    _: OperatorDep,
    session: SessionDep,
    settings: SettingsDep,
    start: Annotated[str | None, FROM] = None,
    end: Annotated[str | None, TO] = None,
    partner_id: Annotated[int | None, PARTNER] = None,
) -> KpisPublic:
    """The KPIs over ``from..to`` coalition-wide, or for ``partner_id`` (what that partner sees)."""
    return _kpis(
        session, chain_id=settings.chain_id, churn_days=settings.churn_days, start=start, end=end,
        partner_id=partner_id,
    )  # fmt: skip


@operator.get("/rfm", response_model=RfmPublic, responses=RFM_PROBLEMS)
def operator_rfm(
    _: OperatorDep,
    session: SessionDep,
    partner_id: Annotated[int | None, PARTNER] = None,
    customer_id: Annotated[
        int | None, Query(ge=1, lt=2**63, description="a member: their scores too", examples=[42])
    ] = None,
) -> RfmPublic:
    """The segments' sizes in the last daily RFM snapshot, coalition-wide (monetary: net points
    earned) or for ``partner_id``, and with ``customer_id`` that member's scores."""
    return _rfm(session, scope=COALITION if partner_id is None else partner_id, customer_id=customer_id)
