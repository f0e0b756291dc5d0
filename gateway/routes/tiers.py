"""Tiers over HTTP: the operator defines the ladder (versions), dry-runs a change, applies it by a
resumable recalculation and sets tiers by hand; a partner reads the tier of its own customers (by
ref); a customer reads their own progress on ``/v1/me/tier``. The rules are loyalty/tiers.py's,
wired by gateway/services/tiers.py; times are the tiers' clock (:func:`tiers.clock`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Annotated

from fastapi import APIRouter, Depends, Path, status

from gateway import enqueue
from gateway.deps import CurrentPartner, OperatorDep, SessionDep, SettingsDep
from gateway.errors import TierLadderNotSet
from gateway.problems import problem_responses
from gateway.routes.me_api import CurrentCustomer
from gateway.schemas import Ident
from gateway.schemas_tiers import (
    DryRunPublic,
    LadderIn,
    LadderPublic,
    ManualTierSet,
    MemberTierPublic,
    MovementPublic,
    MovePublic,
    PolicyIn,
    RecalculationCreate,
    RecalculationPublic,
    TierChangePublic,
    TierIn,
    TierProgressPublic,
)
from gateway.services import tier_ladders, tier_recalculation, tiers, webhooks
from gateway.services.tier_ladders import Version
from gateway.services.tiers import MemberTier
from gateway.timeutil import as_utc
from loyalty.tiers import Ladder, TierPolicy
from network.store import TierRecalculation

router = APIRouter(tags=["tiers"])
operator = APIRouter(prefix="/v1/operator/tiers", tags=["tiers"], responses=problem_responses("rate-limited"))
CustomerId = Annotated[int, Path(ge=1, lt=2**63, description="The coalition's id of the member", examples=[42])]
RunId = Annotated[int, Path(ge=1, lt=2**31, description="The recalculation run", examples=[2])]
LISTED = 1_000  # members each dry-run list shows at most
MEMBER_PROBLEMS = ("unauthorized", "not-found", "tier-ladder-not-set", "validation-error")


def get_enqueue() -> Callable[[int], bool]:
    return enqueue.recalculate_tiers


EnqueueDep = Annotated[Callable[[int], bool], Depends(get_enqueue)]


def get_publish() -> Callable[[Iterable[str]], None]:
    """Runs the webhook consumer soon, after a commit that wrote tier.changed events."""
    return webhooks.publish_soon


PublishDep = Annotated[Callable[[Iterable[str]], None], Depends(get_publish)]


def _ladder_public(version: Version) -> LadderPublic:
    policy = tier_ladders.policy_json(version.policy)
    return LadderPublic(
        version=version.id,
        status=version.status,  # type: ignore[arg-type]
        tiers=[TierIn(**t) for t in tier_ladders.tiers_json(version.ladder)],
        policy=PolicyIn(**policy),
        created_at=as_utc(version.created_at),
        activated_at=None if version.activated_at is None else as_utc(version.activated_at),
    )


def _progress_public(member: MemberTier, ref: str | None = None) -> TierProgressPublic:
    p = member.progress
    return TierProgressPublic(
        customer_id=member.customer_id,
        customer_ref=ref,
        tier=p.tier,
        earned=p.earned,
        multiplier=str(member.multiplier),
        qualifying_points=p.qualifying_points,
        next_tier=p.next_tier,
        points_to_next=p.points_to_next,
        review_at=p.review_at,
        decided_at=p.decided_at,
        points_to_keep=p.points_to_keep,
        points_leaving=p.points_leaving,
        leaving=[MovementPublic(at=m.counted, points=m.points) for m in p.leaving],
        manual_until=p.manual_until,
        ladder_version=member.ladder_version,
    )


def _run_public(run: TierRecalculation, total: int) -> RecalculationPublic:
    return RecalculationPublic(
        id=run.id,
        from_version=run.from_version,
        to_version=run.to_version,
        status=run.status,  # type: ignore[arg-type]
        at=as_utc(run.at),
        members_done=run.members_done,
        members_total=max(total, run.members_done),
        moved_up=run.moved_up,
        moved_down=run.moved_down,
        changed=run.changed,
        finished_at=None if run.finished_at is None else as_utc(run.finished_at),
    )


def _parse(body: LadderIn) -> tuple[Ladder, TierPolicy]:
    return tier_ladders.parse([t.model_dump() for t in body.tiers], body.policy.model_dump())


# ------------------------------------------------------------------------------ operator


@operator.get(
    "/ladder",
    response_model=LadderPublic,
    summary="The tier ladder in force and its policy",
    responses=problem_responses("unauthorized", "tier-ladder-not-set"),
)
def get_ladder(_: OperatorDep, session: SessionDep) -> LadderPublic:
    """The active version: tiers from the bottom up (threshold in qualifying points, earn
    multiplier), the window, the review rule and the grace period."""
    version = tier_ladders.active(session)
    session.commit()
    if version is None:
        raise TierLadderNotSet("no tier ladder is in force yet: PUT one, then apply it")
    return _ladder_public(version)


@operator.put(
    "/ladder",
    status_code=status.HTTP_201_CREATED,
    response_model=LadderPublic,
    summary="Write a new version of the ladder (proposed: dry-run it, then apply it)",
    responses=problem_responses("unauthorized", "tier-ladder-invalid", "validation-error"),
)
def put_ladder(body: LadderIn, _: OperatorDep, session: SessionDep, settings: SettingsDep) -> LadderPublic:
    """Nothing changes for members until the version is applied (POST /v1/operator/tiers/recalculations)."""
    ladder, policy = _parse(body)
    version = tier_ladders.propose(session, ladder=ladder, policy=policy, now=tiers.clock(settings))
    answer = _ladder_public(version)
    session.commit()
    return answer


@operator.post(
    "/dry-run",
    response_model=DryRunPublic,
    summary="What applying this ladder now would do: who moves up, who down",
    responses=problem_responses("unauthorized", "tier-ladder-invalid", "validation-error"),
)
def dry_run(body: LadderIn, _: OperatorDep, session: SessionDep, settings: SettingsDep) -> DryRunPublic:
    """Every member is placed on the proposed ladder as the recalculation would, nothing is written.
    A lowered threshold moves members up at once; a raised one is met at each member's next review
    (never an immediate drop), so only a removed tier moves members down at once."""
    ladder, policy = _parse(body)
    seen = tier_recalculation.dry_run_of(session, ladder=ladder, policy=policy, now=tiers.clock(settings))
    session.commit()
    return DryRunPublic(
        summary=seen.summary(),
        up=seen.up,
        down=seen.down,
        unchanged=seen.unchanged,
        before=dict(seen.before),
        after=dict(seen.after),
        at_risk_before=seen.at_risk_before,
        at_risk_after=seen.at_risk_after,
        moving_up=[
            MovePublic(customer_id=m.member_id, from_tier=m.from_tier, to_tier=m.to_tier)
            for m in seen.moving_up[:LISTED]
        ],
        moving_down=[
            MovePublic(customer_id=m.member_id, from_tier=m.from_tier, to_tier=m.to_tier)
            for m in seen.moving_down[:LISTED]
        ],
        listed_at_most=LISTED,
    )


@operator.post(
    "/recalculations",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RecalculationPublic,
    summary="Apply a proposed ladder: it is in force at once, members are recalculated in chunks",
    responses=problem_responses("unauthorized", "not-found", "tier-ladder-invalid", "validation-error"),
)
def apply_ladder(
    body: RecalculationCreate, _: OperatorDep, session: SessionDep, settings: SettingsDep, start: EnqueueDep
) -> RecalculationPublic:
    """Idempotent: applying the version again answers its run. Resumable: a worker stopped in the
    middle resumes from the last member written; every member is recalculated at the run's instant,
    so a chunk run twice changes nothing. Members reached first by a purchase or a review are placed
    on the new ladder by them, the same way."""
    run = tier_recalculation.apply(session, version=body.version, now=tiers.clock(settings))
    session.commit()
    if run.status == "running":
        start(run.id)
    answer = _run_public(run, tier_recalculation.member_count(session))
    session.commit()
    return answer


@operator.get(
    "/recalculations/{run_id}",
    response_model=RecalculationPublic,
    summary="A recalculation's progress",
    responses=problem_responses("unauthorized", "not-found"),
)
def get_recalculation(run_id: RunId, _: OperatorDep, session: SessionDep) -> RecalculationPublic:
    """Members done of the total, who moved, and whether it is done."""
    run = tier_recalculation.get_run(session, run_id=run_id)
    answer = _run_public(run, tier_recalculation.member_count(session))
    session.commit()
    return answer


def _member_public(session: SessionDep, customer_id: int, member: MemberTier) -> MemberTierPublic:
    changes = [
        TierChangePublic(
            from_tier=c.from_tier, to_tier=c.to_tier, reason=c.reason, at=as_utc(c.at), event_id=c.event_id
        )
        for c in tiers.history(session, customer_id=customer_id)
    ]
    return MemberTierPublic(**_progress_public(member).model_dump(), changes=changes)


@operator.get(
    "/members/{customer_id}",
    response_model=MemberTierPublic,
    summary="A member's tier, progress and tier changes",
    responses=problem_responses(*MEMBER_PROBLEMS),
)
def get_member(customer_id: CustomerId, _: OperatorDep, session: SessionDep, settings: SettingsDep) -> MemberTierPublic:
    """As of the tiers' clock now; a member with no qualifying points is at the bottom tier."""
    tiers.member_exists(session, customer_id=customer_id)
    member = tiers.tier_of(session, customer_id=customer_id, now=tiers.clock(settings))
    answer = _member_public(session, customer_id, member)
    session.commit()
    return answer


@operator.put(
    "/members/{customer_id}/manual",
    response_model=MemberTierPublic,
    summary="Set a member's tier by hand, until an end date",
    responses=problem_responses(*MEMBER_PROBLEMS, "tier-unknown", "manual-tier-end-invalid"),
)
def set_manual(
    customer_id: CustomerId,
    body: ManualTierSet,
    _: OperatorDep,
    session: SessionDep,
    settings: SettingsDep,
    publish: PublishDep,
) -> MemberTierPublic:
    """The member holds the higher of this tier and the earned one until ``until`` (a grant is a
    guarantee, never a cap); from then the earned tier applies, which the rules kept computing.
    Setting it again replaces the earlier one. A change of the tier in force is a tier.changed event."""
    now = tiers.clock(settings)
    tiers.member_exists(session, customer_id=customer_id)
    events = tiers.set_manual_tier(session, customer_id=customer_id, tier=body.tier, until=as_utc(body.until), now=now)
    session.commit()
    publish(events)
    answer = _member_public(session, customer_id, tiers.tier_of(session, customer_id=customer_id, now=now))
    session.commit()
    return answer


@operator.delete(
    "/members/{customer_id}/manual",
    response_model=MemberTierPublic,
    summary="End a member's manual tier now",
    responses=problem_responses(*MEMBER_PROBLEMS),
)
def end_manual(
    customer_id: CustomerId, _: OperatorDep, session: SessionDep, settings: SettingsDep, publish: PublishDep
) -> MemberTierPublic:
    """The earned tier applies from now (nothing to do without a manual tier)."""
    now = tiers.clock(settings)
    tiers.member_exists(session, customer_id=customer_id)
    events = tiers.end_manual_tier(session, customer_id=customer_id, now=now)
    session.commit()
    publish(events)
    answer = _member_public(session, customer_id, tiers.tier_of(session, customer_id=customer_id, now=now))
    session.commit()
    return answer


# ------------------------------------------------------------------------------ partner and customer


@router.get(
    "/v1/customers/{ref}/tier",
    response_model=TierProgressPublic,
    summary="Your customer's coalition-wide tier and progress",
    responses=problem_responses(*MEMBER_PROBLEMS),
)
def customer_tier(
    ref: Ident, partner: CurrentPartner, session: SessionDep, settings: SettingsDep
) -> TierProgressPublic:
    """Only your own customers, by your ref (another partner's customer is not found). The tier is
    coalition-wide: qualifying points earned at every partner count."""
    customer_id = tiers.customer_by_ref(session, partner_id=partner.id, ref=ref)
    answer = _progress_public(tiers.tier_of(session, customer_id=customer_id, now=tiers.clock(settings)), ref)
    session.commit()
    return answer


@router.get(
    "/v1/me/tier",
    response_model=TierProgressPublic,
    summary="My tier: points to the next one, and the date and points needed to keep mine",
    responses=problem_responses("unauthorized", "tier-ladder-not-set"),
    openapi_extra={"security": [{"customerToken": []}]},
)
def my_tier(wallet: CurrentCustomer, session: SessionDep, settings: SettingsDep) -> TierProgressPublic:
    """The tier in force, the points to the next one, the next review, when its verdict falls and
    the points still needed by then to keep the tier, and which points leave the window before it."""
    customer_id = tiers.customer_by_wallet(session, wallet=wallet)
    now = tiers.clock(settings)
    answer = _progress_public(tiers.tier_of(session, customer_id=customer_id, now=now))
    session.commit()
    return answer


router.include_router(operator)
