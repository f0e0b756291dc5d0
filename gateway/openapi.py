"""The OpenAPI document as a partner integrates from it: FastAPI's, with what it cannot infer.

- **Credentials as security schemes.** The routes read ``Authorization`` as a plain header
  (gateway/deps.py; gateway/guard.py checks it before the body is read), so FastAPI publishes a
  free-text header parameter. Here that parameter is replaced by a bearer scheme of the right
  kind on every operation whose dependencies check one (the partner key, the operator token, a
  customer token): Swagger UI gets its Authorize button, and nothing changes at run time.
- **Problems, not FastAPI's 422.** An operation with parameters gets FastAPI's
  ``HTTPValidationError`` 422, which the gateway never answers; it becomes the
  ``validation-error`` problem. ``Problem`` is the schema of every problem+json answer.
- **Problems every route of a kind can answer**: 429 ``rate-limited`` on every partner-key route
  (the key's rate limit, gateway/deps.py) and every operator route (wrong operator tokens from
  one address, ``COALITION_AUTH_RATE_LIMIT_*``), and 413 ``content-too-large`` on every route with a
  body (the cap of gateway/guard.py), added where a route does not list them.
- **Parameters** that the routes leave undescribed get their description and example from
  ``PARAMETERS``, by name (a route's own description wins).

The schema is built once per app (FastAPI caches it); tests/gateway/test_openapi_unit.py walks it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel

from gateway.deps import current_operator, current_partner, current_partner_id
from gateway.problems import PROBLEM_SCHEMA, problem_responses
from gateway.routes.me_api import current_customer

PARTNER, OPERATOR, CUSTOMER = "partnerKey", "operatorToken", "customerToken"
SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    PARTNER: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "API key",
        "description": "The partner's API key, given once when the operator onboards the partner "
        "(`Authorization: Bearer ck_...`). Every /v1 route of a partner is scoped to that partner.",
    },
    OPERATOR: {
        "type": "http",
        "scheme": "bearer",
        "description": "The network operator's token (COALITION_OPERATOR_TOKEN): /v1/operator/... only.",
    },
    CUSTOMER: {
        "type": "http",
        "scheme": "bearer",
        "description": "A customer's session token from POST /v1/auth/session (sign in with the wallet): "
        "/v1/me/... only.",
    },
}
# the dependency that checks a credential -> its security scheme
CREDENTIALS: dict[Callable[..., Any], str] = {
    current_partner: PARTNER,
    current_partner_id: PARTNER,
    current_operator: OPERATOR,
    current_customer: CUSTOMER,
}
# name -> (description, example) of the path and query parameters the routes share
PARAMETERS: dict[str, tuple[str, Any]] = {
    "purchase_id": ("The partner's own id of the purchase (the purchase_id it was posted with)", "order-1042"),
    "refund_id": ("The partner's own id of the refund", "refund-1042-1"),
    "redemption_id": ("The partner's own id of the redemption", "redeem-77"),
    "hold_id": ("The partner's own id of the points hold", "till-7-0042"),
    "ref": ("The partner's own reference of its customer (a loyalty card number, an account id)", "loyalty-0042"),
    "address": ("A customer's wallet address, EIP-55 checksummed", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"),
    "sku": ("The partner's own id of the reward", "COFFEE-1"),
    "endpoint_id": ("The webhook endpoint's id (the `id` of POST /v1/webhooks)", 1),
    "partner_id": ("The partner's id (the `id` of its onboarding answer)", 1),
    "period_id": ("The settlement period's id", 1),
    "cursor": ("Where the page starts: the next_cursor of the previous page (absent: the newest)", 1),
    "limit": ("The most items in the answer", 20),
    "status": ("Only the items in this status", "failed"),
    "before": ("Only the items with a smaller id (the next page of a list, newest first)", 100),
    "only_differences": ("Only the reports that found a difference between the store and the chain", False),
    "customer_id": ("The customer's internal id (GET /v1/operator/customers finds it)", 1),
    "wallet": ("A customer's wallet address, EIP-55 checksummed", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"),
    "dry_run": ("Check and report only: nothing is written", False),
}


def _credential(dependant: Dependant) -> str | None:
    for sub in dependant.dependencies:
        scheme = CREDENTIALS.get(sub.call) if sub.call is not None else None  # type: ignore[arg-type]
        if scheme is None:
            scheme = _credential(sub)
        if scheme is not None:
            return scheme
    return None


def _securities(app: FastAPI) -> dict[tuple[str, str], str]:
    """(path, method) -> security scheme of every documented route that checks a credential."""
    found: dict[tuple[str, str], str] = {}
    for route in iter_route_contexts(app.routes):  # as FastAPI's get_openapi walks them (included routers)
        if isinstance(route.original_route, APIRoute) and route.include_in_schema:
            scheme = _credential(route.dependant)
            if scheme is not None:
                for method in route.methods:
                    found[(route.path_format, method.lower())] = scheme
    return found


def _polish_operation(operation: dict[str, Any], scheme: str | None, *, served: bool = True) -> None:
    parameters = [p for p in operation.get("parameters", []) if p["name"].lower() != "authorization"]
    if scheme is not None:
        operation["security"] = [{scheme: []}]
    for parameter in parameters:
        described, example = PARAMETERS.get(parameter["name"], (None, None))
        if described is not None:
            parameter.setdefault("description", described)
            if "example" not in parameter and "examples" not in parameter:
                parameter["example"] = example
    if parameters:
        operation["parameters"] = parameters
    else:
        operation.pop("parameters", None)
    responses = operation.get("responses", {})
    fastapi_422 = responses.get("422", {}).get("content", {}).get("application/json", {}).get("schema", {})
    if fastapi_422.get("$ref") == "#/components/schemas/HTTPValidationError":
        responses["422"] = problem_responses("validation-error")[422]
    if served:  # answered whatever the route declares: the partner key's rate limit, the body cap (guard.py)
        if scheme in (PARTNER, OPERATOR):  # a key's rate limit; wrong operator tokens per address
            responses.setdefault("429", problem_responses("rate-limited")[429])
        if "requestBody" in operation:
            responses.setdefault("413", problem_responses("content-too-large")[413])


def polish(app: FastAPI, schema: dict[str, Any]) -> dict[str, Any]:
    securities = _securities(app)
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            _polish_operation(operation, securities.get((path, method)))
    for operation in (op for ops in schema.get("webhooks", {}).values() for op in ops.values()):
        _polish_operation(operation, None, served=False)  # what the gateway sends, not what it answers
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {}).update(SECURITY_SCHEMES)
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    _examples_with_nulls(schemas)
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return schema


def _models(cls: type[BaseModel]) -> list[type[BaseModel]]:
    found = []
    for sub in cls.__subclasses__():
        if sub.__module__.startswith("gateway."):
            found.append(sub)
        found += _models(sub)
    return found


def _examples_with_nulls(schemas: dict[str, Any]) -> None:
    """FastAPI drops every null of the document it encodes, those of examples too: a field that is
    null in an example (a purchase not minted yet has no tx_hash) would be missing, and the
    example invalid. The examples are taken again from their models, nulls and all."""
    models = {model.__name__: model for model in _models(BaseModel)}
    for name, schema in schemas.items():
        model = models.get(name)
        extra = model.model_config.get("json_schema_extra") if model is not None else None
        if callable(extra):
            built: dict[str, Any] = {}
            extra(built, model)  # type: ignore[call-arg, arg-type]
            extra = built
        if isinstance(extra, dict) and "examples" in extra:
            schema["examples"] = extra["examples"]


def install(app: FastAPI) -> None:
    """``app.openapi`` answers the polished schema (built once, as FastAPI's own)."""
    build = app.openapi
    polished: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        schema = build()
        if not polished or polished[0] is not schema:
            polished[:] = [polish(app, schema)]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
