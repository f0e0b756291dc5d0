"""Item-to-item co-occurrence (loyalty/recommendations.py) against a brute force written apart: for
every member of generated baskets, the similarity of each candidate to each reward they redeemed by
counting members directly."""

from __future__ import annotations

import math
import random

import pytest

from loyalty.recommendations import Suggestion, counts, for_member, recommend


def brute(baskets: dict[str, set[int]], member: str) -> dict[int, float]:
    mine = baskets[member]
    items = set().union(*baskets.values())
    out: dict[int, float] = {}
    for y in sorted(items - mine):
        total = 0.0
        for x in mine:
            both = sum(1 for b in baskets.values() if x in b and y in b)
            nx = sum(1 for b in baskets.values() if x in b)
            ny = sum(1 for b in baskets.values() if y in b)
            total += both / math.sqrt(nx * ny) if both else 0.0
        if total > 0:
            out[y] = total
    return out


@pytest.mark.parametrize("seed", range(5))
def test_scores_and_order_match_a_brute_force(seed: int) -> None:
    rng = random.Random(seed)
    baskets = {f"m{i}": set(rng.sample(range(1, 13), rng.randrange(0, 5))) for i in range(40)}
    for member in baskets:
        expected = brute(baskets, member)
        got = for_member(baskets, member, k=100)
        assert {s.reward_id: s.score for s in got} == pytest.approx(expected)
        ranked = sorted(expected, key=lambda y: (-expected[y], y))
        assert [s.reward_id for s in got] == ranked  # ties: the lower id first
        assert [s.reward_id for s in for_member(baskets, member, k=3)] == ranked[:3]
        assert not {s.reward_id for s in got} & baskets[member]


def test_because_names_the_rewards_that_brought_it_most_similar_first() -> None:
    baskets = {"a": {1, 2, 3}, "b": {1, 3}, "c": {2, 3}, "d": {2}, "e": {2}, "me": {1, 2}}
    (s,) = for_member(baskets, "me", k=5)
    assert s.reward_id == 3
    # sim(1,3) = 2 / sqrt(3 * 3); sim(2,3) = 2 / sqrt(5 * 3)
    assert s.score == pytest.approx(2 / 3 + 2 / math.sqrt(15))
    assert s.because == (1, 2)


def test_only_offered_rewards_and_nothing_without_history() -> None:
    n, co = counts([{1, 2}, {1, 3}, {1, 2}])
    assert recommend({1}, n, co, k=5, offered={3}) == [Suggestion(3, 1 / math.sqrt(3), (1,))]
    assert recommend(set(), n, co, k=5) == []
    assert recommend({1}, n, co, k=0) == []
