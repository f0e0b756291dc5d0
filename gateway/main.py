"""The FastAPI app: wires routers, error handlers and middleware, nothing else."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.telemetry import TelemetryConfig
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway import openapi, problems
from gateway.chain import check_chain_id
from gateway.deps import stop_purchase_writers
from gateway.errors import GatewayError
from gateway.guard import Refused, RequestGuard, refused_handler
from gateway.routes import (
    account,
    achievements,
    analytics,
    campaigns,
    churn,
    consent_links,
    customers,
    dashboard,
    earning_rules,
    expiry,
    me,
    me_api,
    me_members,
    members,
    memberships,
    message_callbacks,
    message_templates,
    messages,
    operator,
    operator_liability,
    operator_members,
    points_holds,
    purchases,
    redemptions,
    referrals,
    refunds,
    segments,
    settlement,
    sms_inbound,
    tiers,
    webhook_events,
    webhooks,
)
from gateway.routes import docs as docs_pages
from gateway.routes import problems as problem_pages
from gateway.settings import get_settings
from network.errors import ChainMismatchError, TransientRpcError

DESCRIPTION = """Partners post purchases (points are minted to the customer), redemptions and refunds.

**Credentials.** Every call sends `Authorization: Bearer <token>` ("Authorize" above): a partner's API key
(`partnerKey`, given once at onboarding) for the partner API, the operator token (`operatorToken`) for
`/v1/operator/...`, a customer token from `POST /v1/auth/session` (`customerToken`) for `/v1/me/...`.
Credentials are checked before the body is read.

**Retries.** Every write is idempotent on the id the partner gives it (`purchase_id`, `refund_id`,
`redemption_id`): the same id with the same body answers the first answer again; with another body, 409.

**Errors** are `application/problem+json` with a stable `type`: `/problems/<slug>` is a page that says what
it means and how to fix it (`/problems` lists them). A `validation-error` names each field and its reason.

**Webhooks.** What the gateway POSTs to your endpoints, event by event, is in the `webhooks` section; each
body is signed (`Coalition-Signature`; `partners/webhooks.py` verifies it).
"""
GC_THRESHOLDS = (20_000, 20, 20)  # fewer young collections: requests allocate a lot that dies at once
NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # A full collection walked every object of the imported libraries: 150 ms pauses, the p99.
    # What exists at start-up lives as long as the process: frozen out of the collector's walks.
    if gc.get_freeze_count() == 0:  # once a process (the tests start many apps in one)
        gc.collect()
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
    check_chain_id(app.dependency_overrides.get(get_settings, get_settings)())  # another chain: no start
    yield
    stop_purchase_writers()  # what is queued is written before the process ends


def create_app() -> FastAPI:
    app = FastAPI(
        lifespan=lifespan,
        telemetry=None if get_settings().request_telemetry else NO_TELEMETRY,
        title="Coalition loyalty network",
        version="0.1.0",
        description=DESCRIPTION,
        docs_url=None,  # served by gateway/routes/docs.py from vendored files: no CDN
        redoc_url=None,
        webhooks=webhook_events.router,  # documentation of what the gateway POSTs to partners
    )
    for module in (purchases, refunds, redemptions, webhooks, customers, me_api, operator, settlement, dashboard, me):
        app.include_router(module.router)
    app.include_router(account.router)
    for module in (members, me_members, operator_members):  # issue 16: enrolment, profiles, GDPR
        app.include_router(module.router)
    app.include_router(earning_rules.router)
    app.include_router(tiers.router)
    app.include_router(points_holds.router)
    app.include_router(expiry.router)  # issue 17: when points expire
    app.include_router(operator_liability.router)  # issue 17: the liability over time, net of expiry
    app.include_router(consent_links.router)  # issue 18: email confirmation, one-click unsubscribe
    app.include_router(sms_inbound.router)  # issue 18: the SMS provider's inbound STOP / START
    app.include_router(message_callbacks.router)  # issue 18: the SMS provider's status callbacks
    app.include_router(analytics.partner)  # issue 19: KPIs and RFM segments
    app.include_router(analytics.operator)
    app.include_router(segments.router)  # issue 19: operator-defined segments
    app.include_router(churn.operator)  # issue 19: churn risk, rewards you may like
    app.include_router(churn.customer)
    app.include_router(campaigns.operator)  # issue 20: campaigns
    app.include_router(campaigns.partner)
    app.include_router(memberships.router)  # issue 21: paid membership plans
    app.include_router(message_templates.router)  # issue 18: message templates, brands, previews
    app.include_router(messages.router)  # issue 18: the message log and delivery rates
    app.include_router(referrals.router)  # issue 20: referrals (audit, /v1/me/referral)
    app.include_router(achievements.router)  # issue 20: badges and progress
    app.include_router(docs_pages.router)
    app.include_router(problem_pages.router)
    openapi.install(app)  # security schemes, problem responses: gateway/openapi.py
    app.add_middleware(RequestGuard)  # the body cap, and credentials checked before a body is read
    app.add_exception_handler(GatewayError, problems.gateway_error_handler)
    app.add_exception_handler(Refused, refused_handler)
    app.add_exception_handler(TransientRpcError, problems.chain_error_handler)
    app.add_exception_handler(ChainMismatchError, problems.chain_error_handler)
    app.add_exception_handler(RequestValidationError, problems.validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, problems.http_error_handler)
    app.add_exception_handler(Exception, problems.unhandled_error_handler)

    @app.get(
        "/healthz",
        tags=["meta"],
        summary="Liveness",
        responses={200: {"content": {"application/json": {"example": {"status": "ok"}}}}},
    )
    def healthz() -> dict[str, str]:
        """Answers 200 while the process serves requests; it checks neither the chain nor the store."""
        return {"status": "ok"}

    return app


app = create_app()
