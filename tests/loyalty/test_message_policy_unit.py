"""The messages' policy (loyalty/messages/policy.py): quiet hours in the customer's zone, across
midnight and across DST changes; frequency caps; the locale; the order of the decisions."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from loyalty.messages.policy import (
    FREQUENCY_CAP,
    SUPPRESSED_ADDRESS,
    Cap,
    QuietHours,
    choose_locale,
    day_ended,
    decide,
    local_day,
    parse_hhmm,
    quiet_until,
    zone_of,
)

NIGHT = QuietHours.of("21:00", "08:00")
WARSAW = ZoneInfo("Europe/Warsaw")
NEW_YORK = ZoneInfo("America/New_York")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_parse_hhmm_reads_times_and_refuses_others() -> None:
    assert parse_hhmm("21:00") == time(21) and parse_hhmm(" 08:30 ") == time(8, 30)
    for bad in ("8:00", "24:00", "21:60", "2100", "ab:cd", ""):
        with pytest.raises(ValueError):
            parse_hhmm(bad)


def test_outside_quiet_hours_nothing_is_held() -> None:
    assert quiet_until(utc(2026, 6, 1, 10), WARSAW, NIGHT) is None  # 12:00 in Warsaw
    assert quiet_until(utc(2026, 6, 1, 6), WARSAW, NIGHT) is None  # 08:00 exactly: the end is out


def test_an_evening_message_waits_for_the_next_morning_and_an_early_one_for_this_morning() -> None:
    assert quiet_until(utc(2026, 6, 1, 19), WARSAW, NIGHT) == utc(2026, 6, 2, 6)  # 21:00 CEST: the start is in
    assert quiet_until(utc(2026, 6, 1, 22), WARSAW, NIGHT) == utc(2026, 6, 2, 6)  # 00:00 CEST
    assert quiet_until(utc(2026, 6, 2, 3), WARSAW, NIGHT) == utc(2026, 6, 2, 6)  # 05:00 CEST


def test_the_customer_zone_decides_not_utc() -> None:
    at = utc(2026, 6, 1, 23)  # 01:00 in Warsaw, 19:00 in New York
    assert quiet_until(at, WARSAW, NIGHT) == utc(2026, 6, 2, 6)
    assert quiet_until(at, NEW_YORK, NIGHT) is None


def test_the_end_is_found_on_the_calendar_across_the_spring_dst_change() -> None:
    """Warsaw springs forward on 2026-03-29 at 02:00: a message held at 22:00 CET waits 9 hours,
    not 10, to 08:00 CEST (06:00 UTC)."""
    held = utc(2026, 3, 28, 21)  # 22:00 CET
    assert quiet_until(held, WARSAW, NIGHT) == utc(2026, 3, 29, 6)
    assert quiet_until(utc(2026, 3, 29, 0, 30), WARSAW, NIGHT) == utc(2026, 3, 29, 6)  # 01:30 CET, before the gap
    assert quiet_until(utc(2026, 3, 29, 1, 30), WARSAW, NIGHT) == utc(2026, 3, 29, 6)  # 03:30 CEST, after it


def test_the_end_is_found_on_the_calendar_across_the_autumn_dst_change() -> None:
    """Warsaw falls back on 2026-10-25 at 03:00: a message held at 22:00 CEST waits 11 hours, to
    08:00 CET (07:00 UTC); during the repeated hour it still waits for 08:00."""
    assert quiet_until(utc(2026, 10, 24, 20), WARSAW, NIGHT) == utc(2026, 10, 25, 7)
    assert quiet_until(utc(2026, 10, 25, 0, 30), WARSAW, NIGHT) == utc(2026, 10, 25, 7)  # 02:30 CEST
    assert quiet_until(utc(2026, 10, 25, 1, 30), WARSAW, NIGHT) == utc(2026, 10, 25, 7)  # 02:30 CET


def test_an_end_inside_the_dst_gap_or_the_repeated_hour() -> None:
    """Quiet hours ending at 02:30: on the spring night 02:30 does not exist (the end is 03:30
    CEST, 01:30 UTC); on the autumn night it occurs twice (the first one ends them, and a message
    planned during the second pass of the hour, held again, ends at the second one)."""
    early = QuietHours.of("01:00", "02:30")
    assert quiet_until(utc(2026, 3, 29, 0, 15), WARSAW, early) == utc(2026, 3, 29, 1, 30)
    assert quiet_until(utc(2026, 10, 24, 23, 15), WARSAW, early) == utc(2026, 10, 25, 0, 30)  # 01:15 CEST
    assert quiet_until(utc(2026, 10, 25, 1, 15), WARSAW, early) == utc(2026, 10, 25, 1, 30)  # 02:15 CET


def test_quiet_hours_within_one_day_and_none_at_all() -> None:
    siesta = QuietHours.of("13:00", "15:00")
    assert quiet_until(utc(2026, 6, 1, 11, 30), WARSAW, siesta) == utc(2026, 6, 1, 13)
    assert quiet_until(utc(2026, 6, 1, 13, 0), WARSAW, siesta) is None
    assert quiet_until(utc(2026, 6, 1, 22), WARSAW, QuietHours.of("00:00", "00:00")) is None


def test_a_zone_missing_or_unknown_falls_back_to_the_default() -> None:
    assert zone_of(None, "Europe/Warsaw") == WARSAW
    assert zone_of("Not/AZone", "Europe/Warsaw") == WARSAW
    assert zone_of("America/New_York", "Europe/Warsaw") == NEW_YORK


def test_the_cap_counts_in_a_rolling_window() -> None:
    cap = Cap(3, timedelta(days=7))
    assert cap.since(utc(2026, 6, 8)) == utc(2026, 6, 1)
    assert not cap.reached(2) and cap.reached(3)


def test_the_locale_is_the_customers_else_the_partners_else_the_coalitions() -> None:
    assert choose_locale("pl-PL", "cs", "en") == "pl-PL"
    assert choose_locale(None, "cs", "en") == "cs"
    assert choose_locale(None, None, "en") == "en"


def test_days_are_the_customers_and_end_at_their_midnight() -> None:
    at = utc(2026, 6, 1, 23)  # 2 June in Warsaw, 1 June in New York
    assert local_day(at, WARSAW).isoformat() == "2026-06-02" and local_day(at, NEW_YORK).isoformat() == "2026-06-01"
    day = local_day(at, WARSAW)
    assert not day_ended(day, utc(2026, 6, 2, 21, 59), WARSAW)
    assert day_ended(day, utc(2026, 6, 2, 22), WARSAW)  # midnight CEST
    assert not day_ended(day, utc(2026, 6, 2, 22), WARSAW, settle=timedelta(minutes=10))


def test_the_decision_order_consent_then_address_then_cap_then_quiet_hours() -> None:
    night = utc(2026, 6, 1, 22)
    common = {"now": night, "zone": WARSAW, "quiet": NIGHT}
    refused = decide(kind="points_earned", category="marketing", refusal="no-consent", suppressed="hard-bounce",
                     capped=True, **common)  # fmt: skip
    assert (refused.status, refused.reason) == ("suppressed", "no-consent")
    bounced = decide(kind="points_earned", category="marketing", refusal=None, suppressed="hard-bounce", capped=True,
                     **common)  # fmt: skip
    assert (bounced.status, bounced.reason) == ("suppressed", SUPPRESSED_ADDRESS)
    capped = decide(kind="points_earned", category="marketing", refusal=None, suppressed=None, capped=True, **common)
    assert (capped.status, capped.reason) == ("suppressed", FREQUENCY_CAP)
    held = decide(kind="points_earned", category="marketing", refusal=None, suppressed=None, capped=False, **common)
    assert (held.status, held.send_after) == ("queued", utc(2026, 6, 2, 6))


def test_transactional_messages_ignore_caps_and_quiet_hours_but_not_an_opt_out() -> None:
    night = utc(2026, 6, 1, 22)
    common = {"now": night, "zone": WARSAW, "quiet": NIGHT, "suppressed": None}
    sent = decide(kind="reward_ready", category="transactional", refusal=None, capped=True, **common)
    assert (sent.status, sent.send_after) == ("queued", night)
    out = decide(kind="reward_ready", category="transactional", refusal="opted-out", capped=False, **common)
    assert (out.status, out.reason) == ("suppressed", "opted-out")
    confirm = decide(kind="email_confirmation", category="transactional", refusal="opted-out", capped=False, **common)
    assert confirm.status == "queued"  # it asks for the consent itself
