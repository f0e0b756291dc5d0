"""Churn risk: a logistic regression on a member's purchase history, its AUC and its explanations
(pure: no store, no chain, no HTTP). gateway/services/churn.py reads the values from the store,
trains on a past cut-off and scores members with :func:`risk`.

**Label.** A member *churned* after a cut-off time ``T`` when they made no counted purchase in the
``churn_days`` that follow (the KPIs' churn, ``COALITION_CHURN_DAYS``).

**Features**, each from the member's history strictly before ``T`` (:class:`Values`), and why:

- ``recency_days`` (log): days since the last counted purchase, the strongest sign of a member
  slipping away; the log because 1 against 30 days says more than 200 against 230;
- ``frequency`` (log): counted purchases in all;
- ``recent_purchases`` (log): counted purchases in the ``churn_days`` before ``T``, the pace now;
- ``monetary_points`` (log): net points earned, the one unit every partner shares;
- ``partners_visited``: partners with a counted purchase, how much of the coalition the member uses;
- ``tenure_days`` (log): days since enrolment;
- ``tier_level``: the tier in force at ``T``, 0 for the ladder's lowest.

**Model.** Each feature is standardized with the training set's mean and standard deviation (a
constant feature keeps a scale of 1, so its standardized value is 0 and its coefficient stays 0),
then :func:`fit` finds the intercept and coefficients of ``P(churn) = 1 / (1 + e^-(b0 + b . z))`` by
Newton's method (iteratively reweighted least squares) with an L2 penalty ``l2 * |b|^2 / 2`` on the
coefficients (not the intercept), which keeps the fit finite when the classes separate.

**Explanation.** A member's risk is the sigmoid of the intercept plus one term per feature,
``coefficient x standardized value`` (:func:`contributions`): a positive term pushes the risk up
against an average member, a negative one down.

**AUC** (:func:`auc`): the probability that a churned member scores above one who did not, ties
counting one half, by the rank formula ``(R1 - n1 (n1 + 1) / 2) / (n1 n0)`` with average ranks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

FEATURES = (
    "recency_days",
    "frequency",
    "recent_purchases",
    "monetary_points",
    "partners_visited",
    "tenure_days",
    "tier_level",
)
DESCRIPTIONS = {
    "recency_days": "days since the last purchase (log)",
    "frequency": "purchases in all (log)",
    "recent_purchases": "purchases in the churn window before (log)",
    "monetary_points": "net points earned (log)",
    "partners_visited": "partners with a purchase",
    "tenure_days": "days since enrolment (log)",
    "tier_level": "tier in force (0: lowest)",
}
DAY_S = 86_400.0


@dataclass(frozen=True, slots=True)
class Values:
    """A member's history before a cut-off, as the store aggregates it."""

    last_purchase: datetime
    frequency: int
    recent_purchases: int
    monetary_points: int
    partners_visited: int
    enrolled_at: datetime
    tier_level: int


def raw(v: Values, *, at: datetime) -> list[float]:
    """The feature values (before standardization) as of the cut-off ``at``, in :data:`FEATURES`' order."""
    recency = max(0.0, (at - v.last_purchase).total_seconds() / DAY_S)
    tenure = max(0.0, (at - v.enrolled_at).total_seconds() / DAY_S)
    return [
        math.log1p(recency),
        math.log1p(max(0, v.frequency)),
        math.log1p(max(0, v.recent_purchases)),
        math.log1p(max(0, v.monetary_points)),
        float(v.partners_visited),
        math.log1p(tenure),
        float(v.tier_level),
    ]


@dataclass(frozen=True, slots=True)
class Model:
    features: tuple[str, ...]
    means: tuple[float, ...]
    scales: tuple[float, ...]
    intercept: float
    coefficients: tuple[float, ...]

    def standardized(self, x: Sequence[float]) -> list[float]:
        return [(v - m) / s for v, m, s in zip(x, self.means, self.scales, strict=True)]


def sigmoid(t: float) -> float:
    if t >= 0:
        return 1.0 / (1.0 + math.exp(-t))
    e = math.exp(t)
    return e / (1.0 + e)


def standardization(xs: Sequence[Sequence[float]]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Each column's mean and population standard deviation (1 where it is 0)."""
    n, d = len(xs), len(xs[0])
    means = [math.fsum(x[j] for x in xs) / n for j in range(d)]
    scales = []
    for j in range(d):
        var = math.fsum((x[j] - means[j]) ** 2 for x in xs) / n
        sd = math.sqrt(var)
        scales.append(sd if sd > 1e-12 else 1.0)
    return tuple(means), tuple(scales)


def solve(a: list[list[float]], b: list[float]) -> list[float]:
    """``a x = b`` by Gaussian elimination with partial pivoting (``a`` square, not singular)."""
    n = len(b)
    m = [[*row, b[i]] for i, row in enumerate(a)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(m[r][col]))
        if abs(m[pivot][col]) < 1e-300:
            raise ValueError("singular system")
        m[col], m[pivot] = m[pivot], m[col]
        for r in range(col + 1, n):
            f = m[r][col] / m[col][col]
            if f:
                for c in range(col, n + 1):
                    m[r][c] -= f * m[col][c]
    x = [0.0] * n
    for r in range(n - 1, -1, -1):
        x[r] = (m[r][n] - sum(m[r][c] * x[c] for c in range(r + 1, n))) / m[r][r]
    return x


def fit(
    xs: Sequence[Sequence[float]],
    ys: Sequence[int],
    *,
    features: Sequence[str] = FEATURES,
    l2: float = 1.0,
    iterations: int = 50,
    tolerance: float = 1e-9,
) -> Model:
    """The penalized logistic regression of labels ``ys`` (1: churned) on rows ``xs`` (raw values),
    standardized first; Newton's method from zero until no parameter moves more than ``tolerance``."""
    if not xs or len(xs) != len(ys):
        raise ValueError("fit needs as many labels as rows, and at least one row")
    means, scales = standardization(xs)
    zs = [[1.0, *((v - m) / s for v, m, s in zip(x, means, scales, strict=True))] for x in xs]
    d = len(zs[0])
    beta = [0.0] * d
    for _ in range(iterations):
        grad = [0.0] * d
        hess = [[0.0] * d for _ in range(d)]
        for z, y in zip(zs, ys, strict=True):
            p = sigmoid(sum(b * v for b, v in zip(beta, z, strict=True)))
            w = p * (1.0 - p)
            r = y - p
            for i in range(d):
                zi = z[i]
                grad[i] += r * zi
                wzi = w * zi
                row = hess[i]
                for j in range(i, d):
                    row[j] += wzi * z[j]
        for i in range(d):
            for j in range(i):
                hess[i][j] = hess[j][i]
        for i in range(1, d):  # the penalty, on the coefficients only
            grad[i] -= l2 * beta[i]
            hess[i][i] += l2
        step = solve(hess, grad)
        beta = [b + s for b, s in zip(beta, step, strict=True)]
        if max(abs(s) for s in step) < tolerance:
            break
    return Model(tuple(features), means, scales, beta[0], tuple(beta[1:]))


def contributions(model: Model, x: Sequence[float]) -> dict[str, float]:
    """Each feature's term of the log-odds: coefficient x standardized value."""
    z = model.standardized(x)
    return {f: c * v for f, c, v in zip(model.features, model.coefficients, z, strict=True)}


def risk(model: Model, x: Sequence[float]) -> float:
    """The churn probability of raw values ``x``."""
    return sigmoid(model.intercept + math.fsum(contributions(model, x).values()))


def top(contribs: dict[str, float], n: int = 3) -> list[tuple[str, float]]:
    """The ``n`` largest terms by size (then by name), with their sign."""
    return sorted(contribs.items(), key=lambda kv: (-abs(kv[1]), kv[0]))[:n]


def auc(scores: Sequence[float], labels: Sequence[int]) -> float:
    """The area under the ROC curve of ``scores`` for ``labels`` (1 positive), by average ranks;
    ValueError when one class is missing."""
    n1 = sum(1 for y in labels if y)
    n0 = len(labels) - n1
    if n1 == 0 or n0 == 0:
        raise ValueError("AUC needs both classes")
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        avg = (i + j) / 2 + 1  # ranks i+1 .. j+1 share their average
        for k in range(i, j + 1):
            ranks[order[k]] = avg
        i = j + 1
    r1 = math.fsum(r for r, y in zip(ranks, labels, strict=True) if y)
    return (r1 - n1 * (n1 + 1) / 2) / (n1 * n0)
