"""Fixtures shared by the tests (pytest finds them here; no test module imports another).

The gateway's in-process tests: the app runs under ``TestClient`` on a fresh SQLite store in the
test's tmp dir, migrated by the real migrations (``tests.stores.migrated_store``), with settings
of its own and its outside world replaced by the fakes of ``tests/fakes.py``: no chain
(``NoChain``), the points contract as dicts (``FakePoints``), the redemption enqueue as a list of
ids (``enqueued``), the webhook broker as a recorder (``FakeQueue``). Partners are inserted as
rows, with keys from ``gateway.auth.new_api_key``. The app, its client and the partners are in
``tests/gateway/conftest.py``: tests/contracts (brownie) has fixtures of the same names.

A module changes one fixture by overriding it on top of this one, e.g. other settings::

    @pytest.fixture
    def settings(settings: GatewaySettings) -> GatewaySettings:
        return settings.model_copy(update={"custodial_daily_points_limit": 25})

Helpers that are not fixtures live in plain modules: ``tests/problems.py`` (``assert_problem``),
``tests/fakes.py``, ``tests/stores.py``, ``tests/gateway/{partners,purchases,redemptions,
webhooks,customers}.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from gateway import enqueue
from gateway.settings import GatewaySettings
from gateway.tasks import context
from gateway.tasks import webhooks as webhook_tasks
from tests.fakes import FakeQueue
from tests.gateway.partners import OPERATOR_TOKEN, PUBLIC_URL
from tests.gateway.webhook_receiver import Receiver
from tests.stores import migrated_store

# tests/pg.py: ``pg_cluster`` (a throwaway PostgreSQL cluster per session) and ``store`` (the e2e
# and chaos stacks' store, parametrized [sqlite] and [postgresql])
pytest_plugins = ("tests.pg",)

# ---------------------------------------------------------------------------------- the order

# The longest files, longest first (pytest --durations, 2026-12-05). ``make test`` runs a file per
# xdist worker at a time in the order collected: a long file collected last ran alone at the end
# while the other worker idled (the stateful contract test, ~2 min, did so in stop 29's runs).
LONG_FILES = (
    "tests/contracts/test_invariants.py",
    "tests/e2e/test_purchases_e2e.py",
    "tests/gateway/test_input_parsing_unit.py",
    "tests/e2e/test_partner_sdk_e2e.py",
    "tests/e2e/test_dashboard_app_e2e.py",
    "tests/contracts/test_clearing.py",
    "tests/e2e/test_redemptions_e2e.py",
    "tests/network/test_sender_e2e.py",
    "tests/e2e/test_cli_e2e.py",
    "tests/chaos/test_worker_kills.py",
    "tests/chaos/test_fault_schedule.py",
    "tests/schemathesis/test_schemathesis_e2e.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The LONG_FILES first, in that order; every other file after them, as collected."""
    rank = {name: i for i, name in enumerate(LONG_FILES)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


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
