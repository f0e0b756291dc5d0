"""The dashboard's message pages, read-only: the message log with its filters (GET
``/dashboard/messages``), one message with its events (GET ``/dashboard/messages/{id}``), the
mailbox of the embedded SMTP server (GET ``/dashboard/messages/mailbox`` and ``.../mailbox/{key}``)
and the delivery rates per kind and channel over a period (GET ``/dashboard/messages/rates``).

A mail's page allows inline styles (``style-src 'unsafe-inline'``): its HTML is shown in a sandboxed
``srcdoc`` iframe, which inherits the page's policy, and mails carry their styles inline. Scripts
stay refused (the policy's ``script-src 'self'`` and the sandbox), remote images too (``img-src``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from starlette.concurrency import run_in_threadpool

from gateway.deps import ChainDep, SessionDep, SettingsDep
from gateway.errors import NotFound
from gateway.pages import PageRoute
from gateway.routes.dashboard_common import SECURITY_HEADERS, OperatorCookie, page, signed_in, to_login
from gateway.services import dashboard_mailbox_view, dashboard_messages, dashboard_messages_view, mailbox
from gateway.services.date_range import RangeError

router = APIRouter(include_in_schema=False, route_class=PageRoute)
ACTIVE = "/dashboard/messages"
MAIL_CSP = SECURITY_HEADERS["Content-Security-Policy"].replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
Filter = Annotated[str, Query(max_length=40)]


@router.get("/dashboard/messages", response_class=Response)
def log_page(
    settings: SettingsDep,
    session: SessionDep,
    chain: ChainDep,
    cookie: OperatorCookie = None,
    status: Filter = "",
    kind: Filter = "",
    channel: Filter = "",
    partner: Filter = "",
    customer: Filter = "",
    before: Annotated[int | None, Query(ge=1, lt=2**62)] = None,
) -> Response:
    """The log, newest first, filtered by status, kind, channel, partner and customer."""
    if not signed_in(session, settings, cookie):
        return to_login()
    filters = dashboard_messages.LogFilters.read(
        {"status": status, "kind": kind, "channel": channel, "partner": partner, "customer": customer}
    )
    log = dashboard_messages.message_log(session, filters=filters, before=before)
    session.commit()
    content = dashboard_messages_view.log_page(log, tz=settings.display_timezone)
    return page(settings, chain.contracts.book.chain_id, cookie, title="Messages", active=ACTIVE, content=content)


@router.get("/dashboard/messages/mailbox", response_class=Response)
async def mailbox_page(
    settings: SettingsDep,
    session: SessionDep,
    chain: ChainDep,
    cookie: OperatorCookie = None,
    start: Annotated[int, Query(ge=0, lt=2**31)] = 0,
) -> Response:
    """What the embedded SMTP server received, newest first."""
    if not await run_in_threadpool(signed_in, session, settings, cookie):
        return to_login()
    found = await run_in_threadpool(mailbox.mail_list, settings.mailbox_path, start=start)
    content = dashboard_mailbox_view.mailbox_page(found, tz=settings.display_timezone)
    return page(settings, chain.contracts.book.chain_id, cookie, title="Mailbox", active=ACTIVE, content=content)


@router.get("/dashboard/messages/mailbox/{key}", response_class=Response)
async def mail_page(
    key: Annotated[str, Path(max_length=200)],
    settings: SettingsDep,
    session: SessionDep,
    chain: ChainDep,
    cookie: OperatorCookie = None,
) -> Response:
    """One mail: headers, plain text, HTML (sandboxed)."""
    if not await run_in_threadpool(signed_in, session, settings, cookie):
        return to_login()
    try:
        seen = await run_in_threadpool(mailbox.mail, settings.mailbox_path, key)
    except mailbox.MailNotFound as exc:
        raise NotFound(str(exc)) from exc
    content = dashboard_mailbox_view.mail_page(seen, tz=settings.display_timezone)
    answer = page(
        settings,
        chain.contracts.book.chain_id,
        cookie,
        title=f"Mail · {seen.row.subject}",
        active=ACTIVE,
        content=content,
    )
    answer.headers["Content-Security-Policy"] = MAIL_CSP
    return answer


@router.get("/dashboard/messages/rates", response_class=Response)
def rates_page(
    settings: SettingsDep,
    session: SessionDep,
    chain: ChainDep,
    cookie: OperatorCookie = None,
    start: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=10)] = None,
) -> Response:
    """Per kind and channel over the period: the counts per status, suppressions by reason, the rates."""
    if not signed_in(session, settings, cookie):
        return to_login()
    tz = settings.display_timezone
    error = None
    try:
        rates = dashboard_messages.requested_rates(session, tz=tz, start=start, end=end)
    except RangeError as exc:
        error = f"The period was not read: {exc}"
        rates = dashboard_messages.requested_rates(session, tz=tz, start=None, end=None)
    session.commit()
    content = dashboard_messages_view.rates_page(rates, error=error)
    return page(settings, chain.contracts.book.chain_id, cookie, title="Delivery rates", active=ACTIVE, content=content)


@router.get("/dashboard/messages/{message_id}", response_class=Response)
def message_page(
    message_id: Annotated[int, Path(ge=1, lt=2**62)],
    settings: SettingsDep,
    session: SessionDep,
    chain: ChainDep,
    cookie: OperatorCookie = None,
) -> Response:
    """One message and its log."""
    if not signed_in(session, settings, cookie):
        return to_login()
    seen = dashboard_messages.message_page(session, message_id=message_id)
    session.commit()
    content = dashboard_messages_view.message_page(seen, tz=settings.display_timezone)
    return page(
        settings, chain.contracts.book.chain_id, cookie, title=f"Message {message_id}", active=ACTIVE, content=content
    )
