"""Dependencies of the routes, as ``Annotated`` aliases; tests override them."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from functools import lru_cache
from typing import Annotated

from fastapi import Depends, Header
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gateway import auth
from gateway.chain import Chain, get_chain
from gateway.errors import RateLimited, Unauthorized
from gateway.models import Partner
from gateway.ratelimit import RateLimiter, get_rate_limiter
from gateway.settings import GatewaySettings, get_settings
from network.store import open_store

SettingsDep = Annotated[GatewaySettings, Depends(get_settings)]


@lru_cache
def get_sessions() -> sessionmaker[Session]:
    return open_store(get_settings().database_url)


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


def current_partner(
    session: SessionDep,
    limiter: Annotated[RateLimiter, Depends(get_rate_limiter)],
    authorization: Annotated[str | None, Header()] = None,
) -> Partner:
    key = _bearer(authorization)
    prefix = auth.prefix_of(key)
    partner = session.scalar(select(Partner).where(Partner.api_key_prefix == prefix)) if prefix else None
    if partner is None or not auth.matches(key, partner.api_key_hash):
        raise Unauthorized("unknown API key")
    decision = limiter.take(partner.api_key_prefix)  # per key, one Redis round trip
    if not decision.allowed:
        session.commit()
        raise RateLimited(
            f"more than {limiter.rate} requests a second (burst {limiter.burst}) with this key; "
            f"retry after {decision.retry_after_header} s",
            headers={"Retry-After": decision.retry_after_header},
        )
    session.commit()  # ends the read: no pooled connection is held while the route waits for a worker thread
    return partner


def current_operator(settings: SettingsDep, authorization: Annotated[str | None, Header()] = None) -> None:
    token = _bearer(authorization)
    if not hmac.compare_digest(token.encode(), str(settings.operator_token).encode()):
        raise Unauthorized("unknown operator token")


CurrentPartner = Annotated[Partner, Depends(current_partner)]
OperatorDep = Annotated[None, Depends(current_operator)]
