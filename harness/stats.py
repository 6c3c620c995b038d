"""Statistics of one benchmark run, and the significance tests behind `harness compare`.

Pure functions over numpy arrays; every result is a frozen dataclass whose `to_json()`
gives plain floats, ints, strings and None (JSON null) for stats.json.

Percentiles are LoadGen's own (see `loadgen_percentile`), so the p90 here is the p90 of
mlperf_log_summary.txt. Confidence intervals are distribution-free where that is cheap
(percentiles, from binomial order statistics) and bootstrap otherwise, with a fixed seed
so that the same run always yields the same stats.json.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import special, stats

from harness.report_format import latency

# LoadGen's `latency_percentiles` (loadgen/results.h), in its order.
LOADGEN_PERCENTILES = (0.50, 0.90, 0.95, 0.97, 0.99, 0.999)

BOOTSTRAP_SEED = 20_190_101
BOOTSTRAP_RESAMPLES = 2000
# Resampling 1e6 latencies 2000 times costs minutes; above this size the mean's bootstrap
# runs on a random subsample and its interval is rescaled (see `_bootstrap_mean_ci`).
BOOTSTRAP_MAX_SAMPLES = 20_000


@dataclass(frozen=True)
class PercentileEstimate:
    """One LoadGen percentile with a distribution-free confidence interval.

    A bound is None when the sample is too small to bound that side of the interval at
    the requested confidence (e.g. p99.9 of 100 latencies has no finite upper bound).
    `ci_coverage` is the probability, guaranteed for any distribution, that the
    interval (with a missing bound read as -inf/+inf) contains the true percentile.
    """

    percentile: float
    value_ns: int
    ci_low_ns: int | None
    ci_high_ns: int | None
    ci_coverage: float

    @property
    def name(self) -> str:
        return f"p{self.percentile * 100:g}"

    def to_json(self) -> dict:
        return {
            "percentile": self.percentile,
            "value_ns": self.value_ns,
            "ci_low_ns": self.ci_low_ns,
            "ci_high_ns": self.ci_high_ns,
            "ci_coverage": self.ci_coverage,
        }


@dataclass(frozen=True)
class LatencyStats:
    """Latency summary of one run, all values in ns.

    `mean_ns` is the exact mean; LoadGen's summary truncates it to whole ns.
    `notes` says in words which intervals could not be computed and why.
    """

    count: int
    mean_ns: float
    std_ns: float | None
    min_ns: int
    max_ns: int
    mean_ci_ns: tuple[float, float] | None
    percentiles: tuple[PercentileEstimate, ...]
    confidence: float
    notes: tuple[str, ...]

    def percentile(self, p: float) -> PercentileEstimate:
        for estimate in self.percentiles:
            if estimate.percentile == p:
                return estimate
        raise KeyError(f"percentile {p} not computed; available: {[e.percentile for e in self.percentiles]}")

    def to_json(self) -> dict:
        return {
            "count": self.count,
            "mean_ns": self.mean_ns,
            "std_ns": self.std_ns,
            "min_ns": self.min_ns,
            "max_ns": self.max_ns,
            "mean_ci_low_ns": None if self.mean_ci_ns is None else self.mean_ci_ns[0],
            "mean_ci_high_ns": None if self.mean_ci_ns is None else self.mean_ci_ns[1],
            "confidence": self.confidence,
            "percentiles": {e.name: e.to_json() for e in self.percentiles},
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class EarlyStoppingEstimate:
    """LoadGen's SingleStream early-stopping result (see `early_stopping_p90`).

    `estimate_ns` is None when fewer than `min_queries` queries ran (early stopping not met).
    """

    target_percentile: float
    confidence: float
    queries: int
    min_queries: int
    met: bool
    discarded: int
    estimate_ns: int | None

    def to_json(self) -> dict:
        return {
            "target_percentile": self.target_percentile,
            "confidence": self.confidence,
            "queries": self.queries,
            "min_queries": self.min_queries,
            "met": self.met,
            "discarded": self.discarded,
            "estimate_ns": self.estimate_ns,
        }


@dataclass(frozen=True)
class ThroughputSeries:
    """Completed samples per second in consecutive bins of `bin_s` seconds.

    Bin k covers [k*bin_s, (k+1)*bin_s) from the start of the test. Only whole bins are
    kept: the last, partial bin would report a rate over an arbitrary short window. Its
    samples still count in `total_samples`.
    """

    bin_s: float
    rates: tuple[float, ...]
    total_samples: int
    duration_s: float

    @property
    def overall_rate(self) -> float:
        """Samples per second over the whole run, as LoadGen's Offline result counts it."""
        return self.total_samples / self.duration_s

    def to_json(self) -> dict:
        return {
            "bin_s": self.bin_s,
            "rates": list(self.rates),
            "total_samples": self.total_samples,
            "duration_s": self.duration_s,
            "overall_rate": self.overall_rate,
        }


@dataclass(frozen=True)
class SteadyState:
    """Split of a throughput series into warm-up, steady state and cool-down.

    Rule: the reference rate is the median of the second half of the bins (a warm-up
    cannot bias it unless it lasts half the run). Leading bins below `threshold` times
    the reference are warm-up; trailing ones are cool-down (Offline instances running out
    of work at different times). The rest is the steady state.

    The interval is Student's t over the steady bins. Neighbouring bins are correlated,
    so read it as a lower bound on the true uncertainty.
    """

    threshold: float
    reference_rate: float
    warmup_s: float
    cooldown_s: float
    steady_bins: int
    mean_rate: float
    mean_rate_ci: tuple[float, float] | None
    confidence: float

    def to_json(self) -> dict:
        return {
            "threshold": self.threshold,
            "reference_rate": self.reference_rate,
            "warmup_s": self.warmup_s,
            "cooldown_s": self.cooldown_s,
            "steady_bins": self.steady_bins,
            "mean_rate": self.mean_rate,
            "mean_rate_ci_low": None if self.mean_rate_ci is None else self.mean_rate_ci[0],
            "mean_rate_ci_high": None if self.mean_rate_ci is None else self.mean_rate_ci[1],
            "confidence": self.confidence,
        }


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


def loadgen_percentile(latencies_ns: np.ndarray, p: float) -> int:
    """The p-th percentile (0 <= p < 1) exactly as LoadGen reports it.

    Source: mlcommons/inference loadgen/results.cc, PerformanceSummary::ProcessLatencies:
    the latencies are sorted ascending and the percentile is
    `sample_latencies[sample_count * percentile]`, i.e. the element at 0-based index
    floor(n * p), with n * p computed in double precision and truncated by the implicit
    conversion to size_t. No interpolation: it is always an observed latency. The same
    rule gives the summary's target ("90th percentile latency (ns)") and its
    50/90/95/97/99/99.9 percentiles (`latency_percentiles` in loadgen/results.h).
    """
    return int(_sorted_latencies(latencies_ns, min_count=1)[_loadgen_index(len(latencies_ns), p)])


def latency_stats(latencies_ns: np.ndarray, confidence: float = 0.95) -> LatencyStats:
    """Mean, spread and LoadGen percentiles of per-query latencies, with intervals.

    Percentile intervals are distribution-free (`_order_statistic_ci`). The mean's
    interval is a seeded percentile bootstrap; beyond BOOTSTRAP_MAX_SAMPLES latencies it
    runs on a subsample (`_bootstrap_mean_ci`).
    """
    _check_confidence(confidence)
    ordered = _sorted_latencies(latencies_ns, min_count=1)
    n = ordered.size
    values = ordered.astype(np.float64)
    notes: list[str] = []

    percentiles = []
    for p in LOADGEN_PERCENTILES:
        estimate, note = _percentile_estimate(ordered, p, confidence)
        percentiles.append(estimate)
        if note:
            notes.append(note)

    if n < 2:
        notes.append("std and mean interval need at least 2 latencies")
    mean_ci = _bootstrap_mean_ci(values, confidence) if n >= 2 else None

    return LatencyStats(
        count=n,
        mean_ns=float(values.mean()),
        std_ns=float(values.std(ddof=1)) if n >= 2 else None,
        min_ns=int(ordered[0]),
        max_ns=int(ordered[-1]),
        mean_ci_ns=mean_ci,
        percentiles=tuple(percentiles),
        confidence=confidence,
        notes=tuple(notes),
    )


def early_stopping_p90(
    latencies_ns: np.ndarray, target_percentile: float = 0.90, confidence: float = 0.99
) -> EarlyStoppingEstimate:
    """LoadGen's SingleStream "Early stopping 90th percentile estimate".

    Source: mlcommons/inference loadgen/results.cc, PerformanceSummary::EarlyStopping
    (case SingleStream), and loadgen/early_stopping.cc (MinPassingQueriesFinder), with
    tolerance d = 0 and confidence c = 0.99 hard-coded there.

    For t "overlatency" queries (above the reported latency) and h others,
    odds(h, t) = BetaRegularized(p - d, h, 1 + t) = P(Binomial(h + t, 1 - p) <= t), and
    h(t) is the smallest h with odds(h, t) < 1 - c. With n queries issued:
      - early stopping needs n >= h(1) + 1 (64 queries for p = 0.90, c = 0.99);
      - t is the largest i with h(i) + i <= n (LoadGen scans i = 2, 3, ... and stops at
        the first i with n < h(i) + i, taking t = i - 1);
      - the estimate is sorted_latencies[n - t] (0-based), i.e. the t-th highest
        latency, after discarding the t - 1 highest.
    h(i) <= n - i holds exactly when odds(n - i, i) < 1 - c, because odds falls as h
    grows; so t is found here by evaluating odds(n - i, i) for all i at once instead of
    LoadGen's cached binary searches. LoadGen evaluates BetaRegularized by its own
    hypergeometric series (tolerance 2^-33); scipy's betainc agrees to far better than
    that, so only an odds within ~1e-10 of 1 - c could round differently.
    """
    if not 0.5 < target_percentile < 1:
        raise ValueError(f"target_percentile must be in (0.5, 1), got {target_percentile}")
    if not 0.5 < confidence < 1:
        raise ValueError(f"confidence must be in (0.5, 1), got {confidence}")
    ordered = _sorted_latencies(latencies_ns, min_count=0)
    n = ordered.size
    min_queries = _min_passing_h(1, target_percentile, confidence) + 1
    if n < min_queries:
        return EarlyStoppingEstimate(
            target_percentile, confidence, n, min_queries, met=False, discarded=0, estimate_ns=None
        )

    overlatency = np.arange(1, n)
    passing = special.betainc(n - overlatency, overlatency + 1, target_percentile) < 1 - confidence
    # `passing` is a prefix of True values: odds(n - i, i) grows with i.
    t = int(np.count_nonzero(passing))
    return EarlyStoppingEstimate(
        target_percentile,
        confidence,
        n,
        min_queries,
        met=True,
        discarded=t - 1,
        estimate_ns=int(ordered[n - t]),
    )


def throughput_over_time(complete_ns: np.ndarray, samples: np.ndarray, bin_s: float = 1.0) -> ThroughputSeries:
    """Samples completed per second, binned by completion time.

    `complete_ns[i]` is when completion event i happened (ns since test start) and
    `samples[i]` how many samples it completed: one per query in SingleStream, one batch
    in Offline, whose single query completes piecewise.
    """
    if not bin_s > 0:
        raise ValueError(f"bin_s must be positive, got {bin_s}")
    complete_ns = np.asarray(complete_ns)
    samples = np.asarray(samples)
    if complete_ns.ndim != 1 or complete_ns.shape != samples.shape:
        raise ValueError(
            f"complete_ns and samples must be 1-D and equally long, got shapes {complete_ns.shape} and {samples.shape}"
        )
    if complete_ns.size == 0:
        raise ValueError("no completion events: the run completed no samples")
    if not (np.issubdtype(complete_ns.dtype, np.integer) and np.issubdtype(samples.dtype, np.integer)):
        raise ValueError("complete_ns must be integer nanoseconds and samples integer counts")
    if complete_ns.min() < 0 or samples.min() < 0:
        raise ValueError("complete_ns and samples must not be negative")
    if complete_ns.max() == 0:
        raise ValueError("every completion is at 0 ns; complete_ns must be ns since the test started")

    bin_ns = bin_s * 1e9
    duration_ns = int(complete_ns.max())
    whole_bins = int(duration_ns // bin_ns)
    per_bin = np.bincount((complete_ns // bin_ns).astype(np.int64), weights=samples, minlength=whole_bins + 1)
    return ThroughputSeries(
        bin_s=bin_s,
        rates=tuple(float(r) for r in per_bin[:whole_bins] / bin_s),
        total_samples=int(samples.sum()),
        duration_s=duration_ns / 1e9,
    )


def steady_state(series: ThroughputSeries, threshold: float = 0.9, confidence: float = 0.95) -> SteadyState:
    """Warm-up, cool-down and steady-state rate of a throughput series (rule: `SteadyState`)."""
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    _check_confidence(confidence)
    rates = np.asarray(series.rates, dtype=np.float64)
    if rates.size == 0:
        raise ValueError(
            f"no whole {series.bin_s:g} s bin in a run of {series.duration_s:.3f} s; use a smaller bin_s"
        )

    reference = float(np.median(rates[rates.size // 2 :]))
    steady_idx = np.flatnonzero(rates >= threshold * reference)
    # The reference is a median of some bins, so at least one bin reaches the threshold.
    first, last = int(steady_idx[0]), int(steady_idx[-1])
    steady = rates[first : last + 1]
    mean = float(steady.mean())

    if steady.size < 2:
        ci = None
    else:
        sem = float(stats.sem(steady))
        # scipy rejects a zero scale; a constant rate is known exactly.
        interval = (mean, mean) if sem == 0 else stats.t.interval(confidence, steady.size - 1, mean, sem)
        ci = (float(interval[0]), float(interval[1]))

    return SteadyState(
        threshold=threshold,
        reference_rate=reference,
        warmup_s=first * series.bin_s,
        cooldown_s=(rates.size - 1 - last) * series.bin_s,
        steady_bins=int(steady.size),
        mean_rate=mean,
        mean_rate_ci=ci,
        confidence=confidence,
    )


def compare_latencies(a_ns: np.ndarray, b_ns: np.ndarray, alpha: float = 0.05, percentile: float = 0.50) -> Comparison:
    """Is run B's latency different from run A's?

    Mann–Whitney U (two-sided) on all latencies, plus a bootstrap interval of the ratio
    B/A of LoadGen `percentile`s (the median by default; 0.90 for the SingleStream
    metric). "B is 12 % faster" means B's percentile latency is 12 % lower than A's.
    """
    _check_alpha(alpha)
    sorted_a = _sorted_latencies(a_ns, min_count=2, name="a_ns")
    sorted_b = _sorted_latencies(b_ns, min_count=2, name="b_ns")
    a = float(sorted_a[_loadgen_index(sorted_a.size, percentile)])
    b = float(sorted_b[_loadgen_index(sorted_b.size, percentile)])
    if a <= 0:
        raise ValueError(f"run A's p{percentile * 100:g} latency is {a:g} ns; a ratio to it is meaningless")

    rng = np.random.default_rng(BOOTSTRAP_SEED)
    b_replicates = _bootstrap_order_statistic(sorted_b, percentile, rng)
    ratios = b_replicates / _bootstrap_order_statistic(sorted_a, percentile, rng)
    ratio_ci = tuple(float(x) for x in np.quantile(ratios, [alpha / 2, 1 - alpha / 2]))

    test = stats.mannwhitneyu(sorted_b, sorted_a, alternative="two-sided")
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
    a_rates = _finite_1d(a_rates, "a_rates")
    b_rates = _finite_1d(b_rates, "b_rates")
    a, b = float(a_rates.mean()), float(b_rates.mean())
    if a <= 0:
        raise ValueError(f"run A's mean throughput is {a:g} samples/s; a ratio to it is meaningless")

    boot = stats.bootstrap(
        (a_rates, b_rates),
        lambda x, y, axis: np.mean(y, axis=axis) / np.mean(x, axis=axis),
        n_resamples=BOOTSTRAP_RESAMPLES,
        confidence_level=1 - alpha,
        method="percentile",
        rng=np.random.default_rng(BOOTSTRAP_SEED),
    )
    ratio_ci = (float(boot.confidence_interval.low), float(boot.confidence_interval.high))

    test = stats.mannwhitneyu(b_rates, a_rates, alternative="two-sided")
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
    shown = f"{statistic} {show(b)} vs {show(a)}"
    p_text = "p < 0.001" if p_value < 0.001 else f"p = {p_value:.2g}"
    if significant:
        faster = (ratio < 1) == lower_is_better
        change = abs(ratio - 1) * 100
        verdict = f"B is {change:.1f} % {'faster' if faster else 'slower'} ({shown}), {p_text}, the difference is real"
    elif p_value < alpha:
        verdict = (
            f"the distributions differ ({p_text}), but the {statistic} ratio B/A {ratio:.3f} has a "
            f"{(1 - alpha) * 100:g} % interval [{ratio_ci[0]:.3f}, {ratio_ci[1]:.3f}] that includes no change ({shown})"
        )
    else:
        verdict = f"no significant difference ({p_text}; {shown})"
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


def _loadgen_index(n: int, p: float) -> int:
    if not 0 <= p < 1:
        raise ValueError(f"percentile must be in [0, 1) as in LoadGen, got {p}")
    # Python floats are IEEE doubles and int() truncates, as C++'s size_t conversion does.
    return int(n * p)


def _percentile_estimate(ordered: np.ndarray, p: float, confidence: float) -> tuple[PercentileEstimate, str]:
    n = ordered.size
    low, high, coverage = _order_statistic_ci(n, p, confidence)
    estimate = PercentileEstimate(
        percentile=p,
        value_ns=int(ordered[_loadgen_index(n, p)]),
        ci_low_ns=None if low is None else int(ordered[low]),
        ci_high_ns=None if high is None else int(ordered[high]),
        ci_coverage=coverage,
    )
    # A side stays unbounded while the extreme observation misses the percentile with
    # probability of at least tail/2: (1-p)^n below (lower bound), p^n above (upper).
    missing = {side: q for side, bound, q in (("lower", low, 1 - p), ("upper", high, p)) if bound is None}
    note = ""
    if missing:
        needed = max(math.ceil(math.log((1 - confidence) / 2) / math.log(q)) for q in missing.values())
        note = (
            f"{estimate.name}: the {confidence * 100:g} % interval has no {' or '.join(missing)} bound "
            f"with {n} latencies (need at least {needed})"
        )
    return estimate, note


def _order_statistic_ci(n: int, p: float, confidence: float) -> tuple[int | None, int | None, float]:
    """0-based indices (low, high) into the sorted sample bracketing the true p-quantile.

    With B ~ Binomial(n, p) the number of observations below the true quantile,
    P(X_(l) <= q_p <= X_(u)) >= P(l <= B <= u - 1) = F(u - 1) - F(l - 1) (1-based ranks,
    equality for continuous distributions). l is the largest rank with F(l - 1) < tail/2
    and u the smallest with F(u - 1) >= 1 - tail/2; a rank outside 1..n means that side
    is unbounded (None). Also returns the guaranteed coverage F(u - 1) - F(l - 1).
    """
    tail = 1 - confidence
    binom = stats.binom(n, p)
    l_rank = int(binom.ppf(tail / 2))  # smallest k with F(k) >= tail/2, so F(k - 1) < tail/2
    u_rank = int(binom.ppf(1 - tail / 2)) + 1
    below = float(binom.cdf(l_rank - 1)) if l_rank >= 1 else 0.0
    within = float(binom.cdf(u_rank - 1)) if u_rank <= n else 1.0
    return (
        l_rank - 1 if l_rank >= 1 else None,
        u_rank - 1 if u_rank <= n else None,
        within - below,
    )


def _bootstrap_mean_ci(values: np.ndarray, confidence: float) -> tuple[float, float]:
    """Seeded percentile-bootstrap interval of the mean.

    For more than BOOTSTRAP_MAX_SAMPLES values the bootstrap runs on a random subsample
    of m values and the interval is rescaled to the full n ("m out of n" bootstrap): the
    mean's sampling spread shrinks as 1/sqrt(size), so the subsample interval's offsets
    from the subsample mean are multiplied by sqrt(m / n) and re-centred on the full mean.
    """
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    n = values.size
    m = min(n, BOOTSTRAP_MAX_SAMPLES)
    subsample = values if m == n else rng.choice(values, m, replace=False)
    interval = stats.bootstrap(
        (subsample,),
        np.mean,
        n_resamples=BOOTSTRAP_RESAMPLES,
        confidence_level=confidence,
        method="percentile",
        batch=200,  # bounds memory at 200 resamples of m values
        rng=rng,
    ).confidence_interval
    scale = math.sqrt(m / n)
    center, sub_center = float(values.mean()), float(subsample.mean())
    return (
        center + (float(interval.low) - sub_center) * scale,
        center + (float(interval.high) - sub_center) * scale,
    )


def _bootstrap_order_statistic(ordered: np.ndarray, p: float, rng: np.random.Generator) -> np.ndarray:
    """Bootstrap replicates of the LoadGen p-percentile, without resampling the data.

    A resample of size n is F_n^-1(U_1..U_n) for uniform U, and F_n^-1 is monotone, so
    its k-th smallest value is F_n^-1(U_(k)) = ordered[ceil(n * V) - 1] with
    V ~ Beta(k, n + 1 - k). Here k = floor(n * p) + 1, LoadGen's 1-based rank.
    """
    n = ordered.size
    k = _loadgen_index(n, p) + 1
    v = rng.beta(k, n + 1 - k, size=BOOTSTRAP_RESAMPLES)
    index = np.clip(np.ceil(n * v).astype(np.int64) - 1, 0, n - 1)
    return ordered[index].astype(np.float64)


def _min_passing_h(t: int, p: float, confidence: float) -> int:
    """Smallest h >= 1 with P(Binomial(h + t, 1 - p) <= t) < 1 - confidence (LoadGen's h(t))."""

    def passes(h: int) -> bool:
        return special.betainc(h, t + 1, p) < 1 - confidence

    high = 1
    while not passes(high):
        high *= 2
    low = high // 2 + 1 if high > 1 else 1
    while low < high:
        mid = (low + high) // 2
        if passes(mid):
            high = mid
        else:
            low = mid + 1
    return low


def _sorted_latencies(latencies_ns: np.ndarray, min_count: int, name: str = "latencies_ns") -> np.ndarray:
    values = np.asarray(latencies_ns)
    if values.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {values.shape}")
    if values.size < min_count:
        raise ValueError(f"{name} needs at least {min_count} latencies, got {values.size}")
    if values.size and not np.issubdtype(values.dtype, np.integer):
        raise ValueError(f"{name} must be integer nanoseconds, got dtype {values.dtype}")
    if values.size and values.min() < 0:
        raise ValueError(f"{name} contains a negative latency ({values.min()} ns)")
    return np.sort(values.astype(np.int64, copy=False))


def _finite_1d(values: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or array.size < 2:
        raise ValueError(f"{name} needs a 1-D array of at least 2 per-bin rates, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite rates")
    return array


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
