"""Bodies of the referral and achievement routes (gateway/routes/referrals.py, achievements.py).
The rules: loyalty/campaigns/referrals.py and achievements.py; the README's Referrals and
Achievements sections."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

RULE_EXAMPLE: dict[str, Any] = {"kind": "streak", "weeks": 4, "grace_weeks": 1}


class AchievementBody(BaseModel):
    """A badge: its name and description as members see them, its rule, whether it is awarded now."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"name": "Regular", "description": "Four weeks in a row", "rule": RULE_EXAMPLE, "active": True}
            ]
        },
    )
    name: str = Field(min_length=1, max_length=80)
    description: str = Field(default="", max_length=500)
    rule: dict[str, Any] = Field(
        description="{kind: count, purchases, days} | {kind: streak, weeks, grace_weeks} | {kind: partners, partners}"
    )
    active: bool = True


class AchievementCreate(AchievementBody):
    slug: str = Field(min_length=1, max_length=40, pattern=r"^[a-z0-9][a-z0-9-]*$", description="Unique, stable")


class AchievementPublic(BaseModel):
    id: int
    slug: str
    name: str
    description: str
    rule: dict[str, Any]
    active: bool
    holders: int = Field(description="Members holding it now")
    revoked: int = Field(description="Members who held it and lost it to a refund")
    created_at: datetime
    updated_at: datetime


class AchievementList(BaseModel):
    achievements: list[AchievementPublic]


class MyAchievementPublic(BaseModel):
    slug: str
    name: str
    description: str
    value: int = Field(description="Progress: how far the member is")
    target: int = Field(description="Progress: what the rule asks")
    status: str | None = Field(description="awarded | revoked | null (never held)")
    awarded_at: datetime | None


class MyAchievements(BaseModel):
    achievements: list[MyAchievementPublic]


class MyReferralPublic(BaseModel):
    referral_code: str | None
    share_url: str | None
    pending: int
    qualified: int
    rejected: int
    points_earned: int = Field(description="Points queued or minted to you as a referrer")


class ReferralAwardPublic(BaseModel):
    role: str = Field(description="referrer | referee")
    points: int
    partner_id: int = Field(description="The funding partner, whose minter mints the bonus")
    seq: int = Field(description="The partner's sequence number of the bonus on chain")
    status: str = Field(description="The mint's status: queued | held | sent | minted | skipped | failed")


class ReferralEventPublic(BaseModel):
    kind: str = Field(description="enrolled | qualified | rejected | awarded | unpaid | unfunded")
    reason: str | None
    detail: dict[str, Any]
    at: datetime


class ReferralPublic(BaseModel):
    id: int
    referrer_id: int
    referee_id: int
    partner_id: int | None
    status: str = Field(description="pending | qualified | rejected")
    reason: str | None
    created_at: datetime
    decided_at: datetime | None
    events: list[ReferralEventPublic]
    awards: list[ReferralAwardPublic]


class ReferralList(BaseModel):
    referrals: list[ReferralPublic]
    next_after: int | None = Field(description="Pass as ?after= for the next page; null at the end")
