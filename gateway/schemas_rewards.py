"""Bodies of the referral and achievement routes (gateway/routes/referrals.py, achievements.py).
The rules: loyalty/campaigns/referrals.py and achievements.py; the README's Referrals and
Achievements sections."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

_T = "2026-12-05T10:00:00Z"
RULE_EXAMPLE: dict[str, Any] = {"kind": "streak", "weeks": 4, "grace_weeks": 1}
BODY_EXAMPLE: dict[str, Any] = {
    "name": "Regular",
    "description": "Purchases in four weeks running (one week off allowed)",
    "rule": RULE_EXAMPLE,
    "active": True,
}
PUBLIC_EXAMPLE: dict[str, Any] = BODY_EXAMPLE | {
    "id": 1, "slug": "regular", "holders": 42, "revoked": 3, "created_at": _T, "updated_at": _T,
}  # fmt: skip
MY_EXAMPLE: dict[str, Any] = {
    "slug": "regular", "name": "Regular", "description": "Purchases in four weeks running", "value": 3, "target": 4,
    "status": None, "awarded_at": None,
}  # fmt: skip
AWARD_EXAMPLE: dict[str, Any] = {"role": "referrer", "points": 500, "partner_id": 1, "seq": 1041, "status": "minted"}
EVENT_EXAMPLE: dict[str, Any] = {"kind": "qualified", "reason": None, "detail": {}, "at": _T}
REFERRAL_EXAMPLE: dict[str, Any] = {
    "id": 7, "referrer_id": 12, "referee_id": 40, "partner_id": 1, "status": "qualified", "reason": None,
    "created_at": _T, "decided_at": _T, "events": [EVENT_EXAMPLE], "awards": [AWARD_EXAMPLE],
}  # fmt: skip
NAME = Field(min_length=1, max_length=80, description="The badge's name, as members see it")
DESCRIPTION = Field(default="", max_length=500, description="What it takes, as members see it")
RULE = Field(
    description="{kind: count, purchases, days} | {kind: streak, weeks, grace_weeks} | {kind: partners, partners}"
)
ACTIVE = Field(default=True, description="Awarded now (an inactive badge keeps the awards made)")


class AchievementBody(BaseModel):
    """A badge's name, description, rule and activity (its slug stays)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [BODY_EXAMPLE]})
    name: str = NAME
    description: str = DESCRIPTION
    rule: dict[str, Any] = RULE
    active: bool = ACTIVE


class AchievementCreate(BaseModel):
    """A new badge: a unique slug, its name and description as members see them, its rule."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [BODY_EXAMPLE | {"slug": "regular"}]})
    slug: str = Field(min_length=1, max_length=40, pattern=r"^[a-z0-9][a-z0-9-]*$", description="Unique and stable")
    name: str = NAME
    description: str = DESCRIPTION
    rule: dict[str, Any] = RULE
    active: bool = ACTIVE


class AchievementPublic(BaseModel):
    """A badge and how many members hold it."""

    model_config = ConfigDict(json_schema_extra={"examples": [PUBLIC_EXAMPLE]})
    id: int = Field(description="The badge's id")
    slug: str = Field(description="Unique and stable")
    name: str = Field(description="As members see it")
    description: str = Field(description="As members see it")
    rule: dict[str, Any] = Field(description="The rule, normalized")
    active: bool = Field(description="Awarded now")
    holders: int = Field(description="Members holding it now")
    revoked: int = Field(description="Members who held it and lost it to a refund")
    created_at: datetime = Field(description="When it was defined")
    updated_at: datetime = Field(description="When it was last changed")


class AchievementList(BaseModel):
    """Every badge, oldest first."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"achievements": [PUBLIC_EXAMPLE]}]})
    achievements: list[AchievementPublic] = Field(description="The badges")


class MyAchievementPublic(BaseModel):
    """One badge as the member sees it: progress and whether they hold it."""

    model_config = ConfigDict(json_schema_extra={"examples": [MY_EXAMPLE]})
    slug: str = Field(description="The badge's slug")
    name: str = Field(description="The badge's name")
    description: str = Field(description="What it takes")
    value: int = Field(description="Progress: how far the member is (at most the target)")
    target: int = Field(description="Progress: what the rule asks")
    status: Literal["awarded", "revoked"] | None = Field(
        description="awarded, revoked (lost to a refund), null (never held)"
    )
    awarded_at: datetime | None = Field(description="Since when it is held (null unless awarded)")


class MyAchievements(BaseModel):
    """The member's badges with progress."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"achievements": [MY_EXAMPLE]}]})
    achievements: list[MyAchievementPublic] = Field(description="Every active badge, and those held")


class MyReferralPublic(BaseModel):
    """The member's referral code, its share link, and what the members who enrolled with it became."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "referral_code": "7KQ4M2XW9P", "share_url": "https://loyalty.example/me?referral_code=7KQ4M2XW9P",
                    "pending": 1, "qualified": 2, "rejected": 0, "points_earned": 1000,
                }
            ]
        }
    )  # fmt: skip
    referral_code: str | None = Field(description="The code to share (null once erased)")
    share_url: str | None = Field(description="A link that carries the code")
    pending: int = Field(description="Referred members whose first purchase is not settled yet")
    qualified: int = Field(description="Referred members who earned you both a bonus")
    rejected: int = Field(description="Referred members who did not (self-referral, a refund, the cap)")
    points_earned: int = Field(description="Points queued or minted to you as a referrer")


class ReferralAwardPublic(BaseModel):
    """One bonus of a qualified referral, minted by the funding partner."""

    model_config = ConfigDict(json_schema_extra={"examples": [AWARD_EXAMPLE]})
    role: Literal["referrer", "referee"] = Field(description="Whose bonus")
    points: int = Field(description="The points minted")
    partner_id: int = Field(description="The funding partner, whose minter mints the bonus")
    seq: int = Field(description="The partner's sequence number of the bonus on chain")
    status: Literal["queued", "held", "sent", "minted", "skipped", "failed"] = Field(description="The mint's status")


class ReferralEventPublic(BaseModel):
    """One line of a referral's audit trail."""

    model_config = ConfigDict(json_schema_extra={"examples": [EVENT_EXAMPLE]})
    kind: Literal["enrolled", "qualified", "rejected", "awarded", "unpaid", "unfunded"] = Field(
        description="The line's kind"
    )
    reason: str | None = Field(description="Why (a rejection's reason, an unpaid bonus's)")
    detail: dict[str, Any] = Field(description="What else is known (the funder, the seq, the points)")
    at: datetime = Field(description="When")


class ReferralPublic(BaseModel):
    """A referral: who referred whom, the decision, the audit trail and the bonuses."""

    model_config = ConfigDict(json_schema_extra={"examples": [REFERRAL_EXAMPLE]})
    id: int = Field(description="The referral's id")
    referrer_id: int = Field(description="The referring member's customer id")
    referee_id: int = Field(description="The referred member's customer id")
    partner_id: int | None = Field(description="Where the referred member enrolled (null: on /me)")
    status: Literal["pending", "qualified", "rejected"] = Field(description="Where the referral stands")
    reason: str | None = Field(
        description="A rejection's reason: self-referral-wallet | self-referral-email | self-referral-phone | "
        "first-purchase-refunded | referrer-cap"
    )
    created_at: datetime = Field(description="When the referred member enrolled")
    decided_at: datetime | None = Field(description="When it was qualified or rejected")
    events: list[ReferralEventPublic] = Field(description="The audit trail, oldest first")
    awards: list[ReferralAwardPublic] = Field(description="The bonuses minted")


class ReferralList(BaseModel):
    """A page of referrals, oldest first."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"referrals": [REFERRAL_EXAMPLE], "next_after": None}]})
    referrals: list[ReferralPublic] = Field(description="The referrals of the page")
    next_after: int | None = Field(description="Pass as ?after= for the next page; null at the end")
