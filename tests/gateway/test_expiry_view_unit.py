"""The expiry schedule as the partner API, /v1/me/expiry and the /me page show it: one date for the
whole balance (expiry by inactivity), the reminders' dates, and the plain sentence on /me."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from gateway.chain import get_chain
from gateway.deps import get_session
from gateway.main import create_app
from gateway.routes.expiry import expiry_public
from gateway.services.customer_views import expiry_section
from gateway.services.expiry_view import ExpiryView
from gateway.settings import GatewaySettings, get_settings
from tests.fakes import CHAIN_ID
from tests.gateway.customers import Api, customer_key, partner_headers
from tests.gateway.partners import PUBLIC_URL
from tests.problems import assert_problem
from tests.stores import migrated_store

DAY = 86_400
AT = int(datetime(2028, 12, 4, 9, 0, tzinfo=UTC).timestamp())
WALLET = "0x" + "ab" * 20


def _view(points: int = 1250, expires_at: int = AT, expired: int = 0) -> ExpiryView:
    return ExpiryView(WALLET, points, expires_at, expired, 730 * DAY, (30, 7))


def test_the_schedule_has_one_date_for_the_whole_balance_and_its_two_reminders() -> None:
    answer = expiry_public(_view())
    assert answer.expires_at == datetime(2028, 12, 4, 9, 0, tzinfo=UTC)
    [date] = answer.schedule
    assert (date.points, date.expires_at) == (1250, answer.expires_at)
    assert date.reminders == [
        datetime(2028, 11, 4, 9, 0, tzinfo=UTC),
        datetime(2028, 11, 27, 9, 0, tzinfo=UTC),
    ]
    assert answer.window_days == 730 and "One date holds for the whole balance" in answer.rule


def test_nothing_held_has_no_date_and_expired_points_no_future_date() -> None:
    empty = expiry_public(_view(points=0, expires_at=0))
    assert (empty.expires_at, empty.schedule) == (None, [])
    past = expiry_public(_view(expired=1250))
    assert past.expired_points == 1250 and past.schedule == []


def test_the_page_says_the_date_and_that_activity_moves_it() -> None:
    html = expiry_section(_view(), "PTS")
    assert 'data-figure="expiry-points" data-value="1250"' in html
    assert "expire on" in html and "04 December 2028" in html
    assert "unless you earn, spend or move points before" in html
    assert "one date for your whole balance" in html
    assert expiry_section(_view(points=0, expires_at=0), "PTS") == ""
    assert "burned at the next sweep" in expiry_section(_view(expired=1250), "PTS")


# --------------------------------------------------------------------------- the routes, in process


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    """The app on a migrated SQLite store; the chain a stub answering the points' views from ``balances``
    (fake, said plainly: expiresAtOf is ``AT`` for every wallet holding points)."""
    settings = GatewaySettings(
        state_dir=tmp_path, database_url=f"sqlite:///{tmp_path}/gateway.db", public_url=PUBLIC_URL, chain_id=CHAIN_ID
    )
    sessions = migrated_store(settings.database_url)
    balances: dict[str, int] = {}

    def view(fn: Callable[[str], int]) -> Callable[[str], SimpleNamespace]:
        return lambda w: SimpleNamespace(call=lambda: fn(w))

    functions = SimpleNamespace(
        balanceOf=view(lambda w: balances.get(w, 0)),
        expiresAtOf=view(lambda w: AT if balances.get(w) else 0),
        expiredPointsOf=view(lambda w: 0),
        expiryWindow=lambda: SimpleNamespace(call=lambda: 730 * DAY),
    )
    fake_chain = SimpleNamespace(contracts=SimpleNamespace(points=SimpleNamespace(functions=functions)))

    def session_dep() -> Iterator[Session]:
        with sessions() as session:
            yield session

    app = create_app()
    app.dependency_overrides[get_settings] = lambda: settings
    app.dependency_overrides[get_session] = session_dep
    app.dependency_overrides[get_chain] = lambda: fake_chain
    a, b = partner_headers(sessions, 1, "Grocer"), partner_headers(sessions, 2, "Books")
    with TestClient(app) as client:
        yield Api(client, sessions, settings, balances, a, b)


def test_a_partner_reads_its_customers_schedule_and_the_customer_its_own(api: Api) -> None:
    alice = customer_key("alice")
    assert api.link(api.a, "a-alice", alice).status_code == 200
    api.balances[alice.address] = 90
    answer = api.client.get("/v1/customers/a-alice/expiry", headers=api.a)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["wallet"], body["points"], body["expires_at"]) == (alice.address, 90, "2028-12-04T09:00:00Z")
    assert [d["points"] for d in body["schedule"]] == [90]
    assert api.client.get("/v1/me/expiry", headers=api.sign_in(alice)).json() == body
    assert_problem(api.client.get("/v1/customers/a-alice/expiry", headers=api.b), "not-found")  # not B's ref
    assert_problem(api.client.get("/v1/me/expiry", headers=api.a), "unauthorized")
