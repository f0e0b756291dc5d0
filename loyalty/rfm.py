"""RFM: recency, frequency and monetary value of each member, scored in quintiles and mapped to the
usual named segments (pure: no store, no chain, no HTTP). The store computes the same scores in SQL
(gateway/services/rfm.py); this module is the rule and the reference the tests compare it with.

The values, per member and scope (the coalition, or one partner), as of the end of a day:

- a purchase counts when it is confirmed on chain and its amount net of its refunds (those whose
  reversal did not fail, recorded before the day's end) is above zero: a fully refunded purchase
  does not count at all;
- **recency**: the UTC day of the member's last counted purchase (later is better);
- **frequency**: how many counted purchases;
- **monetary**: per partner, the net amounts in the partner's currency; coalition-wide, the net
  points earned (a point is the one unit every partner shares; amounts may be in several currencies).

Members whose personal data were erased are left out (nobody may target them); so are customers
with no counted purchase.

Scores (the tie rule): in a scope of ``n`` members, a member's rank for a value is how many members
have a strictly lower value (ties share the lowest rank of their group: SQL's ``RANK() - 1``), and
the score is ``1 + floor(5 * rank / n)``, from 1 to 5. Equal values always get the same score, the
lowest ones get 1, and a score of 5 needs at least 80 % of the scope strictly below. With all values
equal, everybody scores 1.

Segments: the R x FM grid below, ``FM = ceil((F + M) / 2)`` (the average of F and M rounded up).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TypeVar

CHAMPIONS = "Champions"
LOYAL = "Loyal"
POTENTIAL = "Potential loyalist"
NEW = "New"
PROMISING = "Promising"
NEED_ATTENTION = "Need attention"
ABOUT_TO_SLEEP = "About to sleep"
AT_RISK = "At risk"
CANT_LOSE = "Can't lose them"
HIBERNATING = "Hibernating"
LOST = "Lost"
SEGMENTS = (CHAMPIONS, LOYAL, POTENTIAL, NEW, PROMISING, NEED_ATTENTION, ABOUT_TO_SLEEP, AT_RISK, CANT_LOSE,
            HIBERNATING, LOST)  # fmt: skip

# GRID[5 - r][fm - 1]: rows R = 5 (bought most recently) .. 1, columns FM = 1 .. 5
GRID: tuple[tuple[str, ...], ...] = (
    (NEW, POTENTIAL, POTENTIAL, CHAMPIONS, CHAMPIONS),
    (PROMISING, POTENTIAL, POTENTIAL, LOYAL, CHAMPIONS),
    (ABOUT_TO_SLEEP, NEED_ATTENTION, NEED_ATTENTION, LOYAL, LOYAL),
    (HIBERNATING, ABOUT_TO_SLEEP, AT_RISK, AT_RISK, CANT_LOSE),
    (LOST, HIBERNATING, AT_RISK, CANT_LOSE, CANT_LOSE),
)
SCORE_RULE = (
    "score = 1 + floor(5 x rank / n), rank = how many members of the scope have a strictly lower value "
    "(equal values share a score); recency ranks the last purchase's day, later is better"
)
SEGMENT_RULE = "segment = the R x FM grid, FM = ceil((F + M) / 2)"

V = TypeVar("V", date, int, Decimal)


@dataclass(frozen=True, slots=True)
class Values:
    """A member's raw values in one scope."""

    last_day: date
    frequency: int
    monetary: Decimal


@dataclass(frozen=True, slots=True)
class Scores:
    r: int
    f: int
    m: int
    segment: str


def fm(f: int, m: int) -> int:
    """F and M averaged, rounded up."""
    return (f + m + 1) // 2


def segment(r: int, f: int, m: int) -> str:
    """The named segment of scores (each 1..5)."""
    if not all(1 <= s <= 5 for s in (r, f, m)):
        raise ValueError(f"scores run from 1 to 5, got {(r, f, m)}")
    return GRID[5 - r][fm(f, m) - 1]


def quintiles(values: Mapping[int, V]) -> dict[int, int]:
    """Each key's score for its value (the tie rule above)."""
    n = len(values)
    ordered = sorted(values.values())
    below: dict[V, int] = {}
    for i, v in enumerate(ordered):
        below.setdefault(v, i)
    return {k: 1 + (5 * below[v]) // n for k, v in values.items()}


def score(members: Mapping[int, Values]) -> dict[int, Scores]:
    """Every member's scores and segment within one scope."""
    r = quintiles({k: v.last_day for k, v in members.items()})
    f = quintiles({k: v.frequency for k, v in members.items()})
    m = quintiles({k: v.monetary for k, v in members.items()})
    return {k: Scores(r[k], f[k], m[k], segment(r[k], f[k], m[k])) for k in members}


def sizes(scores: Iterable[Scores]) -> dict[str, int]:
    """How many members each segment holds (every segment named, empty ones 0)."""
    out = dict.fromkeys(SEGMENTS, 0)
    for s in scores:
        out[s.segment] += 1
    return out
