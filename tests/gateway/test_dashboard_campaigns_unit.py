"""The dashboard's campaign pages (gateway/services/dashboard_campaigns.py and its view): a fixed
CampaignResult (measured, collecting, with a sample-ratio mismatch) drawn and written as the page and
its CSV blocks say; on a migrated SQLite store, the list counts members exposed per arm, offers the
actions the status allows, and starting/stopping goes through the API's transition."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from gateway.errors import CampaignStatusConflict, NotFound
from gateway.services import dashboard_campaigns, dashboard_campaigns_view
from gateway.services.dashboard_campaigns import CampaignLine, Results
from loyalty.campaigns.stats import ArmTotals, CampaignResult, analyse
from network.store import Campaign, CampaignExposure
from tests.gateway.campaign_fixtures import NOW, add_campaign, add_customers
from tests.stores import add_partner, migrated_store


def _arm(n: int, conversions: int, mean: str, spread: str, points: int) -> ArmTotals:
    """An arm of ``n`` members whose revenue has mean ``mean`` and (population) spread ``spread``."""
    m, s = Decimal(mean), Decimal(spread)
    return ArmTotals(n, conversions, points, m * n, (s * s + m * m) * n)


MEASURED = analyse(control=_arm(400, 80, "20", "10", 0), treatment=_arm(3600, 900, "24", "10", 36_000),
                   holdout_bp=1000, issue_price=10_000)  # fmt: skip
COLLECTING = analyse(control=_arm(40, 6, "20", "10", 0), treatment=_arm(360, 90, "21", "10", 3_600),
                     holdout_bp=1000, issue_price=10_000)  # fmt: skip
MISMATCHED = analyse(control=_arm(1000, 200, "20", "10", 0), treatment=_arm(3000, 700, "20", "10", 30_000),
                     holdout_bp=1000, issue_price=10_000)  # fmt: skip


def _line(**changes: object) -> CampaignLine:
    spec: dict[str, object] = {"id": 4, "name": "Win back <b>", "funder_partner_id": 2, "trigger_type": "purchase",
                               "trigger_params": {}, "status": "running", "holdout_bp": 1000, "spent_points": 750,
                               "budget_points": 1000}  # fmt: skip
    spec.update(changes)
    return CampaignLine(Campaign(**spec), "Partner 2", {"treatment": 3600, "control": 400})


def _page(result: CampaignResult) -> str:
    return dashboard_campaigns_view.results_page(Results(_line(), result, 14, NOW), tz="UTC")


def _figures(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-figure="([^"]+)" data-value="([^"]*)"', html))


def _svg(html: str, name: str) -> dict[str, float]:
    svg = re.search(rf'<svg class="interval-chart iv-(\w+)" id="interval-{name}".*?</svg>', html, re.S)
    assert svg is not None, name
    text = svg.group(0)
    rect = re.search(r'<rect class="iv-bar" x="([\d.]+)" y="\d+" width="([\d.]+)"', text)
    dot = re.search(r'<circle class="iv-dot" cx="([\d.]+)"', text)
    zero = re.search(r'<line class="iv-zero" x1="([\d.]+)"', text)
    assert rect and dot and zero
    x, w = float(rect.group(1)), float(rect.group(2))
    return {"tone": svg.group(1), "lo": x, "hi": x + w, "dot": float(dot.group(1)), "zero": float(zero.group(1))}  # type: ignore[dict-item]


def test_a_measured_campaign_shows_both_arms_its_intervals_drawn_and_its_money_unit() -> None:
    assert MEASURED.status == "measured" and MEASURED.verdict == "positive"
    html = _page(MEASURED)
    f = _figures(html)
    # the two arms side by side: the result's own figures
    assert (f["treatment-members"], f["control-members"]) == ("3600", "400")
    assert (f["treatment-conversions"], f["control-conversions"]) == ("900", "80")
    assert float(f["treatment-conversion_rate"]) == 0.25 and float(f["control-conversion_rate"]) == 0.2
    assert (f["treatment-revenue_per_member"], f["control-revenue_per_member"]) == ("24.00", "20.00")
    assert (f["treatment-points"], f["control-points"]) == ("36000", "0")
    # the revenue uplift: the interval above zero drawn as a green bar with the dot inside, zero left of it
    revenue = _svg(html, "revenue")
    assert revenue["tone"] == "positive" and revenue["zero"] < revenue["lo"] < revenue["dot"] < revenue["hi"]
    r = MEASURED.revenue_uplift
    assert r is not None and float(f["revenue-estimate"]) == r.estimate
    assert (float(f["revenue-low"]), float(f["revenue-high"])) == (r.low, r.high)
    conversion = _svg(html, "conversion")
    assert conversion["tone"] == "positive" and conversion["zero"] < conversion["lo"] < conversion["dot"]
    # money: incremental revenue, the points' cost (36,000 points x 0.01), return on points
    assert Decimal(f["points_cost"]) == 360 and MEASURED.incremental_revenue is not None
    assert f["incremental_revenue"] == str(MEASURED.incremental_revenue.estimate)
    assert MEASURED.return_on_points is not None and f["return_on_points"] == str(MEASURED.return_on_points.estimate)
    assert f["verdict"] == "positive" and 'id="measured"' in html and 'id="collecting"' not in html
    # the name is escaped, the actions the status allows are links to their confirmation
    assert "Win back &lt;b&gt;" in html and "<b>" not in html
    assert 'href="/dashboard/campaigns/4/pause"' in html and 'href="/dashboard/campaigns/4/start"' not in html
    for block in dashboard_campaigns.BLOCKS:
        assert f'href="/dashboard/campaigns/4/{block}.csv"' in html


def test_a_collecting_campaign_says_what_is_still_needed_and_draws_the_interval_across_zero_unit() -> None:
    assert COLLECTING.status == "collecting" and COLLECTING.verdict is None
    html = _page(COLLECTING)
    f = _figures(html)
    assert 'id="collecting"' in html and "no verdict yet" in html
    # 100 members and 25 conversions per arm: control has 40 and 6, treatment enough of both
    assert f["needed-control"] == "60,19" and f["needed-treatment"] == "0,0"
    revenue = _svg(html, "revenue")
    assert revenue["tone"] == "inconclusive" and revenue["lo"] < revenue["zero"] < revenue["hi"]
    assert revenue["lo"] <= revenue["dot"] <= revenue["hi"]
    assert "verdict" not in f


def test_a_sample_ratio_mismatch_is_a_warning_on_the_page_and_in_the_csv_unit() -> None:
    assert MISMATCHED.sample_ratio is not None and MISMATCHED.sample_ratio.mismatch
    html = _page(MISMATCHED)
    assert 'data-warning="srm"' in html and "mismatch" in html
    rows = list(csv.reader(io.StringIO(dashboard_campaigns.csv_text("uplift", MISMATCHED))))
    assert rows[0] == ["measure", "estimate", "low", "high", "p_value", "method", "significant"]
    srm = next(r for r in rows if r[0] == "sample_ratio")
    assert float(srm[4]) == MISMATCHED.sample_ratio.p_value and srm[6] == "True"


def test_each_block_s_csv_is_the_result_s_raw_figures_unit() -> None:
    arms = list(csv.reader(io.StringIO(dashboard_campaigns.csv_text("arms", MEASURED))))
    assert arms == [
        ["arm", "members", "conversions", "conversion_rate", "revenue", "revenue_per_member", "points"],
        ["treatment", "3600", "900", "0.25", str(MEASURED.treatment.revenue), "24.00", "36000"],
        ["control", "400", "80", "0.2", str(MEASURED.control.revenue), "20.00", "0"],
    ]
    uplift = {r[0]: r for r in csv.reader(io.StringIO(dashboard_campaigns.csv_text("uplift", MEASURED)))}
    r = MEASURED.revenue_uplift
    assert r is not None and [float(v) for v in uplift["revenue_per_member"][1:4]] == [r.estimate, r.low, r.high]
    money = {r[0]: r for r in csv.reader(io.StringIO(dashboard_campaigns.csv_text("money", MEASURED)))}
    assert Decimal(money["points_cost"][1]) == 360 and MEASURED.incremental_revenue is not None
    assert money["incremental_revenue"][1:] == [str(v) for v in (MEASURED.incremental_revenue.estimate,
                                                                  MEASURED.incremental_revenue.low,
                                                                  MEASURED.incremental_revenue.high)]  # fmt: skip
    with pytest.raises(NotFound):
        dashboard_campaigns.csv_text("nope", MEASURED)


def test_the_budget_bar_is_the_share_spent_unit() -> None:
    bar = dashboard_campaigns_view.budget_bar(750, 1000, "4")
    assert 'class="budget-ok" width="75.00"' in bar and "750 of 1,000" in bar
    assert 'class="budget-warn" width="90.00"' in dashboard_campaigns_view.budget_bar(900, 1000, "4")
    assert 'class="budget-bad" width="100.00"' in dashboard_campaigns_view.budget_bar(1200, 1000, "4")
    assert "svg" not in dashboard_campaigns_view.budget_bar(5, None, "4")


# ------------------------------------------------------------------------------------ on a store


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    made = migrated_store(f"sqlite:///{tmp_path / 'store.db'}")
    yield made
    made.kw["bind"].dispose()


def test_the_list_counts_members_per_arm_and_the_actions_follow_the_status_unit(
    sessions: sessionmaker[Session],
) -> None:
    add_partner(sessions)
    cid = add_campaign(sessions, status="draft", holdout_bp=1000, budget_points=500, spent_points=0)
    other = add_campaign(sessions, name="Other", status="running")
    customers = add_customers(sessions, 5)
    with sessions() as session:
        for n, (customer, _) in enumerate(customers):
            side = "control" if n < 2 else "treatment"
            for k in range(2):  # two occurrences each: a member counts once
                session.add(CampaignExposure(campaign_id=cid, customer_id=customer, arm=side,
                                             fired_at=NOW + timedelta(days=k), trigger_ref=f"t:{n}:{k}"))  # fmt: skip
        session.commit()
    with sessions() as session:
        lines = dashboard_campaigns.overview(session)
        assert [x.campaign.id for x in lines] == [other, cid]  # newest first
        mine = lines[1]
        assert mine.exposed == {"treatment": 3, "control": 2} and lines[0].exposed == {"treatment": 0, "control": 0}
        assert mine.actions == ["start", "stop"] and lines[0].actions == ["pause", "stop"]
        html = dashboard_campaigns_view.campaigns_page(lines, notice=None)
        f = _figures(html)
        assert (f[f"treatment-{cid}"], f[f"control-{cid}"], f[f"status-{cid}"]) == ("3", "2", "draft")
        assert f[f"budget-{cid}"] == "0" and f'href="/dashboard/campaigns/{cid}"' in html and "Grocer" in html
        dashboard_campaigns.transition(session, campaign_id=cid, action="start")
        session.commit()
    with sessions() as session:
        assert dashboard_campaigns.line(session, campaign_id=cid).actions == ["pause", "stop"]
        dashboard_campaigns.transition(session, campaign_id=cid, action="stop")
        session.commit()
        with pytest.raises(CampaignStatusConflict):
            dashboard_campaigns.transition(session, campaign_id=cid, action="start")
        session.rollback()
        with pytest.raises(NotFound):
            dashboard_campaigns.transition(session, campaign_id=cid, action="delete")
        seen = dashboard_campaigns.results(session, campaign_id=cid, window_days=14)
        # five members, no purchases: collecting, every figure from the API's own measurement
        assert seen.result.status == "collecting" and seen.result.treatment.members == 3
        assert seen.window_closes_at == NOW + timedelta(days=14)
        html = dashboard_campaigns_view.results_page(seen, tz="UTC")
        assert _figures(html)["needed-control"] == "98,25" and "stopped" in html


def test_no_control_group_and_too_few_members_are_said_plainly_unit() -> None:
    none = analyse(control=_arm(0, 0, "0", "0", 0), treatment=_arm(1, 0, "5", "0", 10), holdout_bp=0, issue_price=1)
    html = _page(none)
    assert none.status == "no_control" and "No control group" in html
    assert 'id="uplift-revenue"' in html and "No interval yet" in html and "interval-chart" not in html
    assert dashboard_campaigns_view.campaigns_page([], notice=None).count("No campaign yet") == 1
