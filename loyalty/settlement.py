"""Settlement maths: a period's net position per partner from plain event records.

Pure functions, no store, no chain and no HTTP: the gateway's settlement (from its indexed events)
and anyone's recomputation straight from the chain's logs (``coalition/crosscheck.py``, with the
logs read by ``network/points_logs.py``) feed the same records to the same formula, and nothing
else is shared between the two.

The money model (docs: the architecture notes), per period and partner, each event at the rate it
carries::

    net = redeemed points × reimbursement rate + reversed points × issue price − issued points × issue price
          − restored points × reimbursement rate of their capture

(``Clearing.settle`` takes the four values apart: issued and restored lower the partner's exposure,
reversed pays the credits its refunds recorded.) A restoration (``Restored``: points of a till
capture minted back after the purchase's refund) is the exact reverse of the capture's
``Redeemed`` credit, at the rate that event carried, so a captured-then-restored payment nets to
zero. Positive: the operator pays the partner. The operator's
net is minus the sum of the partners', so all nets and the operator's sum to zero by
construction. Amounts are integers in the
settlement token's base units (cUSD: 6 decimals); nothing is rounded.

The bilateral matrix (whose points were redeemed where): points carry no issuer, so each
redeeming partner's redeemed points of the period are attributed to the issuers in proportion
to each issuer's net points issued in the period (issued − reversed, if positive). The split is
integer-exact by the largest-remainder rule (ties go to the lower issuer id); with no positive
net issuance in the period the points go to issuer 0, "issued in earlier periods".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

EventKind = Literal["earned", "redeemed", "reversed", "restored"]
MATRIX_RULE = (
    "pro rata to each issuer's net points issued in the period (issued - reversed, if > 0), "
    "largest remainder, ties to the lower issuer id; issuer 0 = issued before the period"
)
EARLIER_ISSUER = 0


@dataclass(frozen=True, slots=True)
class PointsEvent:
    """One settlement-relevant event: ``rate`` is the issue price (earned, reversed) or the
    reimbursement rate (redeemed, restored) that the event carries, in token base units per point."""

    kind: EventKind
    partner_id: int
    points: int
    rate: int


@dataclass(frozen=True, slots=True)
class PartnerLine:
    partner_id: int
    points_issued: int
    points_reversed: int
    points_redeemed: int
    issued_value: int  # points issued × the issue price each Earned event carries
    reversed_value: int  # points reversed × the issue price each Reversed event carries
    redeemed_value: int  # points redeemed × the reimbursement rate each Redeemed event carries
    points_restored: int = 0
    restored_value: int = 0  # points restored × the reimbursement rate each Restored event carries

    @property
    def net(self) -> int:
        return self.redeemed_value + self.reversed_value - self.issued_value - self.restored_value

    @property
    def settle_args(self) -> tuple[int, int, int, int, int]:
        """The line as ``Clearing.settle`` takes it: (partnerId, issued, reversed, redeemed, restored)."""
        return (self.partner_id, self.issued_value, self.reversed_value, self.redeemed_value, self.restored_value)


@dataclass(frozen=True, slots=True)
class KindTotal:
    """The events of one kind at one partner, summed: their points, and their points × rate each
    at its own rate (``value``). What a database can add up without handing over every event."""

    kind: EventKind
    partner_id: int
    points: int
    value: int


def partner_lines(events: Iterable[PointsEvent]) -> list[PartnerLine]:
    """One line per partner with any event, by increasing partner id (``Clearing.settle``'s order)."""
    return lines_from_totals(_checked_totals(events))


def _checked_totals(events: Iterable[PointsEvent]) -> Iterable[KindTotal]:
    for e in events:
        if e.points < 0 or e.rate < 0:
            raise ValueError(f"negative points or rate in {e}")
        yield KindTotal(e.kind, e.partner_id, e.points, e.points * e.rate)


def lines_from_totals(totals: Iterable[KindTotal]) -> list[PartnerLine]:
    """:func:`partner_lines` from per-(kind, partner) sums instead of single events: the same
    lines, since every field of a line is a sum over the partner's events of one kind."""
    acc: dict[int, list[int]] = {}
    for t in totals:
        if t.points < 0 or t.value < 0:
            raise ValueError(f"negative points or value in {t}")
        a = acc.setdefault(t.partner_id, [0, 0, 0, 0, 0, 0, 0, 0])
        if t.kind == "earned":
            a[0] += t.points
            a[3] += t.value
        elif t.kind == "reversed":
            a[1] += t.points
            a[4] += t.value
        elif t.kind == "redeemed":
            a[2] += t.points
            a[5] += t.value
        elif t.kind == "restored":
            a[6] += t.points
            a[7] += t.value
        else:
            raise ValueError(f"unknown event kind {t.kind!r}")
    return [PartnerLine(pid, *acc[pid]) for pid in sorted(acc)]


def operator_net(lines: Sequence[PartnerLine]) -> int:
    """What the operator's account gains (negative: pays) in the period."""
    return -sum(line.net for line in lines)


def split_pro_rata(total: int, weights: dict[int, int]) -> dict[int, int]:
    """``total`` split over the keys of ``weights`` in proportion, as integers that sum to
    ``total`` exactly: floors first, then one more to the largest remainders (ties: lower key)."""
    positive = {k: w for k, w in weights.items() if w > 0}
    if total == 0:
        return {}
    if not positive:
        return {EARLIER_ISSUER: total}
    denominator = sum(positive.values())
    shares = {k: total * w // denominator for k, w in positive.items()}
    remainders = sorted(positive, key=lambda k: (-(total * positive[k] % denominator), k))
    for k in remainders[: total - sum(shares.values())]:
        shares[k] += 1
    return {k: v for k, v in sorted(shares.items()) if v}


def bilateral_matrix(lines: Sequence[PartnerLine]) -> dict[int, dict[int, int]]:
    """``matrix[redeemer][issuer]`` = points redeemed at ``redeemer`` attributed to ``issuer``."""
    weights = {line.partner_id: line.points_issued - line.points_reversed for line in lines}
    return {
        line.partner_id: split_pro_rata(line.points_redeemed, weights) for line in lines if line.points_redeemed > 0
    }


def format_units(value: int, decimals: int) -> str:
    """Token base units as a decimal string, exact: ``format_units(-1_500_000, 6) == "-1.500000"``."""
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(value), 10**decimals)
    return f"{sign}{whole}.{frac:0{decimals}d}" if decimals else f"{sign}{whole}"
