"""Achievements over HTTP: the operator defines badges (``/v1/operator/achievements``); a member
reads their badges and progress (``/v1/me/achievements``). gateway/services/achievements.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status
from sqlalchemy.orm import Session

from gateway.deps import OperatorDep, SessionDep
from gateway.problems import problem_responses
from gateway.routes.me_api import CurrentCustomer
from gateway.schemas_rewards import (
    AchievementBody,
    AchievementCreate,
    AchievementList,
    AchievementPublic,
    MyAchievementPublic,
    MyAchievements,
)
from gateway.services import achievements as service
from gateway.services import members
from gateway.timeutil import as_utc
from network.store import Achievement, utcnow

router = APIRouter(tags=["achievements"], responses=problem_responses("rate-limited"))
AchievementId = Annotated[int, Path(ge=1, lt=2**31, description="The achievement's id", examples=[1])]
WRITE = problem_responses("unauthorized", "not-found", "validation-error", "achievement-invalid", "achievement-exists")


def _public(session: Session, a: Achievement) -> AchievementPublic:
    counts = service.holders(session, achievement_id=a.id)
    return AchievementPublic(
        id=a.id, slug=a.slug, name=a.name, description=a.description, rule=a.rule, active=a.active,
        holders=counts.get(service.AWARDED, 0), revoked=counts.get(service.REVOKED, 0),
        created_at=as_utc(a.created_at), updated_at=as_utc(a.updated_at),
    )  # fmt: skip


@router.post(
    "/v1/operator/achievements", status_code=status.HTTP_201_CREATED, response_model=AchievementPublic, responses=WRITE
)
def create_achievement(_: OperatorDep, session: SessionDep, body: AchievementCreate) -> AchievementPublic:
    """A new badge, awarded from the next purchase or refund confirmed of each member."""
    badge = service.create(
        session, slug=body.slug, name=body.name, description=body.description, rule=body.rule, active=body.active
    )
    answer = _public(session, badge)
    session.commit()
    return answer


@router.get("/v1/operator/achievements", response_model=AchievementList, responses=problem_responses("unauthorized"))
def list_achievements(_: OperatorDep, session: SessionDep) -> AchievementList:
    """Every badge, oldest first, with how many members hold it and how many lost it."""
    answer = AchievementList(achievements=[_public(session, a) for a in service.listed(session)])
    session.commit()
    return answer


@router.put("/v1/operator/achievements/{achievement_id}", response_model=AchievementPublic, responses=WRITE)
def update_achievement(
    _: OperatorDep, session: SessionDep, achievement_id: AchievementId, body: AchievementBody
) -> AchievementPublic:
    """Changes a badge's name, description, rule or activity (its slug stays)."""
    badge = service.update(
        session, achievement_id=achievement_id, name=body.name, description=body.description, rule=body.rule,
        active=body.active,
    )  # fmt: skip
    answer = _public(session, badge)
    session.commit()
    return answer


@router.get(
    "/v1/me/achievements",
    response_model=MyAchievements,
    summary="My badges and my progress towards each",
    responses=problem_responses("unauthorized", "not-enrolled"),
    openapi_extra={"security": [{"customerToken": []}]},
)
def my_achievements(wallet: CurrentCustomer, session: SessionDep) -> MyAchievements:
    """Every active badge with my progress (from my purchases confirmed and not refunded in full),
    whether I hold it, and since when; a badge lost to a refund says revoked."""
    customer_id = members.customer_of_me(session, wallet=wallet)
    found = service.mine(session, customer_id=customer_id, now=utcnow())
    session.commit()
    return MyAchievements(
        achievements=[
            MyAchievementPublic(
                slug=a.slug, name=a.name, description=a.description, value=a.progress.value,
                target=a.progress.target, status=a.status, awarded_at=a.awarded_at,
            )
            for a in found
        ]
    )  # fmt: skip
