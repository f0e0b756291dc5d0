"""The campaign APIs in process on SQLite (issue 20 item 7): the operator's and a partner's
campaigns written as drafts (checked, problems naming the field), started, fired by a purchase,
paused, stopped, simulated on the last days, measured; a partner sees only its own."""

from __future__ import annotations

from typing import Any

from tests.gateway.campaign_fixtures import member
from tests.gateway.partners import OPERATOR
from tests.gateway.purchases import WALLET, purchase_body
from tests.problems import assert_problem

BODY: dict[str, Any] = {
    "name": "Welcome bonus",
    "trigger": {"type": "purchase", "params": {}},
    "conditions": {"min_amount": "10"},
    "effects": [{"kind": "bonus_points", "mode": "fixed", "points": 25}],
    "limits": {"budget_points": 1000},
    "holdout_bp": 0,
}


def test_the_operators_campaign_needs_a_funder_and_is_checked(client, settings, make_partner):
    assert_problem(client.post("/v1/operator/campaigns", headers=OPERATOR, json=BODY), "house-partner-missing")
    house = make_partner()
    settings.house_partner_id = house.id
    bad = BODY | {"effects": [{"kind": "bonus_points", "mode": "fixed", "points": 0}]}
    problem = assert_problem(client.post("/v1/operator/campaigns", headers=OPERATOR, json=bad), "campaign-invalid")
    assert problem["field"] == "effects[0].points"
    r = client.post("/v1/operator/campaigns", headers=OPERATOR, json=BODY)
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["status"], body["funder_partner_id"], body["owner"]) == ("draft", house.id, "operator")
    assert body["warnings"] == [
        "holdout is 0 %: there is no control group, so the campaign's uplift cannot be measured"
    ]


def test_a_campaign_runs_from_start_to_stop_and_reports_its_spend(client, make_partner, sessions):
    shop = make_partner()
    member(sessions, WALLET)
    r = client.post("/v1/campaigns", headers=shop.headers, json=BODY)
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    assert client.post("/v1/purchases", headers=shop.headers, json=purchase_body("a-0")).status_code == 202
    r = client.post(f"/v1/campaigns/{cid}/start", headers=shop.headers)
    assert r.json()["status"] == "running"
    assert client.post("/v1/purchases", headers=shop.headers, json=purchase_body("a-1")).status_code == 202
    r = client.post(f"/v1/campaigns/{cid}/pause", headers=shop.headers)
    assert r.json()["status"] == "paused"
    assert client.post("/v1/purchases", headers=shop.headers, json=purchase_body("a-2")).status_code == 202
    (listed,) = client.get("/v1/campaigns", headers=shop.headers).json()["campaigns"]
    assert (listed["spent_points"], listed["awards"], listed["members_awarded"]) == (25, 1, 1)
    assert client.post(f"/v1/campaigns/{cid}/stop", headers=shop.headers).json()["status"] == "stopped"
    assert_problem(client.post(f"/v1/campaigns/{cid}/start", headers=shop.headers), "campaign-status-conflict")
    sim = client.post(f"/v1/campaigns/{cid}/simulate?days=30", headers=shop.headers).json()
    assert (sim["purchases"], sim["members"], sim["points"]) == (3, 1, 75)
    assert sim["cost"] == "0.750000"  # 75 points x 0.01 cUSD (issue price 10,000 units of 6 decimals)
    results = client.get(f"/v1/campaigns/{cid}/results", headers=shop.headers).json()
    assert results["result"]["status"] == "no_control"
    assert results["result"]["treatment"]["members"] == 1 and results["result"]["treatment"]["points"] == 25


def test_a_partner_sees_only_its_own_campaigns(client, make_partner):
    shop, other = make_partner(), make_partner()
    cid = client.post("/v1/campaigns", headers=shop.headers, json=BODY).json()["id"]
    assert_problem(client.get(f"/v1/campaigns/{cid}", headers=other.headers), "not-found")
    assert_problem(client.post(f"/v1/campaigns/{cid}/start", headers=other.headers), "not-found")
    assert client.get("/v1/campaigns", headers=other.headers).json() == {"campaigns": []}
    forced = BODY | {"conditions": {"partners": [other.id]}}
    assert (
        assert_problem(client.post("/v1/campaigns", headers=shop.headers, json=forced), "campaign-invalid")["field"]
        == "conditions.partners"
    )
    assert [c["id"] for c in client.get("/v1/operator/campaigns", headers=OPERATOR).json()["campaigns"]] == [cid]
