"""The two-arm tests and intervals of a campaign's measurement (pure): Welch's t on a difference of
means, the two-proportion z interval and test, and the sample-ratio-mismatch check. Inputs and outputs
are floats and counts; loyalty/campaigns/stats.py feeds them from the arms' exact sums.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Final

from loyalty.campaigns.assignment import BUCKETS, validate_holdout
from loyalty.campaigns.distributions import chi_square_sf_1df, t_quantile, t_two_sided

CONFIDENCE: Final = 0.95
SRM_ALPHA: Final = 0.001  # sample-ratio mismatch is flagged below this p-value


@dataclass(frozen=True, slots=True)
class Interval:
    """treatment - control: ``estimate`` with its ``confidence`` interval [low, high] and two-sided p-value.

    ``method``: "welch" (revenue per member), "welch+cuped" (the same on CUPED-adjusted revenue) or
    "two-proportion z" (conversion rate; the interval uses the unpooled standard error, the test the
    pooled one, so in rare borderline cases the two can disagree: ``significant`` follows the test)."""

    estimate: float
    low: float
    high: float
    p_value: float
    standard_error: float
    method: str
    confidence: float = CONFIDENCE
    df: float | None = None  # Welch-Satterthwaite degrees of freedom (None for z)

    @property
    def significant(self) -> bool:
        return self.p_value < 1 - self.confidence

    @property
    def width(self) -> float:
        return self.high - self.low


@dataclass(frozen=True, slots=True)
class SampleRatio:
    """Chi-square goodness of fit (1 degree of freedom) of the arms' sizes against the holdout share."""

    expected_control_share: float
    control: int
    treatment: int
    chi_square: float
    p_value: float

    @property
    def mismatch(self) -> bool:
        return self.p_value < SRM_ALPHA


def welch_interval(
    *, mean_t: float, var_t: float, n_t: int, mean_c: float, var_c: float, n_c: int, confidence: float = CONFIDENCE
) -> Interval | None:
    """Welch's t on the difference of means (sample variances with n - 1). None when an arm has fewer
    than 2 members or both variances are 0 (the interval is undefined)."""
    if n_t < 2 or n_c < 2:
        return None
    a, b = var_t / n_t, var_c / n_c
    se = math.sqrt(a + b)
    if se == 0.0:
        return None
    df = (a + b) ** 2 / (a * a / (n_t - 1) + b * b / (n_c - 1))
    diff = mean_t - mean_c
    half = t_quantile(1.0 - (1.0 - confidence) / 2.0, df) * se
    t = diff / se
    p = t_two_sided(t, df)
    return Interval(diff, diff - half, diff + half, p, se, "welch", confidence, df)


def two_proportion_interval(
    *, conversions_t: int, n_t: int, conversions_c: int, n_c: int, confidence: float = CONFIDENCE
) -> Interval | None:
    """Difference of conversion rates: Wald interval with the unpooled standard error, z test with the
    pooled one. None when an arm is empty or nobody / everybody converted in both arms."""
    if n_t == 0 or n_c == 0:
        return None
    p_t, p_c = conversions_t / n_t, conversions_c / n_c
    pooled = (conversions_t + conversions_c) / (n_t + n_c)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / n_t + 1 / n_c))
    if se0 == 0.0:
        return None
    se = math.sqrt(p_t * (1 - p_t) / n_t + p_c * (1 - p_c) / n_c)
    diff = p_t - p_c
    half = NormalDist().inv_cdf(1.0 - (1.0 - confidence) / 2.0) * se
    p = math.erfc(abs(diff / se0) / math.sqrt(2.0))
    return Interval(diff, diff - half, diff + half, p, se, "two-proportion z", confidence)


def sample_ratio_check(*, control: int, treatment: int, holdout_bp: int) -> SampleRatio | None:
    """chi² = Σ (observed - expected)² / expected over the two arms, expected = N x share; p from the
    chi-square with 1 degree of freedom. None when nobody was exposed or the holdout is 0 or 100 %."""
    validate_holdout(holdout_bp)
    total = control + treatment
    if total == 0 or holdout_bp in (0, BUCKETS):
        return None
    share = holdout_bp / BUCKETS
    e_c, e_t = total * share, total * (1 - share)
    chi2 = (control - e_c) ** 2 / e_c + (treatment - e_t) ** 2 / e_t
    return SampleRatio(share, control, treatment, chi2, chi_square_sf_1df(chi2))
