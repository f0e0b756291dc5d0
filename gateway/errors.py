"""Domain errors of the gateway and their problem+json form (RFC 9457).

Every error a client can see has a stable ``type`` (``/problems/<slug>``), a title, the HTTP
status, and a detail that says what was wrong and what to do.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from network.errors import ChainMismatchError

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"

# slug -> (status, title): the catalogue of every problem type the API returns
PROBLEMS: dict[str, tuple[int, str]] = {
    "validation-error": (422, "The request is not valid"),
    "unauthorized": (401, "Missing or unknown credentials"),
    "forbidden": (403, "Not allowed with these credentials"),
    "not-found": (404, "No such resource"),
    "method-not-allowed": (405, "Method not allowed"),
    "idempotency-conflict": (409, "The same id was used with another body"),
    "partner-exists": (409, "A partner with this name or minter is onboarded already"),
    "customer-not-linked": (422, "The customer reference is linked to no wallet"),
    "currency-not-accepted": (422, "The partner's earn rule does not cover this currency"),
    "no-points": (422, "The purchase earns no points"),
    "amount-too-large": (422, "The amount is above the largest purchase accepted"),
    "partner-suspended": (409, "The partner is suspended"),
    "rate-limited": (429, "Too many requests"),
    "chain-unavailable": (503, "The chain cannot be reached; retry later"),
    "internal-error": (500, "Internal error"),
    "sku-exists": (409, "The partner has a reward with this sku already"),
    "reward-unavailable": (409, "The reward is not active"),
    "out-of-stock": (409, "Not enough of the reward is left in stock"),
    "consent-required": (422, "A self-custody wallet must send its signed consent"),
    "invalid-signature": (422, "The consent is not signed by the customer's wallet"),
    "signature-expired": (422, "The consent's deadline has passed"),
    "nonce-used": (409, "The consent's nonce was used already (a replayed consent)"),
    "insufficient-points": (422, "The customer has fewer points than the redemption needs"),
    # --- redemptions and rewards (add above this line)
    "purchase-not-confirmed": (409, "The purchase is not confirmed on chain yet"),
    "refund-exceeds-purchase": (422, "The refund is more than what remains of the purchase"),
    "refund-window-closed": (409, "The purchase's refund window has closed on chain"),
    "webhook-url-not-allowed": (422, "The webhook URL is not allowed"),
    "too-many-webhooks": (409, "The partner has the most webhook endpoints allowed"),
    # --- refunds, webhooks, rate limit (add above this line)
    "challenge-unknown": (422, "The message is not a challenge this gateway issued for this purpose"),
    "challenge-mismatch": (422, "The message is for another domain, chain, customer, or was altered"),
    "challenge-expired": (422, "The challenge has expired; ask for a new one"),
    "challenge-used": (409, "The challenge was used already; ask for a new one"),
    "wallet-signature-invalid": (422, "The signature is not the message's address signing this message"),
    "customer-already-linked": (409, "The customer reference is linked to a wallet already"),
    "wallet-not-custodial": (409, "The customer's wallet is not a custodial wallet the gateway holds"),
    "custodial-wallet-released": (409, "The custodial wallet's key was released to its customer"),
    "custodial-limit-reached": (422, "The custodial wallet's spending in the last 24 h would pass the daily limit"),
    "custodial-release-pending": (409, "The custodial wallet's release was asked for; its key is handed over later"),
    # --- customers and custody (add above this line)
    "nothing-to-settle": (409, "No points activity to settle since the last settled period"),
    "chain-rejected": (409, "The chain refused the operator's transaction"),
    # --- operator: partners, settlement, reconciliation (add above this line)
    "content-too-large": (413, "The request body is larger than the gateway accepts"),
    # --- request limits (add above this line)
    "partner-funds-exhausted": (409, "The partner's issuance headroom is used up"),
    "partner-minter-unknown": (409, "The gateway's minter key for the partner is not its minter on chain"),
    "points-already-spent": (409, "The customer has spent the points the refund would claw back"),
    "network-paused": (503, "The coalition's operator has paused the points token"),
    "transaction-refused": (409, "The chain refused the transaction; the coalition's operator has to look at it"),
    # --- why an accepted purchase, refund or redemption failed or waits: the ``failure`` of
    # --- their status answers, from gateway/failures.py (add above this line)
}


def problem_type(slug: str) -> str:
    return f"/problems/{slug}"


class GatewayError(Exception):
    """Root of the gateway's domain errors; each maps to one problem type."""

    slug = "internal-error"

    def __init__(self, detail: str, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}  # e.g. Retry-After of a rate-limited answer
        self.extra = extra


def _error(slug: str) -> type[GatewayError]:
    return type("".join(p.title() for p in slug.split("-")) + "Error", (GatewayError,), {"slug": slug})


Unauthorized = _error("unauthorized")
Forbidden = _error("forbidden")
NotFound = _error("not-found")
IdempotencyConflict = _error("idempotency-conflict")
PartnerExists = _error("partner-exists")
CustomerNotLinked = _error("customer-not-linked")
CurrencyNotAccepted = _error("currency-not-accepted")
NoPoints = _error("no-points")
AmountTooLarge = _error("amount-too-large")
PartnerSuspended = _error("partner-suspended")
RateLimited = _error("rate-limited")
ChainUnavailable = _error("chain-unavailable")
SkuExists = _error("sku-exists")
RewardUnavailable = _error("reward-unavailable")
OutOfStock = _error("out-of-stock")
ConsentRequired = _error("consent-required")
InvalidSignature = _error("invalid-signature")
SignatureExpired = _error("signature-expired")
NonceUsed = _error("nonce-used")
InsufficientPoints = _error("insufficient-points")
# --- redemptions and rewards (add above this line)
PurchaseNotConfirmed = _error("purchase-not-confirmed")
RefundExceedsPurchase = _error("refund-exceeds-purchase")
RefundWindowClosed = _error("refund-window-closed")
WebhookUrlNotAllowed = _error("webhook-url-not-allowed")
TooManyWebhooks = _error("too-many-webhooks")
# --- refunds, webhooks, rate limit (add above this line)
ChallengeUnknown = _error("challenge-unknown")
ChallengeMismatch = _error("challenge-mismatch")
ChallengeExpired = _error("challenge-expired")
ChallengeUsed = _error("challenge-used")
WalletSignatureInvalid = _error("wallet-signature-invalid")
CustomerAlreadyLinked = _error("customer-already-linked")
WalletNotCustodial = _error("wallet-not-custodial")
CustodialWalletReleased = _error("custodial-wallet-released")
CustodialLimitReached = _error("custodial-limit-reached")
CustodialReleasePending = _error("custodial-release-pending")
# --- customers and custody (add above this line)
NothingToSettle = _error("nothing-to-settle")
ChainRejected = _error("chain-rejected")
# --- operator: partners, settlement, reconciliation (add above this line)
ContentTooLarge = _error("content-too-large")
# --- request limits (add above this line)


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "stable: /problems/<slug>"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}, "description": "validation-error only"},
    },
}


def problem_responses(*slugs: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the problems a route can answer, grouped by status."""
    by_status: dict[int, list[str]] = {}
    for slug in slugs:
        by_status.setdefault(PROBLEMS[slug][0], []).append(slug)
    return {
        status: {
            "description": "; ".join(f"{problem_type(s)}: {PROBLEMS[s][1]}" for s in names),
            "content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}},
        }
        for status, names in sorted(by_status.items())
    }


def problem(slug: str, detail: str, instance: str | None = None, **extra: Any) -> JSONResponse:
    status, title = PROBLEMS[slug]
    body = {"type": problem_type(slug), "title": title, "status": status, "detail": detail, **extra}
    if instance:
        body["instance"] = instance
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


async def gateway_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GatewayError)
    response = problem(exc.slug, exc.detail, str(request.url.path), **exc.extra)
    response.headers.update(exc.headers)
    return response


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"], "kind": e["type"]} for e in exc.errors()
    ]
    fields = ", ".join(e["field"] for e in errors)
    return problem("validation-error", f"invalid fields: {fields}", str(request.url.path), errors=errors)


async def http_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    # 400: FastAPI's "There was an error parsing the body" (bytes that are not JSON text): invalid input
    slugs = {400: "validation-error", 401: "unauthorized", 403: "forbidden", 404: "not-found"}
    slugs[405] = "method-not-allowed"
    slugs[413] = "content-too-large"  # e.g. Starlette's own form limits
    slug = slugs.get(exc.status_code, "internal-error")
    return problem(slug, str(exc.detail), str(request.url.path))


async def unhandled_error_handler(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem("internal-error", "an unexpected error occurred; it was logged", str(request.url.path))


async def chain_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """The chain layer refused to connect: a node that cannot be reached (retry later), or one
    that serves another chain id than the settings name (logged with both ids for the operator;
    the client is told only to retry)."""
    path = request.url.path
    if isinstance(exc, ChainMismatchError):
        log.error("the chain is refused: %s", exc)
        return problem("chain-unavailable", "the gateway cannot use its chain right now; retry later", path)
    return problem("chain-unavailable", f"the chain cannot be reached ({type(exc).__name__}); retry later", path)
