"""Webhooks in the gateway's in-process tests."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.gateway.partners import PartnerKey


def register(client: TestClient, who: PartnerKey, url: str, types: list[str] | None = None) -> dict[str, Any]:
    r = client.post(
        "/v1/webhooks", headers=who.headers, json={"url": url, "event_types": types or ["purchase.confirmed"]}
    )
    assert r.status_code == 201, r.text
    return r.json()
