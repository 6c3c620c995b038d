"""Throughput over time: samples completed per time bin, and the steady state after warm-up."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from harness.results.stats import check_confidence


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
    check_confidence(confidence)
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
