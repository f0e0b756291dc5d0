"""What a customer's points add up to and are worth: pure rules, no store, no chain, no HTTP.

The cards of the customer page are the ledger's sums by kind, and they add up by construction:
``earned + received − spent − refunded − sent = the ledger's balance``. The chain's balance is
the truth; the ledger lags it by the indexer's beat, so the page shows the difference (points
not in the history yet) instead of cards that do not add up.

What the points are worth: a point redeemed at a partner is paid to that partner, by the
coalition, at the partner's reimbursement rate (settlement token base units per point). So the
balance is worth ``balance × rate`` at the partner where it is spent: the page shows the range
from the lowest- to the highest-paying active partner that has a reward to redeem, in the
settlement token (cUSD).
"""

from __future__ import annotations

from dataclasses import dataclass

# ledger kinds (network/indexer.py) -> the card they count in; the ledger's points are signed
CARD_OF_KIND = {
    "earned": "earned",
    "redeemed": "spent",
    "reversed": "refunded",
    "restored": "earned",  # points given back by a refund of a purchase paid with them (counted as before: an earn)
    "received": "received",
    "sent": "sent",
    "expired": "expired",  # burned by the ledger's expiry rule (issue 17)
}


@dataclass(frozen=True)
class Cards:
    """The customer page's totals, each a positive number of points."""

    earned: int
    spent: int
    refunded: int
    received: int
    sent: int
    expired: int = 0

    @property
    def ledger_balance(self) -> int:
        """earned + received − spent − refunded − sent − expired: what the history adds up to."""
        return self.earned + self.received - self.spent - self.refunded - self.sent - self.expired

    def pending(self, chain_balance: int) -> int:
        """Points the chain has and the history does not show yet (negative: spent, not yet shown)."""
        return chain_balance - self.ledger_balance


def cards(sums_by_kind: dict[str, int]) -> Cards:
    """The cards from the ledger's signed sums per kind (unknown kinds are not counted)."""
    totals = dict.fromkeys(CARD_OF_KIND.values(), 0)
    for kind, total in sums_by_kind.items():
        if kind in CARD_OF_KIND:
            totals[CARD_OF_KIND[kind]] += abs(int(total))
    return Cards(**totals)


@dataclass(frozen=True)
class Worth:
    """The balance valued at the lowest and highest reimbursement rate, in settlement base units."""

    low: int
    high: int
    low_partner: str
    high_partner: str


def worth(balance: int, rates: dict[str, int]) -> Worth | None:
    """``rates``: partner name -> reimbursement rate (settlement base units per point) of the
    active partners with a reward to redeem. None when there is none (nothing to value against)."""
    if not rates:
        return None
    low_partner = min(rates, key=lambda name: (rates[name], name))
    high_partner = max(rates, key=lambda name: (rates[name], name))
    return Worth(
        low=max(balance, 0) * rates[low_partner],
        high=max(balance, 0) * rates[high_partner],
        low_partner=low_partner,
        high_partner=high_partner,
    )


@dataclass(frozen=True)
class Offer:
    """A reward of the catalogue."""

    partner: str
    name: str
    sku: str
    points: int
    stock: int | None  # None: unlimited


def affordable(balance: int, offers: list[Offer]) -> list[Offer]:
    """The rewards the balance can buy now (points ≤ balance, in stock), dearest first."""
    fits = [o for o in offers if 0 < o.points <= balance and (o.stock is None or o.stock > 0)]
    return sorted(fits, key=lambda o: (-o.points, o.partner, o.name))
