"""Is run B different from run A? The significance tests behind `harness compare`.

Within one run: Mann–Whitney U on the raw observations plus a seeded bootstrap interval of
the ratio B/A; a difference is called real only when both agree. Between repeated runs (run
level): Welch's t on the runs' headline figures, and how many runs a verdict needs. The
verdict sentence is harness.results.wording's.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

from harness.results import stats
from harness.results.format import latency
from harness.results.stats import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED
from harness.results.wording import comparison_verdict


@dataclass(frozen=True)
class Comparison:
    """Run B against run A (the baseline).

    `ratio` is b / a of the compared statistic, with a bootstrap interval. The effect
    sizes are oriented so that larger favours B: `prob_b_better` is the chance that a
    random B observation beats a random A one (ties count half; "beats" means lower
    latency or higher throughput), `rank_biserial` = 2 * prob_b_better - 1.
    `significant` needs both the Mann–Whitney test and the ratio interval to agree.
    """

    statistic: str
    unit: str
    a: float
    b: float
    n_a: int
    n_b: int
    ratio: float
    ratio_ci: tuple[float, float]
    confidence: float
    u_statistic: float
    p_value: float
    prob_b_better: float
    rank_biserial: float
    significant: bool
    verdict: str

    def to_json(self) -> dict:
        return {
            "statistic": self.statistic,
            "unit": self.unit,
            "a": self.a,
            "b": self.b,
            "n_a": self.n_a,
            "n_b": self.n_b,
            "ratio": self.ratio,
            "ratio_ci_low": self.ratio_ci[0],
            "ratio_ci_high": self.ratio_ci[1],
            "confidence": self.confidence,
            "u_statistic": self.u_statistic,
            "p_value": self.p_value,
            "prob_b_better": self.prob_b_better,
            "rank_biserial": self.rank_biserial,
            "significant": self.significant,
            "verdict": self.verdict,
        }


def compare_latencies(a_ns: np.ndarray, b_ns: np.ndarray, alpha: float = 0.05, percentile: float = 0.50) -> Comparison:
    """Is run B's latency different from run A's?

    Mann–Whitney U (two-sided) on all latencies, plus a bootstrap interval of the ratio
    B/A of LoadGen `percentile`s (the median by default; 0.90 for the SingleStream
    metric). "B is 12 % faster" means B's percentile latency is 12 % lower than A's.
    """
    _check_alpha(alpha)
    sorted_a = stats.sorted_latencies(a_ns, min_count=2, name="a_ns")
    sorted_b = stats.sorted_latencies(b_ns, min_count=2, name="b_ns")
    a = float(sorted_a[stats.loadgen_index(sorted_a.size, percentile)])
    b = float(sorted_b[stats.loadgen_index(sorted_b.size, percentile)])
    if a <= 0:
        raise ValueError(f"run A's p{percentile * 100:g} latency is {a:g} ns; a ratio to it is meaningless")

    rng = np.random.default_rng(BOOTSTRAP_SEED)
    b_replicates = stats.bootstrap_order_statistic(sorted_b, percentile, rng)
    ratios = b_replicates / stats.bootstrap_order_statistic(sorted_a, percentile, rng)
    ratio_ci = tuple(float(x) for x in np.quantile(ratios, [alpha / 2, 1 - alpha / 2]))

    test = scipy_stats.mannwhitneyu(sorted_b, sorted_a, alternative="two-sided")
    # U counts pairs where B's latency is higher, i.e. where B is worse.
    prob_b_better = 1 - float(test.statistic) / (sorted_a.size * sorted_b.size)
    return _comparison(
        "median latency" if percentile == 0.5 else f"p{percentile * 100:g} latency",
        "ns",
        (a, b),
        (sorted_a.size, sorted_b.size),
        ratio_ci,
        alpha,
        (float(test.statistic), float(test.pvalue)),
        prob_b_better,
        lower_is_better=True,
        show=latency,
    )


def compare_throughput(a_rates: np.ndarray, b_rates: np.ndarray, alpha: float = 0.05) -> Comparison:
    """Is run B's throughput different from run A's?

    Inputs are per-bin rates (`ThroughputSeries.rates`, usually of the steady state).
    Mann–Whitney U (two-sided) plus a seeded percentile-bootstrap interval of the ratio
    of mean rates B/A. "B is 8 % faster" means B's mean rate is 8 % higher.
    """
    _check_alpha(alpha)
    a_rates = stats.finite_1d(a_rates, "a_rates")
    b_rates = stats.finite_1d(b_rates, "b_rates")
    a, b = float(a_rates.mean()), float(b_rates.mean())
    if a <= 0:
        raise ValueError(f"run A's mean throughput is {a:g} samples/s; a ratio to it is meaningless")

    boot = scipy_stats.bootstrap(
        (a_rates, b_rates),
        lambda x, y, axis: np.mean(y, axis=axis) / np.mean(x, axis=axis),
        n_resamples=BOOTSTRAP_RESAMPLES,
        confidence_level=1 - alpha,
        method="percentile",
        rng=np.random.default_rng(BOOTSTRAP_SEED),
    )
    ratio_ci = (float(boot.confidence_interval.low), float(boot.confidence_interval.high))

    test = scipy_stats.mannwhitneyu(b_rates, a_rates, alternative="two-sided")
    prob_b_better = float(test.statistic) / (a_rates.size * b_rates.size)
    return _comparison(
        "mean throughput",
        "samples/s",
        (a, b),
        (a_rates.size, b_rates.size),
        ratio_ci,
        alpha,
        (float(test.statistic), float(test.pvalue)),
        prob_b_better,
        lower_is_better=False,
        show=lambda rate: f"{rate:,.1f} samples/s",
    )


def _comparison(
    statistic: str,
    unit: str,
    values: tuple[float, float],
    sizes: tuple[int, int],
    ratio_ci: tuple[float, float],
    alpha: float,
    mann_whitney: tuple[float, float],
    prob_b_better: float,
    *,
    lower_is_better: bool,
    show: Callable[[float], str],
) -> Comparison:
    """Assemble a Comparison; `values`, `sizes` are (A, B), `mann_whitney` is (U of B, p)."""
    a, b = values
    u_statistic, p_value = mann_whitney
    ratio = b / a
    excludes_one = ratio_ci[0] > 1 or ratio_ci[1] < 1
    significant = p_value < alpha and excludes_one
    verdict = comparison_verdict(statistic, (a, b), ratio, ratio_ci, (significant, p_value, alpha),
                                 lower_is_better, show)
    return Comparison(
        statistic=statistic,
        unit=unit,
        a=a,
        b=b,
        n_a=sizes[0],
        n_b=sizes[1],
        ratio=ratio,
        ratio_ci=ratio_ci,
        confidence=1 - alpha,
        u_statistic=u_statistic,
        p_value=p_value,
        prob_b_better=prob_b_better,
        rank_biserial=2 * prob_b_better - 1,
        significant=significant,
        verdict=verdict,
    )


# Welch's t needs a variance on each side: two runs per side at the least.
MIN_RUNS = 2
RUNS_POWER = 0.8  # the chance a run-level test of `runs_needed` runs finds a difference that is there
MOST_RUNS = 1000  # beyond this, "runs needed" is no practical advice


@dataclass(frozen=True)
class RunLevelComparison:
    """Group B of repeated runs against group A, one figure per run (its headline metric).

    `a`, `b` are the geometric means of the groups' figures and `ratio` = b / a, with the
    interval of Welch's t on the log figures; `significant` when its p is below alpha (the
    interval then excludes 1).
    """

    statistic: str
    unit: str
    a_values: tuple[float, ...]
    b_values: tuple[float, ...]
    a: float
    b: float
    ratio: float
    ratio_ci: tuple[float, float]
    confidence: float
    t_statistic: float
    df: float
    p_value: float
    significant: bool
    verdict: str

    def to_json(self) -> dict:
        return {"statistic": self.statistic, "unit": self.unit, "test": "Welch's t on log figures",
                "a_values": list(self.a_values), "b_values": list(self.b_values), "n_a": len(self.a_values),
                "n_b": len(self.b_values), "a_geometric_mean": self.a, "b_geometric_mean": self.b,
                "ratio": self.ratio, "ratio_ci_low": self.ratio_ci[0], "ratio_ci_high": self.ratio_ci[1],
                "confidence": self.confidence, "t_statistic": self.t_statistic, "df": self.df,
                "p_value": self.p_value, "significant": self.significant, "verdict": self.verdict}


def compare_run_level(a_values, b_values, alpha: float, statistic: str, unit: str, *, lower_is_better: bool,
                      show: Callable[[float], str]) -> RunLevelComparison:
    """Are group B's runs different from group A's, judged on one figure per run?

    Welch's t-test on the logarithms of the figures. Why this test: a run's figure is an
    aggregate over thousands of samples, so run figures are close to normal and t's
    assumption holds; two configurations need not spread alike (Welch does not pool the
    variances); the log makes the effect a ratio, whose interval reads as "B is x % faster",
    as the within-run comparison does. A rank test (Mann-Whitney) cannot reach p < 0.05 with
    fewer than 4 runs per side (its smallest two-sided p at 3 and 3 is 0.1), and repeats are
    expensive: t gives a verdict from 2 or 3 runs per side when the difference is clear.
    """
    _check_alpha(alpha)
    a_values, b_values = (np.asarray(v, dtype=float) for v in (a_values, b_values))
    if min(a_values.size, b_values.size) < MIN_RUNS:
        raise ValueError(f"a run-level test needs at least {MIN_RUNS} runs per side, got {a_values.size} and "
                         f"{b_values.size}")
    if not (np.all(np.isfinite(a_values)) and np.all(np.isfinite(b_values))
            and a_values.min() > 0 and b_values.min() > 0):
        raise ValueError("run figures must be finite and positive")
    log_a, log_b = np.log(a_values), np.log(b_values)
    ratio = math.exp(log_b.mean() - log_a.mean())
    test = scipy_stats.ttest_ind(log_b, log_a, equal_var=False)
    if math.isnan(test.pvalue):  # no spread on either side: the figures alone decide
        p_value, t_statistic, df, ratio_ci = (1.0 if ratio == 1 else 0.0), math.nan, math.nan, (ratio, ratio)
    else:
        ci = test.confidence_interval(1 - alpha)
        p_value, t_statistic, df = float(test.pvalue), float(test.statistic), float(test.df)
        ratio_ci = (math.exp(ci.low), math.exp(ci.high))
    a, b = math.exp(log_a.mean()), math.exp(log_b.mean())
    significant = p_value < alpha
    verdict = comparison_verdict(statistic, (a, b), ratio, ratio_ci, (significant, p_value, alpha),
                                 lower_is_better, show)
    return RunLevelComparison(statistic, unit, tuple(map(float, a_values)), tuple(map(float, b_values)), a, b,
                              ratio, ratio_ci, 1 - alpha, t_statistic, df, p_value, significant, verdict)


def runs_needed(log_sd: float, ratio: float, alpha: float = 0.05, power: float = RUNS_POWER) -> int | None:
    """How many runs per side Welch's t needs to find a ratio B/A of `ratio` with chance `power`,
    when runs spread by `log_sd` (the standard deviation of their log figures) on both sides.
    None: no practical number (no difference at all, or more than MOST_RUNS)."""
    _check_alpha(alpha)
    effect = abs(math.log(ratio))
    if effect == 0:
        return None
    if log_sd == 0:
        return MIN_RUNS
    for n in range(MIN_RUNS, MOST_RUNS + 1):
        # Equal spread and equal n: Welch's degrees of freedom are 2n - 2.
        df, shift = 2 * n - 2, effect / (log_sd * math.sqrt(2 / n))
        critical = scipy_stats.t.ppf(1 - alpha / 2, df)
        if scipy_stats.nct.sf(critical, df, shift) + scipy_stats.nct.cdf(-critical, df, shift) >= power:
            return n
    return None


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
