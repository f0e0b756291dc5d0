"""Referrals (pure): who may refer whom, and when a referral pays.

A member shares their referral code (its format: loyalty/members.py, ``REFERRAL_ALPHABET`` and
``REFERRAL_LENGTH``); a new member enrols with it. The referral then pays both of them once the new
member's first purchase (the first one not failed on chain) is confirmed *and* its refund window
has closed on chain without any refund (a refunded first purchase, even in part, pays nobody).

Refused, with a reason kept in the audit trail:

- **self-referral**: the two members share a wallet, an e-mail address (compared without case
  and surrounding spaces) or a phone number (compared on its digits);
- **the referrer's cap**: a referrer is paid for at most ``cap`` referrals (0: no cap).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

SELF_WALLET = "self-referral-wallet"
SELF_EMAIL = "self-referral-email"
SELF_PHONE = "self-referral-phone"
REFERRER_CAP = "referrer-cap"
FIRST_PURCHASE_REFUNDED = "first-purchase-refunded"
REASONS = (SELF_WALLET, SELF_EMAIL, SELF_PHONE, REFERRER_CAP, FIRST_PURCHASE_REFUNDED)

Verdict = Literal["wait", "qualify", "reject"]


@dataclass(frozen=True)
class Contacts:
    """What identifies a member for the self-referral check: wallets and profile contacts."""

    wallets: frozenset[str] = frozenset()
    emails: frozenset[str] = field(default_factory=frozenset)
    phones: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def of(cls, wallets: Iterable[str], email: str | None = None, phone: str | None = None) -> Contacts:
        return cls(
            wallets=frozenset(w.lower() for w in wallets),
            emails=frozenset({normal_email(email)} if email and normal_email(email) else set()),
            phones=frozenset({normal_phone(phone)} if phone and normal_phone(phone) else set()),
        )


@dataclass(frozen=True)
class FirstPurchase:
    """The referee's first purchase not failed: confirmed on chain or not yet, refunded (any
    refund not failed) or not, and its batch's refund deadline (Unix time; None until minted)."""

    confirmed: bool
    refunded: bool
    refund_deadline: int | None


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reason: str | None = None


def normal_email(email: str) -> str:
    return email.strip().lower()


def normal_phone(phone: str) -> str:
    return re.sub(r"\D", "", phone)


def self_referral(referrer: Contacts, referee: Contacts) -> str | None:
    """The reason the two are the same person (a shared wallet, e-mail or phone), else None."""
    if referrer.wallets & referee.wallets:
        return SELF_WALLET
    if referrer.emails & referee.emails:
        return SELF_EMAIL
    if referrer.phones & referee.phones:
        return SELF_PHONE
    return None


def decide(
    first: FirstPurchase | None,
    *,
    now_s: int,
    self_reason: str | None,
    referrer_paid: int,
    cap: int,
) -> Decision:
    """Where a pending referral stands at chain time ``now_s``: wait (no first purchase yet, not
    confirmed, or its refund window still open), reject (self-referral, refunded first purchase,
    the referrer's cap reached with ``referrer_paid`` referrals paid already) or qualify."""
    if self_reason is not None:
        return Decision("reject", self_reason)
    if first is None:
        return Decision("wait")
    if first.refunded:
        return Decision("reject", FIRST_PURCHASE_REFUNDED)
    if not first.confirmed or first.refund_deadline is None or now_s <= first.refund_deadline:
        return Decision("wait")
    if cap > 0 and referrer_paid >= cap:
        return Decision("reject", REFERRER_CAP)
    return Decision("qualify")
