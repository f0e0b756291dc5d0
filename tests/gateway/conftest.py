"""Fixtures of the in-process gateway tests (tests/gateway): the app with its chain, points view
and enqueue replaced by fakes (tests/fakes.py), its client, and partners with keys.

They live here, not in tests/conftest.py, because tests/contracts (brownie) has module-scoped
fixtures of the same names (``points``, ``make_partner``): a function-scoped fixture of one of
those names above them breaks brownie's isolation (each test's snapshot is taken before the
module's deployment, so the second test finds its contracts gone)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from gateway import auth
from gateway.chain import get_chain
from gateway.deps import get_session
from gateway.main import create_app
from gateway.routes.redemptions import get_enqueue, get_points_view
from gateway.settings import GatewaySettings, get_settings
from network.store import Partner
from tests.fakes import FakePoints, NoChain
from tests.gateway.partners import TREASURY, PartnerKey, address


@pytest.fixture
def no_chain() -> NoChain:
    return NoChain()


@pytest.fixture
def points() -> FakePoints:
    return FakePoints()


@pytest.fixture
def enqueued() -> list[int]:
    """The ids of the redemptions the app enqueued (instead of Celery)."""
    return []


@pytest.fixture
def app(
    sessions: sessionmaker[Session],
    settings: GatewaySettings,
    no_chain: NoChain,
    points: FakePoints,
    enqueued: list[int],
) -> FastAPI:
    app = create_app()

    def session_override() -> Iterator[Session]:
        with sessions() as session:
            yield session

    def enqueue(pk: int) -> bool:
        enqueued.append(pk)
        return True

    app.dependency_overrides[get_session] = session_override
    app.dependency_overrides[get_settings] = lambda: settings
    app.dependency_overrides[get_chain] = no_chain.get_chain
    app.dependency_overrides[get_points_view] = lambda: points
    app.dependency_overrides[get_enqueue] = lambda: enqueue
    return app


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture
def make_partner(sessions: sessionmaker[Session]) -> Callable[..., PartnerKey]:
    """``make_partner(currency="EUR", points_per_unit="1.5", status="active")``: a partner row
    with the next id and a fresh API key."""
    ids = iter(range(1, 1000))

    def make(currency: str = "EUR", points_per_unit: str = "1.5", status: str = "active") -> PartnerKey:
        partner_id = next(ids)
        key = auth.new_api_key()
        with sessions() as session:
            session.add(
                Partner(
                    id=partner_id,
                    name=f"Partner {partner_id}",
                    minter=address(f"minter-{partner_id}"),
                    treasury=TREASURY,
                    api_key_prefix=key.prefix,
                    api_key_hash=key.hash,
                    currency=currency,
                    points_per_unit=Decimal(points_per_unit),
                    issue_price=10_000,
                    reimbursement_rate=8_000,
                    issuance_limit=10**12,
                    status=status,
                )
            )
            session.commit()
        return PartnerKey(partner_id, key.key)

    return make


@pytest.fixture
def partner(make_partner: Callable[..., PartnerKey]) -> PartnerKey:
    return make_partner()
