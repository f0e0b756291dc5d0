"""Fixtures shared by the tests (pytest finds them here; no test module imports another).

The gateway's in-process tests: the app runs under ``TestClient`` on a fresh SQLite store in the
test's tmp dir, migrated by the real migrations (``tests.stores.migrated_store``), with settings
of its own and its outside world replaced by the fakes of ``tests/fakes.py``: no chain
(``NoChain``), the points contract as dicts (``FakePoints``), the redemption enqueue as a list of
ids (``enqueued``), the webhook broker as a recorder (``FakeQueue``). Partners are inserted as
rows, with keys from ``gateway.auth.new_api_key``.

A module changes one fixture by overriding it on top of this one, e.g. other settings::

    @pytest.fixture
    def settings(settings: GatewaySettings) -> GatewaySettings:
        return settings.model_copy(update={"custodial_daily_points_limit": 25})

Helpers that are not fixtures live in plain modules: ``tests/problems.py`` (``assert_problem``),
``tests/fakes.py``, ``tests/stores.py``, ``tests/gateway/{partners,purchases,redemptions,
webhooks,customers}.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from gateway import auth, enqueue
from gateway.chain import get_chain
from gateway.deps import get_session
from gateway.main import create_app
from gateway.routes.redemptions import get_enqueue, get_points_view
from gateway.settings import GatewaySettings, get_settings
from gateway.tasks import context
from gateway.tasks import webhooks as webhook_tasks
from network.store import Partner
from tests.fakes import FakePoints, FakeQueue, NoChain
from tests.gateway.partners import OPERATOR_TOKEN, PUBLIC_URL, TREASURY, PartnerKey, address
from tests.gateway.webhook_receiver import Receiver
from tests.stores import migrated_store

# tests/pg.py: ``pg_cluster`` (a throwaway PostgreSQL cluster per session) and ``store`` (the e2e
# and chaos stacks' store, parametrized [sqlite] and [postgresql])
pytest_plugins = ("tests.pg",)

# ---------------------------------------------------------------------------------- the store


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    """The URL of the test's own store (a SQLite file in its tmp dir)."""
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
def sessions(store_url: str) -> Iterator[sessionmaker[Session]]:
    """A session factory on the test's store, migrated to head."""
    factory = migrated_store(store_url)
    yield factory
    factory.kw["bind"].dispose()


# ---------------------------------------------------------------------------------- the gateway


@pytest.fixture
def settings(tmp_path: Path, store_url: str) -> GatewaySettings:
    return GatewaySettings(
        mode="local",
        operator_token=OPERATOR_TOKEN,
        database_url=store_url,
        public_url=PUBLIC_URL,
        keystore_dir=tmp_path / "keys",
    )


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


# ---------------------------------------------------------------------------------- webhooks


@pytest.fixture
def queue(
    monkeypatch: pytest.MonkeyPatch, settings: GatewaySettings, sessions: sessionmaker[Session]
) -> Iterator[FakeQueue]:
    """The webhook task's context on the test's store and settings, its broker a recorder."""
    fake = FakeQueue()
    monkeypatch.setattr(context, "settings", lambda: settings)
    monkeypatch.setattr(context, "sessions", lambda: sessions)
    monkeypatch.setattr(enqueue, "deliver_webhook", fake.deliver_webhook)
    webhook_tasks._http.cache_clear()
    yield fake
    webhook_tasks._http.cache_clear()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP server on 127.0.0.1 that records what it is sent (tests/gateway/webhook_receiver.py)."""
    with Receiver() as r:
        yield r
