"""``POST /v1/webhooks/{id}/test`` (issue 14): a ``webhook.test`` event to that endpoint only,
signed and delivered like any other, under the same address policy. In process (TestClient, a
SQLite store), the delivery task called directly, a real local HTTP server as the endpoint."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from gateway.settings import GatewaySettings
from gateway.tasks import webhooks as tasks
from network.store import WebhookDelivery, WebhookEndpoint
from partners.webhooks import verify
from tests.fakes import FakeQueue
from tests.gateway.partners import PartnerKey
from tests.gateway.webhook_receiver import Receiver
from tests.gateway.webhooks import register, with_webhook_schedule
from tests.problems import assert_problem


@pytest.fixture
def settings(settings: GatewaySettings, sessions: sessionmaker[Session]) -> GatewaySettings:
    return with_webhook_schedule(settings)  # as tests/gateway/test_webhooks_unit.py, on a migrated store


def test_a_test_event_goes_to_that_endpoint_only_signed_like_any_other(
    client: TestClient, partner: PartnerKey, sessions: sessionmaker[Session], queue: FakeQueue, receiver: Receiver
) -> None:
    hook = register(client, partner, receiver.url, ["refund.failed"])  # not subscribed to webhook.test
    other = register(client, partner, receiver.url + "other", ["purchase.confirmed"])
    r = client.post(f"/v1/webhooks/{hook['id']}/test", headers=partner.headers)
    assert r.status_code == 202, r.text
    answered = r.json()
    assert (answered["event_type"], answered["status"], answered["attempts"]) == ("webhook.test", "pending", 0)
    assert queue.calls == [(answered["id"], None)]  # kicked at once
    with sessions() as s:
        rows = s.scalars(select(WebhookDelivery)).all()
        assert [(d.endpoint_id, d.event_type) for d in rows] == [(hook["id"], "webhook.test")]
    assert tasks.deliver(answered["id"]) == "delivered"
    (request,) = receiver.received
    event = verify(hook["secret"], request.body, request.headers["Coalition-Signature"])
    assert event["type"] == request.headers["Coalition-Event-Type"] == "webhook.test"
    assert event["data"]["endpoint_id"] == hook["id"] and event["partner_id"] == partner.id
    listed = client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=partner.headers).json()
    assert [(d["event_type"], d["status"]) for d in listed] == [("webhook.test", "delivered")]
    assert client.get(f"/v1/webhooks/{other['id']}/deliveries", headers=partner.headers).json() == []


def test_a_test_event_keeps_the_address_policy_at_delivery(
    client: TestClient, partner: PartnerKey, sessions: sessionmaker[Session], queue: FakeQueue
) -> None:
    hook = register(client, partner, "https://pos.example.com/hooks")
    with sessions() as s:  # a row that points inside (written before the rule, or edited in the store)
        s.execute(update(WebhookEndpoint).values(url="https://169.254.169.254/latest/meta-data/"))
        s.commit()
    delivery_id = client.post(f"/v1/webhooks/{hook['id']}/test", headers=partner.headers).json()["id"]
    assert tasks.deliver(delivery_id) == "retry"
    listed = client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=partner.headers).json()
    assert (listed[0]["last_status_code"], listed[0]["last_error"]) == (None, "address-not-allowed")


def test_another_partners_or_a_deleted_endpoint_cannot_be_tested(
    client: TestClient, make_partner: Callable[..., PartnerKey], queue: FakeQueue
) -> None:
    a, b = make_partner(), make_partner()
    hook = register(client, a, "https://a.example/hooks")
    assert_problem(client.post(f"/v1/webhooks/{hook['id']}/test", headers=b.headers), "not-found")
    assert_problem(client.post("/v1/webhooks/999/test", headers=a.headers), "not-found")
    assert_problem(client.post(f"/v1/webhooks/{hook['id']}/test"), "unauthorized")
    client.delete(f"/v1/webhooks/{hook['id']}", headers=a.headers)
    assert_problem(client.post(f"/v1/webhooks/{hook['id']}/test", headers=a.headers), "not-found")
    assert queue.calls == []
