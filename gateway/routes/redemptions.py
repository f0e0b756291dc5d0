"""Partner API: the rewards catalogue and redemptions (burn, voucher, webhook).

Partner-scoped: a partner sees and changes only its own rewards and redemptions (another
partner's are 404).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from gateway.deps import ChainDep, CurrentPartner, SessionDep, SettingsDep
from gateway.enqueue import process_redemption
from gateway.errors import NotFound
from gateway.problems import problem_responses
from gateway.schemas import Ident
from gateway.schemas_redemptions import (
    ConsentPublic,
    ConsentRequest,
    RedemptionCreate,
    RedemptionPublic,
    RewardCreate,
    RewardList,
    RewardPublic,
    RewardUpdate,
    Sku,
    TypedData,
)
from gateway.services import redemption_acceptance as acceptance
from gateway.services import redemptions as service
from gateway.services import rewards as catalogue
from gateway.timeutil import as_utc
from network.store import Redemption, Reward

router = APIRouter(tags=["redemptions"])


async def get_points_view(chain: ChainDep, settings: SettingsDep) -> service.PointsView:
    """On the event loop (it does no I/O): a sync dependency is a hop to a worker thread."""
    return service.ChainPointsView(chain, settings)


def get_enqueue() -> Callable[[int], bool]:
    return process_redemption


PointsViewDep = Annotated[service.PointsView, Depends(get_points_view)]
EnqueueDep = Annotated[Callable[[int], bool], Depends(get_enqueue)]


def _reward(reward: Reward) -> RewardPublic:
    return RewardPublic(
        sku=reward.sku,
        name=reward.name,
        points=reward.points,
        stock=reward.stock,
        active=reward.active,
        created_at=as_utc(reward.created_at),
        updated_at=as_utc(reward.updated_at),
    )


def _consent(prepared: acceptance.PreparedConsent) -> ConsentPublic:
    consent = prepared.consent
    return ConsentPublic(
        redemption_id=prepared.redemption_id,
        customer_wallet=consent.customer,
        points=consent.points,
        ref="0x" + consent.ref.hex(),
        nonce=str(consent.nonce),
        deadline=consent.deadline,
        typed_data=TypedData(**prepared.typed_data),
    )


def _redemption(r: Redemption, base_url: str) -> RedemptionPublic:
    return RedemptionPublic(
        redemption_id=r.redemption_id,
        status=r.status,  # type: ignore[arg-type]
        sku=r.sku,
        quantity=r.quantity,
        points=r.points,
        customer_wallet=r.customer_wallet,
        custodial=r.custodial,
        ref=r.ref,
        nonce=r.nonce,
        deadline=r.deadline,
        tx_hash=r.tx_hash if r.status in ("burned", "fulfilled") else None,
        block_number=r.block_number,
        voucher_code=r.voucher_code if r.status == "fulfilled" else None,
        failure_reason=r.failure_reason,
        failure=service.failure_public(r.failure_reason),  # type: ignore[arg-type]
        accepted_at=as_utc(r.created_at),
        burned_at=as_utc(r.burned_at) if r.burned_at else None,
        finished_at=as_utc(r.finished_at) if r.finished_at else None,
        status_url=f"{base_url}/v1/redemptions/{r.redemption_id}",
    )


# ---------------------------------------------------------------------------------- catalogue


@router.post(
    "/v1/rewards",
    status_code=status.HTTP_201_CREATED,
    response_model=RewardPublic,
    summary="Add a reward to the partner's catalogue",
    responses=problem_responses("unauthorized", "validation-error", "sku-exists"),
)
def post_reward(body: RewardCreate, partner: CurrentPartner, session: SessionDep, response: Response) -> RewardPublic:
    """The sku is the partner's own id of the reward (409 ``sku-exists`` if taken; change a reward
    with PATCH). Customers redeem it for ``points`` per unit while it is active and in stock."""
    reward = catalogue.create_reward(session, partner=partner, body=body)
    response.headers["Location"] = f"/v1/rewards/{reward.sku}"
    answer = _reward(reward)
    session.commit()
    return answer


@router.get(
    "/v1/rewards",
    response_model=RewardList,
    summary="The partner's catalogue",
    responses=problem_responses("unauthorized"),
)
def list_rewards(partner: CurrentPartner, session: SessionDep) -> RewardList:
    """Every reward of the partner, active or not."""
    answer = RewardList(rewards=[_reward(r) for r in catalogue.list_rewards(session, partner=partner)])
    session.commit()
    return answer


@router.get(
    "/v1/rewards/{sku}",
    response_model=RewardPublic,
    summary="One reward of the partner's catalogue",
    responses=problem_responses("unauthorized", "not-found", "validation-error"),
)
def get_reward(sku: Sku, partner: CurrentPartner, session: SessionDep) -> RewardPublic:
    """One reward of the partner's catalogue, by its sku."""
    answer = _reward(catalogue.get_reward(session, partner=partner, sku=sku))
    session.commit()
    return answer


@router.patch(
    "/v1/rewards/{sku}",
    response_model=RewardPublic,
    summary="Change a reward's name, stock (units left; null: unlimited) or active flag",
    responses=problem_responses("unauthorized", "not-found", "validation-error"),
)
def patch_reward(sku: Sku, body: RewardUpdate, partner: CurrentPartner, session: SessionDep) -> RewardPublic:
    """Only the fields sent change. Redemptions already accepted keep the stock they reserved."""
    answer = _reward(catalogue.update_reward(session, partner=partner, sku=sku, body=body))
    session.commit()
    return answer


# ---------------------------------------------------------------------------------- redemptions


@router.post(
    "/v1/redemptions/consent",
    response_model=ConsentPublic,
    summary="The EIP-712 typed data the customer's wallet signs to consent to a redemption",
    responses=problem_responses(
        "unauthorized",
        "validation-error",
        "not-found",
        "reward-unavailable",
        "partner-suspended",
        "customer-not-linked",
        "chain-unavailable",
    ),
)
def post_consent(
    body: ConsentRequest, partner: CurrentPartner, session: SessionDep, settings: SettingsDep, view: PointsViewDep
) -> ConsentPublic:
    """Give ``typed_data`` to ``eth_signTypedData_v4`` in the customer's wallet, then post the
    redemption with the same redemption_id, sku, quantity and customer, and ``consent`` =
    {nonce, deadline, signature}. The nonce is the wallet's next in order (consecutive consents
    share a word of the contract's nonce bitmap, which makes each cheaper to redeem); the deadline
    is ``COALITION_REDEMPTION_CONSENT_TTL_S`` ahead."""
    answer = _consent(acceptance.prepare_consent(session, partner=partner, body=body, view=view, settings=settings))
    session.commit()
    return answer


@router.post(
    "/v1/redemptions",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RedemptionPublic,
    summary="Redeem a reward: the customer's points are burned, then a voucher is issued",
    responses=problem_responses(
        "unauthorized",
        "validation-error",
        "idempotency-conflict",
        "not-found",
        "partner-suspended",
        "reward-unavailable",
        "out-of-stock",
        "customer-not-linked",
        "consent-required",
        "custodial-limit-reached",
        "invalid-signature",
        "signature-expired",
        "nonce-used",
        "insufficient-points",
        "chain-unavailable",
    ),
)
def post_redemption(
    body: RedemptionCreate,
    partner: CurrentPartner,
    session: SessionDep,
    settings: SettingsDep,
    view: PointsViewDep,
    enqueue: EnqueueDep,
    response: Response,
) -> RedemptionPublic:
    """Idempotent on ``redemption_id`` (same body: the first answer; another body: 409). The
    consent is checked at once (signature, deadline, nonce, balance) and the stock reserved;
    without a consent, only a custodial customer named by this partner's own ref (the partner
    that created its wallet) is redeemed, the gateway signing, up to
    ``COALITION_CUSTODIAL_DAILY_POINTS_LIMIT`` points of that wallet in any 24 h;
    the answer is 202 and a worker burns the points, then issues the voucher: follow
    ``status_url`` (accepted, burning, burned, fulfilled, or failed with a reason)."""
    redemption, created = acceptance.accept_redemption(
        session, partner=partner, body=body, view=view, settings=settings
    )
    answer = _redemption(redemption, settings.public_url)
    session.commit()
    if created:
        enqueue(redemption.id)
    response.headers["Location"] = f"/v1/redemptions/{redemption.redemption_id}"
    return answer


@router.get(
    "/v1/redemptions/{redemption_id}",
    response_model=RedemptionPublic,
    summary="Where a redemption stands (the voucher code once fulfilled)",
    responses=problem_responses("unauthorized", "not-found", "validation-error"),
)
def get_redemption(
    redemption_id: Ident, partner: CurrentPartner, session: SessionDep, settings: SettingsDep
) -> RedemptionPublic:
    """Where the redemption stands: accepted, burning, burned, fulfilled (with the voucher code) or
    failed (with the reason; no points were burned)."""
    redemption = service.get_redemption(session, partner=partner, redemption_id=redemption_id)
    if redemption is None:
        raise NotFound(f"no redemption {redemption_id!r} of this partner")
    answer = _redemption(redemption, settings.public_url)
    session.commit()
    return answer
