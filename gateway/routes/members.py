"""Partner API: enrolment of its customers in the program, their profile and consents, and the
bulk import and export of its members (CSV). The rules: gateway/services/members.py (enrolment,
profiles, consents) and gateway/services/member_import.py (import, export)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse
from sqlalchemy.orm import Session, sessionmaker

from gateway.connections import get_sessions
from gateway.deps import CurrentPartner, SessionDep, SettingsDep
from gateway.problems import problem_responses
from gateway.routes.customer_common import SIGNED_PROBLEMS
from gateway.schemas import Ident
from gateway.schemas_customers import SignedMessage
from gateway.schemas_members import (
    EXAMPLE_EXPORT,
    ConsentChangesCreate,
    ConsentHistoryPublic,
    ConsentIn,
    EnrolmentCreate,
    ImportReportPublic,
    MemberConsentPublic,
    MemberPublic,
    ProfilePatch,
    RefusedRow,
)
from gateway.services import member_import, members
from gateway.services.member_import import ImportReport
from loyalty.members import IMPORT_COLUMNS, ConsentGiven

router = APIRouter(tags=["members"])

ENROL_PROBLEMS = (
    "unauthorized",
    "customer-enrolled",
    "customer-already-linked",
    "profile-invalid",
    "consent-invalid",
    "referral-code-unknown",
    *SIGNED_PROBLEMS,
)
MEMBER_PROBLEMS = ("unauthorized", "not-found", "validation-error")
EXAMPLE_CSV = (
    "ref,email,phone,birthday,locale,time_zone,attributes,referred_by_code,consent_email,consent_sms,consent_push\n"
    'c-1,alice@example.com,+33612345678,1990-04-01,fr-FR,Europe/Paris,"{""store"":""Lyon""}",,yes,no,\n'
    "c-2,bob@example.com,,,,,,7KQ4M2XW9P,,,\n"
)


def session_factory() -> sessionmaker[Session]:
    """The store's session factory: an export streams after the request's session is closed."""
    return get_sessions()


SessionsDep = Annotated[sessionmaker[Session], Depends(session_factory)]


def given_consents(consents: list[ConsentIn]) -> list[ConsentGiven]:
    return [ConsentGiven(c.channel, c.granted, c.source, c.scope, c.text_shown) for c in consents]


@router.post(
    "/v1/customers/{ref}/enrolment",
    status_code=status.HTTP_201_CREATED,
    response_model=MemberPublic,
    summary="Enrol your customer in the program (idempotent on the ref)",
    responses={
        status.HTTP_200_OK: {"model": MemberPublic, "description": "The same enrolment again: the member as it is now"},
        **problem_responses(*ENROL_PROBLEMS),
    },
)
def enrol(
    ref: Ident, body: EnrolmentCreate, partner: CurrentPartner, session: SessionDep, settings: SettingsDep
) -> JSONResponse:
    """Enrols the customer ``ref``: 201 with the member (their wallet, their own referral code to
    share). The same body again answers 200 with the member as it is now; another body, 409
    ``customer-enrolled`` (change the profile and consents with their own calls). Without
    ``wallet``, a ref not linked yet gets a custodial wallet, and a linked ref keeps its own."""
    wallet = _wallet_choice(body.wallet)
    view, replayed = members.enrol(
        session,
        settings,
        partner_id=partner.id,
        ref=ref,
        profile={k: v for k, v in body.given().items() if k not in ("consents", "referral_code", "wallet")},
        consents=given_consents(body.consents),
        referral_code=body.referral_code,
        wallet=wallet,
    )
    answer = MemberPublic.of(view).model_dump(mode="json")
    session.commit()
    return JSONResponse(answer, status_code=status.HTTP_200_OK if replayed else status.HTTP_201_CREATED)


def _wallet_choice(wallet: str | SignedMessage | None) -> members.WalletChoice:
    if isinstance(wallet, SignedMessage):
        return members.SignedWallet(message=wallet.message, signature=wallet.signature)
    return wallet


@router.get(
    "/v1/customers/{ref}/profile",
    response_model=MemberPublic,
    summary="The member: profile, referral codes, consents in force (yours and the coalition's)",
    responses=problem_responses(*MEMBER_PROBLEMS),
)
def get_profile(ref: Ident, partner: CurrentPartner, session: SessionDep) -> MemberPublic:
    """The profile is the customer's, one for the coalition; the consents shown are those in
    your scope and the coalition's. 404 for a ref you have not linked or enrolled."""
    answer = MemberPublic.of(members.partner_view(session, partner_id=partner.id, ref=ref))
    session.commit()
    return answer


@router.patch(
    "/v1/customers/{ref}/profile",
    response_model=MemberPublic,
    summary="Change profile fields (null clears one; the others stay)",
    responses=problem_responses(*MEMBER_PROBLEMS, "profile-invalid"),
)
def patch_profile(ref: Ident, body: ProfilePatch, partner: CurrentPartner, session: SessionDep) -> MemberPublic:
    """The profile is the customer's, one for the coalition: the latest change of a field wins."""
    view = members.partner_update_profile(session, partner_id=partner.id, ref=ref, fields=body.given())
    answer = MemberPublic.of(view)
    session.commit()
    return answer


@router.post(
    "/v1/customers/{ref}/consents",
    status_code=status.HTTP_201_CREATED,
    response_model=ConsentHistoryPublic,
    summary="Record consents given or withdrawn (every change is kept)",
    responses=problem_responses(*MEMBER_PROBLEMS, "consent-invalid"),
)
def post_consents(
    ref: Ident, body: ConsentChangesCreate, partner: CurrentPartner, session: SessionDep, settings: SettingsDep
) -> ConsentHistoryPublic:
    """Answers the history in your scope and the coalition's, oldest first. Send ``text_shown``, the
    words the customer saw. An email grant is recorded unconfirmed (``confirmed`` false) and the
    customer is emailed a link to confirm it (double opt-in): marketing email waits for it."""
    customer_id = members.customer_id_of_ref(session, partner_id=partner.id, ref=ref)
    members.change_consents(
        session, settings, customer_id=customer_id, consents=given_consents(body.consents), partner_id=partner.id
    )
    _, history = members.partner_consents(session, partner_id=partner.id, ref=ref)
    session.commit()
    return ConsentHistoryPublic(history=[MemberConsentPublic.of(c) for c in history])


@router.get(
    "/v1/customers/{ref}/consents",
    response_model=ConsentHistoryPublic,
    summary="The consents' history in your scope and the coalition's, oldest first",
    responses=problem_responses(*MEMBER_PROBLEMS),
)
def get_consents(ref: Ident, partner: CurrentPartner, session: SessionDep) -> ConsentHistoryPublic:
    """Every change in your scope and the coalition's (never another partner's), oldest first, with
    the words shown and, for email grants, whether the customer confirmed the address."""
    _, history = members.partner_consents(session, partner_id=partner.id, ref=ref)
    session.commit()
    return ConsentHistoryPublic(history=[MemberConsentPublic.of(c) for c in history])


IMPORT_DESCRIPTION = f"""A CSV file (UTF-8, comma-separated, first line: the column names) of
your customers, one a row. Columns: {", ".join(IMPORT_COLUMNS)} (any order; ref required; an
empty cell is a field not given). ``consent_*`` take yes or no, recorded with ``consent_source``
("import" if empty) in your scope; ``referred_by_code`` is the referral code the customer came
with; ``attributes`` a JSON object. Every new customer gets a custodial wallet."""


def import_report(report: ImportReport) -> ImportReportPublic:
    return ImportReportPublic(
        rows=report.rows,
        enrolled=report.enrolled,
        unchanged=report.unchanged,
        refused_count=len(report.refused),
        dry_run=report.dry_run,
        duration_ms=report.duration_ms,
        refused=[RefusedRow(line=r.line, ref=r.ref, field=r.field, reason=r.reason) for r in report.refused],
    )


IMPORT_BODY = {
    "requestBody": {
        "required": True,
        "description": IMPORT_DESCRIPTION,
        "content": {"text/csv": {"schema": {"type": "string"}, "example": EXAMPLE_CSV}},
    }
}


@router.post(
    "/v1/imports/customers",
    response_model=ImportReportPublic,
    summary="Import your customers from CSV: the valid rows all together, every refused row reported",
    responses=problem_responses("unauthorized", "import-invalid", "content-too-large"),
    openapi_extra=IMPORT_BODY,
)
async def import_customers(
    request: Request,
    partner: CurrentPartner,
    session: SessionDep,
    settings: SettingsDep,
    dry_run: Annotated[bool, Query(description="Check and report only: nothing is written")] = False,
) -> ImportReportPublic:
    """Every row is checked first; the valid rows are then enrolled in one transaction (all of
    them, or none if the store refuses one), and each refused row is answered with its line
    and reason. A ref enrolled already with the same data counts as ``unchanged`` (sending the
    file again is safe); with other data it is refused. The body may be up to
    ``COALITION_IMPORT_MAX_BODY_BYTES`` (32 MiB: well over 100,000 rows)."""
    text = (await request.body()).decode("utf-8-sig", errors="replace")
    report = await run_in_threadpool(
        _import, session, settings, partner_id=partner.id, text=text, dry_run=dry_run, requested_by="partner"
    )
    return import_report(report)


def _import(session: Session, settings: SettingsDep, **kwargs: object) -> ImportReport:
    report = member_import.import_members(session, settings, **kwargs)  # type: ignore[arg-type]
    if report.dry_run:
        session.rollback()
    session.commit()
    return report


@router.get(
    "/v1/exports/customers.csv",
    summary="Your members as CSV (streamed)",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/csv": {"schema": {"type": "string"}, "example": EXAMPLE_EXPORT}},
            "description": "One row per member",
        },
        **problem_responses("unauthorized"),
    },
)
def export_customers(partner: CurrentPartner, sessions: SessionsDep) -> StreamingResponse:
    """One row per member you enrolled or linked: your ref, the wallet, the profile, the referral
    codes, the consents in force in your scope. The import reads it back."""
    return StreamingResponse(
        member_import.export_csv(sessions, partner_id=partner.id),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="customers.csv"'},
    )
