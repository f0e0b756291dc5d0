"""Unit: whom a message may reach (loyalty/messages/consent.py), per channel and partner, marketing
against transactional; pure, no store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from loyalty.customers import ConsentChange
from loyalty.messages.consent import UNSUBSCRIBE_SOURCE, refusal

T0 = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


def change(
    channel: str, partner: int | None, granted: bool, minutes: int, source: str = "pos", *, confirmed: bool = True
) -> ConsentChange:
    return ConsentChange(channel, partner, granted, source, T0 + timedelta(minutes=minutes), confirmed=confirmed)


def test_unit_marketing_needs_the_partners_own_confirmed_grant() -> None:
    granted_a = [change("email", 1, True, 0)]
    assert refusal(granted_a, channel="email", partner_id=1, category="marketing") is None
    assert refusal(granted_a, channel="email", partner_id=2, category="marketing") == "no-consent"  # A's is not B's
    assert refusal(granted_a, channel="sms", partner_id=1, category="marketing") == "no-consent"
    unconfirmed = [change("email", 1, True, 0, confirmed=False)]
    assert refusal(unconfirmed, channel="email", partner_id=1, category="marketing") == "unconfirmed"
    assert refusal([], channel="email", partner_id=1, category="transactional") is None  # no grant needed


def test_unit_an_opt_out_of_the_channel_stops_transactional_messages_too() -> None:
    own = [change("email", 1, True, 0), change("email", 1, False, 5, "me")]
    assert refusal(own, channel="email", partner_id=1, category="transactional") == "opted-out"
    assert refusal(own, channel="email", partner_id=2, category="transactional") is None
    whole = [change("sms", None, False, 0, "sms-stop")]
    for partner in (None, 1, 2):
        assert refusal(whole, channel="sms", partner_id=partner, category="transactional") == "opted-out"
    regranted = [*own, change("email", 1, True, 9, "me")]
    assert refusal(regranted, channel="email", partner_id=1, category="transactional") is None


def test_unit_a_one_click_unsubscribe_withdraws_marketing_not_the_channel() -> None:
    left = [change("email", None, True, 0), change("email", None, False, 5, UNSUBSCRIBE_SOURCE)]
    assert refusal(left, channel="email", partner_id=None, category="marketing") == "opted-out"
    assert refusal(left, channel="email", partner_id=None, category="transactional") is None
    assert refusal(left, channel="email", partner_id=3, category="transactional") is None
    # a later opt-out of the channel itself is one
    out = [*left, change("email", None, False, 9, "me")]
    assert refusal(out, channel="email", partner_id=None, category="transactional") == "opted-out"
