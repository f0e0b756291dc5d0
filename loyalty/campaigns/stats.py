"""A campaign's measured uplift: treatment against its control group (pure: no store, no chain, no HTTP).

Input, per arm: the members exposed when the trigger fired, each with whether they converted (a purchase
within the measurement window), their revenue in the window, their revenue in the pre-period (the
covariate for CUPED) and the campaign points they were given. Either member by member
(:class:`Observation`, summed by :meth:`ArmTotals.from_observations`) or as sums the store computes in
SQL (:class:`ArmTotals`: counts and the sums of y, y², x, x², xy, which is all the statistics need).

Output (:func:`analyse`): a :class:`CampaignResult` with per arm members, conversions, conversion rate,
revenue per member and points; the treatment - control difference with a 95 % interval (Welch's t for
revenue per member, CUPED-adjusted when that narrows the interval; a two-proportion z interval and test
for conversion); the sample-ratio-mismatch check; the verdict gate; incremental revenue, the points' cost
in money and the return on points. The README's "Measuring a campaign" gives every formula.

Where money stops and statistics start: sums of money are exact :class:`~decimal.Decimal` (so are the
per-arm central moments computed from them); means, variances, intervals and p-values are floats (their
rounding, ~1e-16 relative, is far below any sampling error); incremental revenue and the return on
points come back as Decimal rounded to cents; the points' cost is exact (points x the
issue price in the token's base units, scaled by its decimals, as in loyalty/simulation.py). Revenue and
the settlement token must be in the same unit (or converted by the caller) for the return on points to
mean anything.
"""

from __future__ import annotations

import decimal
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from decimal import Decimal
from typing import Any, Final, Literal

from loyalty.campaigns.assignment import CONTROL, NO_HOLDOUT_WARNING, TREATMENT, Arm, validate_holdout
from loyalty.campaigns.intervals import (
    CONFIDENCE,
    SRM_ALPHA,
    Interval,
    SampleRatio,
    sample_ratio_check,
    two_proportion_interval,
    welch_interval,
)

MIN_MEMBERS: Final = 100  # per arm, before any verdict
MIN_CONVERSIONS: Final = 25  # per arm, before any verdict

Status = Literal["collecting", "measured", "no_control"]
Verdict = Literal["positive", "negative", "inconclusive"]

_CENT = Decimal("0.01")
_EXACT = decimal.Context(prec=60)  # sums of squares of money stay exact well past 10^9 members


@dataclass(frozen=True, slots=True)
class Observation:
    """One exposed member: ``revenue`` and ``pre_revenue`` in the campaign's currency; ``points`` the
    campaign's points given to them (0 in control). ``converted_coalition`` (a purchase anywhere in the
    coalition) is optional: when any member of an arm lacks it, the coalition-wide interval is left out."""

    converted: bool
    revenue: Decimal
    pre_revenue: Decimal = Decimal(0)
    points: int = 0
    converted_coalition: bool | None = None


@dataclass(frozen=True, slots=True)
class ArmTotals:
    """Sufficient statistics of one arm (y = revenue in the window, x = pre-period revenue), e.g. from
    SQL: ``COUNT(*)``, ``SUM(converted)``, ``SUM(points)``, ``SUM(y)``, ``SUM(y * y)``, ``SUM(x)``,
    ``SUM(x * x)``, ``SUM(x * y)`` over the arm's exposed members (exact on NUMERIC columns).
    ``conversions_coalition`` None: coalition-wide conversion not measured."""

    members: int
    conversions: int
    points: int
    revenue: Decimal  # Σy
    revenue_sq: Decimal  # Σy²
    pre_revenue: Decimal = Decimal(0)  # Σx
    pre_revenue_sq: Decimal = Decimal(0)  # Σx²
    revenue_x_pre: Decimal = Decimal(0)  # Σxy
    conversions_coalition: int | None = None

    @classmethod
    def from_observations(cls, observations: Iterable[Observation]) -> ArmTotals:
        """Sum members' observations exactly (Decimal with 60 digits)."""
        ctx = _EXACT
        n = conv = pts = 0
        conv_all: int | None = 0
        sy = syy = sx = sxx = sxy = Decimal(0)
        for o in observations:
            n += 1
            conv += bool(o.converted)
            pts += o.points
            if o.converted_coalition is None:
                conv_all = None
            elif conv_all is not None:
                conv_all += bool(o.converted_coalition)
            y, x = Decimal(o.revenue), Decimal(o.pre_revenue)
            sy = ctx.add(sy, y)
            syy = ctx.add(syy, ctx.multiply(y, y))
            sx = ctx.add(sx, x)
            sxx = ctx.add(sxx, ctx.multiply(x, x))
            sxy = ctx.add(sxy, ctx.multiply(x, y))
        return cls(n, conv, pts, sy, syy, sx, sxx, sxy, conv_all if n else None)


@dataclass(frozen=True, slots=True)
class ArmSummary:
    """What the results page shows for one arm."""

    arm: Arm
    members: int
    conversions: int
    conversion_rate: float | None
    revenue: Decimal
    revenue_per_member: Decimal | None  # rounded to cents
    points: int
    conversions_coalition: int | None = None
    conversion_rate_coalition: float | None = None


@dataclass(frozen=True, slots=True)
class Cuped:
    """theta = cov(y, x) / var(x) pooled over both arms; ``width_ratio`` = adjusted / unadjusted
    interval width; ``used`` when it is below 1 (the adjusted interval is the one reported)."""

    theta: float
    width_ratio: float
    used: bool


@dataclass(frozen=True, slots=True)
class DecimalRange:
    """A money figure (or a ratio of money) with the interval carried over from the revenue uplift."""

    estimate: Decimal
    low: Decimal
    high: Decimal


@dataclass(frozen=True, slots=True)
class CampaignResult:
    """Everything the results page renders. ``verdict`` (revenue per member) and ``conversion_verdict``
    are None unless ``status`` is "measured" (both arms have at least ``min_members`` members and
    ``min_conversions`` conversions): "positive" / "negative" when the interval lies above / below 0,
    else "inconclusive". Intervals and money figures are given whenever they can be computed, also
    while collecting (shown as provisional)."""

    status: Status
    verdict: Verdict | None
    conversion_verdict: Verdict | None
    control: ArmSummary
    treatment: ArmSummary
    holdout_bp: int
    revenue_uplift: Interval | None  # per member; CUPED-adjusted when that narrowed it
    revenue_uplift_unadjusted: Interval | None
    cuped: Cuped | None
    conversion_uplift: Interval | None  # in rate points (0.02 = +2 percentage points)
    conversion_uplift_coalition: Interval | None
    sample_ratio: SampleRatio | None
    incremental_revenue: DecimalRange | None  # uplift per member x treatment members
    points_cost: Decimal  # all campaign points given (both arms) x issue price, in tokens (exact)
    return_on_points: DecimalRange | None  # incremental revenue / points cost
    confidence: float = CONFIDENCE
    min_members: int = MIN_MEMBERS
    min_conversions: int = MIN_CONVERSIONS
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: Decimals as strings, floats as floats, nested values as dicts, plus each
        interval's ``significant`` and the sample ratio's ``mismatch``."""
        out: dict[str, Any] = _plain(asdict(self))
        for name in ("revenue_uplift", "revenue_uplift_unadjusted", "conversion_uplift", "conversion_uplift_coalition"):
            interval = getattr(self, name)
            if interval is not None:
                out[name]["significant"] = interval.significant
        if self.sample_ratio is not None:
            out["sample_ratio"]["mismatch"] = self.sample_ratio.mismatch
        return out


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


# ---------------------------------------------------------------------------------------------------
# The analysis


@dataclass(frozen=True, slots=True)
class _Moments:
    n: int
    mean_y: float
    mean_x: float
    var_y: float
    var_x: float
    cov_xy: float


def _moments(a: ArmTotals) -> _Moments:
    """Central moments from the sums, exactly in Decimal, then as floats."""
    ctx, n = _EXACT, a.members
    if n == 0:
        return _Moments(0, 0.0, 0.0, 0.0, 0.0, 0.0)
    if n == 1:
        return _Moments(1, float(a.revenue), float(a.pre_revenue), 0.0, 0.0, 0.0)
    dn, dn1 = Decimal(n), Decimal(n - 1)

    def central(s_uv: Decimal, s_u: Decimal, s_v: Decimal) -> float:
        return float(ctx.divide(ctx.subtract(s_uv, ctx.divide(ctx.multiply(s_u, s_v), dn)), dn1))

    return _Moments(
        n,
        float(ctx.divide(a.revenue, dn)),
        float(ctx.divide(a.pre_revenue, dn)),
        central(a.revenue_sq, a.revenue, a.revenue),
        central(a.pre_revenue_sq, a.pre_revenue, a.pre_revenue),
        central(a.revenue_x_pre, a.revenue, a.pre_revenue),
    )


def cuped_theta(control: ArmTotals, treatment: ArmTotals) -> float | None:
    """theta = cov(y, x) / var(x) over both arms pooled; None when x does not vary."""
    pooled = _moments(
        ArmTotals(
            control.members + treatment.members,
            0,
            0,
            control.revenue + treatment.revenue,
            control.revenue_sq + treatment.revenue_sq,
            control.pre_revenue + treatment.pre_revenue,
            control.pre_revenue_sq + treatment.pre_revenue_sq,
            control.revenue_x_pre + treatment.revenue_x_pre,
        )
    )
    if pooled.n < 2 or pooled.var_x <= 0.0:
        return None
    return pooled.cov_xy / pooled.var_x


def _summary(arm: Arm, a: ArmTotals) -> ArmSummary:
    n = a.members
    rate_all = a.conversions_coalition / n if n and a.conversions_coalition is not None else None
    return ArmSummary(
        arm=arm,
        members=n,
        conversions=a.conversions,
        conversion_rate=a.conversions / n if n else None,
        revenue=a.revenue,
        revenue_per_member=(a.revenue / n).quantize(_CENT) if n else None,
        points=a.points,
        conversions_coalition=a.conversions_coalition,
        conversion_rate_coalition=rate_all,
    )


def _verdict(interval: Interval | None) -> Verdict:
    if interval is None or not interval.significant:
        return "inconclusive"
    return "positive" if interval.estimate > 0 else "negative"


def _money(value: Decimal) -> Decimal:
    return value.quantize(_CENT)


def revenue_intervals(
    control: ArmTotals, treatment: ArmTotals, confidence: float = CONFIDENCE
) -> tuple[Interval | None, Interval | None, Cuped | None]:
    """(reported, unadjusted, cuped): Welch on revenue per member, and Welch on the CUPED-adjusted
    revenue y' = y - theta (x - pooled mean of x), reported instead when its interval is narrower.
    Per arm, mean(y') = mean(y) - theta (mean(x) - pooled mean(x)) and
    var(y') = var(y) - 2 theta cov(x, y) + theta² var(x), all from the arm's sums."""
    mc, mt = _moments(control), _moments(treatment)
    raw = welch_interval(
        mean_t=mt.mean_y, var_t=mt.var_y, n_t=mt.n, mean_c=mc.mean_y, var_c=mc.var_y, n_c=mc.n, confidence=confidence
    )
    theta = cuped_theta(control, treatment)
    if raw is None or theta is None:
        return raw, raw, None
    mean_x = (mc.mean_x * mc.n + mt.mean_x * mt.n) / (mc.n + mt.n)

    def adjusted(m: _Moments) -> tuple[float, float]:
        var = m.var_y - 2 * theta * m.cov_xy + theta * theta * m.var_x
        return m.mean_y - theta * (m.mean_x - mean_x), max(var, 0.0)

    (amt, avt), (amc, avc) = adjusted(mt), adjusted(mc)
    adj = welch_interval(mean_t=amt, var_t=avt, n_t=mt.n, mean_c=amc, var_c=avc, n_c=mc.n, confidence=confidence)
    if adj is None:
        return raw, raw, None
    ratio = adj.width / raw.width
    cuped = Cuped(theta, ratio, ratio < 1.0)
    return (replace(adj, method="welch+cuped") if cuped.used else raw), raw, cuped


def _status(
    control: ArmTotals, treatment: ArmTotals, holdout_bp: int, min_members: int, min_conversions: int
) -> Status:
    if holdout_bp == 0:
        return "no_control"
    if all(a.members >= min_members and a.conversions >= min_conversions for a in (control, treatment)):
        return "measured"
    return "collecting"


def _srm_warning(srm: SampleRatio) -> str:
    return (
        f"sample ratio mismatch: {srm.control} control / {srm.treatment} treatment members against an "
        f"expected control share of {srm.expected_control_share:.1%} (p = {srm.p_value:.2g} < {SRM_ALPHA}); "
        "the assignment or the exposure logging is broken and the result cannot be trusted"
    )


def _money_figures(
    revenue: Interval | None, treated: int, points_cost: Decimal
) -> tuple[DecimalRange | None, DecimalRange | None]:
    """(incremental revenue, return on points): the uplift per member x treated members, rounded to
    cents, and that over the points' cost (None without points given)."""
    if revenue is None:
        return None, None
    per_member = (Decimal(revenue.estimate), Decimal(revenue.low), Decimal(revenue.high))  # exact binary values
    incremental = DecimalRange(*(_money(v * treated) for v in per_member))
    if points_cost <= 0:
        return incremental, None
    return incremental, DecimalRange(*(_money(v * treated / points_cost) for v in per_member))


def analyse(
    *,
    control: ArmTotals,
    treatment: ArmTotals,
    holdout_bp: int,
    issue_price: int,
    token_decimals: int = 6,
    confidence: float = CONFIDENCE,
    min_members: int = MIN_MEMBERS,
    min_conversions: int = MIN_CONVERSIONS,
) -> CampaignResult:
    """The campaign's results (see :class:`CampaignResult`). ``issue_price`` is the funder's price of a
    point in the settlement token's base units (``Partner.issue_price``, ``token_decimals`` of them a token)."""
    validate_holdout(holdout_bp)
    revenue, raw, cuped = revenue_intervals(control, treatment, confidence)
    conversion = two_proportion_interval(
        conversions_t=treatment.conversions,
        n_t=treatment.members,
        conversions_c=control.conversions,
        n_c=control.members,
        confidence=confidence,
    )
    conversion_all = None
    if control.conversions_coalition is not None and treatment.conversions_coalition is not None:
        conversion_all = two_proportion_interval(
            conversions_t=treatment.conversions_coalition,
            n_t=treatment.members,
            conversions_c=control.conversions_coalition,
            n_c=control.members,
            confidence=confidence,
        )
    srm = sample_ratio_check(control=control.members, treatment=treatment.members, holdout_bp=holdout_bp)
    status = _status(control, treatment, holdout_bp, min_members, min_conversions)
    warnings = [NO_HOLDOUT_WARNING] if status == "no_control" else []
    if srm is not None and srm.mismatch:
        warnings.append(_srm_warning(srm))
    points_cost = Decimal((control.points + treatment.points) * issue_price).scaleb(-token_decimals)
    incremental, roi = _money_figures(revenue, treatment.members, points_cost)
    measured = status == "measured"
    return CampaignResult(
        status=status,
        verdict=_verdict(revenue) if measured else None,
        conversion_verdict=_verdict(conversion) if measured else None,
        control=_summary(CONTROL, control),
        treatment=_summary(TREATMENT, treatment),
        holdout_bp=holdout_bp,
        revenue_uplift=revenue,
        revenue_uplift_unadjusted=raw,
        cuped=cuped,
        conversion_uplift=conversion,
        conversion_uplift_coalition=conversion_all,
        sample_ratio=srm,
        incremental_revenue=incremental,
        points_cost=points_cost,
        return_on_points=roi,
        confidence=confidence,
        min_members=min_members,
        min_conversions=min_conversions,
        warnings=tuple(warnings),
    )


def analyse_observations(
    *,
    control: Iterable[Observation],
    treatment: Iterable[Observation],
    holdout_bp: int,
    issue_price: int,
    token_decimals: int = 6,
    confidence: float = CONFIDENCE,
    min_members: int = MIN_MEMBERS,
    min_conversions: int = MIN_CONVERSIONS,
) -> CampaignResult:
    """:func:`analyse` from member-level observations."""
    return analyse(
        control=ArmTotals.from_observations(control),
        treatment=ArmTotals.from_observations(treatment),
        holdout_bp=holdout_bp,
        issue_price=issue_price,
        token_decimals=token_decimals,
        confidence=confidence,
        min_members=min_members,
        min_conversions=min_conversions,
    )
