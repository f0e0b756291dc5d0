"""Paid membership plans (pure): plans, a subscription's lifecycle, renewal dates, proration on a
change of plan, who is entitled to what at a checkout, and how a plan's earn multiplier combines
with the tier's. No store, no chain, no HTTP: gateway/services/memberships.py feeds these rules
from network/store/memberships.py. Every time is an aware datetime, normalized to UTC.

The rules:

- **A plan** is owned by a partner (or by the coalition: ``owner_partner_id`` None) and honoured
  by the partners it names (a partner's plan is always honoured by its owner too). It has a price
  (Decimal, in its currency), a period (``monthly`` or ``yearly``), free trial days, and benefits:
  an earn multiplier (>= 1), tier protection, members-only rewards (SKUs of the catalogue) and
  named perks (``free_delivery``, ``priority_service``, ``early_access``...).
- **A free trial is once per customer, ever**: across every plan, whatever happened to the trial.
- **The lifecycle.** ``trialing`` (the trial, nothing paid) or ``active`` (a paid period) ->
  at the period's end a renewal payment is due: the selling partner's provider takes it and the
  partner reports it. Paid: ``active``, a new period. Failed, or not reported by the period's end:
  ``past_due`` with a grace period (``grace_days`` after the period's end) during which the
  benefits hold; paid within the grace: ``active`` again, the new period counted from the old
  period's end (no free days, no lost days). Grace over unpaid: ``lapsed``. ``cancel`` stops the
  renewal: the benefits hold until the period's end (``cancel_at_period_end``), then ``lapsed``
  (a trial cancelled never charges); ``resume`` before then undoes it. Cancelling a ``past_due``
  subscription lapses it at once (nothing was paid for the grace). ``lapsed`` is final: a customer
  subscribes again as a new subscription (without a trial).
- **Renewal dates** count calendar months from the anchor (the start of the first paid period):
  the n-th period ends n months (12n for yearly) after the anchor, on the anchor's day clamped to
  the month's last day (anchor 31 January: 28/29 February, 31 March, 30 April, 31 May...), so a
  short month never shifts later renewals.
- **Proration on a change of plan** (upgrade or downgrade, same currency, an ``active``
  subscription): the unused part of the current period is credited,
  ``credit = old price * unused seconds / period seconds``, rounded half-up to the currency's
  cents; the new plan starts now with a new anchor, and what is due now is
  ``max(0, new price - credit - carried credit)``; a credit larger than the new price is carried
  and taken off the next renewals. A trialing subscription changes plan without charge (the trial
  keeps its end).
- **Entitlement.** A subscription gives its benefits while ``trialing`` until the trial's end,
  while ``active`` until its period's end plus the grace (a renewal not reported yet is past due,
  not lost), cancelled until its period's end, while ``past_due`` until the grace's end.
- **Earn multiplier combination.** Points at an honouring partner are the partner's rules' points
  (which include the tier's multiplier where a rule applies it) times the plan's multiplier:
  ``total = floor(rules_points * plan_multiplier)``, the extra shown as its own breakdown line;
  with several plans honoured at the partner, the highest multiplier applies (plans never stack).
  The extra points are not qualifying points: a fee never buys a tier.
- **Tier protection.** While an entitled subscription has it, the tier in force never goes below
  the tier held: a downgrade the rules compute is not applied (the earned tier is still computed,
  and applies once the protection ends).
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Literal

from loyalty.tier_progress import Progress
from loyalty.tiers import Ladder

Period = Literal["monthly", "yearly"]
PERIODS: tuple[str, ...] = ("monthly", "yearly")
MAX_MULTIPLIER = Decimal(10)
MAX_TRIAL_DAYS = 366
MAX_GRACE_DAYS = 60
CENT = Decimal("0.01")


class MembershipError(ValueError):
    """The root of this module's errors."""


class PlanInvalid(MembershipError):
    """A plan that cannot be used: the message names the field and the value."""


class TransitionInvalid(MembershipError):
    """A change the subscription's state does not allow (the message says which and why)."""


class Status(StrEnum):
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    LAPSED = "lapsed"


def require_utc(value: datetime, what: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise MembershipError(f"{what} must be an aware datetime (UTC), got {value!r}")
    return value.astimezone(UTC)


# ------------------------------------------------------------------------------ plans


@dataclass(frozen=True, slots=True)
class Plan:
    """A plan; ``owner_partner_id`` None: the coalition's."""

    id: int
    name: str
    owner_partner_id: int | None
    honoured_by: frozenset[int]
    price: Decimal
    currency: str
    period: Period
    trial_days: int = 0
    earn_multiplier: Decimal = Decimal(1)
    tier_protection: bool = False
    members_only_skus: frozenset[str] = frozenset()
    perks: tuple[str, ...] = ()
    coalition_share: Decimal = Decimal(0)  # the coalition's share of each fee, 0..1

    def __post_init__(self) -> None:
        if not isinstance(self.price, Decimal) or not self.price.is_finite() or self.price <= 0:
            raise PlanInvalid(f"a plan's price is a positive amount, got {self.price!r}")
        if self.price != self.price.quantize(CENT):
            raise PlanInvalid(f"a plan's price has at most 2 decimals, got {self.price}")
        if self.period not in PERIODS:
            raise PlanInvalid(f"a plan's period is one of {', '.join(PERIODS)}, got {self.period!r}")
        if not 0 <= self.trial_days <= MAX_TRIAL_DAYS:
            raise PlanInvalid(f"trial days are between 0 and {MAX_TRIAL_DAYS}, got {self.trial_days}")
        if not Decimal(1) <= self.earn_multiplier <= MAX_MULTIPLIER:
            raise PlanInvalid(f"an earn multiplier is between 1 and {MAX_MULTIPLIER}, got {self.earn_multiplier}")
        if not Decimal(0) <= self.coalition_share <= Decimal(1):
            raise PlanInvalid(f"the coalition's share is between 0 and 1, got {self.coalition_share}")
        if len(set(self.perks)) != len(self.perks):
            raise PlanInvalid(f"a perk is named once: {', '.join(self.perks)}")

    def honoured_at(self, partner_id: int) -> bool:
        return partner_id in self.honoured_by or partner_id == self.owner_partner_id


# ------------------------------------------------------------------------------ dates


def add_months(anchor: datetime, months: int) -> datetime:
    """``anchor`` plus ``months`` calendar months, the day clamped to the month's last day."""
    index = anchor.month - 1 + months
    year, month = anchor.year + index // 12, index % 12 + 1
    day = min(anchor.day, calendar.monthrange(year, month)[1])
    return anchor.replace(year=year, month=month, day=day)


def period_end(anchor: datetime, period: Period, n: int) -> datetime:
    """The end of the ``n``-th period (1 = the first) counted from ``anchor``."""
    return add_months(anchor, n * (12 if period == "yearly" else 1))


def fee_split(amount: Decimal, share: Decimal) -> tuple[Decimal, Decimal]:
    """(the coalition's part, the selling partner's part) of a fee: the coalition's rounded half-up
    to the cent, the partner's the rest, so the two always sum to the fee."""
    coalition = (amount * share).quantize(CENT, rounding=ROUND_HALF_UP)
    return coalition, amount - coalition


# ------------------------------------------------------------------------------ subscriptions


@dataclass(frozen=True, slots=True)
class Subscription:
    """A customer's subscription to a plan: ``period_start``/``period_end`` the current trial or
    paid period, ``anchor`` and ``cycles`` (paid periods since the anchor) the renewal dates,
    ``grace_until`` set while past due, ``credit`` carried from a downgrade."""

    plan_id: int
    status: Status
    started_at: datetime
    period_start: datetime
    period_end: datetime
    anchor: datetime | None = None
    cycles: int = 0
    cancel_at_period_end: bool = False
    grace_until: datetime | None = None
    credit: Decimal = Decimal(0)
    ended_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Step:
    """A transition's result: the new subscription and the event to tell (None: nothing changed)."""

    subscription: Subscription
    event: str | None
    amount_due: Decimal = Decimal(0)


def subscribe(plan: Plan, *, at: datetime, trial_used: bool, paid: bool) -> Step:
    """A new subscription at ``at``: a trial if the plan has one and the customer never had one,
    else the first paid period, which needs the first payment taken already (``paid``)."""
    at = require_utc(at, "at")
    if plan.trial_days and not trial_used:
        end = at + timedelta(days=plan.trial_days)
        return Step(Subscription(plan.id, Status.TRIALING, at, at, end), "membership.trial_started")
    if not paid:
        raise TransitionInvalid(
            f"plan {plan.id} starts with a payment (no trial{' left' if plan.trial_days else ''}): "
            "report the first payment's reference with the subscription"
        )
    sub = Subscription(plan.id, Status.ACTIVE, at, at, period_end(at, plan.period, 1), anchor=at, cycles=1)
    return Step(sub, "membership.started", plan.price)


def amount_due(sub: Subscription, plan: Plan) -> Decimal:
    """What the next renewal charges: the plan's price less any carried credit, never below 0."""
    return max(Decimal(0), plan.price - sub.credit)


def payment_succeeded(sub: Subscription, plan: Plan, *, at: datetime) -> Step:
    """A renewal paid: the next period, from the current period's end (a trial converts, a past-due
    subscription is active again). Refused for a lapsed subscription or a cancelled one."""
    require_utc(at, "at")
    if sub.status == Status.LAPSED:
        raise TransitionInvalid("a lapsed subscription takes no payment: subscribe again")
    if sub.cancel_at_period_end:
        raise TransitionInvalid("the subscription is cancelled at its period's end: resume it before renewing")
    if sub.status == Status.TRIALING:
        anchor, cycles = sub.period_end, 1
        event = "membership.converted"
    else:
        anchor, cycles = sub.anchor or sub.period_start, sub.cycles + 1
        event = "membership.renewed"
    start = sub.period_end
    end = period_end(anchor, plan.period, cycles)
    used = min(sub.credit, plan.price)
    renewed = replace(
        sub, status=Status.ACTIVE, period_start=start, period_end=end, anchor=anchor, cycles=cycles,
        grace_until=None, credit=sub.credit - used,
    )  # fmt: skip
    return Step(renewed, event, plan.price - used)


def payment_failed(sub: Subscription, *, at: datetime, grace_days: int) -> Step:
    """A renewal's payment failed: past due, the benefits held until ``grace_days`` after the
    period's end (a second failure keeps the first grace)."""
    at = require_utc(at, "at")
    if sub.status == Status.LAPSED:
        raise TransitionInvalid("a lapsed subscription takes no payment")
    if sub.status == Status.PAST_DUE:
        return Step(sub, None)
    grace = max(sub.period_end, at) + timedelta(days=grace_days)
    return Step(replace(sub, status=Status.PAST_DUE, grace_until=grace), "membership.payment_failed")


def advance(sub: Subscription, *, at: datetime, grace_days: int) -> Step:
    """What time alone does by ``at``: a cancelled subscription lapses at its period's end, a
    trial or paid period not renewed by its end becomes past due (a trial without a payment
    lapses: a trial is never charged without a reported payment), a grace that ran out lapses."""
    at = require_utc(at, "at")
    if sub.status == Status.LAPSED or at < sub.period_end:
        return Step(sub, None)
    if sub.cancel_at_period_end:
        return Step(replace(sub, status=Status.LAPSED, ended_at=sub.period_end), "membership.lapsed")
    if sub.status == Status.TRIALING:
        return Step(replace(sub, status=Status.LAPSED, ended_at=sub.period_end), "membership.lapsed")
    if sub.status == Status.ACTIVE:
        sub = payment_failed(sub, at=sub.period_end, grace_days=grace_days).subscription
        if at < (sub.grace_until or at):
            return Step(sub, "membership.past_due")
    if sub.grace_until is not None and at >= sub.grace_until:
        return Step(replace(sub, status=Status.LAPSED, ended_at=sub.grace_until), "membership.lapsed")
    return Step(sub, None)


def cancel(sub: Subscription, *, at: datetime) -> Step:
    """Stops the renewal: benefits until the period's end; a past-due subscription lapses now."""
    at = require_utc(at, "at")
    if sub.status == Status.LAPSED:
        raise TransitionInvalid("the subscription has lapsed already")
    if sub.status == Status.PAST_DUE:
        return Step(replace(sub, status=Status.LAPSED, ended_at=at, grace_until=None), "membership.lapsed")
    if sub.cancel_at_period_end:
        return Step(sub, None)
    return Step(replace(sub, cancel_at_period_end=True), "membership.cancelled")


def resume(sub: Subscription, *, at: datetime) -> Step:
    """Undoes a cancellation before the period's end."""
    at = require_utc(at, "at")
    if sub.status == Status.LAPSED or at >= sub.period_end:
        raise TransitionInvalid("the subscription has ended: subscribe again")
    if not sub.cancel_at_period_end:
        return Step(sub, None)
    return Step(replace(sub, cancel_at_period_end=False), "membership.resumed")


def prorated_credit(sub: Subscription, old: Plan, *, at: datetime) -> Decimal:
    """The unused part of the current paid period, in money: ``old.price * unused / length``,
    rounded half-up to the cent (0 for a trial)."""
    at = require_utc(at, "at")
    if sub.status != Status.ACTIVE:
        return Decimal(0)
    length = (sub.period_end - sub.period_start).total_seconds()
    unused = max(0.0, (sub.period_end - max(at, sub.period_start)).total_seconds())
    if length <= 0:
        return Decimal(0)
    return (old.price * Decimal(int(unused)) / Decimal(int(length))).quantize(CENT, rounding=ROUND_HALF_UP)


def change_plan(sub: Subscription, old: Plan, new: Plan, *, at: datetime) -> Step:
    """Moves the subscription to ``new`` at ``at`` (see the module doc's proration): the step's
    ``amount_due`` is what the selling partner charges now."""
    at = require_utc(at, "at")
    if new.id == old.id:
        raise TransitionInvalid(f"the subscription is on plan {old.id} already")
    if new.currency != old.currency:
        raise TransitionInvalid(f"plans in different currencies ({old.currency}, {new.currency}) do not prorate")
    if sub.status == Status.TRIALING:
        return Step(replace(sub, plan_id=new.id), "membership.plan_changed")
    if sub.status != Status.ACTIVE or sub.cancel_at_period_end:
        raise TransitionInvalid(f"only an active subscription changes plan, this one is {_shown(sub)}")
    credit = prorated_credit(sub, old, at=at) + sub.credit
    due = max(Decimal(0), new.price - credit)
    changed = replace(
        sub, plan_id=new.id, period_start=at, period_end=period_end(at, new.period, 1), anchor=at, cycles=1,
        credit=max(Decimal(0), credit - new.price),
    )  # fmt: skip
    return Step(changed, "membership.plan_changed", due)


def _shown(sub: Subscription) -> str:
    return "cancelled at its period's end" if sub.cancel_at_period_end else str(sub.status)


# ------------------------------------------------------------------------------ benefits


def entitled_until(sub: Subscription, *, grace_days: int) -> datetime | None:
    """Until when the subscription gives its benefits if nothing else is reported (None: lapsed):
    a trial or a cancelled period to its end, a paid period to its end plus the grace a missing
    renewal gets, a past-due one to its grace's end."""
    if sub.status == Status.LAPSED:
        return None
    if sub.status == Status.PAST_DUE:
        return sub.grace_until
    if sub.status == Status.TRIALING or sub.cancel_at_period_end:
        return sub.period_end
    return sub.period_end + timedelta(days=grace_days)


def entitled(sub: Subscription, *, at: datetime, grace_days: int) -> bool:
    """Whether the subscription gives its benefits at ``at``."""
    until = entitled_until(sub, grace_days=grace_days)
    return until is not None and require_utc(at, "at") < until


@dataclass(frozen=True, slots=True)
class Benefits:
    """What a customer's plans give at one partner: the plans, the best multiplier, the perks."""

    plan_ids: tuple[int, ...] = ()
    earn_multiplier: Decimal = Decimal(1)
    tier_protection: bool = False
    perks: tuple[str, ...] = ()
    members_only_skus: frozenset[str] = field(default_factory=frozenset)


def benefits_at(plans: Iterable[Plan], partner_id: int | None) -> Benefits:
    """The benefits of the (entitled) ``plans`` at ``partner_id`` (None: tier protection alone,
    which is coalition-wide): the highest multiplier, the union of perks and members-only SKUs."""
    here = [p for p in plans if partner_id is None or p.honoured_at(partner_id)]
    if not here:
        return Benefits()
    perks: list[str] = []
    for plan in here:
        perks += [perk for perk in plan.perks if perk not in perks]
    return Benefits(
        plan_ids=tuple(sorted(p.id for p in here)),
        earn_multiplier=max(p.earn_multiplier for p in here),
        tier_protection=any(p.tier_protection for p in here),
        perks=tuple(perks),
        members_only_skus=frozenset().union(*(p.members_only_skus for p in here)),
    )


def extra_points(points: int, multiplier: Decimal) -> int:
    """The points a plan's multiplier adds to ``points`` (the rules' points, the tier's multiplier
    in them): ``floor(points * multiplier) - points``, never negative."""
    if points <= 0 or multiplier <= 1:
        return 0
    return int((Decimal(points) * multiplier).to_integral_value(rounding=ROUND_FLOOR)) - points


def protected_tier(names: Sequence[str], held: str | None, computed: str) -> str:
    """Tier protection: the higher (by rank in ``names``, bottom first) of the tier ``held`` before
    and the tier the rules ``computed``; a held tier no longer on the ladder protects nothing."""
    if held is None or held not in names or computed not in names:
        return computed
    return held if names.index(held) > names.index(computed) else computed


def protected_progress(ladder: Ladder, seen: Progress, held: str) -> Progress:
    """What a member sees while a plan protects ``held`` (the tier in force, written by the tier
    placement): the tier shown is the higher of it and the rules' one, the next tier above it."""
    tier = protected_tier(ladder.names, held, seen.tier)
    if tier == seen.tier:
        return seen
    above = ladder.rank(tier) + 1
    following = ladder.tiers[above] if above < len(ladder.tiers) else None
    return replace(
        seen,
        tier=tier,
        next_tier=following.name if following else None,
        points_to_next=max(0, following.threshold - seen.qualifying_points) if following else None,
    )
