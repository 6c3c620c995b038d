"""Latency statistics of one benchmark run: percentiles with intervals, early stopping.

Pure functions over numpy arrays; every result is a frozen dataclass whose `to_json()`
gives plain floats, ints, strings and None (JSON null) for stats.json.

Percentiles are LoadGen's own (see `loadgen_percentile`), so the p90 here is the p90 of
mlperf_log_summary.txt. Confidence intervals are distribution-free where that is cheap
(percentiles, from binomial order statistics) and bootstrap otherwise, with a fixed seed
so that the same run always yields the same stats.json.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special, stats

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
    return int(sorted_latencies(latencies_ns, min_count=1)[loadgen_index(len(latencies_ns), p)])


def latency_stats(latencies_ns: np.ndarray, confidence: float = 0.95) -> LatencyStats:
    """Mean, spread and LoadGen percentiles of per-query latencies, with intervals.

    Percentile intervals are distribution-free (`_order_statistic_ci`). The mean's
    interval is a seeded percentile bootstrap; beyond BOOTSTRAP_MAX_SAMPLES latencies it
    runs on a subsample (`_bootstrap_mean_ci`).
    """
    check_confidence(confidence)
    ordered = sorted_latencies(latencies_ns, min_count=1)
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
    ordered = sorted_latencies(latencies_ns, min_count=0)
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


def loadgen_index(n: int, p: float) -> int:
    if not 0 <= p < 1:
        raise ValueError(f"percentile must be in [0, 1) as in LoadGen, got {p}")
    # Python floats are IEEE doubles and int() truncates, as C++'s size_t conversion does.
    return int(n * p)


def _percentile_estimate(ordered: np.ndarray, p: float, confidence: float) -> tuple[PercentileEstimate, str]:
    n = ordered.size
    low, high, coverage = _order_statistic_ci(n, p, confidence)
    estimate = PercentileEstimate(
        percentile=p,
        value_ns=int(ordered[loadgen_index(n, p)]),
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


def bootstrap_order_statistic(ordered: np.ndarray, p: float, rng: np.random.Generator) -> np.ndarray:
    """Bootstrap replicates of the LoadGen p-percentile, without resampling the data.

    A resample of size n is F_n^-1(U_1..U_n) for uniform U, and F_n^-1 is monotone, so
    its k-th smallest value is F_n^-1(U_(k)) = ordered[ceil(n * V) - 1] with
    V ~ Beta(k, n + 1 - k). Here k = floor(n * p) + 1, LoadGen's 1-based rank.
    """
    n = ordered.size
    k = loadgen_index(n, p) + 1
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


def sorted_latencies(latencies_ns: np.ndarray, min_count: int, name: str = "latencies_ns") -> np.ndarray:
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


def finite_1d(values: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or array.size < 2:
        raise ValueError(f"{name} needs a 1-D array of at least 2 per-bin rates, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite rates")
    return array


def check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


