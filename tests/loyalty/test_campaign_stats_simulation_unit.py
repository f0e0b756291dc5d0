"""The campaign statistics on generated data with a known effect (issue 20, item 3): over repeated
seeded simulations, the 95 % intervals cover the true uplift about 95 % of the time, a zero effect is
declared significant about 5 % of the time, and CUPED narrows the revenue interval without biasing it.

The data and the true uplift: tests/campaign_simulation.py (revenue +2.40 a member, conversion +5
points). Each scenario runs N_SIMULATIONS = 400 campaigns of 150 control and 600 treated members
(holdout 20 %). With 400 runs a rate's standard error is ~1.1 points, so the accepted bands (coverage
92-98 %, false positives 2-8 %) are about 2.7 standard errors wide; the seeds are fixed, so the outcome
is deterministic. ``python -m bench.campaign_stats`` runs the same with 10,000 campaigns a scenario.
"""

from __future__ import annotations

import math
import random
import statistics

import pytest

from loyalty.campaigns.stats import CampaignResult
from tests.campaign_simulation import KNOWN, MEAN_X, NONE, A, B, Effect, simulate

N_SIMULATIONS = 400
N_CONTROL, N_TREATMENT, HOLDOUT_BP = 150, 600, 2_000


def _simulate(effect: Effect, seed: int) -> list[CampaignResult]:
    return simulate(
        effect, seed=seed, campaigns=N_SIMULATIONS, control=N_CONTROL, treatment=N_TREATMENT, holdout_bp=HOLDOUT_BP
    )


@pytest.fixture(scope="module")
def with_effect() -> list[CampaignResult]:
    return _simulate(KNOWN, seed=20_3)


@pytest.fixture(scope="module")
def without_effect() -> list[CampaignResult]:
    return _simulate(NONE, seed=20_30)


def _rate(flags: list[bool]) -> float:
    return sum(flags) / len(flags)


def test_the_true_uplift_of_the_generated_data() -> None:
    # a direct check of the formula in tests/campaign_simulation.py, by a large sample drawn differently
    rng = random.Random(7)
    n = 100_000

    def mean_revenue(d: float, dy: float) -> float:
        total = 0.0
        for _ in range(n):
            x = rng.expovariate(1 / MEAN_X)
            if rng.random() < (1 - d) * (1 - math.exp(-x / MEAN_X)) + d:
                total += A + dy + B * x + rng.expovariate(0.1) - 10
        return total / n

    assert KNOWN.revenue_uplift == pytest.approx(2.4)
    # standard error of the difference ~ 30 x sqrt(2 / 100,000) = 0.13: 0.45 is ~3.4 of them
    assert mean_revenue(0.1, 2.0) - mean_revenue(0, 0) == pytest.approx(KNOWN.revenue_uplift, abs=0.45)


def test_every_simulated_campaign_reaches_a_verdict(with_effect: list[CampaignResult]) -> None:
    assert {r.status for r in with_effect} == {"measured"}


def test_the_revenue_interval_covers_the_true_uplift_about_95_percent_of_the_time(
    with_effect: list[CampaignResult],
) -> None:
    truth = KNOWN.revenue_uplift
    reported = _rate([r.revenue_uplift.low <= truth <= r.revenue_uplift.high for r in with_effect])  # type: ignore[union-attr]
    unadjusted = _rate(
        [r.revenue_uplift_unadjusted.low <= truth <= r.revenue_uplift_unadjusted.high for r in with_effect]  # type: ignore[union-attr]
    )
    assert 0.92 <= reported <= 0.98, reported
    assert 0.92 <= unadjusted <= 0.98, unadjusted


def test_the_conversion_interval_covers_the_true_uplift_about_95_percent_of_the_time(
    with_effect: list[CampaignResult],
) -> None:
    truth = KNOWN.conversion_uplift
    covered = _rate([r.conversion_uplift.low <= truth <= r.conversion_uplift.high for r in with_effect])  # type: ignore[union-attr]
    assert 0.92 <= covered <= 0.98, covered


def test_a_zero_effect_is_declared_significant_about_5_percent_of_the_time(
    without_effect: list[CampaignResult],
) -> None:
    revenue = _rate([r.revenue_uplift.significant for r in without_effect])  # type: ignore[union-attr]
    unadjusted = _rate([r.revenue_uplift_unadjusted.significant for r in without_effect])  # type: ignore[union-attr]
    conversion = _rate([r.conversion_uplift.significant for r in without_effect])  # type: ignore[union-attr]
    assert 0.02 <= revenue <= 0.08, revenue
    assert 0.02 <= unadjusted <= 0.08, unadjusted
    assert 0.02 <= conversion <= 0.08, conversion
    # the verdict says the same as the test
    assert _rate([r.verdict != "inconclusive" for r in without_effect]) == revenue


def test_the_standard_errors_match_the_spread_of_the_estimates(
    with_effect: list[CampaignResult], without_effect: list[CampaignResult]
) -> None:
    # the intervals are as wide as the estimates really vary from one campaign to the next (an interval
    # that was too wide would over-cover and never find an effect; too narrow, the reverse)
    for results in (with_effect, without_effect):
        for name in ("revenue_uplift", "revenue_uplift_unadjusted", "conversion_uplift"):
            intervals = [getattr(r, name) for r in results]
            spread = statistics.stdev(i.estimate for i in intervals)
            assert statistics.mean(i.standard_error for i in intervals) == pytest.approx(spread, rel=0.1), name


def test_cuped_narrows_the_interval_when_the_pre_period_predicts_revenue(with_effect: list[CampaignResult]) -> None:
    ratios = [r.cuped.width_ratio for r in with_effect]  # type: ignore[union-attr]
    assert statistics.mean(ratios) < 0.9
    assert _rate([r.revenue_uplift.method == "welch+cuped" for r in with_effect]) > 0.95  # type: ignore[union-attr]


def test_cuped_does_not_bias_the_estimate(
    with_effect: list[CampaignResult], without_effect: list[CampaignResult]
) -> None:
    for results, effect in ((with_effect, KNOWN), (without_effect, NONE)):
        estimates = [r.revenue_uplift.estimate for r in results]  # type: ignore[union-attr]
        standard_error = statistics.stdev(estimates) / math.sqrt(len(estimates))
        assert abs(statistics.mean(estimates) - effect.revenue_uplift) < 3 * standard_error
        raw = [r.revenue_uplift_unadjusted.estimate for r in results]  # type: ignore[union-attr]
        # and it is less noisy than the unadjusted estimate across the repeated campaigns
        assert statistics.stdev(estimates) < statistics.stdev(raw)
