"""When points expire: a partner asks about its customer's ref, the customer about its own wallet.
Read from the chain (``expiresAtOf``): with expiry by inactivity one date holds for the whole
balance, and any earn, spend or transfer before it moves it out (gateway/services/expiry_view.py)."""

from __future__ import annotations

from fastapi import APIRouter

from gateway.deps import ChainDep, CurrentPartner, SessionDep, SettingsDep
from gateway.problems import problem_responses
from gateway.routes.me_api import CurrentCustomer
from gateway.schemas import Ident
from gateway.schemas_expiry import ExpiryDatePublic, ExpiryPublic
from gateway.services import customer_links
from gateway.services.expiry_view import ExpiryView, expires_on, expiry_of

router = APIRouter(tags=["expiry"])


def expiry_public(view: ExpiryView) -> ExpiryPublic:
    on = expires_on(view)
    future = on is not None and not view.expired_points
    schedule = [ExpiryDatePublic(expires_at=on, points=view.points, reminders=view.reminders())] if future else []
    return ExpiryPublic(
        wallet=view.wallet,
        points=view.points,
        expires_at=on,
        expired_points=view.expired_points,
        schedule=schedule,
        window_days=view.window_days,
        rule=view.rule(),
    )


@router.get(
    "/v1/customers/{ref}/expiry",
    response_model=ExpiryPublic,
    summary="When the customer's points expire, from the chain",
    responses=problem_responses("unauthorized", "not-found", "validation-error", "chain-unavailable"),
)
def customer_expiry(
    ref: Ident, partner: CurrentPartner, session: SessionDep, chain: ChainDep, settings: SettingsDep
) -> ExpiryPublic:
    """The ref's wallet: its points, the one date they all expire unless it has activity before, and
    when the reminders go out."""
    wallet = customer_links.get_link(session, partner_id=partner.id, ref=ref).wallet
    session.commit()
    return expiry_public(expiry_of(chain, wallet, reminder_days=settings.expiry_reminder_days))


@router.get(
    "/v1/me/expiry",
    response_model=ExpiryPublic,
    summary="When the signed-in customer's points expire, from the chain",
    responses=problem_responses("unauthorized", "chain-unavailable"),
)
def me_expiry(wallet: CurrentCustomer, chain: ChainDep, settings: SettingsDep) -> ExpiryPublic:
    """The signed-in wallet's points and the one date they all expire unless it has activity before."""
    return expiry_public(expiry_of(chain, wallet, reminder_days=settings.expiry_reminder_days))
