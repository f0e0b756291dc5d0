"""Rewards a member may like: item-to-item co-occurrence over redemptions (pure: no store, no
HTTP). gateway/services/recommendations.py reads the counts from the store.

``n(X)``: the members who redeemed reward X; ``co(X, Y)``: those who redeemed both X and Y. Their
similarity is the cosine ``co(X, Y) / sqrt(n(X) n(Y))`` (a reward everybody takes is not similar to
everything). A member who redeemed the set S is offered the rewards Y not in S, scored
``sum over X in S of sim(X, Y)``, highest first (ties: the lower reward id first), the ``k`` best
with a score above zero; ``because``: the rewards of S that brought Y, most similar first.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Hashable, Iterable, Mapping
from dataclasses import dataclass
from itertools import permutations


@dataclass(frozen=True, slots=True)
class Suggestion:
    reward_id: int
    score: float
    because: tuple[int, ...]


def counts(baskets: Iterable[Collection[int]]) -> tuple[dict[int, int], dict[tuple[int, int], int]]:
    """``n`` per reward and ``co`` per ordered pair of distinct rewards, over each member's set of rewards."""
    n: dict[int, int] = {}
    co: dict[tuple[int, int], int] = {}
    for basket in baskets:
        items = set(basket)
        for x in items:
            n[x] = n.get(x, 0) + 1
        for pair in permutations(items, 2):
            co[pair] = co.get(pair, 0) + 1
    return n, co


def recommend(
    mine: Collection[int],
    n: Mapping[int, int],
    co: Mapping[tuple[int, int], int],
    *,
    k: int,
    offered: Collection[int] | None = None,
) -> list[Suggestion]:
    """The ``k`` rewards to suggest to a member who redeemed ``mine`` (only those in ``offered``
    when given: the active rewards in stock). ``co`` needs only the pairs whose first reward is in
    ``mine``."""
    terms: dict[int, dict[int, float]] = {}
    for (x, y), c in co.items():
        if x not in mine or y in mine or c <= 0 or (offered is not None and y not in offered):
            continue
        terms.setdefault(y, {})[x] = c / math.sqrt(n[x] * n[y])
    scored = [
        Suggestion(y, math.fsum(t.values()), tuple(x for x, _ in sorted(t.items(), key=lambda kv: (-kv[1], kv[0]))))
        for y, t in terms.items()
    ]
    scored.sort(key=lambda s: (-s.score, s.reward_id))
    return scored[: max(0, k)]


def for_member(baskets: Mapping[Hashable, Collection[int]], member: Hashable, *, k: int) -> list[Suggestion]:
    """:func:`recommend` for one member of ``baskets`` (member -> rewards redeemed), every reward offered."""
    n, co = counts(baskets.values())
    return recommend(set(baskets.get(member, ())), n, co, k=k)
