"""What the dashboard's campaign pages show (issue 20): the list (each campaign with its funder,
trigger, status, budget spent and members exposed per arm) and one campaign's results (both arms
measured by gateway/services/campaigns.py's ``results``, the same call as the operator API's
``GET /v1/operator/campaigns/{id}/results``), and each results block as CSV.

Starting, pausing and stopping are the API's ``campaigns.transition`` with its rules and refusals.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.errors import NotFound
from gateway.services import campaigns
from loyalty.campaigns.intervals import Interval
from loyalty.campaigns.stats import ArmSummary, CampaignResult
from network.store import Campaign, CampaignExposure, Partner

# block name -> its panel's title; the CSV is /dashboard/campaigns/<id>/<name>.csv
BLOCKS = {"arms": "The two arms", "uplift": "Uplift", "money": "Return on points"}
# action -> (verb, what it does to the campaign)
ACTIONS = {
    "start": ("Start", "The trigger fires again: members are exposed (treatment and control) and points given."),
    "pause": ("Pause", "The trigger stops firing until the campaign is started again; nothing given is undone."),
    "stop": ("Stop", "The campaign never runs again; its results stay measurable."),
}


@dataclass(frozen=True, slots=True)
class CampaignLine:
    """One campaign of the list: the row, its funder's name, distinct members exposed per arm."""

    campaign: Campaign
    funder: str
    exposed: dict[str, int]

    @property
    def actions(self) -> list[str]:
        """The actions its status allows (gateway/services/campaigns.py's ``TRANSITIONS``)."""
        return [a for a, (allowed, _) in campaigns.TRANSITIONS.items() if self.campaign.status in allowed]


@dataclass(frozen=True, slots=True)
class Results:
    """One campaign's results page: the campaign, its funder, the measurement, when its window closes."""

    line: CampaignLine
    result: CampaignResult
    window_days: int
    window_closes_at: datetime | None


def _names(session: Session) -> dict[int, str]:
    return dict(session.execute(select(Partner.id, Partner.name)).tuples().all())


def _exposed(session: Session, campaign_id: int | None = None) -> dict[int, dict[str, int]]:
    e = CampaignExposure
    query = select(e.campaign_id, e.arm, func.count(func.distinct(e.customer_id))).group_by(e.campaign_id, e.arm)
    if campaign_id is not None:
        query = query.where(e.campaign_id == campaign_id)
    out: dict[int, dict[str, int]] = {}
    for cid, arm, n in session.execute(query).tuples():
        out.setdefault(cid, {})[arm] = n
    return out


def _line(row: Campaign, names: dict[int, str], exposed: dict[int, dict[str, int]]) -> CampaignLine:
    counts = exposed.get(row.id, {})
    return CampaignLine(
        row,
        names.get(row.funder_partner_id, f"#{row.funder_partner_id}"),
        {"treatment": counts.get("treatment", 0), "control": counts.get("control", 0)},
    )


def overview(session: Session) -> list[CampaignLine]:
    """Every campaign, newest first."""
    names, exposed = _names(session), _exposed(session)
    return [_line(row, names, exposed) for row in reversed(campaigns.listed(session))]


def line(session: Session, *, campaign_id: int) -> CampaignLine:
    row = campaigns.get(session, campaign_id=campaign_id)
    return _line(row, _names(session), _exposed(session, row.id))


def results(session: Session, *, campaign_id: int, window_days: int, token_decimals: int = 6) -> Results:
    """The campaign's results as the operator API measures them."""
    seen = line(session, campaign_id=campaign_id)
    result, closes = campaigns.results(
        session, campaign=seen.campaign, window_days=window_days, token_decimals=token_decimals
    )
    return Results(seen, result, window_days, closes)


def transition(session: Session, *, campaign_id: int, action: str) -> Campaign:
    """Starts, pauses or stops it (not committed); an unknown action is a 404."""
    if action not in ACTIONS:
        raise NotFound(f"no campaign action {action!r}; there are {', '.join(ACTIONS)}")
    return campaigns.transition(session, campaign_id=campaign_id, action=action)


def still_needed(result: CampaignResult) -> dict[str, dict[str, int]]:
    """Per arm, the members and conversions missing before a verdict (0 once there)."""
    return {
        s.arm: {
            "members": max(0, result.min_members - s.members),
            "conversions": max(0, result.min_conversions - s.conversions),
        }
        for s in (result.treatment, result.control)
    }


# ------------------------------------------------------------------------------------ CSV


def _raw(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _interval_row(name: str, i: Interval | None) -> list[str]:
    if i is None:
        return [name, "", "", "", "", "", ""]
    return [name, _raw(i.estimate), _raw(i.low), _raw(i.high), _raw(i.p_value), i.method, _raw(i.significant)]


def _arm_row(s: ArmSummary) -> list[str]:
    return [s.arm, *(_raw(v) for v in (s.members, s.conversions, s.conversion_rate, s.revenue,
                                       s.revenue_per_member, s.points))]  # fmt: skip


def table_of(name: str, result: CampaignResult) -> tuple[list[str], list[list[str]]]:
    """A results block as a header and rows of raw values (floats with every digit, Decimals as text)."""
    if name == "arms":
        head = ["arm", "members", "conversions", "conversion_rate", "revenue", "revenue_per_member", "points"]
        return head, [_arm_row(result.treatment), _arm_row(result.control)]
    if name == "uplift":
        head = ["measure", "estimate", "low", "high", "p_value", "method", "significant"]
        rows = [
            _interval_row("revenue_per_member", result.revenue_uplift),
            _interval_row("revenue_per_member_unadjusted", result.revenue_uplift_unadjusted),
            _interval_row("conversion_rate", result.conversion_uplift),
        ]
        if result.conversion_uplift_coalition is not None:
            rows.append(_interval_row("conversion_rate_coalition", result.conversion_uplift_coalition))
        srm = result.sample_ratio
        rows.append(["sample_ratio", "", "", "", _raw(None if srm is None else srm.p_value), "chi_square",
                     _raw(None if srm is None else srm.mismatch)])  # fmt: skip
        return head, rows
    if name == "money":
        head = ["figure", "estimate", "low", "high"]
        rows = []
        for figure, r in (("incremental_revenue", result.incremental_revenue),
                          ("return_on_points", result.return_on_points)):  # fmt: skip
            rows.append([figure, *(["", "", ""] if r is None else [_raw(r.estimate), _raw(r.low), _raw(r.high)])])
        rows.append(["points_cost", _raw(result.points_cost), "", ""])
        return head, rows
    raise NotFound(f"no campaign results block {name!r}; there are {', '.join(BLOCKS)}")


def csv_text(name: str, result: CampaignResult) -> str:
    """A results block as CSV (RFC 4180, CRLF line ends): raw numbers (a negative one stays a number;
    no cell holds text anyone typed)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    head, rows = table_of(name, result)
    writer.writerow(head)
    writer.writerows(rows)
    return buf.getvalue()
