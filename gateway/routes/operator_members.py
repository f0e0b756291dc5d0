"""Operator API for members: find a customer, download everything held about them (JSON), erase
their personal data, import a partner's customers from CSV, export every member as CSV.
Authenticated by the operator token. The rules: gateway/services/gdpr.py and member_import.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse

from gateway.deps import OperatorDep, SessionDep, SettingsDep
from gateway.errors import NotFound
from gateway.problems import problem_responses
from gateway.routes.members import IMPORT_BODY, SessionsDep, _import, import_report
from gateway.schemas import Address, Ident
from gateway.schemas_members import (
    EXAMPLE_DATA,
    EXAMPLE_OPERATOR_EXPORT,
    CustomerFound,
    ErasureCreate,
    ErasurePublic,
    ImportReportPublic,
)
from gateway.services import customer_records, gdpr, member_import, members
from gateway.timeutil import as_utc

router = APIRouter(prefix="/v1/operator", tags=["operator"], responses=problem_responses("rate-limited"))
CustomerId = Annotated[int, Path(ge=1, lt=2**62)]
PartnerId = Annotated[int, Path(ge=1, lt=2**32)]


@router.get(
    "/customers",
    response_model=CustomerFound,
    summary="Find a customer by wallet, or by a partner's ref",
    responses=problem_responses("unauthorized", "not-found", "validation-error"),
)
def find_customer(
    _: OperatorDep,
    session: SessionDep,
    wallet: Annotated[Address | None, Query()] = None,
    partner_id: Annotated[int | None, Query(ge=1, lt=2**32)] = None,
    ref: Annotated[Ident | None, Query()] = None,
) -> CustomerFound:
    """Give ``wallet``, or ``partner_id`` and ``ref``."""
    if wallet is not None:
        customer = customer_records.find_by_wallet(session, wallet=wallet)
    elif partner_id is not None and ref is not None:
        customer = customer_records.find_by_ref(session, partner_id=partner_id, ref=ref)
    else:
        raise NotFound("give wallet, or partner_id and ref")
    if customer is None:
        raise NotFound("no such customer")
    answer = CustomerFound(
        customer_id=customer.id,
        wallets=customer_records.wallets_of(session, customer_id=customer.id),
        member=members.is_member(session, customer_id=customer.id),
    )
    session.commit()
    return answer


@router.get(
    "/customers/{customer_id}/data",
    summary="Everything held about a customer, as JSON (GDPR access)",
    responses={
        200: {"description": "The customer's data", "content": {"application/json": {"example": EXAMPLE_DATA}}},
        **problem_responses("unauthorized", "not-found"),
    },
)
def customer_data(customer_id: CustomerId, _: OperatorDep, session: SessionDep) -> JSONResponse:
    """The profile, consents' history, wallets, partners' refs, purchases, refunds, redemptions,
    sessions and erasures of the customer, as the customer downloads them on /v1/me/data."""
    try:
        data = gdpr.data_of(session, customer_id=customer_id)
    except customer_records.CustomerNotFound as exc:
        raise NotFound(str(exc)) from exc
    session.commit()
    return JSONResponse(data)


@router.post(
    "/customers/{customer_id}/erasure",
    status_code=status.HTTP_201_CREATED,
    response_model=ErasurePublic,
    summary="Erase a customer's personal data (irreversible); the ledger and settlement stay",
    responses=problem_responses("unauthorized", "not-found", "validation-error"),
)
def erase_customer(customer_id: CustomerId, body: ErasureCreate, _: OperatorDep, session: SessionDep) -> ErasurePublic:
    """See gateway/services/gdpr.py for what is erased and what stays; recorded, with the event
    ``customer.erased``."""
    try:
        row = gdpr.erase(session, customer_id=customer_id, requested_by="operator")
    except customer_records.CustomerNotFound as exc:
        raise NotFound(str(exc)) from exc
    answer = ErasurePublic(
        customer_id=row.customer_id, requested_by=row.requested_by, erased_at=as_utc(row.erased_at), erased=row.erased
    )
    session.commit()
    return answer


@router.post(
    "/partners/{partner_id}/imports/customers",
    response_model=ImportReportPublic,
    summary="Import a partner's customers from CSV (as the partner's own import)",
    responses=problem_responses("unauthorized", "not-found", "import-invalid", "content-too-large"),
    openapi_extra=IMPORT_BODY,
)
async def import_for_partner(
    partner_id: PartnerId,
    request: Request,
    _: OperatorDep,
    session: SessionDep,
    settings: SettingsDep,
    dry_run: Annotated[bool, Query()] = False,
) -> ImportReportPublic:
    """The partner's import (POST /v1/imports/customers) run by the operator, e.g. when a partner
    joins with its existing members. 404 for an unknown partner."""
    await run_in_threadpool(member_import.check_partner, session, partner_id=partner_id)
    text = (await request.body()).decode("utf-8-sig", errors="replace")
    report = await run_in_threadpool(
        _import, session, settings, partner_id=partner_id, text=text, dry_run=dry_run, requested_by="operator"
    )
    return import_report(report)


@router.get(
    "/exports/customers.csv",
    summary="Every member as CSV (streamed): one row per partner ref, and members with none",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "One row per partner ref of each member",
            "content": {"text/csv": {"schema": {"type": "string"}, "example": EXAMPLE_OPERATOR_EXPORT}},
        },
        **problem_responses("unauthorized"),
    },
)
def export_all(_: OperatorDep, sessions: SessionsDep) -> StreamingResponse:
    """One row per partner ref of each member (customer_id and partner_id first), and one for a
    member with no partner (enrolled on /me); the consents are those to the coalition."""
    return StreamingResponse(
        member_import.export_csv(sessions, partner_id=None),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="members.csv"'},
    )
