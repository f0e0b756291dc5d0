"""Dependencies of the routes, as ``Annotated`` aliases; tests override them."""

from __future__ import annotations

import hmac
import inspect
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_dependant, solve_dependencies
from fastapi.exceptions import RequestValidationError
from kombu.exceptions import KombuError
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope

from gateway import auth, enqueue
from gateway.chain import Chain, get_chain
from gateway.connections import get_sessions, store_sessions
from gateway.errors import RateLimited, Unauthorized
from gateway.ratelimit import Decision, RateLimiter, get_client_rate_limiter, get_rate_limiter, limiter_for
from gateway.request_settings import settings_dependency, settings_of_app
from gateway.services.purchase_writer import PurchaseWriter
from gateway.settings import GatewaySettings
from network.store import Partner

log = logging.getLogger(__name__)
SettingsDep = Annotated[GatewaySettings, Depends(settings_dependency)]
KEY_CACHE_TTL_S = 1.0  # a verified API key is trusted this long without a store read
PARTNER_ID = "coalition.partner_id"  # scope key: the partner whose key was checked before the body


def get_session() -> Iterator[Session]:
    with get_sessions()() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
ChainDep = Annotated[Chain, Depends(get_chain)]


def _bearer(authorization: str | None) -> str:
    scheme, _, credentials = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():  # the scheme name is case-insensitive
        raise Unauthorized("send 'Authorization: Bearer <key>'")
    return credentials.strip()


def _partner_of_key(session: Session, key: str) -> Partner:
    """The partner whose API key ``key`` is, or Unauthorized."""
    prefix = auth.prefix_of(key)
    partner = session.scalar(select(Partner).where(Partner.api_key_prefix == prefix)) if prefix else None
    if partner is None or not auth.matches(key, partner.api_key_hash):
        raise Unauthorized("unknown API key")
    return partner


def current_partner(
    request: Request,
    session: SessionDep,
    limiter: Annotated[RateLimiter, Depends(get_rate_limiter)],
    authorization: Annotated[str | None, Header()] = None,
) -> Partner:
    key = _bearer(authorization)
    partner_id = request.scope.get(PARTNER_ID)
    if partner_id is not None:  # checked and rate-limited before the body was read: the row, the key again
        partner = session.get(Partner, partner_id)
        session.commit()
        if partner is None or not auth.matches(key, partner.api_key_hash):
            raise Unauthorized("unknown API key")
        return partner
    partner = _partner_of_key(session, key)
    decision = limiter.take(partner.api_key_prefix)  # per key, a Redis round trip per lease
    if not decision.allowed:
        session.commit()
        raise _refuse(limiter, decision)
    session.commit()  # ends the read: no pooled connection is held while the route waits for a worker thread
    return partner


class VerifiedKeys:
    """API keys verified against the store in the last ``ttl_s``: key -> (partner id, prefix).

    Used by the hot write paths (purchases), which check the partner's status and earn rule
    again inside their own transaction, so a suspension or a re-rate takes effect at once
    there; a revoked key keeps working on this replica for at most ``ttl_s`` + ``grace_s``.
    When an entry expires, one request verifies it again while the others keep using it (for
    up to ``grace_s``), so that a busy key never sends all its requests to the store at once."""

    def __init__(
        self, ttl_s: float = KEY_CACHE_TTL_S, grace_s: float = KEY_CACHE_TTL_S, max_keys: int = 10_000
    ) -> None:
        self.ttl_s, self.grace_s, self.max_keys = ttl_s, grace_s, max_keys
        self._keys: dict[str, tuple[int, str, float]] = {}
        self._refreshing: set[str] = set()
        self._lock = threading.Lock()

    def get(self, key: str) -> tuple[int, str] | None:
        """The partner of a verified key; None when the caller must verify it (and put it)."""
        now = time.monotonic()
        with self._lock:
            hit = self._keys.get(key)
            if hit is None:
                return None
            if now < hit[2]:
                return hit[0], hit[1]
            if now < hit[2] + self.grace_s and key in self._refreshing:
                return hit[0], hit[1]  # another request is verifying it right now
            self._refreshing.add(key)
            return None

    def put(self, key: str, partner_id: int, prefix: str) -> None:
        with self._lock:
            if len(self._keys) >= self.max_keys:
                self._keys.clear()
            self._keys[key] = (partner_id, prefix, time.monotonic() + self.ttl_s)
            self._refreshing.discard(key)

    def forget(self, key: str) -> None:
        with self._lock:
            self._keys.pop(key, None)
            self._refreshing.discard(key)


_verified = VerifiedKeys()


def _verify_key(url: str, key: str) -> tuple[int, str]:
    with store_sessions(url)() as session:
        partner = _partner_of_key(session, key)
        return partner.id, partner.api_key_prefix


def _refuse(limiter: RateLimiter, decision: Decision) -> RateLimited:
    return RateLimited(
        f"more than {limiter.rate} requests a second (burst {limiter.burst}) with this key; "
        f"retry after {decision.retry_after_header} s",
        retry_after_s=int(decision.retry_after_header),
    )


def _limiter_of(app: Any, settings: GatewaySettings) -> RateLimiter:
    override = app.dependency_overrides.get(get_rate_limiter)
    return override() if override is not None else limiter_for(settings)


async def current_partner_id(request: Request, authorization: Annotated[str | None, Header()] = None) -> int:
    """The partner of the API key, for the hot paths: no thread and no store read while the
    key is in :class:`VerifiedKeys` and the rate limit has a lease (see ``gateway/ratelimit.py``);
    the settings and the limiter are looked up here rather than as dependencies (see
    :func:`gateway.settings.settings_of`). Checked once: on a route with a body, before the body
    was read (:func:`authenticate_first`)."""
    partner_id = request.scope.get(PARTNER_ID)
    return partner_id if partner_id is not None else await _authenticate_partner(request.scope, authorization)


async def _authenticate_partner(scope: Scope, authorization: str | None) -> int:
    """The partner of the key, remembered in the request's ``scope`` (see current_partner_id)."""
    settings = settings_of_app(scope["app"])
    limiter = _limiter_of(scope["app"], settings)
    key = _bearer(authorization)
    hit = _verified.get(key)
    if hit is None:
        try:
            hit = await run_in_threadpool(_verify_key, settings.database_url, key)
        except BaseException:
            _verified.forget(key)
            raise
        _verified.put(key, *hit)
    partner_id, prefix = hit
    decision = limiter.take_now(prefix)
    if decision is None:
        decision = await run_in_threadpool(limiter.take, prefix)
    if not decision.allowed:
        raise _refuse(limiter, decision)
    scope[PARTNER_ID] = partner_id
    return partner_id


_writers: dict[str, PurchaseWriter] = {}
_writers_lock = threading.Lock()


DRAIN_REQUEST_EVERY_S = 0.2
_drains_requested: dict[int, float] = {}


def _start_drains(partner_ids: set[int]) -> None:
    """Starts the partners' drains now rather than at the next beat tick (lower latency), at
    most once per ``DRAIN_REQUEST_EVERY_S`` a partner (a running drain looks for new work before
    it ends, and beat's dispatch finds any). Best effort: the purchases are stored already."""
    now = time.monotonic()
    for partner_id in sorted(partner_ids):
        if now - _drains_requested.get(partner_id, -1e9) < DRAIN_REQUEST_EVERY_S:
            continue
        _drains_requested[partner_id] = now
        try:
            enqueue.drain_partner(partner_id)
        except (RedisError, KombuError, OSError) as exc:
            log.warning("could not start the drain of partner %s now (beat will): %s", partner_id, exc)


def purchase_writer_for(settings: GatewaySettings) -> PurchaseWriter:
    """The group-commit writer of the settings' store (one per store and process)."""
    writer = _writers.get(settings.database_url)
    if writer is None:
        with _writers_lock:
            writer = _writers.get(settings.database_url)
            if writer is None:
                on_committed = _start_drains if settings.earn_start_on_accept else (lambda partners: None)
                writer = PurchaseWriter(store_sessions(settings.database_url), on_committed)
                _writers[settings.database_url] = writer
    return writer


def stop_purchase_writers() -> None:
    with _writers_lock:
        writers = list(_writers.values())
        _writers.clear()
    for writer in writers:
        writer.stop()


ClientLimiterDep = Annotated[RateLimiter, Depends(get_client_rate_limiter)]


def client_address(request: Request) -> str:
    """The caller's address; behind a reverse proxy, uvicorn sets it from X-Forwarded-For when
    the proxy is trusted (``--forwarded-allow-ips``, default 127.0.0.1)."""
    return request.client.host if request.client is not None else "unknown"


def client_refused(limiter: RateLimiter, decision: Decision, what: str) -> RateLimited:
    return RateLimited(
        f"too many {what} from this address (more than {limiter.rate:g} a second, burst {limiter.burst}); "
        f"retry after {decision.retry_after_header} s",
        retry_after_s=int(decision.retry_after_header),
    )


def limit_client(scope: str, what: str) -> Callable[[Request, RateLimiter], None]:
    """A route dependency: one token of the client address's ``scope`` bucket per request, or 429."""

    def take(request: Request, limiter: ClientLimiterDep) -> None:
        decision = limiter.take(f"{scope}:{client_address(request)}")
        if not decision.allowed:
            raise client_refused(limiter, decision, what)

    return take


def current_operator(
    request: Request,
    settings: SettingsDep,
    limiter: ClientLimiterDep,
    authorization: Annotated[str | None, Header()] = None,
) -> None:
    """The operator token, compared in constant time. Each wrong or missing token takes one of
    the client address's ``operator`` tokens (shared with the dashboard's login form); once they
    are spent, every request from that address is refused (429, the right token too) until the
    bucket refills, so guessing runs at that rate at most."""
    key = f"operator:{client_address(request)}"
    open_now = limiter.peek(key)
    if not open_now.allowed:
        raise client_refused(limiter, open_now, "operator credential attempts")
    try:
        token = _bearer(authorization)
        if not hmac.compare_digest(token.encode(), str(settings.operator_token).encode()):
            raise Unauthorized("unknown operator token")
    except Unauthorized:
        counted = limiter.take(key)
        if not counted.allowed:
            raise client_refused(limiter, counted, "operator credential attempts") from None
        raise


_dependants: dict[Callable[..., Any], Dependant] = {}


async def _run_dependency(request: Request, call: Callable[..., Any]) -> Any:
    """``call`` solved and called as FastAPI would (its own dependencies, the app's overrides)."""
    call = request.app.dependency_overrides.get(call, call)
    dependant = _dependants.get(call)
    if dependant is None:
        dependant = _dependants[call] = get_dependant(path="", call=call)
    solved = await solve_dependencies(
        request=request,
        dependant=dependant,
        dependency_overrides_provider=request.app,
        async_exit_stack=request.scope["fastapi_inner_astack"],
        embed_body_fields=False,
    )
    if solved.errors:
        raise RequestValidationError(solved.errors)
    if inspect.iscoroutinefunction(call):
        return await call(**solved.values)
    return await run_in_threadpool(call, **solved.values)


async def _partner_first(scope: Scope, receive: Receive) -> None:
    authorization = next((value for name, value in scope["headers"] if name == b"authorization"), None)
    await _authenticate_partner(scope, authorization.decode("latin-1") if authorization is not None else None)


async def _operator_first(scope: Scope, receive: Receive) -> None:
    # the route's own OperatorDep runs it again: it only peeks at the address's bucket when the
    # token is right, and a wrong one is refused here, so an attempt is counted once
    await _run_dependency(Request(scope, receive), current_operator)


# credential dependency -> its check before the body is read
FIRST_CHECKS: dict[Callable[..., Any], Callable[[Scope, Receive], Awaitable[None]]] = {
    current_partner_id: _partner_first,
    current_partner: _partner_first,
    current_operator: _operator_first,
}
_CHECK_ATTRIBUTE = "coalition_first_check"


def _first_check(dependant: Dependant) -> Callable[[Scope, Receive], Awaitable[None]] | None:
    for sub in dependant.dependencies:
        check = FIRST_CHECKS.get(sub.call) if sub.call is not None else None  # type: ignore[arg-type]
        if check is None:
            check = _first_check(sub)
        if check is not None:
            return check
    return None


async def authenticate_first(scope: Scope, receive: Receive) -> None:
    """Runs the credential check of the matched route before its body is read (called by
    ``gateway/guard.py`` when the route first pulls the body); a route without credentials
    (sign-in, the dashboard's forms) has none. The check is found once per route."""
    route = scope.get("route")
    check = getattr(route, _CHECK_ATTRIBUTE, False)
    if check is False:
        # only a route whose body FastAPI reads before the dependencies: on any other, a later
        # receive (a streamed answer listening for a disconnect) comes after the route's own check
        dependant = getattr(route, "dependant", None)
        has_body = getattr(route, "body_field", None) is not None
        check = _first_check(dependant) if dependant is not None and has_body else None
        if route is not None:
            setattr(route, _CHECK_ATTRIBUTE, check)
    if check is not None:
        await check(scope, receive)


CurrentPartner = Annotated[Partner, Depends(current_partner)]
CurrentPartnerId = Annotated[int, Depends(current_partner_id)]
OperatorDep = Annotated[None, Depends(current_operator)]
