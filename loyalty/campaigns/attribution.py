"""A campaign's points on chain, attributable from the chain alone (pure).

A bonus is minted by the funder's minter as a purchase word of its own (``customer | seq |
points``, network/purchases.py) whose ``seq`` lies in the award range, which a partner's purchases
never reach (they count up from 0)::

    seq = 2**47 | campaign_id << 28 | n        (campaign_id < 2**19, n = the campaign's n-th award < 2**28)

So every ``Earned`` event of a funder lists its campaigns' awards among its purchases, at the issue
price the batch carries, and a campaign's cost is the sum over its words of points × that price
(:func:`campaign_costs`, fed with decoded ``Earned`` logs): the same events, and the same rates,
the settlement is computed from. The awards are settled like any issuance of the funder: no
special case in ``Clearing`` or in the statement's nets.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

AWARD_BIT = 1 << 47
CAMPAIGN_BITS = 19
AWARD_BITS = 28
MAX_CAMPAIGN_ID = (1 << CAMPAIGN_BITS) - 1
MAX_AWARD = (1 << AWARD_BITS) - 1


def award_seq(campaign_id: int, n: int) -> int:
    """The on-chain sequence number of the campaign's ``n``-th award (n from 1)."""
    if not 1 <= campaign_id <= MAX_CAMPAIGN_ID:
        raise ValueError(f"campaign id must be in [1, {MAX_CAMPAIGN_ID}], got {campaign_id}")
    if not 1 <= n <= MAX_AWARD:
        raise ValueError(f"award number must be in [1, {MAX_AWARD}], got {n}")
    return AWARD_BIT | campaign_id << AWARD_BITS | n


def campaign_of(seq: int) -> int | None:
    """The campaign a sequence number's award belongs to; None for a purchase."""
    if not seq & AWARD_BIT:
        return None
    return (seq >> AWARD_BITS) & MAX_CAMPAIGN_ID


@dataclass(frozen=True)
class CampaignCost:
    campaign_id: int
    funder_partner_id: int
    awards: int
    points: int
    value: int  # points x issue price, in the settlement token's units


def campaign_costs(earned: Iterable[tuple[int, int, int, int]]) -> dict[int, CampaignCost]:
    """Per campaign, from minted words ``(partner_id, issue_price, seq, points)`` (an ``Earned``
    event's partner, price and decoded words): its awards, points and their value."""
    out: dict[int, CampaignCost] = {}
    for partner_id, price, seq, points in earned:
        campaign = campaign_of(seq)
        if campaign is None:
            continue
        before = out.get(campaign, CampaignCost(campaign, partner_id, 0, 0, 0))
        out[campaign] = CampaignCost(
            campaign, partner_id, before.awards + 1, before.points + points, before.value + points * price
        )
    return out
