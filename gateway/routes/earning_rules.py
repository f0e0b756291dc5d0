"""Earning rules: the operator reads, drafts, simulates and activates a partner's rule set
versions; a partner reads its own rules in force (gateway/services/rule_sets.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from gateway.deps import CurrentPartner, OperatorDep, SessionDep
from gateway.problems import problem_responses
from gateway.schemas_rules import RuleDeltaPublic, RuleSetDraft, RuleSetPublic, SimulationPublic
from gateway.services import partner_admin, rule_sets
from network.store import Partner

router = APIRouter(tags=["earning rules"], responses=problem_responses("rate-limited"))
PartnerId = Annotated[int, Path(ge=1, lt=2**32, description="The partner's id", examples=[7])]
Version = Annotated[int, Path(ge=1, lt=2**31, description="The rule set's version", examples=[3])]
Days = Annotated[int, Query(ge=1, le=366, description="How many days of past purchases to simulate", examples=[30])]
OPERATOR = "operator"  # who drafts and activates (the operator token names no person)


def _public(partner: Partner, version: rule_sets.Version) -> RuleSetPublic:
    rules = version.rules
    return RuleSetPublic(
        partner_id=partner.id,
        version=version.version,
        status=version.status,  # type: ignore[arg-type]
        currency=rules["currency"],
        time_zone=rules["time_zone"],
        rounding=rules["rounding"],
        rules=rules["rules"],
        created_at=version.created_at,
        created_by=version.created_by,
        activated_at=version.activated_at,
        activated_by=version.activated_by,
    )


@router.get(
    "/v1/rules",
    response_model=RuleSetPublic,
    summary="The partner's earning rules in force",
    responses=problem_responses("unauthorized"),
)
def partner_rules(partner: CurrentPartner, session: SessionDep) -> RuleSetPublic:
    """What a purchase earns at this partner now: its active rule set, or its rate (version 0).
    The coalition's operator writes the rules."""
    answer = _public(partner, rule_sets.active(session, partner=partner))
    session.commit()
    return answer


@router.get(
    "/v1/operator/partners/{partner_id}/rules",
    response_model=list[RuleSetPublic],
    summary="Every version of a partner's earning rules, newest first",
    responses=problem_responses("unauthorized", "not-found", "validation-error"),
)
def list_rules(partner_id: PartnerId, _: OperatorDep, session: SessionDep) -> list[RuleSetPublic]:
    """Drafts, the active version and the retired ones; a partner that never had rules shows its rate as version 0."""
    partner = partner_admin.get_partner(session, partner_id)
    answer = [_public(partner, v) for v in rule_sets.versions(session, partner=partner)]
    session.commit()
    return answer


@router.post(
    "/v1/operator/partners/{partner_id}/rules",
    status_code=status.HTTP_201_CREATED,
    response_model=RuleSetPublic,
    summary="Draft the next version of a partner's earning rules",
    responses=problem_responses("unauthorized", "not-found", "validation-error", "rules-invalid"),
)
def draft_rules(partner_id: PartnerId, body: RuleSetDraft, _: OperatorDep, session: SessionDep) -> RuleSetPublic:
    """Checked at once (422 ``rules-invalid`` names the bad rule) and stored as a draft: nothing
    earns by it until it is activated. Simulate it first (``.../rules/simulate``)."""
    partner = partner_admin.get_partner(session, partner_id)
    version = rule_sets.draft(session, partner=partner, rules=body.model_dump(), by=OPERATOR)
    session.commit()
    return _public(partner, version)


@router.post(
    "/v1/operator/partners/{partner_id}/rules/{version}/activate",
    response_model=RuleSetPublic,
    summary="Put a draft of a partner's earning rules in force",
    responses=problem_responses("unauthorized", "not-found", "validation-error", "ruleset-not-draft"),
)
def activate_rules(partner_id: PartnerId, version: Version, _: OperatorDep, session: SessionDep) -> RuleSetPublic:
    """The draft becomes the active version and the one in force is retired; purchases accepted
    from now on earn by it (each stores the version in its breakdown)."""
    partner = partner_admin.get_partner(session, partner_id)
    answer = rule_sets.activate(session, partner=partner, version=version, by=OPERATOR)
    session.commit()
    return _public(partner, answer)


@router.post(
    "/v1/operator/partners/{partner_id}/rules/simulate",
    response_model=SimulationPublic,
    summary="What a proposed rule set would have issued over the last days' purchases",
    responses=problem_responses("unauthorized", "not-found", "validation-error", "rules-invalid"),
)
def simulate_rules(
    partner_id: PartnerId, body: RuleSetDraft, _: OperatorDep, session: SessionDep, days: Days = 30
) -> SimulationPublic:
    """The partner's purchases of the last ``days`` days, evaluated under the rules in force and
    under the proposal: "this change would have issued X more points, Y in money at the issue
    price, for Z members", and each rule's points before and after. Nothing is stored."""
    partner = partner_admin.get_partner(session, partner_id)
    current = rule_sets.active(session, partner=partner).version
    result = rule_sets.simulation(session, partner=partner, rules=body.model_dump(), days=days)
    session.commit()
    return SimulationPublic(
        days=days,
        purchases=result.purchases,
        current_version=current,
        points_current=result.points_current,
        points_proposed=result.points_proposed,
        delta_points=result.delta_points,
        value=format(result.value.normalize(), "f"),
        value_token=rule_sets.SETTLEMENT_TOKEN_SYMBOL,
        members_changed=result.members_changed,
        members_more=result.members_more,
        members_fewer=result.members_fewer,
        summary=result.summary(rule_sets.SETTLEMENT_TOKEN_SYMBOL),
        rules=[
            RuleDeltaPublic(rule=r.rule_id, kind=r.kind, current=r.current, proposed=r.proposed, delta=r.delta)
            for r in result.rules
        ],
    )
