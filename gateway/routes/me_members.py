"""The customer's own membership on ``/me``: enrol with the wallet signed in (no partner
needed), read and change the profile and consents, download everything held about them (JSON),
and erase their personal data. A read-only session (a sign-in link's) reads, never writes.
The rules: gateway/services/members.py and gateway/services/gdpr.py."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, status
from fastapi.responses import JSONResponse

from gateway.deps import SessionDep, SettingsDep, _bearer
from gateway.errors import ReadOnlySession
from gateway.problems import problem_responses
from gateway.routes.me_api import CurrentCustomer
from gateway.routes.members import given_consents
from gateway.schemas_consents import ConsentCellsPut, ConsentRowPublic, MyConsentsPublic
from gateway.schemas_members import (
    EXAMPLE_DATA,
    ConsentHistoryPublic,
    ErasureCreate,
    ErasurePublic,
    MeConsentChangesCreate,
    MeEnrolmentCreate,
    MemberConsentPublic,
    MemberPublic,
    ProfilePatch,
)
from gateway.services import consent_grid, gdpr, members, wallet_auth
from gateway.timeutil import as_utc
from loyalty.members import ConsentGiven

router = APIRouter(tags=["customers"])


def writing_customer(
    wallet: CurrentCustomer, session: SessionDep, authorization: Annotated[str | None, Header()] = None
) -> str:
    """The wallet of a customer session that may write (signed in with the wallet itself, not
    opened by a custodian's sign-in link)."""
    via = wallet_auth.customer_session(session, _bearer(authorization)).via
    session.commit()
    if via != "wallet":
        raise ReadOnlySession("this session was opened by a sign-in link and is read-only")
    return wallet


WritingCustomer = Annotated[str, Depends(writing_customer)]


@router.post(
    "/v1/me/enrolment",
    status_code=status.HTTP_201_CREATED,
    response_model=MemberPublic,
    summary="Join the program with the wallet signed in (no partner needed)",
    responses={
        status.HTTP_200_OK: {"model": MemberPublic, "description": "The same enrolment again: the member as it is now"},
        **problem_responses(
            "unauthorized",
            "read-only-session",
            "customer-enrolled",
            "profile-invalid",
            "consent-invalid",
            "referral-code-unknown",
            "validation-error",
        ),
    },
)
def enrol_me(
    wallet: WritingCustomer, body: MeEnrolmentCreate, session: SessionDep, settings: SettingsDep
) -> JSONResponse:
    """201 with the member (and their own referral code to share); the same body again, 200; another
    body, 409 ``customer-enrolled``. Consents given here are to the coalition itself."""
    view, replayed = members.enrol_me(
        session,
        settings,
        wallet=wallet,
        profile={k: v for k, v in body.given().items() if k not in ("consents", "referral_code")},
        consents=given_consents(body.consents),
        referral_code=body.referral_code,
    )
    answer = MemberPublic.of(view).model_dump(mode="json")
    session.commit()
    return JSONResponse(answer, status_code=status.HTTP_200_OK if replayed else status.HTTP_201_CREATED)


@router.get(
    "/v1/me/profile",
    response_model=MemberPublic,
    summary="The signed-in member: profile, referral codes, every consent in force",
    responses=problem_responses("unauthorized", "not-enrolled"),
)
def get_my_profile(wallet: CurrentCustomer, session: SessionDep) -> MemberPublic:
    """The profile, the member's own referral code and the one they came with, and every consent
    in force (to the coalition and to each partner)."""
    answer = MemberPublic.of(members.me_view(session, wallet=wallet))
    session.commit()
    return answer


@router.patch(
    "/v1/me/profile",
    response_model=MemberPublic,
    summary="Change my profile fields (null clears one)",
    responses=problem_responses("unauthorized", "read-only-session", "not-enrolled", "profile-invalid"),
)
def patch_my_profile(wallet: WritingCustomer, body: ProfilePatch, session: SessionDep) -> MemberPublic:
    """The fields sent change (null clears one); the others keep their value."""
    customer_id = members.customer_of_me(session, wallet=wallet)
    members.update_profile(session, customer_id=customer_id, fields=body.given())
    answer = MemberPublic.of(members.me_view(session, wallet=wallet))
    session.commit()
    return answer


@router.post(
    "/v1/me/consents",
    status_code=status.HTTP_201_CREATED,
    response_model=ConsentHistoryPublic,
    summary="Give or withdraw my consents, to the coalition or to a partner",
    responses=problem_responses("unauthorized", "read-only-session", "not-enrolled", "consent-invalid", "not-found"),
)
def post_my_consents(
    wallet: WritingCustomer, body: MeConsentChangesCreate, session: SessionDep, settings: SettingsDep
) -> ConsentHistoryPublic:
    """A withdrawal to a partner stops that partner's messages on the channel from now on."""
    customer_id = members.customer_of_me(session, wallet=wallet)
    for c in body.consents:
        scope = "coalition" if c.partner_id is None else "partner"
        members.change_consents(
            session,
            settings,
            customer_id=customer_id,
            consents=[ConsentGiven(c.channel, c.granted, c.source, scope, c.text_shown)],
            partner_id=c.partner_id,
        )
    history = members.consents_of(session, customer_id=customer_id)
    session.commit()
    return ConsentHistoryPublic(history=[MemberConsentPublic.of(c) for c in history])


@router.get(
    "/v1/me/consents",
    response_model=MyConsentsPublic,
    summary="My consents: the grid in force (the coalition and each partner, by channel) and the history",
    responses=problem_responses("unauthorized", "not-enrolled"),
)
def get_my_consents(wallet: CurrentCustomer, session: SessionDep) -> MyConsentsPublic:
    """The grid: the coalition and each partner you have a ref with, a cell per channel (granted,
    pending your email's confirmation, withdrawn, unset); the history: every change ever recorded."""
    customer_id = members.customer_of_me(session, wallet=wallet)
    answer = _my_consents(session, customer_id)
    session.commit()
    return answer


def _my_consents(session: SessionDep, customer_id: int) -> MyConsentsPublic:
    return MyConsentsPublic(
        grid=[ConsentRowPublic.of(r) for r in consent_grid.grid(session, customer_id=customer_id)],
        history=[MemberConsentPublic.of(c) for c in members.consents_of(session, customer_id=customer_id)],
    )


@router.put(
    "/v1/me/consents",
    response_model=MyConsentsPublic,
    summary="Set cells of my consents' grid (only the cells that change are recorded)",
    responses=problem_responses("unauthorized", "read-only-session", "not-enrolled", "consent-invalid", "not-found"),
)
def put_my_consents(
    wallet: WritingCustomer, body: ConsentCellsPut, session: SessionDep, settings: SettingsDep
) -> MyConsentsPublic:
    """Each cell changed is a new row (source ``me``, with the words /me shows); an email allowed
    is ``pending`` until you confirm it from the email sent to you (double opt-in)."""
    customer_id = members.customer_of_me(session, wallet=wallet)
    changes = [consent_grid.CellChange(c.channel, c.partner_id, c.granted) for c in body.cells]
    consent_grid.set_cells(session, settings, customer_id=customer_id, changes=changes)
    answer = _my_consents(session, customer_id)
    session.commit()
    return answer


@router.get(
    "/v1/me/data",
    summary="Everything held about me, as JSON (GDPR access and portability)",
    responses={
        200: {
            "description": "profile, member, consents, enrolments, wallets, links, purchases, refunds, tier, ...",
            "content": {"application/json": {"example": EXAMPLE_DATA}},
        },
        **problem_responses("unauthorized", "not-found"),
    },
)
def my_data(wallet: CurrentCustomer, session: SessionDep) -> JSONResponse:
    """The profile, the consents' whole history, the wallets, the partners' refs, every
    purchase, refund and redemption, the sessions and the erasures, as one JSON document."""
    data = _data_of_wallet(session, wallet)
    session.commit()
    return JSONResponse(data, headers={"Content-Disposition": 'attachment; filename="my-data.json"'})


def _data_of_wallet(session: SessionDep, wallet: str) -> dict[str, Any]:
    customer_id = members.customer_id_of_wallet(session, wallet=wallet)
    return gdpr.data_of(session, customer_id=customer_id)


@router.post(
    "/v1/me/erasure",
    status_code=status.HTTP_201_CREATED,
    response_model=ErasurePublic,
    summary="Erase my personal data (irreversible); my points and the ledger stay",
    responses=problem_responses("unauthorized", "read-only-session", "not-found", "validation-error"),
)
def erase_me(wallet: WritingCustomer, body: ErasureCreate, session: SessionDep) -> ErasurePublic:
    """The profile, contacts and partners' refs are erased, the consents' history pseudonymised,
    this session and every other one ended; the points, the wallet and every amount of the
    history stay (they are the ledger's). Irreversible."""
    customer_id = members.customer_id_of_wallet(session, wallet=wallet)
    row = gdpr.erase(session, customer_id=customer_id, requested_by="customer")
    answer = ErasurePublic(
        customer_id=row.customer_id, requested_by=row.requested_by, erased_at=as_utc(row.erased_at), erased=row.erased
    )
    session.commit()
    return answer
