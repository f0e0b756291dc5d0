"""Schemas of churn risk (the operator's) and of the rewards a customer may like (/v1/me)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field


class ChurnModelPublic(BaseModel):
    id: int
    cutoff: datetime = Field(description="The training set's cut-off: values before it, labels in the churn days after")
    validation_cutoff: datetime = Field(description="The held-out later cut-off the AUC is measured at")
    churn_days: int
    trained_at: datetime
    auc: float | None = Field(description="On the held-out period; null when it lacks churned or kept members")
    n_train: int
    churned_train: int
    n_validation: int
    churned_validation: int
    intercept: float
    coefficients: dict[str, float] = Field(description="Per feature, on standardized values")
    means: dict[str, float]
    scales: dict[str, float]
    scored_day: date | None = Field(description="The last day whose scores this model wrote")


class ContributionPublic(BaseModel):
    feature: str
    description: str
    value: float = Field(description="The feature's value (after its log, where it has one)")
    standardized: float
    coefficient: float
    contribution: float = Field(description="coefficient x standardized: its term of the log-odds")


class MemberChurnPublic(BaseModel):
    customer_id: int
    churn_risk: float = Field(ge=0, le=1)
    day: date = Field(description="Scored on the values as of the end of this UTC day")
    model: ChurnModelPublic
    contributions: list[ContributionPublic] = Field(description="Every feature, the largest term by size first")


class RecommendedPublic(BaseModel):
    reward_id: int
    partner_id: int
    partner: str
    sku: str
    name: str
    points: int
    score: float = Field(description="The sum of its cosine similarities to the rewards the customer redeemed")
    because: list[str] = Field(description="The rewards the customer redeemed that brought it, most similar first")


class RecommendationsPublic(BaseModel):
    rewards: list[RecommendedPublic]
