"""Generated campaigns with a known effect, for the statistics' simulation tests
(tests/loyalty/test_campaign_stats_simulation_unit.py) and their long run (``python -m bench.campaign_stats``).

The data (members drawn independently; amounts in cents, so the arms' sums are exact):
- pre-period revenue x ~ Exponential(mean 40), rounded to cents;
- a control member converts with probability p(x) = 1 - exp(-x / 40) (E p(x) = 1/2, E x p(x) = 30),
  and then spends a + b x + e with a = 10, b = 0.8, e ~ Exponential(mean 10) - 10 (mean 0, skewed);
- a treated member converts with probability (1 - d) p(x) + d and spends dy more when converting.
True uplift per member = (a + dy) ((1 - d) / 2 + d) + b ((1 - d) 30 + 40 d) - (a / 2 + 30 b);
true conversion uplift = d / 2. With d = 0.1, dy = 2 (``KNOWN``): revenue +2.40 a member, conversion
+5 points. Each campaign goes through :func:`loyalty.campaigns.stats.analyse` from the arms' sums,
as the store feeds it.
"""

from __future__ import annotations

import math
import random
import statistics
from dataclasses import dataclass
from decimal import Decimal

from loyalty.campaigns.stats import ArmTotals, CampaignResult, analyse

A, B, MEAN_X = 10.0, 0.8, 40.0


@dataclass(frozen=True)
class Effect:
    conversion_bump: float  # d
    spend_bump: float  # dy

    @property
    def revenue_uplift(self) -> float:
        d, dy = self.conversion_bump, self.spend_bump
        treated = (A + dy) * ((1 - d) / 2 + d) + B * ((1 - d) * 30 + 40 * d)
        return treated - (A / 2 + 30 * B)

    @property
    def conversion_uplift(self) -> float:
        return self.conversion_bump / 2


KNOWN = Effect(0.1, 2.0)
NONE = Effect(0.0, 0.0)


def arm_totals(rng: random.Random, members: int, effect: Effect) -> ArmTotals:
    """One arm's sums. x = -40 log(1 - u) is Exponential(mean 40) and then p(x) = 1 - exp(-x / 40) = u,
    so the conversion probability comes free; amounts are rounded to whole cents (y >= 0 always)."""
    uniform, log = rng.random, math.log
    d, spend = effect.conversion_bump, A + effect.spend_bump
    conversions = sy = syy = sx = sxx = sxy = 0  # cents, exact ints
    for _ in range(members):
        u = uniform()
        x_money = -MEAN_X * log(1.0 - u)
        x = int(x_money * 100 + 0.5)
        y = 0
        if uniform() < (1 - d) * u + d:
            conversions += 1
            y = int((spend + B * x_money - 10 * log(1.0 - uniform()) - 10) * 100 + 0.5)
        sy += y
        syy += y * y
        sx += x
        sxx += x * x
        sxy += x * y
    return ArmTotals(
        members=members,
        conversions=conversions,
        points=0,
        revenue=Decimal(sy).scaleb(-2),
        revenue_sq=Decimal(syy).scaleb(-4),
        pre_revenue=Decimal(sx).scaleb(-2),
        pre_revenue_sq=Decimal(sxx).scaleb(-4),
        revenue_x_pre=Decimal(sxy).scaleb(-4),
    )


def simulate(
    effect: Effect, *, seed: int, campaigns: int, control: int, treatment: int, holdout_bp: int
) -> list[CampaignResult]:
    """``campaigns`` independent campaigns of ``control`` + ``treatment`` members, seeded."""
    rng = random.Random(seed)
    return [
        analyse(
            control=arm_totals(rng, control, NONE),
            treatment=arm_totals(rng, treatment, effect),
            holdout_bp=holdout_bp,
            issue_price=0,
        )
        for _ in range(campaigns)
    ]


@dataclass(frozen=True)
class Rates:
    """What repeated campaigns showed: coverage of the true uplift (with an effect), the share declared
    significant (without), CUPED's mean width ratio and the estimates' mean and spread."""

    campaigns: int
    coverage_revenue: float  # the reported interval (CUPED when narrower)
    coverage_revenue_unadjusted: float
    coverage_conversion: float
    false_positive_revenue: float
    false_positive_revenue_unadjusted: float
    false_positive_conversion: float
    cuped_width_ratio: float
    cuped_used: float
    mean_estimate: float  # reported revenue uplift, with the effect
    mean_estimate_unadjusted: float
    standard_error_of_mean: float
    spread: float  # standard deviation of the reported estimates across campaigns
    spread_unadjusted: float
    detected: float  # share of campaigns with the effect whose verdict is "positive"


def rates(with_effect: list[CampaignResult], without_effect: list[CampaignResult], effect: Effect) -> Rates:
    def share(flags: list[bool]) -> float:
        return sum(flags) / len(flags)

    def covers(interval: object, truth: float) -> bool:
        return interval.low <= truth <= interval.high  # type: ignore[attr-defined]

    estimates = [r.revenue_uplift.estimate for r in with_effect]  # type: ignore[union-attr]
    raw = [r.revenue_uplift_unadjusted.estimate for r in with_effect]  # type: ignore[union-attr]
    return Rates(
        campaigns=len(with_effect),
        coverage_revenue=share([covers(r.revenue_uplift, effect.revenue_uplift) for r in with_effect]),
        coverage_revenue_unadjusted=share(
            [covers(r.revenue_uplift_unadjusted, effect.revenue_uplift) for r in with_effect]
        ),
        coverage_conversion=share([covers(r.conversion_uplift, effect.conversion_uplift) for r in with_effect]),
        false_positive_revenue=share([r.revenue_uplift.significant for r in without_effect]),  # type: ignore[union-attr]
        false_positive_revenue_unadjusted=share(
            [r.revenue_uplift_unadjusted.significant for r in without_effect]  # type: ignore[union-attr]
        ),
        false_positive_conversion=share([r.conversion_uplift.significant for r in without_effect]),  # type: ignore[union-attr]
        cuped_width_ratio=statistics.mean(r.cuped.width_ratio for r in with_effect),  # type: ignore[union-attr]
        cuped_used=share([r.cuped is not None and r.cuped.used for r in with_effect]),
        mean_estimate=statistics.mean(estimates),
        mean_estimate_unadjusted=statistics.mean(raw),
        standard_error_of_mean=statistics.stdev(estimates) / math.sqrt(len(estimates)),
        spread=statistics.stdev(estimates),
        spread_unadjusted=statistics.stdev(raw),
        detected=share([r.verdict == "positive" for r in with_effect]),
    )
