"""Churn risk for the operator: the model in use (its AUC on the held-out period) and a member's
score with the features that drive it (gateway/services/churn.py; the model: loyalty/churn.py); and
the rewards a signed-in customer may like (gateway/services/recommendations.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from gateway.deps import OperatorDep, SessionDep
from gateway.errors import NotFound
from gateway.problems import problem_responses
from gateway.routes.me_api import CurrentCustomer
from gateway.schemas_churn import (
    ChurnModelPublic,
    ContributionPublic,
    MemberChurnPublic,
    RecommendationsPublic,
    RecommendedPublic,
)
from gateway.services import churn, recommendations
from network.store import ChurnModel

operator = APIRouter(prefix="/v1/operator", tags=["operator"], responses=problem_responses("rate-limited"))
customer = APIRouter(tags=["customers"])
CustomerId = Annotated[int, Path(ge=1, lt=2**62, description="The customer's id", examples=[31])]
K_MAX = 20


def model_public(m: ChurnModel) -> ChurnModelPublic:
    return ChurnModelPublic(
        id=m.id, cutoff=m.cutoff, validation_cutoff=m.validation_cutoff, churn_days=m.churn_days,
        trained_at=m.trained_at, auc=m.auc, n_train=m.n_train, churned_train=m.churned_train,
        n_validation=m.n_validation, churned_validation=m.churned_validation, intercept=m.intercept,
        coefficients=dict(zip(m.features, m.coefficients, strict=True)),
        means=dict(zip(m.features, m.means, strict=True)), scales=dict(zip(m.features, m.scales, strict=True)),
        scored_day=m.scored_day,
    )  # fmt: skip


@operator.get(
    "/analytics/churn-model",
    response_model=ChurnModelPublic,
    summary="The churn model in use: its coefficients and its AUC on a held-out later period",
    responses=problem_responses("unauthorized", "not-found"),
)
def churn_model(_: OperatorDep, session: SessionDep) -> ChurnModelPublic:
    """The latest model trained by beat's ``churn-model`` (404 before the first: too little history)."""
    m = churn.latest_model(session)
    if m is None:
        raise NotFound("no churn model yet: it needs members with purchases over twice the churn days")
    answer = model_public(m)
    session.commit()
    return answer


@operator.get(
    "/members/{customer_id}/churn",
    response_model=MemberChurnPublic,
    summary="A member's churn risk and the features that drive it",
    responses=problem_responses("unauthorized", "not-found", "validation-error"),
)
def member_churn(customer_id: CustomerId, _: OperatorDep, session: SessionDep) -> MemberChurnPublic:
    """The member's risk in the latest daily scoring, with each feature's term of the log-odds
    (coefficient x standardized value); 404 for a member without a score (never bought, erased,
    enrolled after the scoring, or no model yet)."""
    seen = churn.explain(session, customer_id=customer_id)
    if seen is None:
        raise NotFound(f"no churn score for customer {customer_id}")
    answer = MemberChurnPublic(
        customer_id=seen.customer_id, churn_risk=seen.risk, day=seen.day, model=model_public(seen.model),
        contributions=[ContributionPublic(feature=c.feature, description=c.description, value=c.value,
                                          standardized=c.standardized, coefficient=c.coefficient,
                                          contribution=c.contribution) for c in seen.contributions],
    )  # fmt: skip
    session.commit()
    return answer


@customer.get(
    "/v1/me/recommendations",
    response_model=RecommendationsPublic,
    summary="Rewards the signed-in customer may like, from what other members redeemed",
    responses=problem_responses("unauthorized", "validation-error"),
)
def my_recommendations(
    wallet: CurrentCustomer,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=K_MAX, description="How many rewards at most", examples=[5])] = 5,
) -> RecommendationsPublic:
    """Item-to-item co-occurrence over redemptions: members who redeemed what you redeemed also
    redeemed these (active rewards in stock you have not redeemed; erased members' data never
    counts). Empty until you redeem a reward."""
    found = recommendations.for_wallet(session, wallet=wallet, k=limit)
    session.commit()
    return RecommendationsPublic(
        rewards=[RecommendedPublic(reward_id=r.reward_id, partner_id=r.partner_id, partner=r.partner, sku=r.sku,
                                   name=r.name, points=r.points, score=r.score, because=r.because) for r in found]
    )  # fmt: skip
