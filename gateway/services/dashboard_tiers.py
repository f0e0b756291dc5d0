"""What the dashboard's tier page shows and does: the ladder in force, members per tier, the
recent recalculations; a proposed ladder read from the page's form, dry-run, and applied.

The form is the API's ``LadderIn`` written for people: one tier a line (``name, threshold,
multiplier``), the window, the review (``anniversary`` or a date ``MM-DD``) and the grace days.
The same services as the operator API do the work (gateway/services/tier_ladders.py,
tier_recalculation.py), with the same rules and refusals.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.errors import TierLadderInvalid
from gateway.services import tier_ladders, tier_recalculation
from gateway.services.tier_ladders import Version
from loyalty.tier_changes import DryRun
from loyalty.tiers import Ladder, TierPolicy
from network.store import TierRecalculation, TierState

FIELDS = ("tiers", "window", "review", "grace_days")
EXAMPLE_FORM = {
    "tiers": "Member, 0, 1\nSilver, 1000, 1.25\nGold, 5000, 1.5\nPlatinum, 15000, 2",
    "window": "rolling_12_months",
    "review": "anniversary",
    "grace_days": "30",
}
RUNS_SHOWN = 5


@dataclass(frozen=True, slots=True)
class TierPage:
    """The ladder in force (None before the first), members per tier in force, recent runs."""

    active: Version | None
    members: dict[str, int]
    runs: list[TierRecalculation]
    member_count: int


def overview(session: Session) -> TierPage:
    active = tier_ladders.active(session)
    counts = dict(session.execute(select(TierState.tier, func.count()).group_by(TierState.tier)).tuples().all())
    runs = list(session.scalars(select(TierRecalculation).order_by(TierRecalculation.id.desc()).limit(RUNS_SHOWN)))
    return TierPage(active, counts, runs, tier_recalculation.member_count(session))


def form_of(version: Version | None) -> dict[str, str]:
    """The form's fields filled with ``version`` (the example ladder without one)."""
    if version is None:
        return dict(EXAMPLE_FORM)
    policy = tier_ladders.policy_json(version.policy)
    review = policy["review"]
    return {
        "tiers": "\n".join(f"{t.name}, {t.threshold}, {t.multiplier}" for t in version.ladder.tiers),
        "window": policy["window"],
        "review": "anniversary" if review["kind"] == "anniversary" else f"{review['month']:02d}-{review['day']:02d}",
        "grace_days": str(policy["grace_days"]),
    }


def parse_form(form: dict[str, str]) -> tuple[Ladder, TierPolicy]:
    """The ladder and policy the form describes; :class:`TierLadderInvalid` saying which line or field is wrong."""
    tiers = []
    for number, line in enumerate(form.get("tiers", "").splitlines(), start=1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) not in (2, 3) or not parts[1].isdigit():
            raise TierLadderInvalid(f"line {number}: write 'name, threshold, multiplier', e.g. 'Silver, 1000, 1.25'")
        tiers.append({"name": parts[0], "threshold": int(parts[1]), "multiplier": parts[2] if len(parts) == 3 else "1"})
    if not tiers:
        raise TierLadderInvalid("the ladder needs at least one tier: write one per line")
    review_text = form.get("review", "anniversary").strip().lower()
    if review_text == "anniversary":
        review: dict[str, object] = {"kind": "anniversary"}
    else:
        month, _, day = review_text.partition("-")
        if not (month.isdigit() and day.isdigit()):
            raise TierLadderInvalid(f"review: 'anniversary' or a date as MM-DD (e.g. 01-01), got {review_text!r}")
        review = {"kind": "fixed_date", "month": int(month), "day": int(day)}
    grace = form.get("grace_days", "0").strip() or "0"
    if not grace.isdigit() or int(grace) > 180:
        raise TierLadderInvalid(f"grace_days: a whole number of days from 0 to 180, got {grace!r}")
    policy = {"window": form.get("window", "rolling_12_months"), "review": review, "grace_days": int(grace)}
    return tier_ladders.parse(tiers, policy)


def dry_run(session: Session, form: dict[str, str], *, now: datetime) -> DryRun:
    """What the form's ladder would do now; nothing is written."""
    ladder, policy = parse_form(form)
    return tier_recalculation.dry_run_of(session, ladder=ladder, policy=policy, now=now)


def apply(session: Session, form: dict[str, str], *, now: datetime) -> TierRecalculation:
    """The form's ladder written as a new version and put in force: its recalculation run (not
    committed; the caller starts its task after the commit)."""
    ladder, policy = parse_form(form)
    version = tier_ladders.propose(session, ladder=ladder, policy=policy, now=now)
    return tier_recalculation.apply(session, version=version.id, now=now)
