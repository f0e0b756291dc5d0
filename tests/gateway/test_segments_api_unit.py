"""The operator's segment routes: save, list, read, change, delete, preview a count and page
through the members; a bad condition is ``segment-invalid`` naming the path of the bad node."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from network.store import Customer, Member, TierState
from tests.gateway.partners import OPERATOR, PartnerKey
from tests.problems import assert_problem

GOLD = {"field": "tier", "op": "=", "value": "gold"}


def _members(sessions: sessionmaker[Session], tiers: dict[int, str], erased: set[int]) -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    with sessions() as s:
        for c, tier in tiers.items():
            s.execute(insert(Customer), [{"id": c, "created_at": at}])
            s.execute(insert(Member), [{"customer_id": c, "enrolled_at": at, "erased_at": at if c in erased else None}])
            s.execute(insert(TierState), [{
                "customer_id": c, "ladder_version": 1, "tier": tier, "earned": tier, "since": at, "as_of": at,
            }])  # fmt: skip
        s.commit()


def test_the_operator_saves_a_segment_and_pages_through_its_members(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    _members(sessions, {c: "gold" if c % 2 else "base" for c in range(1, 12)}, erased={3})
    created = client.post(
        "/v1/operator/segments", headers=OPERATOR, json={"name": "Gold", "description": "d", "condition": GOLD}
    )
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    assert created.json()["owner"] == "operator" and created.json()["condition"] == GOLD
    first = client.get(f"/v1/operator/segments/{sid}/members?limit=2", headers=OPERATOR).json()
    assert first == {"count": 5, "customer_ids": [1, 5], "next_cursor": 5}  # 3 is erased
    rest = client.get(f"/v1/operator/segments/{sid}/members?limit=10&cursor=5", headers=OPERATOR).json()
    assert rest == {"count": 5, "customer_ids": [7, 9, 11], "next_cursor": None}
    preview = client.post("/v1/operator/segments/preview", headers=OPERATOR, json={"condition": {"not": GOLD}})
    assert preview.json() == {"count": 5}
    changed = client.put(
        f"/v1/operator/segments/{sid}", headers=OPERATOR,
        json={"name": "Base", "condition": {"field": "tier", "op": "in", "value": ["base"]}},
    )  # fmt: skip
    assert changed.status_code == 200 and changed.json()["description"] == ""
    assert [s["name"] for s in client.get("/v1/operator/segments", headers=OPERATOR).json()["segments"]] == ["Base"]
    assert client.get(f"/v1/operator/segments/{sid}", headers=OPERATOR).json()["name"] == "Base"
    assert client.delete(f"/v1/operator/segments/{sid}", headers=OPERATOR).status_code == 204
    assert_problem(client.get(f"/v1/operator/segments/{sid}", headers=OPERATOR), "not-found")


def test_problems(client: TestClient, make_partner: Callable[..., PartnerKey]) -> None:
    partner = make_partner()
    assert_problem(client.get("/v1/operator/segments"), "unauthorized")
    assert_problem(client.post("/v1/operator/segments/preview", headers=partner.headers, json={}), "unauthorized")
    bad = {"all": [GOLD, {"any": [{"field": "tier", "op": "<", "value": "gold"}]}]}
    body = assert_problem(
        client.post("/v1/operator/segments/preview", headers=OPERATOR, json={"condition": bad}), "segment-invalid"
    )
    assert body["path"] == "$.all[1].any[0].op" and "takes the operators" in body["detail"]
    unknown = {"name": "x", "condition": {"field": "age", "op": "=", "value": 3}}
    body = assert_problem(client.post("/v1/operator/segments", headers=OPERATOR, json=unknown), "segment-invalid")
    assert body["path"] == "$.field"
    client.post("/v1/operator/segments", headers=OPERATOR, json={"name": "Gold", "condition": GOLD})
    again = client.post("/v1/operator/segments", headers=OPERATOR, json={"name": "Gold", "condition": GOLD})
    assert_problem(again, "segment-exists")
    assert_problem(
        client.put("/v1/operator/segments/99", headers=OPERATOR, json={"name": "y", "condition": GOLD}), "not-found"
    )
    assert_problem(client.delete("/v1/operator/segments/99", headers=OPERATOR), "not-found")
    assert_problem(client.get("/v1/operator/segments/99/members", headers=OPERATOR), "not-found")
    for name in ("", "Gold\x00", "a" * 81):
        nameless = {"name": name, "condition": GOLD}
        assert_problem(client.post("/v1/operator/segments", headers=OPERATOR, json=nameless), "validation-error")
