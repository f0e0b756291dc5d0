"""Webhooks in the gateway's in-process tests."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from gateway.settings import GatewaySettings
from tests.gateway.partners import PartnerKey


def register(client: TestClient, who: PartnerKey, url: str, types: list[str] | None = None) -> dict[str, Any]:
    r = client.post(
        "/v1/webhooks", headers=who.headers, json={"url": url, "event_types": types or ["purchase.confirmed"]}
    )
    assert r.status_code == 201, r.text
    return r.json()


def with_webhook_schedule(settings: GatewaySettings) -> GatewaySettings:
    """``settings`` with the webhook tests' schedule: 3 attempts, backoff 10 s doubling to 60 s, a
    5 s timeout, and loopback allowed (the receiver is on 127.0.0.1; test_webhook_targets_unit.py:
    off)."""
    return settings.model_copy(
        update={
            "webhook_max_attempts": 3,
            "webhook_backoff_base_s": 10.0,
            "webhook_backoff_cap_s": 60.0,
            "webhook_timeout_s": 5.0,
            "webhook_allow_loopback": True,
        }
    )
