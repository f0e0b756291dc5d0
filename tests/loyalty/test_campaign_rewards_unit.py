"""The pure rules of referrals and achievements (loyalty/campaigns/referrals.py, achievements.py):
self-referral, when a referral pays, count windows, streaks with a grace period, distinct partners."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from loyalty.campaigns.achievements import (
    AchievementRuleInvalid,
    CountRule,
    PartnersRule,
    StreakRule,
    Visit,
    best_window,
    parse_rule,
    progress,
    rule_json,
    streaks,
    week_of,
)
from loyalty.campaigns.referrals import (
    FIRST_PURCHASE_REFUNDED,
    REFERRER_CAP,
    SELF_EMAIL,
    SELF_PHONE,
    SELF_WALLET,
    Contacts,
    Decision,
    FirstPurchase,
    decide,
    self_referral,
)

MONDAY = datetime(2026, 11, 2, 10, tzinfo=UTC)  # a Monday
NOW_S = 2_000_000_000


def at_week(week: int, day: int = 0) -> datetime:
    return MONDAY + timedelta(weeks=week, days=day)


# --- referrals


def test_self_referral_is_a_shared_wallet_email_or_phone() -> None:
    alice = Contacts.of(["0xAbC"], " Alice@Example.com ", "+48 600-100-200")
    assert self_referral(alice, Contacts.of(["0xabc"])) == SELF_WALLET
    assert self_referral(alice, Contacts.of(["0xdef"], "alice@example.COM")) == SELF_EMAIL
    assert self_referral(alice, Contacts.of(["0xdef"], "bob@example.com", "+48600100200")) == SELF_PHONE
    assert self_referral(alice, Contacts.of(["0xdef"], "bob@example.com", "+48600100201")) is None
    assert self_referral(Contacts.of([], "", ""), Contacts.of([], "", "")) is None  # empty contacts match nothing


def test_a_referral_waits_for_a_confirmed_first_purchase_and_its_closed_refund_window() -> None:
    kw = {"now_s": NOW_S, "self_reason": None, "referrer_paid": 0, "cap": 3}
    assert decide(None, **kw) == Decision("wait")
    assert decide(FirstPurchase(False, False, None), **kw) == Decision("wait")
    assert decide(FirstPurchase(True, False, NOW_S), **kw) == Decision("wait")  # the deadline itself: still open
    assert decide(FirstPurchase(True, False, NOW_S - 1), **kw) == Decision("qualify")


def test_a_refunded_first_purchase_or_a_self_referral_pays_nobody() -> None:
    kw = {"now_s": NOW_S, "referrer_paid": 0, "cap": 0}
    assert decide(FirstPurchase(True, True, NOW_S + 99), self_reason=None, **kw) == Decision(
        "reject", FIRST_PURCHASE_REFUNDED
    )
    assert decide(FirstPurchase(True, False, 1), self_reason=SELF_EMAIL, **kw) == Decision("reject", SELF_EMAIL)
    assert decide(None, self_reason=SELF_WALLET, **kw) == Decision("reject", SELF_WALLET)


def test_the_referrers_cap_rejects_beyond_it_and_zero_means_none() -> None:
    first = FirstPurchase(True, False, 1)
    assert decide(first, now_s=NOW_S, self_reason=None, referrer_paid=2, cap=3).verdict == "qualify"
    assert decide(first, now_s=NOW_S, self_reason=None, referrer_paid=3, cap=3) == Decision("reject", REFERRER_CAP)
    assert decide(first, now_s=NOW_S, self_reason=None, referrer_paid=10**6, cap=0).verdict == "qualify"


# --- achievement rules


def test_rules_parse_round_trip_and_refuse_what_is_out_of_bounds() -> None:
    for raw in (
        {"kind": "count", "purchases": 5, "days": 30},
        {"kind": "streak", "weeks": 4, "grace_weeks": 1},
        {"kind": "partners", "partners": 3},
    ):
        assert rule_json(parse_rule(raw)) == raw
    assert parse_rule({"kind": "streak", "weeks": 3}) == StreakRule(3, 0)
    for bad in (
        {"kind": "count", "purchases": 5, "days": 0},
        {"kind": "count", "purchases": True, "days": 3},
        {"kind": "streak", "weeks": 4, "grace_weeks": 9},
        {"kind": "partners", "partners": 3, "days": 4},
        {"kind": "tiers"},
    ):
        with pytest.raises(AchievementRuleInvalid):
            parse_rule(bad)


def test_a_count_window_finds_the_busiest_stretch_of_days() -> None:
    t = [MONDAY + timedelta(days=d) for d in (0, 1, 9, 10, 11, 40)]
    assert best_window(t, 3) == 3  # days 9, 10, 11
    assert best_window(t, 2) == 2
    assert best_window(t, 1) == 1
    assert best_window(t, 41) == 6
    assert best_window([], 5) == 0
    rule = CountRule(purchases=3, days=3)
    visits = [Visit(at, 1) for at in t]
    assert progress(rule, visits, now=MONDAY + timedelta(days=50)) == progress(
        rule, visits, now=MONDAY + timedelta(days=500)
    )
    assert progress(rule, visits, now=MONDAY + timedelta(days=50)).met
    assert progress(rule, visits[:2], now=MONDAY + timedelta(days=50)).value == 2
    assert not progress(rule, visits, now=MONDAY + timedelta(days=5)).met  # visits after now do not count


def test_iso_weeks_are_consecutive_numbers_monday_to_sunday() -> None:
    assert week_of(at_week(0)) == week_of(at_week(0, 6)) == week_of(at_week(1)) - 1
    assert week_of(datetime(2026, 11, 1, 23, 59, tzinfo=UTC)) == week_of(MONDAY) - 1  # a Sunday


def test_a_streak_survives_missed_weeks_within_the_grace_and_breaks_beyond() -> None:
    assert streaks([1, 2, 3], 0) == (3, 3, 3)
    assert streaks([1, 2, 4, 5], 0) == (2, 2, 5)
    assert streaks([1, 2, 4, 5], 1) == (4, 4, 5)  # week 3 missed: within a grace of one
    assert streaks([1, 2, 5, 6], 1) == (2, 2, 6)  # weeks 3 and 4 missed: beyond it
    assert streaks([1, 2, 5, 6, 7], 2) == (5, 5, 7)
    assert streaks([], 1) == (0, 0, None)


def test_streak_progress_counts_the_live_run_and_a_badge_once_met_stays_met() -> None:
    rule = StreakRule(weeks=4, grace_weeks=1)
    visits = [Visit(at_week(w, 2), 1) for w in (0, 1, 3)]
    assert progress(rule, visits, now=at_week(4)) == progress(rule, visits, now=at_week(5, 6))
    assert progress(rule, visits, now=at_week(4)).value == 3 and not progress(rule, visits, now=at_week(4)).met
    assert progress(rule, visits, now=at_week(6)).value == 0  # two weeks without: the run is over
    met = [*visits, Visit(at_week(4, 1), 2)]
    assert progress(rule, met, now=at_week(40)).met  # met once: time passing does not take it back
    assert not progress(rule, [v for v in met if v.at != at_week(3, 2)], now=at_week(40)).met  # a refund does


def test_distinct_partners_count_each_partner_once() -> None:
    rule = PartnersRule(partners=3)
    visits = [Visit(MONDAY, p) for p in (1, 1, 2, 2, 2)]
    assert progress(rule, visits, now=MONDAY).value == 2
    assert progress(rule, [*visits, Visit(MONDAY, 9)], now=MONDAY).met
    assert progress(rule, [*visits, Visit(MONDAY, 9), Visit(MONDAY, 10)], now=MONDAY).value == 3  # capped
