"""What a campaign does when its trigger fires (pure: no store, no chain, no HTTP).

A campaign is checked once (:func:`compile_campaign`, raising :class:`CampaignInvalid` naming the
bad field) and evaluated per occurrence of its trigger (:func:`evaluate_purchase` for a purchase).
Its JSON parts:

- ``trigger``: ``{"type": T, "params": {...}}``, T one of :data:`TRIGGERS` (a registry: ``purchase``,
  ``birthday``, ``win_back``, ``segment_entered``, and ``referral`` / ``achievement``, whose checks
  and firing their own module adds with :func:`register_trigger`);
- ``conditions`` (all optional, all must hold): ``partners`` (ids where the purchase was made; a
  partner's own campaign always means its own purchases), ``skus``, ``categories`` (at least one
  line matches one of them; the matching lines are what ``per_unit`` counts), ``min_amount``,
  ``first_purchase`` (true: the member's first purchase at that partner), ``weekdays`` (0 = Monday)
  and ``hours`` ([from, to), local hours) in ``time_zone``, and ``audience``: a condition of the
  segments' language (loyalty/segments.py), checked here and evaluated by the store's side;
- ``effects``: a list of ``{"kind": K, ...}``, K one of :data:`EFFECTS`: ``bonus_points`` with
  ``mode`` ``fixed`` (``points``), ``per_unit`` (``points`` per unit of quantity of the matching
  lines; a purchase without lines is one unit) or ``multiplier`` (``factor``: the purchase's earned
  points × (factor − 1) on top, rounded down); ``message`` (``message_kind``); ``achievement`` and
  ``referral`` are registered for their own module.

Both arms are evaluated the same way: the arm (loyalty/campaigns/assignment.py) decides only
whether the effect is given; a control member is exposed with ``points`` 0.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from hashlib import sha256
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from loyalty.campaigns.assignment import BUCKETS, CONTROL, TREATMENT, validate_holdout
from loyalty.lines import Line
from loyalty.segments import SegmentInvalid, parse

STATUSES = ("draft", "running", "paused", "stopped")
PERIODS = ("day", "week", "month")
MAX_POINTS = 10**9


class CampaignInvalid(ValueError):
    """A campaign that cannot run: ``field`` names the bad part (``effects[0].points``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


# ------------------------------------------------------------------------------------ registries

ParamsCheck = Callable[[Mapping[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class TriggerType:
    """A kind of trigger: ``check`` validates its params (raising CampaignInvalid) and returns them
    normalised; ``scheduled``: fired by the beat task (else by an event of the accept path)."""

    name: str
    check: ParamsCheck
    scheduled: bool = False
    description: str = ""


@dataclass(frozen=True)
class EffectType:
    """A kind of effect: ``check`` validates one effect's JSON and returns it normalised;
    ``gives_points``: it mints points (and so counts against the budget)."""

    name: str
    check: ParamsCheck
    gives_points: bool = False
    description: str = ""


TRIGGERS: dict[str, TriggerType] = {}
EFFECTS: dict[str, EffectType] = {}


def register_trigger(trigger: TriggerType) -> None:
    """Adds (or replaces) a trigger type: another module's extension point (referrals, achievements)."""
    TRIGGERS[trigger.name] = trigger


def register_effect(effect: EffectType) -> None:
    """Adds (or replaces) an effect type."""
    EFFECTS[effect.name] = effect


def _no_params(params: Mapping[str, Any]) -> dict[str, Any]:
    if params:
        raise CampaignInvalid("trigger.params", f"this trigger takes no params, not {sorted(params)}")
    return {}


def _win_back(params: Mapping[str, Any]) -> dict[str, Any]:
    days = params.get("days")
    if type(days) is not int or not 1 <= days <= 3650:
        raise CampaignInvalid("trigger.params.days", f"days without a purchase, 1 to 3650, not {days!r}")
    return {"days": days}


def _segment_entered(params: Mapping[str, Any]) -> dict[str, Any]:
    segment = params.get("segment")
    if not isinstance(segment, str) or not segment or len(segment) > 80:
        raise CampaignInvalid("trigger.params.segment", f"a segment's name (RFM or saved), not {segment!r}")
    return {"segment": segment}


def _reserved(params: Mapping[str, Any]) -> dict[str, Any]:
    raise CampaignInvalid("trigger.type", "this trigger type is not available yet")


for _t in (
    TriggerType("purchase", _no_params, description="a purchase accepted at a partner (the accept path)"),
    TriggerType("birthday", _no_params, scheduled=True, description="the member's birthday (UTC day)"),
    TriggerType("win_back", _win_back, scheduled=True, description="`days` days without a purchase"),
    TriggerType("segment_entered", _segment_entered, scheduled=True, description="the member entered `segment`"),
    TriggerType("referral", _reserved, description="a referred member's first purchase (issue 20 item 4)"),
    TriggerType("achievement", _reserved, description="a badge earned (issue 20 item 5)"),
):
    register_trigger(_t)


def _int_in(raw: Any, name: str, lo: int, hi: int) -> int:
    if type(raw) is not int or not lo <= raw <= hi:
        raise CampaignInvalid(name, f"an integer from {lo} to {hi}, not {raw!r}")
    return raw


def _decimal(raw: Any, name: str, lo: Decimal, hi: Decimal) -> Decimal:
    try:
        value = Decimal(str(raw)) if isinstance(raw, (str, int)) and not isinstance(raw, bool) else None
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or not lo <= value <= hi:
        raise CampaignInvalid(name, f"a number from {lo} to {hi} (as a string), not {raw!r}")
    return value


def _bonus_points(effect: Mapping[str, Any]) -> dict[str, Any]:
    mode = effect.get("mode")
    if mode == "fixed" or mode == "per_unit":
        _exact(effect, {"kind", "mode", "points"})
        return {"kind": "bonus_points", "mode": mode, "points": _int_in(effect.get("points"), "points", 1, MAX_POINTS)}
    if mode == "multiplier":
        _exact(effect, {"kind", "mode", "factor"})
        factor = _decimal(effect.get("factor"), "factor", Decimal("1.01"), Decimal(100))
        return {"kind": "bonus_points", "mode": mode, "factor": format(factor.normalize(), "f")}
    raise CampaignInvalid("mode", f"fixed, per_unit or multiplier, not {mode!r}")


def _message(effect: Mapping[str, Any]) -> dict[str, Any]:
    _exact(effect, {"kind", "message_kind"})
    kind = effect.get("message_kind")
    if not isinstance(kind, str) or not kind or len(kind) > 40:
        raise CampaignInvalid("message_kind", f"a message kind, not {kind!r}")
    return {"kind": "message", "message_kind": kind}


def _exact(effect: Mapping[str, Any], keys: set[str]) -> None:
    extra = sorted(set(effect) - keys)
    if extra:
        raise CampaignInvalid(extra[0], f"not a key of this effect; its keys: {', '.join(sorted(keys))}")


def _reserved_effect(effect: Mapping[str, Any]) -> dict[str, Any]:
    raise CampaignInvalid("kind", "this effect is not available yet")


for _e in (
    EffectType("bonus_points", _bonus_points, gives_points=True, description="points on top, minted by the funder"),
    EffectType("message", _message, description="a message of `message_kind` to the member"),
    EffectType("achievement", _reserved_effect, description="a badge (issue 20 item 5)"),
    EffectType("referral", _reserved_effect, description="a referral reward (issue 20 item 4)"),
):
    register_effect(_e)


# ------------------------------------------------------------------------------------ compiled


@dataclass(frozen=True)
class Conditions:
    partners: frozenset[int] = frozenset()
    skus: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()
    min_amount: Decimal | None = None
    first_purchase: bool | None = None
    weekdays: frozenset[int] = frozenset()
    hours: tuple[int, int] | None = None
    time_zone: str = "UTC"
    audience: dict[str, Any] | None = None  # the segments' JSON, evaluated by the store's side

    @property
    def lines_matter(self) -> bool:
        return bool(self.skus or self.categories)


@dataclass(frozen=True)
class Limits:
    budget_points: int | None = None
    period: str | None = None
    period_budget_points: int | None = None
    member_period_points: int | None = None
    max_members: int | None = None


@dataclass(frozen=True)
class CompiledCampaign:
    id: int
    version: int
    funder_partner_id: int
    owner: str
    trigger_type: str
    trigger_params: dict[str, Any]
    conditions: Conditions
    effects: tuple[dict[str, Any], ...]
    limits: Limits
    holdout_bp: int
    salt: str
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    # precomputed for the accept path (compile_campaign fills them): where it fires (empty: any
    # partner), the bonus as (mode, points or factor - 1), the message kinds, the salt's bytes
    where: frozenset[int] = frozenset()
    bonus: tuple[str, Decimal] | None = None
    messages: tuple[str, ...] = ()
    salt_bytes: bytes = b""

    @property
    def gives_points(self) -> bool:
        return any(EFFECTS[e["kind"]].gives_points for e in self.effects)

    def in_schedule(self, at: datetime) -> bool:
        return (self.starts_at is None or at >= self.starts_at) and (self.ends_at is None or at < self.ends_at)


def check_trigger(trigger_type: Any, params: Any) -> dict[str, Any]:
    if trigger_type not in TRIGGERS:
        raise CampaignInvalid("trigger.type", f"one of {', '.join(TRIGGERS)}, not {trigger_type!r}")
    if not isinstance(params, dict):
        raise CampaignInvalid("trigger.params", "an object is expected")
    return TRIGGERS[trigger_type].check(params)


def check_conditions(raw: Any) -> Conditions:
    """The conditions of a campaign's JSON (see the module doc), or CampaignInvalid."""
    if not isinstance(raw, dict):
        raise CampaignInvalid("conditions", "an object is expected")
    known = {"partners", "skus", "categories", "min_amount", "first_purchase", "weekdays", "hours", "time_zone",
             "audience"}  # fmt: skip
    extra = sorted(set(raw) - known)
    if extra:
        raise CampaignInvalid(f"conditions.{extra[0]}", f"unknown condition; known: {', '.join(sorted(known))}")

    def strings(name: str) -> frozenset[str]:
        values = raw.get(name, [])
        if not isinstance(values, list) or len(values) > 500 or not all(isinstance(v, str) and v for v in values):
            raise CampaignInvalid(f"conditions.{name}", "a list of at most 500 non-empty strings is expected")
        return frozenset(values)

    partners = raw.get("partners", [])
    if not isinstance(partners, list) or not all(type(p) is int and 1 <= p < 2**32 for p in partners):
        raise CampaignInvalid("conditions.partners", "a list of partner ids is expected")
    min_amount = raw.get("min_amount")
    first = raw.get("first_purchase")
    if first is not None and type(first) is not bool:
        raise CampaignInvalid("conditions.first_purchase", f"true or false, not {first!r}")
    weekdays = raw.get("weekdays", [])
    if not isinstance(weekdays, list) or not all(type(d) is int and 0 <= d <= 6 for d in weekdays):
        raise CampaignInvalid("conditions.weekdays", "a list of weekdays 0 (Monday) to 6 (Sunday) is expected")
    hours = raw.get("hours")
    if hours is not None:
        if not (isinstance(hours, list) and len(hours) == 2 and all(type(h) is int and 0 <= h <= 24 for h in hours)
                and hours[0] < hours[1]):  # fmt: skip
            raise CampaignInvalid("conditions.hours", "[from, to) local hours, 0 <= from < to <= 24")
        hours = (hours[0], hours[1])
    zone = raw.get("time_zone", "UTC")
    try:
        ZoneInfo(zone) if isinstance(zone, str) else None
    except (ZoneInfoNotFoundError, ValueError):
        zone = None
    if not isinstance(zone, str):
        raise CampaignInvalid("conditions.time_zone", f"an IANA time zone, not {raw.get('time_zone')!r}")
    audience = raw.get("audience")
    if audience is not None:
        try:
            parse(audience)
        except SegmentInvalid as exc:
            raise CampaignInvalid(f"conditions.audience{exc.path[1:]}", exc.message) from None
    return Conditions(
        partners=frozenset(partners),
        skus=strings("skus"),
        categories=strings("categories"),
        min_amount=None
        if min_amount is None
        else _decimal(min_amount, "conditions.min_amount", Decimal(0), Decimal(10**12)),
        first_purchase=first,
        weekdays=frozenset(weekdays),
        hours=hours,
        time_zone=zone,
        audience=audience,
    )


def check_effects(raw: Any) -> tuple[dict[str, Any], ...]:
    if not isinstance(raw, list) or not 1 <= len(raw) <= 10:
        raise CampaignInvalid("effects", "a list of 1 to 10 effects is expected")
    out = []
    for i, effect in enumerate(raw):
        if not isinstance(effect, dict) or effect.get("kind") not in EFFECTS:
            raise CampaignInvalid(f"effects[{i}].kind", f"one of {', '.join(EFFECTS)}")
        try:
            out.append(EFFECTS[effect["kind"]].check(effect))
        except CampaignInvalid as exc:
            raise CampaignInvalid(f"effects[{i}].{exc.field}", exc.message) from None
    if sum(1 for e in out if e["kind"] == "bonus_points") > 1:
        raise CampaignInvalid("effects", "at most one bonus_points effect")
    return tuple(out)


def check_limits(raw: Mapping[str, Any]) -> Limits:
    def opt(name: str) -> int | None:
        value = raw.get(name)
        return None if value is None else _int_in(value, f"limits.{name}", 1, 10**15)

    period = raw.get("period")
    if period is not None and period not in PERIODS:
        raise CampaignInvalid("limits.period", f"one of {', '.join(PERIODS)}, not {period!r}")
    limits = Limits(opt("budget_points"), period, opt("period_budget_points"), opt("member_period_points"),
                    opt("max_members"))  # fmt: skip
    if (limits.period_budget_points or limits.member_period_points) and period is None:
        raise CampaignInvalid("limits.period", "a per-period limit needs a period (day, week or month)")
    return limits


def compile_campaign(
    *,
    id: int,
    version: int,
    funder_partner_id: int,
    owner: str,
    trigger_type: str,
    trigger_params: Any,
    conditions: Any,
    effects: Any,
    limits: Mapping[str, Any],
    holdout_bp: int,
    salt: str,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
) -> CompiledCampaign:
    """The checked campaign, or CampaignInvalid naming the bad field."""
    params = check_trigger(trigger_type, trigger_params)
    parsed = check_conditions(conditions)
    if owner == "partner" and parsed.partners - {funder_partner_id}:
        raise CampaignInvalid("conditions.partners", "a partner's campaign applies to its own purchases only")
    try:
        validate_holdout(holdout_bp)
    except ValueError as exc:
        raise CampaignInvalid("holdout_bp", str(exc)) from None
    if starts_at is not None and ends_at is not None and ends_at <= starts_at:
        raise CampaignInvalid("ends_at", "the end is after the start")
    checked = check_effects(effects)
    bonus = next(((e["mode"], Decimal(e["factor"]) - 1 if e["mode"] == "multiplier" else Decimal(e["points"]))
                  for e in checked if e["kind"] == "bonus_points"), None)  # fmt: skip
    return CompiledCampaign(
        id=id,
        version=version,
        funder_partner_id=funder_partner_id,
        owner=owner,
        trigger_type=trigger_type,
        trigger_params=params,
        conditions=parsed,
        effects=checked,
        limits=check_limits(limits),
        holdout_bp=holdout_bp,
        salt=salt,
        starts_at=starts_at,
        ends_at=ends_at,
        zone=ZoneInfo(parsed.time_zone),
        where=parsed.partners or (frozenset({funder_partner_id}) if owner == "partner" else frozenset()),
        bonus=bonus,
        messages=tuple(e["message_kind"] for e in checked if e["kind"] == "message"),
        salt_bytes=salt.encode("utf-8"),
    )


# ------------------------------------------------------------------------------------ evaluation


@dataclass(frozen=True, slots=True)
class PurchaseFacts:
    """A purchase as the campaigns see it: ``earned`` is what the earning rules gave it."""

    partner_id: int
    customer_id: int
    amount: Decimal
    purchased_at: datetime
    lines: Sequence[Line]
    earned: int
    first_purchase: bool


class Firing(NamedTuple):
    """A campaign's trigger fired for a customer: the arm, and the points the effect asks for
    (0 in control, or without a points effect), before the limits. (A named tuple: the accept
    path makes one per campaign fired, and a frozen dataclass costs 2.5 times as much to build.)"""

    campaign_id: int
    customer_id: int
    arm: str
    points: int
    messages: tuple[str, ...] = ()


def purchase_matches(c: CompiledCampaign, p: PurchaseFacts) -> bool:
    """Whether the campaign's conditions (except the audience, the store's) hold for the purchase."""
    return _matches(c, p, {})


def _matches(c: CompiledCampaign, p: PurchaseFacts, local: dict[ZoneInfo, datetime]) -> bool:
    """:func:`purchase_matches`, the cheap checks first; ``local``: the purchase's local times by zone."""
    if c.where and p.partner_id not in c.where:
        return False
    cond = c.conditions
    if cond.min_amount is not None and p.amount < cond.min_amount:
        return False
    if cond.first_purchase is not None and cond.first_purchase != p.first_purchase:
        return False
    if cond.weekdays or cond.hours:
        at = local.get(c.zone)
        if at is None:
            at = local[c.zone] = p.purchased_at.astimezone(c.zone)
        if cond.weekdays and at.weekday() not in cond.weekdays:
            return False
        if cond.hours and not cond.hours[0] <= at.hour < cond.hours[1]:
            return False
    if cond.skus or cond.categories:
        return any(_line_matches(cond, line) for line in p.lines)
    return True


def _line_matches(cond: Conditions, line: Line) -> bool:
    return line.sku in cond.skus or (line.category is not None and line.category in cond.categories)


def bonus_of(c: CompiledCampaign, p: PurchaseFacts) -> int:
    """The points the campaign's bonus effect gives the purchase (0 without one)."""
    if c.bonus is None:
        return 0
    mode, value = c.bonus
    if mode == "fixed":
        return int(value)
    if mode == "per_unit":
        if not p.lines:
            units = Decimal(1)
        elif c.conditions.lines_matter:
            units = sum((line.quantity for line in p.lines if _line_matches(c.conditions, line)), Decimal(0))
        else:
            units = sum((line.quantity for line in p.lines), Decimal(0))
        return int((units * value).to_integral_value(ROUND_DOWN))
    return int((p.earned * value).to_integral_value(ROUND_DOWN))


def evaluate_purchase(campaigns: Sequence[CompiledCampaign], p: PurchaseFacts, at: datetime) -> list[Firing]:
    """The running purchase campaigns (in the caller's list) that fire for the purchase, with the
    customer's arm and the points asked for (see :class:`Firing`). The arm is
    loyalty/campaigns/assignment.py's ``arm``, inlined (the hash of the salt's bytes and the
    customer id's digits; a test holds them equal): the accept path runs it per campaign fired."""
    out = []
    customer = str(p.customer_id).encode("ascii")
    local: dict[ZoneInfo, datetime] = {}
    for c in campaigns:
        if c.trigger_type != "purchase":
            continue
        if (c.starts_at is not None and at < c.starts_at) or (c.ends_at is not None and at >= c.ends_at):
            continue
        if not _matches(c, p, local):
            continue
        if int.from_bytes(sha256(c.salt_bytes + customer).digest(), "big") % BUCKETS < c.holdout_bp:
            out.append(Firing(c.id, p.customer_id, CONTROL, 0))
        else:
            out.append(Firing(c.id, p.customer_id, TREATMENT, min(bonus_of(c, p), MAX_POINTS), c.messages))
    return out


__all__ = [
    "CONTROL",
    "EFFECTS",
    "TREATMENT",
    "TRIGGERS",
    "CampaignInvalid",
    "CompiledCampaign",
    "Conditions",
    "EffectType",
    "Firing",
    "Limits",
    "PurchaseFacts",
    "TriggerType",
    "bonus_of",
    "compile_campaign",
    "evaluate_purchase",
    "purchase_matches",
    "register_effect",
    "register_trigger",
]
