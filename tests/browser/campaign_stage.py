"""The dashboard's Campaigns pages in the analytics browser test's stack (tests/browser/
test_analytics_browser.py: a store filled by the analytics generator, no workers): a campaign created
with the operator API, its members exposed and awarded in the store as the accept path writes them
(the stack has no workers to mint: the exposures are what the pages measure), then
tests/browser/browse_campaigns.py starts it from the list and reads its results, and every figure is
compared with the operator API's ``GET /v1/operator/campaigns/{id}`` and ``/results``."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select

from loyalty.campaigns.assignment import TREATMENT, arm
from loyalty.campaigns.attribution import award_seq
from network.deployments import PROJECT_ROOT
from network.store import Campaign, CampaignAward, CampaignExposure, Customer, CustomerWallet
from tests.browser.chromium import BROWSER_PYTHON, CHROMIUM, SHOTS
from tests.e2e.stack import OPERATOR_HEADERS, OPERATOR_TOKEN

FIRED = datetime(2026, 10, 20, tzinfo=UTC)  # inside the generator's 150 days, a window's worth before their end
POINTS, HOLDOUT = 25, 5000


def browse(stack: Any, *, partner: int) -> dict[str, Any]:
    """Creates and stages the campaign, drives the pages; what they showed and what the API answers."""
    body = {
        "name": "Win back <autumn>",
        "funder_partner_id": partner,
        "trigger": {"type": "purchase", "params": {}},
        "conditions": {},
        "effects": [{"kind": "bonus_points", "mode": "fixed", "points": POINTS}],
        "limits": {"budget_points": 4000},
        "holdout_bp": HOLDOUT,
    }
    made = stack.http.post("/v1/operator/campaigns", headers=OPERATOR_HEADERS, json=body)
    assert made.status_code == 201, made.text
    cid = made.json()["id"]
    exposed = {"treatment": 0, "control": 0}
    with stack.harness.sessions() as session:
        row = session.get(Campaign, cid)
        assert row is not None
        members = session.execute(
            select(Customer.id, CustomerWallet.address).join(CustomerWallet, CustomerWallet.customer_id == Customer.id)
        ).all()
        for n, (customer, wallet) in enumerate(members):
            side = arm(row.salt, customer, HOLDOUT)
            exposed[side] += 1
            exposure = CampaignExposure(
                campaign_id=cid,
                customer_id=customer,
                arm=side,
                fired_at=FIRED + timedelta(minutes=n),
                trigger_ref=f"staged:{customer}",
            )
            session.add(exposure)
            session.flush()
            if side == TREATMENT:
                row.awards_count += 1
                row.spent_points += POINTS
                row.members_awarded += 1
                session.add(
                    CampaignAward(
                        campaign_id=cid,
                        exposure_id=exposure.id,
                        customer_id=customer,
                        wallet=wallet,
                        funder_partner_id=partner,
                        points=POINTS,
                        seq=award_seq(cid, row.awards_count),
                    )
                )
        session.commit()
    run = subprocess.run(
        [
            str(BROWSER_PYTHON),
            str(PROJECT_ROOT / "tests/browser/browse_campaigns.py"),
            "--url",
            stack.url,
            "--operator-token",
            OPERATOR_TOKEN,
            "--shots",
            str(SHOTS),
            "--chromium",
            CHROMIUM,
            "--campaign",
            str(cid),
            "--csv",
            "arms",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=PROJECT_ROOT,
    )
    assert run.returncode == 0, f"{run.stdout[-2000:]}\n{run.stderr[-4000:]}\n{stack.logs(20)}"
    login = stack.http.post("/dashboard/login", data={"token": OPERATOR_TOKEN}, follow_redirects=False)
    cookie = {"Cookie": login.headers["set-cookie"].split(";", 1)[0]}
    return {
        "id": cid,
        "exposed": exposed,
        "seen": json.loads(run.stdout),
        "campaign": stack.http.get(f"/v1/operator/campaigns/{cid}", headers=OPERATOR_HEADERS).json(),
        "results": stack.http.get(f"/v1/operator/campaigns/{cid}/results", headers=OPERATOR_HEADERS).json(),
        "anonymous_csv": httpx.get(f"{stack.url}/dashboard/campaigns/{cid}/arms.csv").status_code,  # no cookie jar
        "unknown_csv": stack.http.get(f"/dashboard/campaigns/{cid}/nope.csv", headers=cookie).status_code,
        "forged": stack.http.post(
            f"/dashboard/campaigns/{cid}/stop", headers=cookie, data={"csrf": "forged", "confirmed": "yes"}
        ).status_code,
        "again": stack.http.post(
            f"/dashboard/campaigns/{cid}/start",
            headers=cookie,
            data={"csrf": _csrf(stack, cookie, cid), "confirmed": "yes"},
        ).status_code,
    }


def _csrf(stack: Any, cookie: dict[str, str], cid: int) -> str:
    text = stack.http.get(f"/dashboard/campaigns/{cid}/pause", headers=cookie).text
    return text.split('name="csrf" value="', 1)[1].split('"', 1)[0]  # the session's token


def check(got: dict[str, Any]) -> None:
    """The pages showed the API's figures, the start went through, the intervals are drawn."""
    seen, cid, api = got["seen"], got["id"], got["results"]["result"]
    assert seen["console_errors"] == [], seen["console_errors"]
    assert seen["nav_active"] == "Campaigns"
    exposed = got["exposed"]
    assert exposed["treatment"] > 20 and exposed["control"] > 20
    # the list: members per arm, the budget spent, draft then running (started through the confirmation)
    before, after = seen["list_before"], seen["list_after"]
    assert (int(before[f"treatment-{cid}"]), int(before[f"control-{cid}"])) == (
        exposed["treatment"],
        exposed["control"],
    )
    assert int(before[f"budget-{cid}"]) == POINTS * exposed["treatment"] == got["campaign"]["spent_points"]
    assert (before[f"status-{cid}"], after[f"status-{cid}"], got["campaign"]["status"]) == (
        "draft",
        "running",
        "running",
    )
    assert seen["buttons_before"] == [f"start-{cid}", f"stop-{cid}"]
    assert seen["buttons_after"] == [f"pause-{cid}", f"stop-{cid}"]
    assert seen["confirm_title"] == "Start Win back <autumn>?" and seen["confirm_csrf"]
    assert f"Campaign {cid} started" in seen["notice"]
    # a forged token is refused; starting a running campaign is the API's conflict, shown on the page
    codes = (got["forged"], got["again"], got["anonymous_csv"], got["unknown_csv"])
    assert codes == (403, 409, 401, 404), codes
    # the results page: every figure is the API's
    r = seen["results"]
    for side in ("treatment", "control"):
        a = api[side]
        assert int(r[f"{side}-members"]) == a["members"] == exposed[side]
        assert int(r[f"{side}-conversions"]) == a["conversions"]
        assert float(r[f"{side}-conversion_rate"]) == a["conversion_rate"]
        assert r[f"{side}-revenue_per_member"] == a["revenue_per_member"]
        assert int(r[f"{side}-points"]) == a["points"]
    assert api["treatment"]["points"] == POINTS * exposed["treatment"] and api["control"]["points"] == 0
    uplift = api["revenue_uplift"]
    assert (float(r["revenue-estimate"]), float(r["revenue-low"]), float(r["revenue-high"])) == (
        uplift["estimate"],
        uplift["low"],
        uplift["high"],
    )
    assert r["points_cost"] == api["points_cost"]
    assert r["incremental_revenue"] == (api["incremental_revenue"] or {}).get("estimate", "")
    # under 100 members an arm: collecting, with what is still needed
    assert api["status"] == "collecting" and seen["collecting"]
    assert r["needed-control"] == f"{max(0, 100 - exposed['control'])},{max(0, 25 - api['control']['conversions'])}"
    # the intervals drawn: the dot inside the bar, the bar across zero exactly when the interval is
    drawn = {i["id"]: i for i in seen["intervals"]}
    assert set(drawn) >= {"interval-revenue", "interval-conversion"}
    for i in drawn.values():
        bar, dot, zero = i["bar"], i["dot"], i["zero"]
        assert bar["width"] > 0 and bar["x"] - 1 <= dot["x"] + dot["width"] / 2 <= bar["x"] + bar["width"] + 1
        crosses = bar["x"] <= zero["x"] + zero["width"] / 2 <= bar["x"] + bar["width"]
        assert crosses == (i["low"] <= 0 <= i["high"]), i  # the bar is the interval (its tone follows the test)
    assert drawn["interval-revenue"]["estimate"] == uplift["estimate"]
    # every block's CSV linked; the downloaded one is the API's arms
    assert sorted(seen["csv_links"]) == sorted(
        f"/dashboard/campaigns/{cid}/{b}.csv" for b in ("arms", "uplift", "money")
    )
    assert seen["csv_name"] == f"campaign-{cid}-arms.csv"
    rows = {row[0]: row for row in csv.reader(io.StringIO(seen["csv"]))}
    for side in ("treatment", "control"):
        assert [int(rows[side][1]), int(rows[side][2]), rows[side][5]] == [
            api[side]["members"],
            api[side]["conversions"],
            api[side]["revenue_per_member"],
        ]
    assert all(v <= 0 for v in seen["overflow_390"].values()), seen["overflow_390"]
