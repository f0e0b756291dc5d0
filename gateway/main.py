"""The FastAPI app: wires routers, error handlers and middleware, nothing else."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.telemetry import TelemetryConfig
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway import errors
from gateway.chain import check_chain_id
from gateway.deps import stop_purchase_writers
from gateway.guard import Refused, RequestGuard, refused_handler
from gateway.routes import (
    account,
    customers,
    dashboard,
    me,
    operator,
    purchases,
    redemptions,
    refunds,
    settlement,
    webhooks,
)
from gateway.settings import get_settings
from network.errors import ChainMismatchError, TransientRpcError

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
        description="Partners post purchases (points are minted to the customer), redemptions and refunds. "
        "Errors are application/problem+json with a stable `type` (`/problems/<slug>`).",
    )
    for module in (purchases, refunds, redemptions, webhooks, customers, operator, settlement, dashboard, me, account):
        app.include_router(module.router)
    app.add_middleware(RequestGuard)  # the body cap, and credentials checked before a body is read
    app.add_exception_handler(errors.GatewayError, errors.gateway_error_handler)
    app.add_exception_handler(Refused, refused_handler)
    app.add_exception_handler(TransientRpcError, errors.chain_error_handler)
    app.add_exception_handler(ChainMismatchError, errors.chain_error_handler)
    app.add_exception_handler(RequestValidationError, errors.validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, errors.http_error_handler)
    app.add_exception_handler(Exception, errors.unhandled_error_handler)

    @app.get("/healthz", tags=["meta"], summary="Liveness")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


app = create_app()
