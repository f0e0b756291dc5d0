"""Campaigns: the operator's (any funder, the house partner by default) and a partner's own
(gateway/services/campaigns.py): create a draft, list, read, simulate on the last N days, start,
pause, stop, and the results of both arms."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from gateway.deps import CurrentPartner, OperatorDep, SessionDep, SettingsDep
from gateway.problems import problem_responses
from gateway.schemas_campaigns import (
    CampaignCreate,
    CampaignList,
    CampaignPublic,
    CampaignResults,
    CampaignSimulation,
)
from gateway.services import campaigns as service
from network.store import Campaign

operator = APIRouter(prefix="/v1/operator/campaigns", tags=["operator"], responses=problem_responses("rate-limited"))
partner = APIRouter(prefix="/v1/campaigns", tags=["campaigns"], responses=problem_responses("rate-limited"))
CampaignId = Annotated[int, Path(ge=1, lt=2**31, description="The campaign's id", examples=[4])]
Days = Annotated[int, Query(ge=1, le=365, description="The last N days of purchases", examples=[30])]
READ = problem_responses("unauthorized", "not-found", "validation-error")
CREATE = problem_responses("unauthorized", "validation-error", "campaign-invalid", "house-partner-missing")
MOVE = problem_responses("unauthorized", "not-found", "validation-error", "campaign-status-conflict")


def _public(row: Campaign, warnings: list[str] | None = None) -> CampaignPublic:
    return CampaignPublic(**service.public(row), warnings=warnings or [])


def _simulation(sim: service.Simulation) -> CampaignSimulation:
    return CampaignSimulation(
        days=sim.days, purchases=sim.purchases, members=sim.members, treatment_members=sim.treatment_members,
        points=sim.points, cost=format(Decimal(sim.cost).scaleb(-6), "f"),
    )  # fmt: skip


def _create(session: SessionDep, body: CampaignCreate, *, owner: str, funder: int | None, house: int | None):
    row, warnings = service.create(
        session, owner=owner, funder_partner_id=funder, house_partner_id=house, name=body.name,
        trigger=body.trigger.model_dump(), conditions=body.conditions, effects=body.effects, limits=body.limits,
        holdout_bp=body.holdout_bp, starts_at=body.starts_at, ends_at=body.ends_at,
    )  # fmt: skip
    session.commit()
    return _public(row, warnings)


def _results(session: SessionDep, row: Campaign, window_days: int) -> CampaignResults:
    result, closes = service.results(session, campaign=row, window_days=window_days)
    session.commit()
    return CampaignResults(
        campaign_id=row.id, window_days=window_days, window_closes_at=closes, result=result.to_dict()
    )


# ------------------------------------------------------------------------------------ operator


@operator.post("", status_code=status.HTTP_201_CREATED, response_model=CampaignPublic, responses=CREATE)
def create_campaign(_: OperatorDep, session: SessionDep, settings: SettingsDep, body: CampaignCreate) -> CampaignPublic:
    """Writes a draft campaign, checked (``campaign-invalid`` names the field). Without
    ``funder_partner_id`` the house partner (``COALITION_HOUSE_PARTNER_ID``) funds it."""
    return _create(session, body, owner="operator", funder=body.funder_partner_id, house=settings.house_partner_id)


@operator.get("", response_model=CampaignList, responses=problem_responses("unauthorized"))
def list_campaigns(_: OperatorDep, session: SessionDep) -> CampaignList:
    """Every campaign, oldest first, with the points given so far."""
    found = [_public(r) for r in service.listed(session)]
    session.commit()
    return CampaignList(campaigns=found)


@operator.get("/{campaign_id}", response_model=CampaignPublic, responses=READ)
def get_campaign(_: OperatorDep, session: SessionDep, campaign_id: CampaignId) -> CampaignPublic:
    """One campaign."""
    row = _public(service.get(session, campaign_id=campaign_id))
    session.commit()
    return row


@operator.post("/{campaign_id}/simulate", response_model=CampaignSimulation, responses=READ)
def simulate_campaign(
    _: OperatorDep, session: SessionDep, campaign_id: CampaignId, days: Days = 30
) -> CampaignSimulation:
    """What the campaign would have done on the last N days of purchases: members, points, cost."""
    sim = service.simulate(session, campaign=service.get(session, campaign_id=campaign_id), days=days)
    session.commit()
    return _simulation(sim)


@operator.post("/{campaign_id}/{action}", response_model=CampaignPublic, responses=MOVE)
def move_campaign(
    _: OperatorDep,
    session: SessionDep,
    campaign_id: CampaignId,
    action: Annotated[
        str, Path(pattern="^(start|pause|stop)$", description="start, pause or stop", examples=["start"])
    ],
) -> CampaignPublic:
    """Starts (a draft or a paused campaign), pauses (a running one) or stops it for good."""
    row = service.transition(session, campaign_id=campaign_id, action=action)
    session.commit()
    return _public(row)


@operator.get("/{campaign_id}/results", response_model=CampaignResults, responses=READ)
def campaign_results(
    _: OperatorDep, session: SessionDep, settings: SettingsDep, campaign_id: CampaignId
) -> CampaignResults:
    """Both arms measured over ``COALITION_CAMPAIGN_WINDOW_DAYS`` after each member's first exposure:
    members, conversion, revenue per member, points; the intervals, the sample-ratio check, the verdict."""
    return _results(session, service.get(session, campaign_id=campaign_id), settings.campaign_window_days)


# ------------------------------------------------------------------------------------ partner


@partner.post("", status_code=status.HTTP_201_CREATED, response_model=CampaignPublic, responses=CREATE)
def create_own_campaign(me: CurrentPartner, session: SessionDep, body: CampaignCreate) -> CampaignPublic:
    """Writes a draft campaign of the partner's own, funded by it, on its own purchases."""
    return _create(session, body, owner="partner", funder=me.id, house=None)


@partner.get("", response_model=CampaignList, responses=problem_responses("unauthorized"))
def list_own_campaigns(me: CurrentPartner, session: SessionDep) -> CampaignList:
    """The campaigns the partner funds."""
    found = [_public(r) for r in service.listed(session, partner_id=me.id)]
    session.commit()
    return CampaignList(campaigns=found)


@partner.get("/{campaign_id}", response_model=CampaignPublic, responses=READ)
def get_own_campaign(me: CurrentPartner, session: SessionDep, campaign_id: CampaignId) -> CampaignPublic:
    """One of the partner's campaigns (another's is a 404)."""
    row = _public(service.get(session, campaign_id=campaign_id, partner_id=me.id))
    session.commit()
    return row


@partner.post("/{campaign_id}/simulate", response_model=CampaignSimulation, responses=READ)
def simulate_own_campaign(
    me: CurrentPartner, session: SessionDep, campaign_id: CampaignId, days: Days = 30
) -> CampaignSimulation:
    """What the campaign would have done on the last N days of purchases."""
    sim = service.simulate(session, campaign=service.get(session, campaign_id=campaign_id, partner_id=me.id), days=days)
    session.commit()
    return _simulation(sim)


@partner.post("/{campaign_id}/{action}", response_model=CampaignPublic, responses=MOVE)
def move_own_campaign(
    me: CurrentPartner,
    session: SessionDep,
    campaign_id: CampaignId,
    action: Annotated[
        str, Path(pattern="^(start|pause|stop)$", description="start, pause or stop", examples=["start"])
    ],
) -> CampaignPublic:
    """Starts, pauses or stops one of the partner's campaigns."""
    row = service.transition(session, campaign_id=campaign_id, action=action, partner_id=me.id)
    session.commit()
    return _public(row)


@partner.get("/{campaign_id}/results", response_model=CampaignResults, responses=READ)
def own_campaign_results(
    me: CurrentPartner, session: SessionDep, settings: SettingsDep, campaign_id: CampaignId
) -> CampaignResults:
    """Both arms of one of the partner's campaigns measured."""
    row = service.get(session, campaign_id=campaign_id, partner_id=me.id)
    return _results(session, row, settings.campaign_window_days)
