"""The dashboard's analytics section: what a page of it shows for a period and a partner (None:
coalition-wide), and each of its blocks as a table for CSV. The figures are the analytics API's
(gateway/services/analytics.py: the KPIs, cohorts, tiers, flow, shared members; rfm.py: segment
sizes), the liability's series (gateway/services/liability.py, UTC days as the KPIs) and
gateway/services/analytics_series.py (points over time, segment moves).

A block's CSV is computed by the same service call its panel's figures come from
(:func:`block`), then laid out by :func:`table_of`, which the page's data also goes through.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.services import analytics, analytics_series, liability, rfm
from gateway.services.analytics import DEFINITIONS, Kpis, PeriodError
from loyalty.liability import LiabilityDay
from loyalty.members import csv_cell
from network.store import COALITION, Partner

# block name -> its panel's title; the CSV is /dashboard/analytics/<name>.csv
BLOCKS = {
    "kpis": "Key figures",
    "points": "Points over time",
    "liability": "Outstanding liability",
    "segments": "RFM segments",
    "segment-moves": "Segment moves",
    "cohorts": "Cohort retention",
    "flow": "Cross-partner flow",
    "shared": "Shared members",
    "tiers": "Tier distribution",
    "tier-moves": "Tier moves",
}
# the KPIs shown as figures, in order; a dict-valued one (per currency) is one figure per currency
FIGURES = ("members_enrolled", "members_new", "active_30d", "active_90d", "purchases", "buyers",
           "repeat_purchase_rate", "purchase_frequency", "average_basket", "clv", "churn_rate", "points_issued",
           "points_redeemed", "points_reversed", "points_expired", "redemption_rate", "breakage_rate",
           "outstanding_points", "outstanding_value_low", "outstanding_value_high")  # fmt: skip


class UnknownBlock(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class Filters:
    start: date
    end: date
    partner_id: int | None
    grain: analytics_series.Grain
    asked_grain: str = ""  # "day", "week" or "" (chosen by the period's length)

    @property
    def scope(self) -> int:
        return COALITION if self.partner_id is None else self.partner_id

    def query(self) -> dict[str, str]:
        q = {"from": self.start.isoformat(), "to": self.end.isoformat()}
        q |= {"grain": self.asked_grain} if self.asked_grain else {}
        return q | ({} if self.partner_id is None else {"partner": str(self.partner_id)})

    @classmethod
    def read(cls, *, start: str | None, end: str | None, partner: str | None, grain: str | None,
             today: date) -> Filters:  # fmt: skip
        """The filters as a page's query gave them; PeriodError for a period or partner not read."""
        lo, hi = analytics.parse_period(start or None, end or None, today=today)
        partner_id = None
        if partner:
            if not partner.isdigit() or not 0 < int(partner) < 2**32:
                raise PeriodError(f"partner is a partner's id, not {partner!r}")
            partner_id = int(partner)
        asked = grain if grain in ("day", "week") else ""
        return cls(lo, hi, partner_id, asked or analytics_series.grain_for(lo, hi), asked)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Analytics:
    filters: Filters
    partners: dict[int, str]
    kpis: Kpis
    points: analytics_series.PointsSeries
    liability: list[LiabilityDay]
    segments: rfm.SegmentSizes | None
    moves: analytics_series.SegmentMoves

    def data(self, name: str) -> Any:
        """A block's data, as :func:`block` computes it alone."""
        k = self.kpis
        return {
            "kpis": k, "points": self.points, "liability": self.liability, "segments": self.segments,
            "segment-moves": self.moves, "cohorts": k.cohorts, "flow": k.flow, "shared": k.shared_members,
            "tiers": k.tiers, "tier-moves": k.tier_moves,
        }[name]  # fmt: skip


def partners(session: Session) -> dict[int, str]:
    return {int(i): str(n) for i, n in session.execute(select(Partner.id, Partner.name).order_by(Partner.id))}


def overview(session: Session, *, filters: Filters, chain_id: int, churn_days: int) -> Analytics:
    """Every block of the page."""
    f = filters
    return Analytics(
        filters=f,
        partners=partners(session),
        kpis=analytics.kpis(
            session, start=f.start, end=f.end, chain_id=chain_id, churn_days=churn_days, partner_id=f.partner_id
        ),
        points=_points(session, f, chain_id),
        liability=_liability(session, f, chain_id),
        segments=rfm.segment_sizes(session, scope=f.scope, day=f.end),
        moves=analytics_series.segment_moves(session, scope=f.scope, on_or_before=f.end),
    )


def _points(session: Session, f: Filters, chain_id: int) -> analytics_series.PointsSeries:
    return analytics_series.points_series(
        session, start=f.start, end=f.end, chain_id=chain_id, partner_id=f.partner_id, grain=f.grain
    )


def _liability(session: Session, f: Filters, chain_id: int) -> list[LiabilityDay]:
    return liability.liability(session, chain_id=chain_id, start=f.start, end=f.end, tz="UTC", partner_id=f.partner_id)


def block(session: Session, name: str, *, filters: Filters, chain_id: int, churn_days: int) -> Any:
    """One block's data alone (for its CSV), by the service call the page's block comes from."""
    f = filters
    lo, hi = analytics.bounds(f.start, f.end)
    dialect = session.get_bind().dialect.name
    compute: dict[str, Callable[[], Any]] = {
        "kpis": lambda: analytics.kpis(
            session, start=f.start, end=f.end, chain_id=chain_id, churn_days=churn_days, partner_id=f.partner_id
        ),
        "points": lambda: _points(session, f, chain_id),
        "liability": lambda: _liability(session, f, chain_id),
        "segments": lambda: rfm.segment_sizes(session, scope=f.scope, day=f.end),
        "segment-moves": lambda: analytics_series.segment_moves(session, scope=f.scope, on_or_before=f.end),
        "cohorts": lambda: analytics.cohorts(session, lo=lo, hi=hi, partner_id=f.partner_id, dialect=dialect),
        "flow": lambda: analytics.flow(session, lo=lo, hi=hi, chain_id=chain_id, partner_id=f.partner_id),
        "shared": lambda: analytics.shared_members(session, partner_id=f.partner_id),
        "tiers": lambda: analytics.tiers(session, partner_id=f.partner_id),
        "tier-moves": lambda: analytics.tier_moves(session, lo=lo, hi=hi, partner_id=f.partner_id),
    }
    if name not in compute:
        raise UnknownBlock(f"no analytics block {name!r}; there are {', '.join(BLOCKS)}")
    return compute[name]()


def _raw(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def kpi_rows(k: Kpis) -> list[tuple[str, str, object]]:
    """(figure name, definition, raw value): a per-currency KPI is one row per currency."""
    out: list[tuple[str, str, object]] = []
    for name in FIGURES:
        value = getattr(k, name)
        definition = DEFINITIONS.get(name.removesuffix("_low").removesuffix("_high"), "")
        if isinstance(value, dict):
            out.extend((f"{name}_{cur}", definition, v) for cur, v in sorted(value.items()))
        else:
            out.append((name, definition, value))
    return out


def table_of(name: str, data: Any, names: dict[int, str]) -> tuple[list[str], list[list[str]]]:
    """A block's data as a header and rows of text (raw values: ids, integers, decimals as text)."""

    def who(pid: int) -> str:
        return csv_cell(names.get(pid, f"#{pid}"))  # a partner's name: never a spreadsheet formula

    if name == "kpis":
        return ["kpi", "value", "definition"], [[n, _raw(v), d] for n, d, v in kpi_rows(data)]
    if name == "points":
        s: analytics_series.PointsSeries = data
        head = [s.grain, "issued", "redeemed", "reversed"] + ([] if s.expired is None else ["expired"])
        cols = [s.labels, s.issued, s.redeemed, s.reversed] + ([] if s.expired is None else [s.expired])
        return head, [[_raw(c[i]) for c in cols] for i in range(len(s.labels))]
    if name == "liability":
        return (
            ["day", "outstanding_points", "issued", "redeemed", "reversed", "restored", "expired", "value_low",
             "value_high"],
            [[d.day, *(_raw(v) for v in (d.outstanding, d.issued, d.redeemed, d.reversed, d.restored, d.expired,
                                         d.value_low, d.value_high))] for d in data],
        )  # fmt: skip
    if name == "segments":
        sizes: dict[str, int] = {} if data is None else data.sizes
        day = "" if data is None else data.day.isoformat()
        return ["snapshot_day", "segment", "members"], [[day, s, str(n)] for s, n in sizes.items()]
    if name == "segment-moves":
        m: analytics_series.SegmentMoves = data
        frm, to = _raw(m.previous), _raw(m.day)
        return (["from_day", "to_day", "from", "to", "members"],
                [[frm, to, str(r["from"]), str(r["to"]), str(r["members"])] for r in m.moves])  # fmt: skip
    if name == "cohorts":
        width = max((len(c["active"]) for c in data), default=0)
        head = ["cohort", "members", *(f"month_{i}" for i in range(width))]
        return head, [  # a later cohort has fewer months: its row ends in empty cells
            [c["cohort"], str(c["members"]), *(str(n) for n in c["active"]), *[""] * (width - len(c["active"]))]
            for c in data
        ]
    if name == "flow":
        return (["earned_at", "earned_at_name", "redeemed_at", "redeemed_at_name", "points"],
                [[str(r["earned_at"]), who(r["earned_at"]), str(r["redeemed_at"]), who(r["redeemed_at"]),
                  _raw(r["points"])] for r in data])  # fmt: skip
    if name == "shared":
        return (["a", "a_name", "b", "b_name", "members"],
                [[str(r["a"]), who(r["a"]), str(r["b"]), who(r["b"]), str(r["members"])] for r in data])  # fmt: skip
    if name == "tiers":
        return ["tier", "members"], [[t, str(n)] for t, n in data.items()]
    if name == "tier-moves":
        return ["from", "to", "members"], [[r["from"], r["to"], str(r["members"])] for r in data]
    raise UnknownBlock(f"no analytics block {name!r}")


def csv_text(name: str, data: Any, names: dict[int, str]) -> str:
    """A block as CSV (RFC 4180, CRLF line ends)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    head, rows = table_of(name, data, names)
    writer.writerow(head)
    writer.writerows(rows)
    return buf.getvalue()
