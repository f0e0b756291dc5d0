"""Partner API: paying with points at the till. A hold of the customer's points (authorise: the
till's answer in milliseconds), its capture for a purchase (the points burn as a redemption at
this partner), its release. Partner-scoped: another partner's holds are 404."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from gateway.deps import CurrentPartner, SessionDep, SettingsDep
from gateway.problems import problem_responses
from gateway.routes.redemptions import EnqueueDep, PointsViewDep
from gateway.schemas_points import (
    HoldCapture,
    HoldConsentPublic,
    HoldConsentRequest,
    HoldCreate,
    HoldId,
    HoldPublic,
)
from gateway.schemas_redemptions import TypedData
from gateway.services import points_holds as service
from gateway.timeutil import as_utc
from loyalty.points_payments import to_money
from network.store import PointsHold, Redemption

router = APIRouter(tags=["points at the till"])

REFUSALS = (
    "unauthorized",
    "validation-error",
    "partner-suspended",
    "customer-not-linked",
    "points-amount-too-small",
    "consent-required",
    "custodial-limit-reached",
    "invalid-signature",
    "signature-expired",
    "nonce-used",
    "insufficient-points",
    "chain-unavailable",
)


def _hold(h: PointsHold, redemption: Redemption | None, base_url: str, given_back: int = 0) -> HoldPublic:
    burned = redemption is not None and redemption.status in ("burned", "fulfilled")
    return HoldPublic(
        hold_id=h.hold_id,
        status=h.status,  # type: ignore[arg-type]
        customer_wallet=h.customer_wallet,
        custodial=h.custodial,
        points=h.points,
        point_value=to_money(h.point_value),
        money_value=to_money(h.money_value),
        expires_at=as_utc(h.expires_at),
        purchase_id=h.purchase_id,
        captured_points=h.captured_points,
        captured_value=None if h.captured_points is None else to_money(h.captured_points * h.point_value),
        redemption_id=None if redemption is None else redemption.redemption_id,
        redemption_status=None if redemption is None else redemption.status,
        tx_hash=redemption.tx_hash if burned and redemption is not None else None,
        given_back_points=given_back,
        release_reason=h.release_reason,  # type: ignore[arg-type]
        authorised_at=as_utc(h.created_at),
        status_url=f"{base_url}/v1/points-holds/{h.hold_id}",
    )


@router.post(
    "/v1/points-holds/consent",
    response_model=HoldConsentPublic,
    summary="The EIP-712 typed data the customer's wallet signs to pay with points",
    responses=problem_responses(
        "unauthorized",
        "validation-error",
        "partner-suspended",
        "customer-not-linked",
        "points-amount-too-small",
        "chain-unavailable",
    ),
)
def post_hold_consent(
    body: HoldConsentRequest, partner: CurrentPartner, session: SessionDep, settings: SettingsDep, view: PointsViewDep
) -> HoldConsentPublic:
    """Give ``typed_data`` to ``eth_signTypedData_v4`` in the customer's wallet, then post the hold
    with the same hold_id, customer and amount (or points), and ``consent`` = {nonce, deadline,
    signature}. The signed ``Redeem`` is of the held points, with the ref of the hold's burn."""
    prepared = service.prepare_consent(session, partner=partner, body=body, view=view, settings=settings)
    consent = prepared.consent
    answer = HoldConsentPublic(
        hold_id=prepared.hold_id,
        customer_wallet=consent.customer,
        points=consent.points,
        money_value=to_money(prepared.quote.money_value),
        ref="0x" + consent.ref.hex(),
        nonce=str(consent.nonce),
        deadline=consent.deadline,
        typed_data=TypedData(**prepared.typed_data),
    )
    session.commit()
    return answer


@router.post(
    "/v1/points-holds",
    status_code=status.HTTP_201_CREATED,
    response_model=HoldPublic,
    summary="Authorise: hold the customer's points at the till (take their money value off the purchase)",
    responses=problem_responses(*REFUSALS, "idempotency-conflict"),
)
def post_hold(
    body: HoldCreate,
    partner: CurrentPartner,
    session: SessionDep,
    settings: SettingsDep,
    view: PointsViewDep,
    response: Response,
) -> HoldPublic:
    """Answers at once, as a card authorisation: 201 with the points held, their money value at
    this partner's point value (its reimbursement rate, cUSD per point) and the hold's expiry, or
    the refusal as a problem (``insufficient-points``, ``consent-required``, ``invalid-signature``,
    ...). The points are held in the store at once: no other hold or redemption can spend them.
    Capture it for the purchase before ``expires_at`` (``COALITION_POINTS_HOLD_TTL_S``) or it is
    released. Idempotent on ``hold_id`` (same body: the first answer, 200; another body: 409)."""
    hold, created = service.authorise(session, partner=partner, body=body, view=view, settings=settings)
    answer = _hold(hold, None, settings.public_url)
    session.commit()
    if not created:
        response.status_code = status.HTTP_200_OK
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"/v1/points-holds/{hold.hold_id}"
    return answer


@router.get(
    "/v1/points-holds/{hold_id}",
    response_model=HoldPublic,
    summary="Where a points hold stands (and its burn, once captured)",
    responses=problem_responses("unauthorized", "not-found", "validation-error"),
)
def get_hold(hold_id: HoldId, partner: CurrentPartner, session: SessionDep, settings: SettingsDep) -> HoldPublic:
    """Authorised (held until expires_at), captured (with its redemption's status and burn, and
    the points refunds of the purchase gave back) or released (by the partner, or at its expiry)."""
    hold = service.get_hold(session, partner=partner, hold_id=hold_id)
    given_back = service.given_back_for(session, hold)
    answer = _hold(hold, service.redemption_of(session, hold), settings.public_url, given_back)
    session.commit()
    return answer


@router.post(
    "/v1/points-holds/{hold_id}/capture",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=HoldPublic,
    summary="Capture a hold for a purchase: its points burn as a redemption at this partner",
    responses=problem_responses(
        "unauthorized",
        "validation-error",
        "not-found",
        "hold-not-open",
        "capture-exceeds-hold",
        "points-amount-too-small",
        "consent-required",
        "invalid-signature",
        "signature-expired",
        "nonce-used",
        "chain-unavailable",
    ),
)
def post_capture(
    hold_id: HoldId,
    body: HoldCapture,
    partner: CurrentPartner,
    session: SessionDep,
    settings: SettingsDep,
    view: PointsViewDep,
    enqueue: EnqueueDep,
) -> HoldPublic:
    """All of the hold, or a part (``amount`` or ``points``; the rest is released with it), for the
    partner's ``purchase_id``. 202: the burn is a redemption ``hold:<hold_id>`` that a worker relays
    (follow ``status_url``); it settles like any redemption at this partner. The same capture again
    answers the same; a captured hold cannot be captured for another purchase (409
    ``hold-not-open``). A partial capture of a signed hold needs the customer's consent for the
    captured points (POST /v1/points-holds/consent with the same hold_id)."""
    hold, redemption = service.capture(
        session, partner=partner, hold_id=hold_id, body=body, view=view, settings=settings
    )
    answer = _hold(hold, service.redemption_of(session, hold), settings.public_url)
    session.commit()
    if redemption is not None:
        enqueue(redemption.id)
    return answer


@router.post(
    "/v1/points-holds/{hold_id}/release",
    response_model=HoldPublic,
    summary="Release a hold: its points are free again",
    responses=problem_responses("unauthorized", "not-found", "validation-error", "hold-not-open"),
)
def post_release(hold_id: HoldId, partner: CurrentPartner, session: SessionDep, settings: SettingsDep) -> HoldPublic:
    """The sale went another way. Releasing a released (or expired) hold answers it again; a
    captured one is 409 ``hold-not-open``: refund the purchase to give the points back."""
    hold = service.release(session, partner=partner, hold_id=hold_id)
    answer = _hold(hold, None, settings.public_url)
    session.commit()
    return answer
