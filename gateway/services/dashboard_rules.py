"""What the dashboard's rule pages show and do: each partner's earning rules in force, a
partner's versions (in force, drafts, retired), a draft written as the operator API's JSON, the
simulation of a draft over the last days' purchases, and its activation.

The work is the operator API's (gateway/services/rule_sets.py, gateway/routes/earning_rules.py):
a draft is read by the API's own ``RuleSetDraft`` and checked by ``rule_sets.draft``, so the page
refuses what the API refuses, with the same words.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.errors import NotFound, RulesInvalid
from gateway.schemas_rules import RuleSetDraft
from gateway.services import partner_admin, rule_sets
from gateway.services.rule_sets import Version
from loyalty.simulation import Simulation
from network.store import Partner

BY = "operator"  # who drafts and activates (the operator token names no person), as the API says
MAX_DRAFT_CHARS = 60_000


@dataclass(frozen=True, slots=True)
class PartnerRules:
    partner: Partner
    active: Version
    drafts: int


@dataclass(frozen=True, slots=True)
class RulesPage:
    """A partner's version in force (version 0: its rate, while none is active) and its
    versions, newest first."""

    partner: Partner
    active: Version
    versions: list[Version]

    @property
    def drafts(self) -> list[Version]:
        return [v for v in self.versions if v.status == "draft"]

    @property
    def retired(self) -> list[Version]:
        return [v for v in self.versions if v.status == "retired"]


@dataclass(frozen=True, slots=True)
class Simulated:
    partner: Partner
    version: Version
    current: int  # the version in force it is compared with
    days: int
    result: Simulation


def overview(session: Session) -> list[PartnerRules]:
    """Every partner with the version of its rules in force and how many drafts wait."""
    out = []
    for partner in session.scalars(select(Partner).order_by(Partner.id)):
        versions = rule_sets.versions(session, partner=partner)
        drafts = sum(1 for v in versions if v.status == "draft")
        out.append(PartnerRules(partner, rule_sets.active(session, partner=partner), drafts))
    return out


def rules_page(session: Session, *, partner_id: int) -> RulesPage:
    partner = partner_admin.get_partner(session, partner_id)
    return RulesPage(partner, rule_sets.active(session, partner=partner), rule_sets.versions(session, partner=partner))


def proposal_of(version: Version) -> dict[str, Any]:
    """A version as the JSON the draft form and the operator API take (time zone, rounding, rules)."""
    return {"time_zone": version.rules["time_zone"], "rounding": version.rules["rounding"],
            "rules": version.rules["rules"]}  # fmt: skip


def form_text(version: Version) -> str:
    """The draft form's text: ``version`` as a proposal, its rules without their own versions
    (the draft gives each one: kept when unchanged, raised when changed, 1 when new)."""
    proposal = proposal_of(version)
    proposal["rules"] = [{k: v for k, v in rule.items() if k != "version"} for rule in proposal["rules"]]
    return json.dumps(proposal, indent=2)


def parse_draft(text: str) -> dict[str, Any]:
    """The form's JSON read as the API's ``RuleSetDraft``; :class:`RulesInvalid` saying what is wrong."""
    if len(text) > MAX_DRAFT_CHARS:
        raise RulesInvalid(f"the rules are over {MAX_DRAFT_CHARS} characters")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RulesInvalid(f"not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from exc
    try:
        return RuleSetDraft.model_validate(data).model_dump()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the rules"
        raise RulesInvalid(f"{where}: {first['msg']}") from exc


def write_draft(session: Session, *, partner_id: int, text: str) -> Version:
    """The form's rules stored as the partner's next version, a draft (not committed)."""
    partner = partner_admin.get_partner(session, partner_id)
    return rule_sets.draft(session, partner=partner, rules=parse_draft(text), by=BY)


def _version(session: Session, partner: Partner, version: int) -> Version:
    found = next((v for v in rule_sets.versions(session, partner=partner) if v.version == version), None)
    if found is None or version == 0:
        raise NotFound(f"partner {partner.id} has no version {version} of its rules")
    return found


def simulate(session: Session, *, partner_id: int, version: int, days: int) -> Simulated:
    """What the stored ``version`` (a draft, usually) would have issued over the partner's last
    ``days`` days of purchases against the rules in force: the API's simulation of its JSON."""
    partner = partner_admin.get_partner(session, partner_id)
    seen = _version(session, partner, version)
    current = rule_sets.active(session, partner=partner).version
    result = rule_sets.simulation(session, partner=partner, rules=proposal_of(seen), days=days)
    return Simulated(partner, seen, current, days, result)


def activate(session: Session, *, partner_id: int, version: int) -> Version:
    """The draft ``version`` in force (not committed); the API's refusals (not a draft, unknown)."""
    partner = partner_admin.get_partner(session, partner_id)
    return rule_sets.activate(session, partner=partner, version=version, by=BY)
