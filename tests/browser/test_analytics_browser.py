"""The dashboard's Analytics page in headless Chromium (tests/browser/browse_analytics.py) on the real
stack (tests/e2e/stack.py, no workers: the page only reads), over a small store filled by the
analytics generator (bench/analytics_data.py, written into the stack's store as the indexer and the
gateway write it) with two daily RFM snapshots. Every KPI the page shows, coalition-wide and for a
partner, is the operator API's (``GET /v1/operator/analytics/kpis``) for the same period; so are the
cohort heat map's cells, the flow matrix's, the tiers and the segment sizes; the points chart adds up
to the API's points; the downloaded CSV is the API's figures too. Screenshots: reports/screenshots.
The same stack serves the Campaigns pages' test (tests/browser/campaign_stage.py, issue 20).

Ports: 9961-9978.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from bench.analytics_data import fill
from gateway.services import rfm
from gateway.services.dashboard_analytics import FIGURES
from network.deployments import PROJECT_ROOT
from tests.browser import campaign_stage
from tests.browser.chromium import BROWSER_PYTHON, CHROMIUM, NEEDS_CHROMIUM, SHOTS
from tests.e2e.stack import OPERATOR_HEADERS, OPERATOR_TOKEN, start_stack

pytestmark = NEEDS_CHROMIUM
PORTS = range(9961, 9979)
START, END = "2026-09-01", "2026-11-30"
PARTNER = 2


def _same(shown: dict[str, str], api: dict[str, Any], what: str) -> int:
    """Every KPI figure the page shows is the API's value; returns how many were compared."""
    n = 0
    for name in FIGURES:
        value = api[name]
        pairs = (
            [(f"kpi-{name}_{c}", v) for c, v in value.items()] if isinstance(value, dict) else [(f"kpi-{name}", value)]
        )
        for key, want in pairs:
            got = shown[key]
            if want is None:
                assert got == "", (what, key)
            elif isinstance(want, float):
                assert float(got) == pytest.approx(want), (what, key)
            else:
                assert got == str(want), (what, key, got, want)
            n += 1
    return n


def test_the_analytics_page_shows_the_api_s_figures_draws_its_charts_and_exports_csv(tmp_path: Path) -> None:
    with start_stack(tmp_path, ports=PORTS, workers=0, beat=False) as stack:
        sessions = stack.harness.sessions
        with sessions() as session:
            fill(session, members=150, partners=3, end=datetime(2026, 12, 1, tzinfo=UTC), days=150, seed=19)
        for day in (date(2026, 10, 31), date(2026, 11, 30)):
            rfm.snapshot(sessions, day=day)
        run = subprocess.run(
            [str(BROWSER_PYTHON), str(PROJECT_ROOT / "tests/browser/browse_analytics.py"), "--url", stack.url,
             "--operator-token", OPERATOR_TOKEN, "--shots", str(SHOTS), "--chromium", CHROMIUM,
             "--from", START, "--to", END, "--partner", str(PARTNER), "--csv", "kpis"],
            capture_output=True, text=True, timeout=150, cwd=PROJECT_ROOT,
        )  # fmt: skip
        assert run.returncode == 0, f"{run.stdout[-2000:]}\n{run.stderr[-4000:]}\n{stack.logs(20)}"
        seen = json.loads(run.stdout)
        api = {
            scope: stack.http.get(
                "/v1/operator/analytics/kpis", headers=OPERATOR_HEADERS,
                params={"from": START, "to": END} | ({} if scope == "coalition" else {"partner_id": PARTNER}),
            ).json()
            for scope in ("coalition", "partner")
        }  # fmt: skip
        segments = {
            scope: stack.http.get("/v1/operator/analytics/rfm", headers=OPERATOR_HEADERS, params=params).json()
            for scope, params in (("coalition", {}), ("partner", {"partner_id": PARTNER}))
        }
        anonymous = stack.http.get(f"/dashboard/analytics/kpis.csv?from={START}&to={END}")
        login = stack.http.post("/dashboard/login", data={"token": OPERATOR_TOKEN}, follow_redirects=False)
        cookie = {"Cookie": login.headers["set-cookie"].split(";", 1)[0]}
        unknown = stack.http.get("/dashboard/analytics/nope.csv", headers=cookie)
        reversed_period = stack.http.get(f"/dashboard/analytics/kpis.csv?from={END}&to={START}", headers=cookie)
        campaigns = campaign_stage.browse(stack, partner=PARTNER)  # issue 20: the Campaigns pages on this stack

    assert seen["console_errors"] == [], seen["console_errors"]
    assert seen["nav_active"] == "Analytics"
    assert (anonymous.status_code, unknown.status_code, reversed_period.status_code) == (401, 404, 422)
    for scope in ("coalition", "partner"):
        page, want = seen[scope], api[scope]
        assert want["from"] == START and want["to"] == END
        # every KPI figure is the API's, with its definition on hover
        assert _same(page["figures"], want, scope) >= len(FIGURES)
        assert all(page["definitions"]), scope
        assert want["purchases"] > 10 and want["points_issued"] > 0 and want["cohorts"] and want["flow"]
        # the charts' data: the points add up to the API's, the liability ends on its outstanding points
        data = page["data"]
        assert (sum(data["issued"]), sum(data["redeemed"]), sum(data["reversed"])) == (
            want["points_issued"], want["points_redeemed"], want["points_reversed"]
        )  # fmt: skip
        assert data["expired"] is None if scope == "partner" else sum(data["expired"]) == want["points_expired"]
        assert data["grain"] == "week" and data["labels"][0] == START
        assert data["days"][0] == START and data["days"][-1] == END
        assert data["outstanding"][-1] == want["outstanding_points"]
        assert data["tiers"] == want["tiers"] and sum(data["tiers"].values()) > 0
        assert data["segments"] == segments[scope]["sizes"] and segments[scope]["day"] == END
        # the cohort heat map and the flow matrix: the API's cells
        figures = page["figures"]
        for c in want["cohorts"]:
            assert int(figures[f"cohort-{c['cohort']}-members"]) == c["members"]
            assert [int(figures[f"cohort-{c['cohort']}-m{i}"]) for i in range(len(c["active"]))] == c["active"]
        assert page["heat_cells"] == sum(len(c["active"]) for c in want["cohorts"])
        for f in want["flow"]:
            key = f"flow-Partner {f['earned_at']}-Partner {f['redeemed_at']}"
            assert float(figures[key]) == pytest.approx(f["points"]), key
        flow_cells = len({f["earned_at"] for f in want["flow"]}) * len({f["redeemed_at"] for f in want["flow"]})
        assert page["flow_cells"] == flow_cells
        # every block links its CSV with the page's filters
        assert len(page["csv_links"]) == 10 and all(f"from={START}&to={END}" in h for h in page["csv_links"])
    assert seen["partner"]["scope"].startswith("Partner 2")
    assert all(f"partner={PARTNER}" in h for h in seen["partner"]["csv_links"])
    # the downloaded CSV (the coalition's key figures): the API's values
    assert seen["csv_name"] == f"analytics-kpis-coalition-{START}-{END}.csv"
    rows = list(csv.reader(io.StringIO(seen["csv"])))
    assert rows[0] == ["kpi", "value", "definition"]
    assert _same({f"kpi-{r[0]}": r[1] for r in rows[1:]}, api["coalition"], "csv") == len(rows) - 1
    assert all(r[2] for r in rows[1:])
    assert all(v <= 0 for v in seen["overflow_390"].values()), seen["overflow_390"]
    campaign_stage.check(campaigns)
