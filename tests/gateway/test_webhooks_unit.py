"""Unit tests of webhooks: signatures and their verifier, secrets at rest, the backoff schedule,
the delivery state machine against a real local HTTP server, the exactly-once purchase events,
and the scoping of endpoints to their partner.

In process, with fakes: the app runs under ``TestClient`` on a SQLite store; the webhook task
functions are called directly, with the Celery broker replaced by a recorder of what would be
enqueued (``FakeQueue``). The receiver is a real HTTP server (tests/gateway/webhook_receiver.py).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from gateway.secrets_box import NONCE_BYTES, Sealed, open_sealed, seal
from gateway.services import webhook_delivery
from gateway.services import webhooks as service
from gateway.settings import GatewaySettings, max_countdown_s
from gateway.tasks import webhooks as tasks
from network.outcomes import purchases_settled
from network.store import (
    MIGRATIONS,
    EventCursor,
    OutboxPurchase,
    PurchaseStatus,
    WebhookDelivery,
    WebhookEndpoint,
    make_engine,
    migrate,
)
from network.store.events import record
from partners.webhooks import WebhookSignatureError, sign, verify
from tests.fakes import FakeQueue
from tests.gateway.partners import PartnerKey
from tests.gateway.purchases import purchase_body
from tests.gateway.webhook_receiver import Receiver
from tests.gateway.webhooks import register, with_webhook_schedule
from tests.problems import assert_problem

SECRET = "whsec_unit"
BODY = b'{"id":"evt_1","type":"purchase.confirmed"}'


@pytest.fixture
def settings(settings: GatewaySettings, sessions: sessionmaker[Session]) -> GatewaySettings:
    return with_webhook_schedule(settings)  # on a migrated store (sessions)


def make_due(sessions: sessionmaker[Session], delivery_id: int) -> None:
    """Time passes: the delivery's next attempt is due (instead of sleeping through the backoff)."""
    with sessions() as s:
        s.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id)
            .values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        s.commit()


def delivery(sessions: sessionmaker[Session], delivery_id: int) -> WebhookDelivery:
    with sessions() as s:
        found = s.get(WebhookDelivery, delivery_id)
        assert found is not None
        return found


def emit(sessions: sessionmaker[Session], partner_id: int, event_type: str = "purchase.confirmed") -> list[int]:
    with sessions() as s:
        ids = service.emit(s, partner_id, event_type, {"purchase_id": "p-1"})
        s.commit()
    return ids


# ------------------------------------------------------------------ signature and verifier


def test_verify_accepts_a_fresh_signature_and_returns_the_event() -> None:
    now = 1_800_000_000
    assert verify(SECRET, BODY, sign(SECRET, BODY, now), now=now + 10) == json.loads(BODY)


@pytest.mark.parametrize(
    ("body", "secret", "signed_at", "why"),
    [
        (BODY.replace(b"confirmed", b"failed"), SECRET, 1_800_000_000, "no signature matches"),
        (BODY, "whsec_other", 1_800_000_000, "no signature matches"),
        (BODY, SECRET, 1_800_000_000 - 301, "outside the 300 s window"),
        (BODY, SECRET, 1_800_000_000 + 301, "outside the 300 s window"),
    ],
    ids=["tampered-body", "wrong-secret", "old-timestamp", "future-timestamp"],
)
def test_verify_refuses(body: bytes, secret: str, signed_at: int, why: str) -> None:
    header = sign(secret, BODY, signed_at)  # signed over the original body
    with pytest.raises(WebhookSignatureError, match=why):
        verify(SECRET, body, header, now=1_800_000_000)


def test_verify_refuses_a_replayed_signature_with_a_new_timestamp() -> None:
    t = 1_800_000_000
    v1 = sign(SECRET, BODY, t).split(",")[1]
    with pytest.raises(WebhookSignatureError, match="no signature matches"):
        verify(SECRET, BODY, f"t={t + 1000},{v1}", now=t + 1000)


@pytest.mark.parametrize("header", ["", "t=1", "v1=ab", "t=x,v1=ab", "garbage"])
def test_verify_refuses_a_malformed_header(header: str) -> None:
    with pytest.raises(WebhookSignatureError):
        verify(SECRET, BODY, header, now=1)


def test_secret_is_sealed_at_rest_for_its_own_row() -> None:
    row = {"endpoint_id": 7, "partner_id": 3}
    blob = service.encrypt_secret("whsec_abc", "key-one", **row)
    assert b"whsec_abc" not in blob
    assert service.decrypt_secret(blob, "key-one", **row) == "whsec_abc"
    with pytest.raises(ValueError):
        service.decrypt_secret(blob, "key-two", **row)
    with pytest.raises(ValueError):
        service.decrypt_secret(blob[:-1] + bytes([blob[-1] ^ 1]), "key-one", **row)
    for other in ({"endpoint_id": 8, "partner_id": 3}, {"endpoint_id": 7, "partner_id": 4}):
        with pytest.raises(ValueError, match="does not open"):
            service.decrypt_secret(blob, "key-one", **other)


# ------------------------------------------------------------------ backoff


def test_backoff_doubles_with_jitter_and_is_capped(settings: GatewaySettings) -> None:
    rng = random.Random(7)
    for attempts, full in [(1, 10), (2, 20), (3, 40), (4, 60), (9, 60)]:
        waits = [webhook_delivery.backoff_s(attempts, settings, rng) for _ in range(200)]
        assert all(full / 2 <= w <= full for w in waits), (attempts, min(waits), max(waits))
        assert max(waits) - min(waits) > full / 4  # jitter spreads retries
    huge = settings.model_copy(update={"webhook_backoff_cap_s": 10**9, "webhook_backoff_base_s": 10**6})
    assert webhook_delivery.backoff_s(30, huge, rng) <= max_countdown_s(huge)


# ------------------------------------------------------------------ endpoints and scoping


def test_register_returns_the_secret_once_and_stores_it_encrypted(
    client: TestClient, partner: PartnerKey, sessions: sessionmaker[Session]
) -> None:
    created = register(client, partner, "https://pos.example.com/hooks", ["refund.failed", "purchase.confirmed"])
    assert created["secret"].startswith("whsec_")
    assert created["event_types"] == ["purchase.confirmed", "refund.failed"]
    shown = client.get(f"/v1/webhooks/{created['id']}", headers=partner.headers)
    assert shown.status_code == 200 and "secret" not in shown.json()
    assert [w["id"] for w in client.get("/v1/webhooks", headers=partner.headers).json()] == [created["id"]]
    with sessions() as s:
        stored = s.get(WebhookEndpoint, created["id"])
        assert stored is not None and created["secret"].encode() not in stored.secret_encrypted
    rotated = client.post(f"/v1/webhooks/{created['id']}/rotate-secret", headers=partner.headers)
    assert rotated.status_code == 200 and rotated.json()["secret"] not in ("", created["secret"])


@pytest.mark.parametrize(
    ("url", "slug"),
    [
        ("http://pos.example.com/hooks", "webhook-url-not-allowed"),
        ("https://user:pw@pos.example.com/hooks", "webhook-url-not-allowed"),
        ("ftp://pos.example.com/hooks", "webhook-url-not-allowed"),
        ("not a url at all", "webhook-url-not-allowed"),
    ],
)
def test_register_refuses_urls(client: TestClient, partner: PartnerKey, url: str, slug: str) -> None:
    r = client.post("/v1/webhooks", headers=partner.headers, json={"url": url, "event_types": ["purchase.confirmed"]})
    assert_problem(r, slug)


def test_register_refuses_unknown_event_types(client: TestClient, partner: PartnerKey) -> None:
    for types in (["purchase.minted"], []):
        r = client.post(
            "/v1/webhooks", headers=partner.headers, json={"url": "https://a.example/h", "event_types": types}
        )
        assert_problem(r, "validation-error")


def test_another_partners_endpoint_is_not_found(
    client: TestClient, make_partner: Callable[..., PartnerKey], sessions: sessionmaker[Session]
) -> None:
    a, b = make_partner(), make_partner()
    hook = register(client, a, "https://a.example/hooks")
    path = f"/v1/webhooks/{hook['id']}"
    assert client.get("/v1/webhooks", headers=b.headers).json() == []
    assert_problem(client.get(path, headers=b.headers), "not-found")
    assert_problem(client.get(f"{path}/deliveries", headers=b.headers), "not-found")
    assert_problem(client.post(f"{path}/rotate-secret", headers=b.headers), "not-found")
    assert_problem(client.delete(path, headers=b.headers), "not-found")
    assert client.get(path, headers=a.headers).status_code == 200  # B's attempts changed nothing
    assert emit(sessions, b.id) == []  # B's events never reach A's endpoint
    assert len(emit(sessions, a.id)) == 1
    assert client.delete(path, headers=a.headers).status_code == 204
    assert_problem(client.get(path, headers=a.headers), "not-found")


# ------------------------------------------------------------------ emit and delivery


def test_emit_records_one_delivery_per_subscribed_active_endpoint(
    client: TestClient, partner: PartnerKey, sessions: sessionmaker[Session]
) -> None:
    register(client, partner, "https://a.example/1", ["purchase.confirmed"])
    register(client, partner, "https://a.example/2", ["purchase.confirmed", "refund.confirmed"])
    gone = register(client, partner, "https://a.example/3", ["purchase.confirmed"])
    client.delete(f"/v1/webhooks/{gone['id']}", headers=partner.headers)
    ids = emit(sessions, partner.id, "purchase.confirmed")
    assert len(ids) == 2
    assert len(emit(sessions, partner.id, "refund.confirmed")) == 1
    assert emit(sessions, partner.id, "refund.failed") == []
    with sessions() as s:
        rows = s.scalars(select(WebhookDelivery).where(WebhookDelivery.id.in_(ids))).all()
        assert len({r.event_id for r in rows}) == 1 and rows[0].payload["type"] == "purchase.confirmed"
    with pytest.raises(ValueError):
        emit(sessions, partner.id, "purchase.eaten")


def test_retried_with_backoff_until_delivered_then_never_resent(
    client: TestClient, partner: PartnerKey, sessions: sessionmaker[Session], queue: FakeQueue, receiver: Receiver
) -> None:
    hook = register(client, partner, receiver.url)
    receiver.statuses[:] = [500, 503]
    (delivery_id,) = emit(sessions, partner.id)

    assert tasks.deliver(delivery_id) == "retry"
    first = delivery(sessions, delivery_id)
    assert (first.status, first.attempts, first.last_status_code) == ("pending", 1, 500)
    wait = (first.next_attempt_at.replace(tzinfo=UTC) - datetime.now(UTC)).total_seconds()
    assert 4 <= wait <= 10  # base 10 s, equal jitter
    assert queue.calls[-1][0] == delivery_id and 5 <= (queue.calls[-1][1] or 0) <= 10

    assert tasks.deliver(delivery_id) == "not-due"  # a redelivered message before its time sends nothing
    assert tasks.sweep()["enqueued"] == 0
    assert len(receiver.received) == 1

    make_due(sessions, delivery_id)
    assert tasks.sweep()["enqueued"] == 1
    assert tasks.deliver(delivery_id) == "retry"
    make_due(sessions, delivery_id)
    assert tasks.deliver(delivery_id) == "delivered"
    assert tasks.deliver(delivery_id) == "done"
    make_due(sessions, delivery_id)
    assert tasks.sweep()["enqueued"] == 0
    assert receiver.answered == [500, 503, 200]

    event_ids = {r.headers["Coalition-Event-Id"] for r in receiver.received}
    for r in receiver.received:
        event = verify(hook["secret"], r.body, r.headers["Coalition-Signature"])
        assert event["type"] == r.headers["Coalition-Event-Type"] == "purchase.confirmed"
        assert event["id"] in event_ids
    assert len(event_ids) == 1  # the same event each time: the partner dedupes on it

    listed = client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=partner.headers).json()
    assert [(d["status"], d["attempts"], d["last_status_code"]) for d in listed] == [("delivered", 3, 200)]


def test_failed_after_max_attempts_and_kept(
    client: TestClient, partner: PartnerKey, sessions: sessionmaker[Session], queue: FakeQueue, receiver: Receiver
) -> None:
    hook = register(client, partner, receiver.url)
    receiver.statuses[:] = [500] * 10
    (delivery_id,) = emit(sessions, partner.id)
    results = []
    for _ in range(3):
        make_due(sessions, delivery_id)
        results.append(tasks.deliver(delivery_id))
    assert results == ["retry", "retry", "failed"]
    make_due(sessions, delivery_id)
    assert tasks.deliver(delivery_id) == "done"
    assert len(receiver.received) == 3
    failed = client.get(f"/v1/webhooks/{hook['id']}/deliveries?status=failed", headers=partner.headers).json()
    assert [(d["attempts"], d["last_status_code"], d["last_error"]) for d in failed] == [(3, 500, "http-status")]


def test_unreachable_endpoint_counts_an_attempt(
    client: TestClient, partner: PartnerKey, sessions: sessionmaker[Session], queue: FakeQueue
) -> None:
    with Receiver() as closed:
        url = closed.url
    register(client, partner, url)  # nothing listens there any more
    (delivery_id,) = emit(sessions, partner.id)
    assert tasks.deliver(delivery_id) == "retry"
    row = delivery(sessions, delivery_id)
    assert (row.attempts, row.last_status_code, row.last_error) == (1, None, "connection-refused")


def test_deleting_the_endpoint_fails_its_pending_deliveries(
    client: TestClient, partner: PartnerKey, sessions: sessionmaker[Session], queue: FakeQueue, receiver: Receiver
) -> None:
    hook = register(client, partner, receiver.url)
    (delivery_id,) = emit(sessions, partner.id)
    client.delete(f"/v1/webhooks/{hook['id']}", headers=partner.headers)
    assert tasks.deliver(delivery_id) == "done"
    assert delivery(sessions, delivery_id).status == "failed" and receiver.received == []


def test_purchase_events_are_emitted_once_per_final_purchase(
    client: TestClient, partner: PartnerKey, sessions: sessionmaker[Session], queue: FakeQueue
) -> None:
    """The sender writes a final purchase's event with its status (network/outcomes.py, called
    here as its change points do); the webhook consumer turns it into deliveries, once."""
    register(client, partner, "https://a.example/h", ["purchase.confirmed", "purchase.failed"])
    for pid in ("p-1", "p-2", "p-3"):
        assert client.post("/v1/purchases", headers=partner.headers, json=purchase_body(pid)).status_code == 202
    tasks.publish()
    assert deliveries(sessions) == []  # all still queued: purchase.accepted is no webhook
    with sessions() as s:
        s.execute(
            update(OutboxPurchase).where(OutboxPurchase.seq == 1).values(status=PurchaseStatus.MINTED, batch_id=0)
        )
        s.execute(update(OutboxPurchase).where(OutboxPurchase.seq == 2).values(status=PurchaseStatus.FAILED, error="x"))
        ids = list(s.scalars(select(OutboxPurchase.id)))
        assert purchases_settled(s, outbox_ids=ids) == 2
        assert purchases_settled(s, outbox_ids=ids) == 0  # once per purchase
        s.commit()
    tasks.publish()
    tasks.publish()
    rows = deliveries(sessions)
    assert sorted((r.event_type, r.payload["data"]["purchase_id"]) for r in rows) == [
        ("purchase.confirmed", "p-1"),
        ("purchase.failed", "p-2"),
    ]
    assert next(r for r in rows if r.event_type == "purchase.failed").payload["data"]["failure_reason"] == "x"
    assert sorted(c[0] for c in queue.calls) == [r.id for r in rows]  # kicked after the commit


def test_a_rolled_back_change_announces_nothing(
    client: TestClient, partner: PartnerKey, sessions: sessionmaker[Session], queue: FakeQueue
) -> None:
    register(client, partner, "https://a.example/h", ["purchase.confirmed"])
    assert client.post("/v1/purchases", headers=partner.headers, json=purchase_body("p-1")).status_code == 202
    with sessions() as s:
        s.execute(update(OutboxPurchase).values(status=PurchaseStatus.MINTED, batch_id=0))
        assert purchases_settled(s, outbox_ids=list(s.scalars(select(OutboxPurchase.id)))) == 1
        s.rollback()
    tasks.publish()
    assert deliveries(sessions) == []


def test_an_event_read_again_is_delivered_once(
    client: TestClient, partner: PartnerKey, sessions: sessionmaker[Session], queue: FakeQueue
) -> None:
    """At least once meets idempotent: an event handed to the consumer again (its cursor moved
    back, as after a run that rolled back) records no second delivery."""
    register(client, partner, "https://a.example/h", ["partner.funds_restored"])
    with sessions() as s:
        record(s, "partner.funds_restored", payload={"held_purchases": 0}, partner_id=partner.id)
        s.commit()
    tasks.publish()
    with sessions() as s:
        s.execute(update(EventCursor).where(EventCursor.consumer == "webhooks").values(last_id=0))
        s.commit()
    tasks.publish()
    rows = deliveries(sessions)
    assert [r.event_type for r in rows] == ["partner.funds_restored"]
    assert rows[0].payload["data"] == {"held_purchases": 0} and rows[0].payload["id"] == rows[0].event_id


def deliveries(sessions: sessionmaker[Session]) -> list[WebhookDelivery]:
    with sessions() as s:
        return list(s.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


# ------------------------------------------------------------------ what the partner is shown


def test_deliveries_show_the_status_code_and_a_class_never_the_response_bytes(
    client: TestClient, partner: PartnerKey, sessions: sessionmaker[Session], queue: FakeQueue, receiver: Receiver
) -> None:
    hook = register(client, partner, receiver.url)
    receiver.statuses[:] = [500]
    receiver.reply = b"redis_version:7.2.4 INTERNAL-BYTES"
    (delivery_id,) = emit(sessions, partner.id)
    assert tasks.deliver(delivery_id) == "retry"
    listed = client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=partner.headers)
    assert [(d["last_status_code"], d["last_error"]) for d in listed.json()] == [(500, "http-status")]
    assert b"INTERNAL-BYTES" not in listed.content and b"redis_version" not in listed.content


def test_an_internal_address_is_refused_at_delivery_whatever_was_registered(
    client: TestClient, partner: PartnerKey, sessions: sessionmaker[Session], queue: FakeQueue
) -> None:
    """A row registered before the rule (or edited in the store) is checked again at delivery."""
    hook = register(client, partner, "https://pos.example.com/hooks")
    with sessions() as s:
        s.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == hook["id"])
            .values(url="https://169.254.169.254/latest/meta-data/")
        )
        s.commit()
    (delivery_id,) = emit(sessions, partner.id)
    assert tasks.deliver(delivery_id) == "retry"
    row = delivery(sessions, delivery_id)
    assert (row.last_status_code, row.last_error) == (None, "address-not-allowed")


def test_legacy_error_texts_are_shown_as_classes(
    client: TestClient, partner: PartnerKey, sessions: sessionmaker[Session]
) -> None:
    hook = register(client, partner, "https://pos.example.com/hooks")
    ids = emit(sessions, partner.id) + emit(sessions, partner.id) + emit(sessions, partner.id)
    old = [
        (500, "HTTP 500: redis_version:7.2.4"),
        (None, "ConnectError: [Errno 111] Connection refused"),
        (None, "the endpoint was deleted"),
    ]
    with sessions() as s:
        for delivery_id, (code, text) in zip(ids, old, strict=True):
            s.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == delivery_id)
                .values(last_status_code=code, last_error=text)
            )
        s.commit()
    listed = client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=partner.headers).json()
    assert [d["last_error"] for d in reversed(listed)] == ["http-status", "connection-error", "endpoint-deleted"]


# ------------------------------------------------------------------ secrets bound to their row


def test_swapped_secret_ciphertexts_fail_loudly_and_sign_nothing(
    client: TestClient,
    make_partner: Callable[..., PartnerKey],
    sessions: sessionmaker[Session],
    queue: FakeQueue,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Partner A's row given B's ciphertext (and B's given A's): no delivery is signed with the
    other partner's secret, each attempt fails as signing-secret-unusable with an error logged,
    and rotating the secret mends the endpoint."""
    a, b = make_partner(), make_partner()
    hook_a, hook_b = register(client, a, receiver.url), register(client, b, receiver.url)
    with sessions() as s:
        row_a, row_b = s.get(WebhookEndpoint, hook_a["id"]), s.get(WebhookEndpoint, hook_b["id"])
        assert row_a is not None and row_b is not None
        row_a.secret_encrypted, row_b.secret_encrypted = row_b.secret_encrypted, row_a.secret_encrypted
        s.commit()
    (to_a,), (to_b,) = emit(sessions, a.id), emit(sessions, b.id)
    with caplog.at_level("ERROR", logger="gateway.services.webhook_delivery"):
        assert tasks.deliver(to_a) == "retry"
        assert tasks.deliver(to_b) == "retry"
    assert receiver.received == []  # nothing went out, signed with any secret
    assert [r.getMessage() for r in caplog.records if r.name == "gateway.services.webhook_delivery"] == [
        f"webhook delivery {to_a} not sent: its signing secret does not open",
        f"webhook delivery {to_b} not sent: its signing secret does not open",
    ]
    listed = client.get(f"/v1/webhooks/{hook_a['id']}/deliveries", headers=a.headers).json()
    assert [(d["status"], d["last_status_code"], d["last_error"]) for d in listed] == [
        ("pending", None, "signing-secret-unusable")
    ]

    rotated = client.post(f"/v1/webhooks/{hook_a['id']}/rotate-secret", headers=a.headers).json()
    make_due(sessions, to_a)
    assert tasks.deliver(to_a) == "delivered"
    (sent,) = receiver.received
    assert verify(rotated["secret"], sent.body, sent.headers["Coalition-Signature"])["partner_id"] == a.id
    for old in (hook_a["secret"], hook_b["secret"]):
        with pytest.raises(WebhookSignatureError):
            verify(old, sent.body, sent.headers["Coalition-Signature"])


def test_the_migration_binds_the_secrets_of_before_to_their_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store at 0007 holds secrets sealed without associated data; after the upgrade each
    opens for its own row only (and the downgrade gives the old form back)."""
    key = "migration-test-secrets-key-0123456789"
    monkeypatch.setenv("COALITION_SECRETS_KEY", key)
    url = f"sqlite:///{tmp_path / 'old.db'}"
    migrate(url, "0007")
    engine = make_engine(url)
    secrets = {1: "whsec_one", 2: "whsec_two"}
    with engine.begin() as c:
        for pid in (1, 2):
            c.exec_driver_sql(
                "INSERT INTO partners (id, name, minter, treasury, api_key_prefix, api_key_hash, currency,"
                " points_per_unit, issue_price, reimbursement_rate, issuance_limit, status, next_seq, created_at)"
                f" VALUES ({pid}, 'p{pid}', 'm{pid}', 't', 'k{pid}', 'h', 'EUR', 1, 1, 1, 1, 'active', 0,"
                " '2026-01-01 00:00:00')"
            )
            sealed = seal(key, service.PURPOSE, secrets[pid].encode())  # as before: no associated data
            c.exec_driver_sql(
                "INSERT INTO webhook_endpoints (id, partner_id, url, event_types, secret_encrypted, status,"
                " created_at, updated_at) VALUES (?, ?, 'https://a.example/h', '[]', ?, 'active',"
                " '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
                (pid + 10, pid, sealed.nonce + sealed.ciphertext),
            )

    def stored() -> dict[int, bytes]:
        with engine.connect() as c:
            return dict(c.exec_driver_sql("SELECT partner_id, secret_encrypted FROM webhook_endpoints").all())

    with pytest.raises(ValueError):
        service.decrypt_secret(stored()[1], key, endpoint_id=11, partner_id=1)
    migrate(url, "head")
    blobs = stored()
    for pid in (1, 2):
        assert service.decrypt_secret(blobs[pid], key, endpoint_id=pid + 10, partner_id=pid) == secrets[pid]
    with pytest.raises(ValueError):
        service.decrypt_secret(blobs[2], key, endpoint_id=11, partner_id=1)  # the other row's
    migrate(url, "head")  # again: nothing to do
    assert stored() == blobs
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url)
    command.downgrade(config, "0007")
    for pid, blob in stored().items():
        sealed = Sealed(blob[NONCE_BYTES:], blob[:NONCE_BYTES])
        assert open_sealed(key, service.PURPOSE, sealed) == secrets[pid].encode()  # no associated data
    engine.dispose()
