"""The kinds of message the coalition sends, each with its category, the domain event (or
schedule) that triggers it and sample data for previews.

Categories: ``transactional`` messages answer something the customer did or owns (a reward ready,
a refund, their points expiring, their tier changed, the welcome after enrolling, the
confirmation of an email address, their paid membership renewed, its payment failed or it
ended): they ignore frequency caps and quiet hours but never a
customer's opt-out of a channel. ``marketing`` messages (a digest of points earned, a tier about
to be lost, campaigns' messages later) need the customer's consent to that partner on that
channel (for email, confirmed by double opt-in), count towards the frequency caps, wait for the
end of quiet hours and carry one-click unsubscribe.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

Channel = Literal["email", "sms", "push"]
CHANNELS: tuple[str, ...] = get_args(Channel)
Category = Literal["transactional", "marketing"]


@dataclass(frozen=True)
class MessageKind:
    """One kind of message: ``trigger`` is the domain event type it answers (or ``schedule:...``
    for one a beat task plans), ``also`` further event types that trigger it, ``channels`` those it
    may go out on."""

    name: str
    category: Category
    trigger: str
    description: str
    channels: tuple[str, ...] = CHANNELS
    sample: dict[str, Any] = field(default_factory=dict)
    also: tuple[str, ...] = ()


_CUSTOMER = {"first_name": "Ada", "points_balance": 1250}
KINDS: dict[str, MessageKind] = {
    k.name: k
    for k in (
        MessageKind(
            "welcome",
            "transactional",
            "member.enrolled",
            "Welcome on enrolment, with the member's referral code.",
            sample={**_CUSTOMER, "referral_code": "ADA-7Q2K"},
        ),
        MessageKind(
            "email_confirmation",
            "transactional",
            "customer.consent_requested",
            "Double opt-in: confirm the address before any marketing email.",
            channels=("email",),
            sample={**_CUSTOMER, "confirm_url": "https://coalition.example/v1/consents/confirm/SAMPLE"},
        ),
        MessageKind(
            "points_earned",
            "marketing",
            "schedule:points-earned-daily",
            "The day's points earned, one message per customer and day (opt-in).",
            sample={**_CUSTOMER, "day": "2026-12-05", "points": 320, "purchases": 2},
        ),
        MessageKind(
            "tier_up",
            "transactional",
            "tier.changed",
            "The member reached a higher tier.",
            sample={**_CUSTOMER, "tier": "Gold", "previous_tier": "Silver"},
        ),
        MessageKind(
            "tier_at_risk",
            "marketing",
            "schedule:tier-review",
            "The tier's review is in 30 days and the member lacks points to keep it.",
            sample={**_CUSTOMER, "tier": "Gold", "review_on": "2027-01-04", "points_missing": 400},
        ),
        MessageKind(
            "points_expiring",
            "transactional",
            "points.expiring",
            "Points expire on a date (30 and 7 days before).",
            sample={**_CUSTOMER, "points": 800, "expires_on": "2027-01-04", "days_before": 30},
        ),
        MessageKind(
            "reward_ready",
            "transactional",
            "redemption.fulfilled",
            "A redemption was fulfilled: the reward or voucher is ready.",
            sample={**_CUSTOMER, "reward": "Coffee voucher", "points": 300, "voucher_code": "V-93KD-2F"},
        ),
        MessageKind(
            "refund_done",
            "transactional",
            "refund.confirmed",
            "A refund was made: the points it took back or gave back.",
            sample={**_CUSTOMER, "amount": "19.90", "currency": "EUR", "points_reversed": 20},
        ),
        # issue 21: a paid membership's changes, from the partner that sold it
        MessageKind(
            "membership_trial_ending",
            "transactional",
            "schedule:membership-trial-ending",
            "A membership's free trial ends in a few days (COALITION_MESSAGES_TRIAL_ENDING_DAYS): it continues "
            "only once paid.",
            sample={**_CUSTOMER, "plan": "Plus", "trial_ends_on": "2027-01-24"},
        ),
        MessageKind(
            "membership_renewed",
            "transactional",
            "membership.renewed",
            "A paid membership was renewed for another period (its payment succeeded).",
            sample={**_CUSTOMER, "plan": "Plus", "renewed_until": "2027-02-10"},
        ),
        MessageKind(
            "membership_payment_failed",
            "transactional",
            "membership.payment_failed",
            "A membership's renewal payment failed, or its period ended unpaid: its perks go on until the grace "
            "period ends.",
            sample={**_CUSTOMER, "plan": "Plus", "grace_until": "2027-02-17"},
            also=("membership.past_due",),  # a renewal not reported paid by the period's end
        ),
        MessageKind(
            "membership_lapsed",
            "transactional",
            "membership.lapsed",
            "A paid membership ended (cancelled, not renewed, or unpaid after the grace period).",
            sample={**_CUSTOMER, "plan": "Plus"},
        ),
    )
}
