"""The campaign measurement's formulas (loyalty/campaigns/distributions.py, intervals.py, stats.py), each
against an independent computation: published table values, closed forms, R's documented output, and
hand computations written differently from the module (Fractions, the statistics module, a 2x2 table)."""

from __future__ import annotations

import json
import math
import statistics
from decimal import Decimal as D
from fractions import Fraction

import pytest

from loyalty.campaigns.distributions import chi_square_sf_1df, regularized_beta, t_cdf, t_quantile
from loyalty.campaigns.intervals import sample_ratio_check, two_proportion_interval, welch_interval
from loyalty.campaigns.stats import ArmTotals, Observation, analyse, analyse_observations, cuped_theta

# --- distributions ---------------------------------------------------------------------------------

# Student's t critical values, two-sided 95 % and 99 % (any statistics textbook's table, 3 decimals)
T_TABLE = {
    1: (12.706, 63.657),
    2: (4.303, 9.925),
    3: (3.182, 5.841),
    5: (2.571, 4.032),
    10: (2.228, 3.169),
    20: (2.086, 2.845),
    30: (2.042, 2.750),
    60: (2.000, 2.660),
    120: (1.980, 2.617),
}


@pytest.mark.parametrize("df", sorted(T_TABLE))
def test_the_t_quantile_matches_the_printed_table(df: int) -> None:
    t95, t99 = T_TABLE[df]
    assert t_quantile(0.975, df) == pytest.approx(t95, abs=5e-4)
    assert t_quantile(0.995, df) == pytest.approx(t99, abs=5e-4)


def test_the_t_quantile_tends_to_the_normal_one() -> None:
    assert t_quantile(0.975, 1e6) == pytest.approx(1.959966, abs=1e-6)
    assert t_quantile(0.975, 1e12) == pytest.approx(1.959964, abs=1e-6)


@pytest.mark.parametrize("p", [0.0001, 0.025, 0.3, 0.5, 0.6, 0.9, 0.975, 0.999, 0.99999])
def test_the_t_quantile_matches_the_closed_forms_for_1_2_and_4_degrees_of_freedom(p: float) -> None:
    # df = 1 is Cauchy; df = 2 and df = 4 have closed-form quantiles (Hill 1970; Shaw 2006)
    assert t_quantile(p, 1) == pytest.approx(math.tan(math.pi * (p - 0.5)), rel=1e-9, abs=1e-12)
    assert t_quantile(p, 2) == pytest.approx((2 * p - 1) / math.sqrt(2 * p * (1 - p)), rel=1e-9, abs=1e-12)
    alpha = 4 * p * (1 - p)
    q = math.cos(math.acos(math.sqrt(alpha)) / 3) / math.sqrt(alpha)
    assert t_quantile(p, 4) == pytest.approx(math.copysign(2 * math.sqrt(q - 1), p - 0.5), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("t", [-30.0, -2.5, -0.4, 0.0, 0.7, 1.96, 12.0])
def test_the_t_cdf_matches_its_closed_forms(t: float) -> None:
    assert t_cdf(t, 1) == pytest.approx(0.5 + math.atan(t) / math.pi, abs=1e-13)
    assert t_cdf(t, 2) == pytest.approx(0.5 + t / (2 * math.sqrt(2 + t * t)), abs=1e-13)


def test_a_fractional_df_lies_between_its_neighbours_and_the_quantile_inverts_the_cdf() -> None:
    assert t_quantile(0.975, 17) > t_quantile(0.975, 17.776) > t_quantile(0.975, 18)
    for df in (0.5, 1.3, 7.7, 250.5, 5e5):
        for p in (0.6, 0.975, 0.9995):
            assert t_cdf(t_quantile(p, df), df) == pytest.approx(p, abs=1e-11)


@pytest.mark.parametrize(("a", "b", "x"), [(2.5, 1.0, 0.3), (0.5, 1.0, 0.99), (1.0, 3.5, 0.2), (1.0, 0.5, 0.7)])
def test_the_incomplete_beta_matches_its_closed_forms(a: float, b: float, x: float) -> None:
    # I_x(a, 1) = x^a and I_x(1, b) = 1 - (1 - x)^b
    expected = x**a if b == 1.0 else 1 - (1 - x) ** b
    assert regularized_beta(a, b, x) == pytest.approx(expected, abs=1e-14)


@pytest.mark.parametrize(("x", "p"), [(3.841459, 0.05), (6.634897, 0.01), (10.827566, 0.001), (0.0, 1.0)])
def test_the_chi_square_tail_matches_the_table(x: float, p: float) -> None:
    assert chi_square_sf_1df(x) == pytest.approx(p, rel=1e-5)


# --- Welch -------------------------------------------------------------------------------------------

# R's `sleep` data and the documented output of `t.test(extra ~ group, data = sleep)` (Welch):
# t = -1.8608, df = 17.776, p-value = 0.07939, 95 percent CI: -3.3654832 0.2054832
SLEEP_1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
SLEEP_2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]


def test_welch_reproduces_r_on_the_sleep_data() -> None:
    interval = welch_interval(
        mean_t=statistics.mean(SLEEP_1),
        var_t=statistics.variance(SLEEP_1),
        n_t=10,
        mean_c=statistics.mean(SLEEP_2),
        var_c=statistics.variance(SLEEP_2),
        n_c=10,
    )
    assert interval is not None
    assert interval.estimate / interval.standard_error == pytest.approx(-1.8608, abs=5e-5)
    assert interval.df == pytest.approx(17.776, abs=5e-4)
    assert interval.p_value == pytest.approx(0.07939, abs=5e-6)
    assert (interval.low, interval.high) == (pytest.approx(-3.3654832, abs=5e-8), pytest.approx(0.2054832, abs=5e-8))
    assert not interval.significant


def _revenue_only(values: list[str]) -> list[Observation]:
    return [Observation(converted=D(v) > 0, revenue=D(v)) for v in values]


def test_analyse_computes_welch_from_the_arms_sums_as_the_textbook_does_from_the_members() -> None:
    treatment = ["12.50", "0", "0", "40.00", "7.25", "0", "19.99", "3.10", "0", "55.00", "21.40", "0"]
    control = ["0", "9.99", "0", "0", "14.00", "2.50", "0", "30.00", "0"]
    result = analyse_observations(
        control=_revenue_only(control), treatment=_revenue_only(treatment), holdout_bp=4_000, issue_price=0
    )
    # by hand, in exact fractions: means, sample variances, Welch-Satterthwaite df
    yt, yc = [Fraction(v) for v in treatment], [Fraction(v) for v in control]

    def mean_var(ys: list[Fraction]) -> tuple[Fraction, Fraction]:
        m = sum(ys, Fraction(0)) / len(ys)
        return m, sum(((y - m) ** 2 for y in ys), Fraction(0)) / (len(ys) - 1)

    (mt, vt), (mc, vc) = mean_var(yt), mean_var(yc)
    a, b = vt / len(yt), vc / len(yc)
    df = (a + b) ** 2 / (a**2 / (len(yt) - 1) + b**2 / (len(yc) - 1))
    raw = result.revenue_uplift_unadjusted
    assert raw is not None and raw.method == "welch"
    assert raw.estimate == pytest.approx(float(mt - mc), rel=1e-12)
    assert raw.standard_error == pytest.approx(math.sqrt(a + b), rel=1e-12)
    assert raw.df == pytest.approx(float(df), rel=1e-12)
    assert raw.high - raw.estimate == pytest.approx(t_quantile(0.975, float(df)) * math.sqrt(a + b), rel=1e-12)
    assert result.cuped is None  # no pre-period revenue: nothing to adjust with
    assert result.revenue_uplift == raw


def test_welch_is_undefined_with_fewer_than_two_members_or_no_variance() -> None:
    assert welch_interval(mean_t=1, var_t=1, n_t=1, mean_c=0, var_c=1, n_c=5) is None
    assert welch_interval(mean_t=1, var_t=0, n_t=5, mean_c=0, var_c=0, n_c=5) is None


# --- two proportions -------------------------------------------------------------------------------


def test_the_two_proportion_interval_and_test_by_hand() -> None:
    interval = two_proportion_interval(conversions_t=50, n_t=500, conversions_c=30, n_c=500)
    assert interval is not None
    # 0.10 - 0.06; unpooled SE sqrt(.1 * .9 / 500 + .06 * .94 / 500) = sqrt(0.0002928)
    assert interval.estimate == pytest.approx(0.04)
    assert interval.standard_error == pytest.approx(math.sqrt(0.0002928))
    assert interval.high - 0.04 == pytest.approx(1.959964 * 0.0171114, rel=1e-5)
    # pooled z = 0.04 / sqrt(.08 * .92 * 2 / 500) = 2.33126, two-sided p = 0.019739
    assert interval.p_value == pytest.approx(0.019739, abs=1e-6)
    assert interval.significant


@pytest.mark.parametrize(("a", "n1", "c", "n2"), [(50, 500, 30, 500), (31, 120, 22, 130), (400, 9000, 41, 1000)])
def test_the_pooled_z_squared_is_the_chi_square_of_the_2x2_table(a: int, n1: int, c: int, n2: int) -> None:
    interval = two_proportion_interval(conversions_t=a, n_t=n1, conversions_c=c, n_c=n2)
    assert interval is not None
    b, d = n1 - a, n2 - c
    chi2 = (n1 + n2) * (a * d - b * c) ** 2 / (n1 * n2 * (a + c) * (b + d))
    assert interval.p_value == pytest.approx(chi_square_sf_1df(chi2), rel=1e-10)


def test_the_two_proportion_test_is_undefined_when_nobody_or_everybody_converted() -> None:
    assert two_proportion_interval(conversions_t=0, n_t=100, conversions_c=0, n_c=100) is None
    assert two_proportion_interval(conversions_t=10, n_t=10, conversions_c=10, n_c=10) is None
    assert two_proportion_interval(conversions_t=0, n_t=0, conversions_c=3, n_c=10) is None


# --- sample-ratio mismatch ---------------------------------------------------------------------------


def test_a_sample_ratio_mismatch_by_hand() -> None:
    # 10,000 exposed, 10 % expected in control: 1,000 / 9,000. Observed 1,100 / 8,900:
    # chi2 = 100²/1000 + 100²/9000 = 11.111..., p = erfc(sqrt(11.111 / 2)) = 0.000858 < 0.001
    srm = sample_ratio_check(control=1_100, treatment=8_900, holdout_bp=1_000)
    assert srm is not None
    assert srm.chi_square == pytest.approx(100**2 / 1_000 + 100**2 / 9_000)
    assert srm.p_value == pytest.approx(0.000858, abs=1e-6)
    assert srm.mismatch
    # 1,050 / 8,950: chi2 = 2.5 + 0.2778 = 2.7778, p = 0.0956: no warning
    fine = sample_ratio_check(control=1_050, treatment=8_950, holdout_bp=1_000)
    assert fine is not None and fine.chi_square == pytest.approx(2.5 + 2500 / 9000)
    assert fine.p_value == pytest.approx(0.09558, abs=1e-5) and not fine.mismatch


def test_the_sample_ratio_is_not_checked_without_a_holdout_or_anybody_exposed() -> None:
    assert sample_ratio_check(control=0, treatment=500, holdout_bp=0) is None
    assert sample_ratio_check(control=0, treatment=0, holdout_bp=1_000) is None


def test_a_mismatch_is_a_warning_on_the_result() -> None:
    control = [Observation(converted=i % 3 == 0, revenue=D(i % 7)) for i in range(300)]
    treatment = [Observation(converted=i % 3 == 0, revenue=D(i % 7)) for i in range(1_500)]
    result = analyse_observations(control=control, treatment=treatment, holdout_bp=1_000, issue_price=0)
    assert result.sample_ratio is not None and result.sample_ratio.mismatch
    assert any("sample ratio mismatch" in w for w in result.warnings)


# --- CUPED -------------------------------------------------------------------------------------------


def test_cuped_theta_is_the_pooled_covariance_over_the_pooled_variance() -> None:
    control = [Observation(True, D(y), D(x)) for y, x in (("10", "8"), ("0", "1"), ("25.5", "20"), ("4", "6"))]
    treatment = [Observation(True, D(y), D(x)) for y, x in (("12", "7"), ("30", "22"), ("1", "0"), ("9", "12"))]
    ys = [float(o.revenue) for o in control + treatment]
    xs = [float(o.pre_revenue) for o in control + treatment]
    theta = cuped_theta(ArmTotals.from_observations(control), ArmTotals.from_observations(treatment))
    assert theta == pytest.approx(statistics.covariance(ys, xs) / statistics.variance(xs), rel=1e-12)


def test_the_cuped_interval_is_welch_on_the_adjusted_revenue_member_by_member() -> None:
    pairs_c = [(10, 8), (0, 1), (25.5, 20), (4, 6), (7, 7), (3, 0), (18, 15)]
    pairs_t = [(12, 7), (30, 22), (1, 0), (9, 12), (16, 9), (5, 5), (21, 13), (2, 4)]
    control = [Observation(y > 0, D(str(y)), D(str(x))) for y, x in pairs_c]
    treatment = [Observation(y > 0, D(str(y)), D(str(x))) for y, x in pairs_t]
    result = analyse_observations(control=control, treatment=treatment, holdout_bp=5_000, issue_price=0)
    xs = [x for _, x in pairs_c + pairs_t]
    theta = statistics.covariance([y for y, _ in pairs_c + pairs_t], xs) / statistics.variance(xs)
    mean_x = statistics.mean(xs)
    adj_c = [y - theta * (x - mean_x) for y, x in pairs_c]
    adj_t = [y - theta * (x - mean_x) for y, x in pairs_t]
    se = math.sqrt(statistics.variance(adj_t) / len(adj_t) + statistics.variance(adj_c) / len(adj_c))
    assert result.cuped is not None and result.cuped.used
    assert result.revenue_uplift is not None and result.revenue_uplift.method == "welch+cuped"
    assert result.revenue_uplift.estimate == pytest.approx(statistics.mean(adj_t) - statistics.mean(adj_c), rel=1e-12)
    assert result.revenue_uplift.standard_error == pytest.approx(se, rel=1e-12)
    assert result.revenue_uplift.width < result.revenue_uplift_unadjusted.width  # type: ignore[union-attr]


# --- arms, the verdict gate, money ---------------------------------------------------------------------


def _arm(members: int, conversions: int, revenue_each: str = "10", points_each: int = 0) -> list[Observation]:
    return [
        Observation(
            converted=i < conversions,
            revenue=D(revenue_each) if i < conversions else D(0),
            pre_revenue=D(i % 5),
            points=points_each,
        )
        for i in range(members)
    ]


@pytest.mark.parametrize(
    ("control", "treatment", "status"),
    [
        ((99, 40), (900, 400), "collecting"),
        ((100, 24), (900, 400), "collecting"),
        ((100, 25), (900, 24), "collecting"),
        ((100, 25), (900, 25), "measured"),
    ],
)
def test_no_verdict_before_100_members_and_25_conversions_per_arm(
    control: tuple[int, int], treatment: tuple[int, int], status: str
) -> None:
    result = analyse_observations(control=_arm(*control), treatment=_arm(*treatment), holdout_bp=1_000, issue_price=0)
    assert result.status == status
    if status == "collecting":
        assert result.verdict is None and result.conversion_verdict is None
        assert result.revenue_uplift is not None  # provisional figures are still shown
    else:
        assert result.verdict in ("positive", "negative", "inconclusive")


def test_the_verdict_follows_the_interval() -> None:
    up = analyse_observations(
        control=_arm(200, 40, "10"), treatment=_arm(1800, 900, "10"), holdout_bp=1_000, issue_price=0
    )
    assert (up.verdict, up.conversion_verdict) == ("positive", "positive")
    down = analyse_observations(
        control=_arm(200, 100, "10"), treatment=_arm(1800, 360, "10"), holdout_bp=1_000, issue_price=0
    )
    assert (down.verdict, down.conversion_verdict) == ("negative", "negative")
    same = analyse_observations(
        control=_arm(200, 50, "10"), treatment=_arm(1800, 450, "10"), holdout_bp=1_000, issue_price=0
    )
    assert (same.verdict, same.conversion_verdict) == ("inconclusive", "inconclusive")


def test_without_a_holdout_there_is_no_control_and_a_warning() -> None:
    result = analyse_observations(control=[], treatment=_arm(500, 100), holdout_bp=0, issue_price=10_000)
    assert result.status == "no_control" and result.verdict is None
    assert result.revenue_uplift is None and result.conversion_uplift is None and result.sample_ratio is None
    assert result.incremental_revenue is None and result.return_on_points is None
    assert result.warnings and "no control group" in result.warnings[0]
    assert result.control.conversion_rate is None and result.control.revenue_per_member is None


def test_the_arms_summaries() -> None:
    control = _arm(120, 30, "10.00")
    treatment = _arm(1_080, 324, "12.50", points_each=50)
    result = analyse_observations(control=control, treatment=treatment, holdout_bp=1_000, issue_price=0)
    c, t = result.control, result.treatment
    assert (c.arm, c.members, c.conversions, c.conversion_rate, c.revenue, c.revenue_per_member, c.points) == (
        "control", 120, 30, 0.25, D("300.00"), D("2.50"), 0
    )  # fmt: skip
    assert (t.members, t.conversions, t.conversion_rate, t.revenue, t.revenue_per_member, t.points) == (
        1_080, 324, 0.3, D("4050.00"), D("3.75"), 54_000
    )  # fmt: skip


def test_incremental_revenue_points_cost_and_return_on_points() -> None:
    # control: 30 of 120 spend 10.00 (2.50 a member); treatment: 324 of 1,080 spend 12.50 (3.75) and get 50 points each
    control = [Observation(i < 30, D("10.00") if i < 30 else D(0)) for i in range(120)]
    treatment = [Observation(i < 324, D("12.50") if i < 324 else D(0), points=50) for i in range(1_080)]
    # issue price 10,000 base units of a 6-decimal token = 0.01 a point
    result = analyse_observations(control=control, treatment=treatment, holdout_bp=1_000, issue_price=10_000)
    assert result.revenue_uplift is not None and result.revenue_uplift.estimate == pytest.approx(1.25)
    assert result.points_cost == D("540")  # 54,000 points x 0.01
    assert result.incremental_revenue is not None
    assert result.incremental_revenue.estimate == D("1350.00")  # 1.25 x 1,080 treated members
    low, high = D(result.revenue_uplift.low) * 1_080, D(result.revenue_uplift.high) * 1_080
    assert result.incremental_revenue.low == low.quantize(D("0.01"))
    assert result.incremental_revenue.high == high.quantize(D("0.01"))
    assert result.return_on_points is not None
    assert result.return_on_points.estimate == D("2.50")  # 1,350 / 540
    assert result.return_on_points.low == (low / 540).quantize(D("0.01"))


def test_no_points_given_means_no_return_on_points() -> None:
    result = analyse_observations(control=_arm(200, 50), treatment=_arm(1800, 600), holdout_bp=1_000, issue_price=10)
    assert result.points_cost == 0 and result.return_on_points is None
    assert result.incremental_revenue is not None


def test_coalition_wide_conversion_is_measured_when_every_member_has_it() -> None:
    def arm(n: int, converted_anywhere: int) -> list[Observation]:
        return [Observation(i < 10, D(0), converted_coalition=i < converted_anywhere) for i in range(n)]

    result = analyse_observations(control=arm(200, 60), treatment=arm(800, 320), holdout_bp=2_000, issue_price=0)
    assert result.control.conversion_rate_coalition == 0.3
    assert result.treatment.conversion_rate_coalition == 0.4
    assert result.conversion_uplift_coalition is not None
    assert result.conversion_uplift_coalition.estimate == pytest.approx(0.1)
    partial = analyse_observations(
        control=[*arm(200, 60), Observation(False, D(0))], treatment=arm(800, 320), holdout_bp=2_000, issue_price=0
    )
    assert partial.conversion_uplift_coalition is None and partial.control.conversions_coalition is None


def test_the_arm_sums_are_exact_in_decimal() -> None:
    observations = [Observation(True, D("0.10"), D("0.20"), 3), Observation(False, D("0.20"), D("0.30"), 4)]
    totals = ArmTotals.from_observations(observations)
    assert totals == ArmTotals(
        members=2,
        conversions=1,
        points=7,
        revenue=D("0.30"),
        revenue_sq=D("0.0500"),
        pre_revenue=D("0.50"),
        pre_revenue_sq=D("0.1300"),
        revenue_x_pre=D("0.0800"),
        conversions_coalition=None,
    )


def test_analyse_from_sums_equals_analyse_from_members() -> None:
    control, treatment = _arm(150, 40, "9.99"), _arm(1_350, 405, "11.49", points_each=20)
    from_members = analyse_observations(control=control, treatment=treatment, holdout_bp=1_000, issue_price=5_000)
    from_sums = analyse(
        control=ArmTotals.from_observations(control),
        treatment=ArmTotals.from_observations(treatment),
        holdout_bp=1_000,
        issue_price=5_000,
    )
    assert from_sums == from_members


def test_the_result_as_a_dict_is_json_with_decimals_as_strings() -> None:
    result = analyse_observations(
        control=_arm(200, 50), treatment=_arm(1800, 600, "12.00", 10), holdout_bp=1_000, issue_price=10_000
    )
    data = json.loads(json.dumps(result.to_dict()))
    assert data["status"] == "measured"
    assert data["treatment"]["revenue"] == "7200.00"
    assert data["points_cost"] == str(result.points_cost)
    assert data["revenue_uplift"]["significant"] is True
    assert data["sample_ratio"]["mismatch"] is False
    assert data["incremental_revenue"]["estimate"] == str(result.incremental_revenue.estimate)  # type: ignore[union-attr]
    assert isinstance(data["revenue_uplift"]["low"], float)
