"""Paid memberships by example (loyalty/memberships.py): plans, the lifecycle, renewal dates,
proration, entitlement and benefits; every time is given by the test."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from loyalty.memberships import (
    Plan,
    PlanInvalid,
    Status,
    Subscription,
    TransitionInvalid,
    add_months,
    advance,
    amount_due,
    benefits_at,
    cancel,
    change_plan,
    entitled,
    extra_points,
    fee_split,
    payment_failed,
    payment_succeeded,
    period_end,
    prorated_credit,
    protected_progress,
    protected_tier,
    resume,
    subscribe,
)
from loyalty.tier_progress import Progress
from loyalty.tiers import Ladder, Tier

T0 = datetime(2027, 1, 31, 12, 0, tzinfo=UTC)
GRACE = 7


def plan(**kw: object) -> Plan:
    base: dict[str, object] = {
        "id": 1, "name": "Plus", "owner_partner_id": 10, "honoured_by": frozenset({11}), "price": Decimal("9.99"),
        "currency": "EUR", "period": "monthly", "trial_days": 14, "earn_multiplier": Decimal("1.5"),
        "tier_protection": True, "perks": ("free_delivery",),
    }  # fmt: skip
    return Plan(**{**base, **kw})  # type: ignore[arg-type]


def paid(p: Plan, at: datetime = T0) -> Subscription:
    return subscribe(p, at=at, trial_used=True, paid=True).subscription


def test_months_clamp_to_the_last_day_and_never_drift() -> None:
    assert [add_months(T0, n).date().isoformat() for n in (1, 2, 3, 13)] == [
        "2027-02-28", "2027-03-31", "2027-04-30", "2028-02-29",
    ]  # fmt: skip
    assert period_end(datetime(2028, 2, 29, tzinfo=UTC), "yearly", 1).date().isoformat() == "2029-02-28"
    assert period_end(datetime(2028, 2, 29, tzinfo=UTC), "yearly", 4).date().isoformat() == "2032-02-29"


def test_a_plan_refuses_bad_values() -> None:
    for bad in ({"price": Decimal(0)}, {"price": Decimal("1.001")}, {"period": "weekly"},
                {"earn_multiplier": Decimal("0.5")}, {"trial_days": -1}, {"coalition_share": Decimal(2)},
                {"perks": ("a", "a")}):  # fmt: skip
        with pytest.raises(PlanInvalid):
            plan(**bad)


def test_a_trial_is_given_once_and_a_paid_start_needs_its_payment() -> None:
    step = subscribe(plan(), at=T0, trial_used=False, paid=False)
    assert step.subscription.status == Status.TRIALING and step.event == "membership.trial_started"
    assert step.subscription.period_end == T0 + timedelta(days=14) and step.amount_due == 0
    with pytest.raises(TransitionInvalid):
        subscribe(plan(), at=T0, trial_used=True, paid=False)
    started = subscribe(plan(), at=T0, trial_used=True, paid=True)
    assert started.subscription.status == Status.ACTIVE and started.amount_due == Decimal("9.99")
    assert started.subscription.period_end == datetime(2027, 2, 28, 12, tzinfo=UTC)


def test_a_trial_converts_on_its_first_payment_and_renews_by_calendar_months() -> None:
    trial = subscribe(plan(), at=T0, trial_used=False, paid=False).subscription
    step = payment_succeeded(trial, plan(), at=trial.period_end)
    assert step.event == "membership.converted" and step.subscription.status == Status.ACTIVE
    assert step.subscription.period_start == trial.period_end
    assert step.subscription.period_end == add_months(trial.period_end, 1)
    again = payment_succeeded(step.subscription, plan(), at=step.subscription.period_end)
    assert again.event == "membership.renewed" and again.subscription.period_end == add_months(trial.period_end, 2)


def test_a_trial_without_payment_lapses_at_its_end() -> None:
    trial = subscribe(plan(), at=T0, trial_used=False, paid=False).subscription
    assert advance(trial, at=trial.period_end - timedelta(seconds=1), grace_days=GRACE).event is None
    step = advance(trial, at=trial.period_end, grace_days=GRACE)
    assert step.subscription.status == Status.LAPSED and step.event == "membership.lapsed"


def test_a_failed_renewal_holds_the_benefits_through_the_grace_then_lapses() -> None:
    sub = paid(plan())
    step = payment_failed(sub, at=sub.period_end, grace_days=GRACE)
    assert step.subscription.status == Status.PAST_DUE
    assert step.subscription.grace_until == sub.period_end + timedelta(days=GRACE)
    assert payment_failed(step.subscription, at=sub.period_end + timedelta(days=1), grace_days=GRACE).event is None
    assert entitled(step.subscription, at=sub.period_end + timedelta(days=6), grace_days=GRACE)
    assert not entitled(step.subscription, at=sub.period_end + timedelta(days=GRACE), grace_days=GRACE)
    assert entitled(sub, at=sub.period_end + timedelta(days=6), grace_days=GRACE)  # a renewal not reported yet
    lapsed = advance(step.subscription, at=sub.period_end + timedelta(days=GRACE), grace_days=GRACE)
    assert lapsed.subscription.status == Status.LAPSED and lapsed.event == "membership.lapsed"
    with pytest.raises(TransitionInvalid):
        payment_succeeded(lapsed.subscription, plan(), at=sub.period_end + timedelta(days=8))


def test_paid_within_the_grace_the_period_counts_from_the_old_end() -> None:
    sub = paid(plan())
    late = payment_failed(sub, at=sub.period_end, grace_days=GRACE).subscription
    step = payment_succeeded(late, plan(), at=sub.period_end + timedelta(days=3))
    assert step.subscription.status == Status.ACTIVE and step.subscription.grace_until is None
    assert step.subscription.period_start == sub.period_end
    assert step.subscription.period_end == add_months(T0, 2)


def test_no_renewal_reported_by_the_period_end_is_past_due() -> None:
    sub = paid(plan())
    step = advance(sub, at=sub.period_end + timedelta(hours=1), grace_days=GRACE)
    assert step.event == "membership.past_due" and step.subscription.status == Status.PAST_DUE
    assert advance(sub, at=sub.period_end + timedelta(days=GRACE), grace_days=GRACE).event == "membership.lapsed"


def test_cancel_keeps_the_benefits_to_the_period_end_and_resume_undoes_it() -> None:
    sub = paid(plan())
    cancelled = cancel(sub, at=T0 + timedelta(days=3))
    assert cancelled.event == "membership.cancelled" and cancelled.subscription.cancel_at_period_end
    assert entitled(cancelled.subscription, at=sub.period_end - timedelta(seconds=1), grace_days=GRACE)
    assert not entitled(cancelled.subscription, at=sub.period_end, grace_days=GRACE)
    with pytest.raises(TransitionInvalid):
        payment_succeeded(cancelled.subscription, plan(), at=sub.period_end)
    assert resume(cancelled.subscription, at=T0 + timedelta(days=4)).subscription == sub
    lapsed = advance(cancelled.subscription, at=sub.period_end, grace_days=GRACE)
    assert lapsed.subscription.status == Status.LAPSED and lapsed.subscription.ended_at == sub.period_end
    with pytest.raises(TransitionInvalid):
        cancel(lapsed.subscription, at=sub.period_end)


def test_cancelling_a_past_due_subscription_lapses_it_now() -> None:
    late = payment_failed(paid(plan()), at=add_months(T0, 1), grace_days=GRACE).subscription
    at = add_months(T0, 1) + timedelta(days=1)
    step = cancel(late, at=at)
    assert step.subscription.status == Status.LAPSED and step.subscription.ended_at == at


def test_upgrade_credits_the_unused_days_of_the_old_plan() -> None:
    old, new = plan(price=Decimal("30.00")), plan(id=2, price=Decimal("60.00"))
    sub = subscribe(old, at=datetime(2027, 4, 1, tzinfo=UTC), trial_used=True, paid=True).subscription
    at = datetime(2027, 4, 11, tzinfo=UTC)  # 20 of 30 days unused
    assert prorated_credit(sub, old, at=at) == Decimal("20.00")
    step = change_plan(sub, old, new, at=at)
    assert step.amount_due == Decimal("40.00") and step.subscription.plan_id == 2
    assert step.subscription.anchor == at and step.subscription.period_end == datetime(2027, 5, 11, tzinfo=UTC)
    assert step.subscription.credit == 0


def test_downgrade_carries_a_credit_larger_than_the_new_price_into_renewals() -> None:
    old, new = plan(price=Decimal("120.00")), plan(id=2, price=Decimal("10.00"))
    sub = subscribe(old, at=datetime(2027, 4, 1, tzinfo=UTC), trial_used=True, paid=True).subscription
    step = change_plan(sub, old, new, at=datetime(2027, 4, 16, tzinfo=UTC))  # 15 of 30 days: 60.00
    assert step.amount_due == 0 and step.subscription.credit == Decimal("50.00")
    assert amount_due(step.subscription, new) == 0
    renewed = payment_succeeded(step.subscription, new, at=step.subscription.period_end)
    assert renewed.amount_due == 0 and renewed.subscription.credit == Decimal("40.00")


def test_proration_rounds_half_up_to_the_cent() -> None:
    old = plan(price=Decimal("10.00"))
    sub = subscribe(old, at=datetime(2027, 4, 1, tzinfo=UTC), trial_used=True, paid=True).subscription
    assert prorated_credit(sub, old, at=datetime(2027, 4, 21, tzinfo=UTC)) == Decimal("3.33")  # 10/3
    assert prorated_credit(sub, old, at=datetime(2027, 4, 11, tzinfo=UTC)) == Decimal("6.67")  # 20/3


def test_a_change_across_currencies_or_of_a_cancelled_subscription_is_refused() -> None:
    sub = paid(plan())
    with pytest.raises(TransitionInvalid):
        change_plan(sub, plan(), plan(id=2, currency="USD"), at=T0)
    with pytest.raises(TransitionInvalid):
        change_plan(cancel(sub, at=T0).subscription, plan(), plan(id=2), at=T0)
    trial = subscribe(plan(), at=T0, trial_used=False, paid=False).subscription
    moved = change_plan(trial, plan(), plan(id=2, price=Decimal(50)), at=T0 + timedelta(days=1))
    assert moved.amount_due == 0 and moved.subscription.period_end == trial.period_end


def test_benefits_take_the_highest_multiplier_and_every_perk_where_honoured() -> None:
    a = plan(perks=("free_delivery", "early_access"))
    b = plan(id=2, owner_partner_id=None, honoured_by=frozenset({11, 12}), earn_multiplier=Decimal(2),
             tier_protection=False, perks=("priority_service", "free_delivery"))  # fmt: skip
    at_owner = benefits_at([a, b], 10)
    assert at_owner.plan_ids == (1,) and at_owner.earn_multiplier == Decimal("1.5")
    both = benefits_at([a, b], 11)
    assert both.earn_multiplier == 2 and both.perks == ("free_delivery", "early_access", "priority_service")
    assert benefits_at([a, b], 99).plan_ids == () and benefits_at([a, b], 99).earn_multiplier == 1


def test_the_plan_multiplier_multiplies_the_rules_points_rounded_down() -> None:
    assert extra_points(15, Decimal("1.5")) == 7  # floor(22.5) - 15
    assert extra_points(100, Decimal(1)) == 0 and extra_points(0, Decimal(2)) == 0


def test_tier_protection_keeps_the_higher_tier_held() -> None:
    names = ("Bronze", "Silver", "Gold")
    assert protected_tier(names, "Gold", "Silver") == "Gold"
    assert protected_tier(names, "Silver", "Gold") == "Gold"
    assert protected_tier(names, "Platinum", "Silver") == "Silver"
    assert protected_tier(names, None, "Bronze") == "Bronze"


def test_fees_split_to_the_cent_and_sum_to_the_fee() -> None:
    assert fee_split(Decimal("9.99"), Decimal("0.15")) == (Decimal("1.50"), Decimal("8.49"))
    coalition, partner = fee_split(Decimal("0.05"), Decimal("0.5"))
    assert coalition + partner == Decimal("0.05")


def test_the_progress_shown_keeps_the_protected_tier() -> None:
    ladder = Ladder((Tier("Member", 0, Decimal(1)), Tier("Silver", 50, Decimal(1)), Tier("Gold", 100, Decimal(1))))
    seen = Progress(T0, "Member", "Member", 20, "Silver", 30, None, None, 0, (), 0, None)
    kept = protected_progress(ladder, seen, "Silver")
    assert (kept.tier, kept.next_tier, kept.points_to_next, kept.earned) == ("Silver", "Gold", 80, "Member")
    assert protected_progress(ladder, seen, "Member") is seen
