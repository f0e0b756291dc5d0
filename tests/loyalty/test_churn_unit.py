"""Churn risk's pure parts (loyalty/churn.py) against independent computations: the AUC by counting
pairs, the fit's optimality (its gradient is zero) and the signs it recovers on generated data, the
linear solve against a residual check, and the explanation adding up to the score."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from loyalty import churn


def auc_by_pairs(scores: list[float], labels: list[int]) -> float:
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


@pytest.mark.parametrize("seed", range(6))
def test_auc_by_ranks_is_the_share_of_pairs_ordered_right(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.randrange(2, 60)
    scores = [rng.choice([0.1, 0.2, 0.5, 0.7]) if rng.random() < 0.5 else rng.random() for _ in range(n)]
    labels = [rng.randrange(2) for _ in range(n)]
    labels[0], labels[1] = 0, 1
    assert churn.auc(scores, labels) == pytest.approx(auc_by_pairs(scores, labels), abs=1e-12)


def test_auc_edges() -> None:
    assert churn.auc([0.1, 0.9], [0, 1]) == 1.0
    assert churn.auc([0.9, 0.1], [0, 1]) == 0.0
    assert churn.auc([0.5, 0.5, 0.5], [0, 1, 1]) == 0.5
    with pytest.raises(ValueError, match="both classes"):
        churn.auc([0.1, 0.2], [1, 1])


def test_solve_leaves_no_residual() -> None:
    rng = random.Random(3)
    a = [[rng.uniform(-2, 2) for _ in range(5)] for _ in range(5)]
    b = [rng.uniform(-5, 5) for _ in range(5)]
    x = churn.solve(a, b)
    for row, bi in zip(a, b, strict=True):
        assert sum(r * v for r, v in zip(row, x, strict=True)) == pytest.approx(bi, abs=1e-9)


def generated(n: int, seed: int) -> tuple[list[list[float]], list[int]]:
    """Churn rises with the first feature, falls with the second; the third is noise."""
    rng = random.Random(seed)
    xs, ys = [], []
    for _ in range(n):
        x = [rng.gauss(3, 2), rng.gauss(10, 5), rng.gauss(0, 1)]
        t = -0.5 + 1.2 * (x[0] - 3) / 2 - 0.9 * (x[1] - 10) / 5
        xs.append(x)
        ys.append(1 if rng.random() < 1 / (1 + math.exp(-t)) else 0)
    return xs, ys


def test_the_fit_recovers_the_signs_and_sizes_of_known_coefficients() -> None:
    xs, ys = generated(3_000, seed=19)
    m = churn.fit(xs, ys, features=("a", "b", "noise"), l2=0.0)
    a, b, noise = m.coefficients
    assert a == pytest.approx(1.2, abs=0.2) and b == pytest.approx(-0.9, abs=0.2)
    assert abs(noise) < 0.15
    assert m.intercept == pytest.approx(-0.5, abs=0.2)


def test_the_fit_is_the_penalized_optimum() -> None:
    """At the optimum the penalized log-likelihood's gradient is zero (computed apart from fit's loop)."""
    xs, ys = generated(400, seed=5)
    l2 = 2.0
    m = churn.fit(xs, ys, features=("a", "b", "noise"), l2=l2)
    grad = [0.0] * 4
    for x, y in zip(xs, ys, strict=True):
        z = [1.0, *m.standardized(x)]
        r = y - churn.risk(m, x)
        grad = [g + r * v for g, v in zip(grad, z, strict=True)]
    grad = [grad[0]] + [g - l2 * c for g, c in zip(grad[1:], m.coefficients, strict=True)]
    assert max(abs(g) for g in grad) < 1e-6


def test_a_constant_feature_gets_no_weight_and_separable_data_stays_finite() -> None:
    xs = [[float(i), 7.0] for i in range(20)]
    ys = [1 if i >= 10 else 0 for i in range(20)]
    m = churn.fit(xs, ys, features=("x", "const"))
    assert m.scales[1] == 1.0 and m.coefficients[1] == pytest.approx(0.0, abs=1e-12)
    assert math.isfinite(m.coefficients[0]) and m.coefficients[0] > 0


def test_contributions_add_up_to_the_risk_and_explain_in_order() -> None:
    xs, ys = generated(300, seed=7)
    m = churn.fit(xs, ys, features=("a", "b", "noise"))
    x = xs[0]
    terms = churn.contributions(m, x)
    for i, f in enumerate(m.features):
        assert terms[f] == pytest.approx(m.coefficients[i] * (x[i] - m.means[i]) / m.scales[i])
    assert churn.risk(m, x) == pytest.approx(1 / (1 + math.exp(-(m.intercept + sum(terms.values())))))
    top = churn.top(terms, 2)
    assert [abs(v) for _, v in top] == sorted((abs(v) for v in terms.values()), reverse=True)[:2]


def test_raw_features_as_of_a_cut_off() -> None:
    at = datetime(2026, 12, 1, tzinfo=UTC)
    v = churn.Values(last_purchase=at - timedelta(days=9), frequency=3, recent_purchases=0, monetary_points=99,
                     partners_visited=2, enrolled_at=at - timedelta(days=364), tier_level=1)  # fmt: skip
    assert churn.raw(v, at=at) == pytest.approx(
        [math.log(10), math.log(4), 0.0, math.log(100), 2.0, math.log(365), 1.0]
    )
    assert len(churn.raw(v, at=at)) == len(churn.FEATURES) == len(churn.DESCRIPTIONS)
