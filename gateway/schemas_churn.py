"""Schemas of churn risk (the operator's routes) and of the rewards a customer may like (/v1/me),
gateway/routes/churn.py. The model: loyalty/churn.py; the co-occurrence: loyalty/recommendations.py."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

FEATURES = ["recency_days", "frequency", "recent_purchases", "monetary_points", "partners_visited", "tenure_days",
            "tier_level"]  # fmt: skip
MODEL_EXAMPLE: dict[str, Any] = {
    "id": 4,
    "cutoff": "2026-06-08T00:00:00Z",
    "validation_cutoff": "2026-09-06T00:00:00Z",
    "churn_days": 90,
    "trained_at": "2026-12-05T03:00:12Z",
    "auc": 0.74,
    "n_train": 8_210,
    "churned_train": 2_113,
    "n_validation": 9_034,
    "churned_validation": 2_409,
    "intercept": -1.21,
    "coefficients": dict(zip(FEATURES, [0.92, -0.31, -0.58, -0.12, -0.2, 0.05, -0.09], strict=True)),
    "means": dict(zip(FEATURES, [3.1, 1.9, 0.8, 6.2, 1.4, 5.3, 0.4], strict=True)),
    "scales": dict(zip(FEATURES, [1.2, 0.7, 0.6, 1.5, 0.6, 0.9, 0.6], strict=True)),
    "scored_day": "2026-12-04",
}
CONTRIBUTION_EXAMPLE: dict[str, Any] = {
    "feature": "recency_days",
    "description": "days since the last purchase (log)",
    "value": 4.51,
    "standardized": 1.175,
    "coefficient": 0.92,
    "contribution": 1.081,
}
RECOMMENDED_EXAMPLE: dict[str, Any] = {
    "reward_id": 12,
    "partner_id": 3,
    "partner": "Cinema",
    "sku": "TICKET-2D",
    "name": "Cinema ticket",
    "points": 900,
    "score": 0.71,
    "because": ["Popcorn menu", "Coffee"],
}


class ChurnModelPublic(BaseModel):
    """A trained churn model: a logistic regression on standardized features, and its AUC on a later period."""

    model_config = ConfigDict(json_schema_extra={"examples": [MODEL_EXAMPLE]})

    id: int = Field(description="The model's id")
    cutoff: datetime = Field(description="The training set's cut-off: values before it, labels in the churn days after")
    validation_cutoff: datetime = Field(description="The held-out later cut-off the AUC is measured at")
    churn_days: int = Field(description="Churned: no counted purchase in this many days after the cut-off")
    trained_at: datetime = Field(description="When the model was trained")
    auc: float | None = Field(description="On the held-out period; null when it lacks churned or kept members")
    n_train: int = Field(description="Members in the training set")
    churned_train: int = Field(description="Of them, those who churned")
    n_validation: int = Field(description="Members in the held-out set")
    churned_validation: int = Field(description="Of them, those who churned")
    intercept: float = Field(description="The log-odds of an average member")
    coefficients: dict[str, float] = Field(description="Per feature, on standardized values")
    means: dict[str, float] = Field(description="Per feature, the training set's mean (after the log)")
    scales: dict[str, float] = Field(description="Per feature, the training set's standard deviation (1 if constant)")
    scored_day: date | None = Field(description="The last day whose scores this model wrote")


class ContributionPublic(BaseModel):
    """One feature's part in a member's score."""

    model_config = ConfigDict(json_schema_extra={"examples": [CONTRIBUTION_EXAMPLE]})

    feature: str = Field(description="The feature's name")
    description: str = Field(description="What it measures")
    value: float = Field(description="The feature's value (after its log, where it has one)")
    standardized: float = Field(description="(value - mean) / scale")
    coefficient: float = Field(description="The model's coefficient of the feature")
    contribution: float = Field(description="coefficient x standardized: its term of the log-odds")


class MemberChurnPublic(BaseModel):
    """A member's churn risk in the latest daily scoring, explained."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "customer_id": 31,
                    "churn_risk": 0.43,
                    "day": "2026-12-04",
                    "model": MODEL_EXAMPLE,
                    "contributions": [CONTRIBUTION_EXAMPLE],
                }
            ]
        }
    )

    customer_id: int = Field(description="The member")
    churn_risk: float = Field(ge=0, le=1, description="The probability of no purchase in the churn days to come")
    day: date = Field(description="Scored on the values as of the end of this UTC day")
    model: ChurnModelPublic = Field(description="The model that scored it")
    contributions: list[ContributionPublic] = Field(description="Every feature, the largest term by size first")


class RecommendedPublic(BaseModel):
    """A reward the customer may like."""

    model_config = ConfigDict(json_schema_extra={"examples": [RECOMMENDED_EXAMPLE]})

    reward_id: int = Field(description="The reward's id")
    partner_id: int = Field(description="The partner whose reward it is")
    partner: str = Field(description="The partner's name")
    sku: str = Field(description="The reward's SKU at the partner")
    name: str = Field(description="The reward's name")
    points: int = Field(description="What it costs, in points")
    score: float = Field(description="The sum of its cosine similarities to the rewards the customer redeemed")
    because: list[str] = Field(description="The rewards the customer redeemed that brought it, most similar first")


class RecommendationsPublic(BaseModel):
    """Rewards the customer may like, best first (empty until they redeem a reward)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"rewards": [RECOMMENDED_EXAMPLE]}]})

    rewards: list[RecommendedPublic] = Field(description="Best first")
