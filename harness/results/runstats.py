"""stats.json for one run directory: harness.results.stats applied to what the run recorded.

Inputs are the run's own files: timeline.npy (one row per batch, issue order:
issue_ns, complete_ns, samples) and mlperf_log_detail.txt. Nothing here knows how
the run was made, so old run directories can be re-analysed.

What a latency is depends on the scenario. SingleStream: one row per query of one
sample, from the SUT's issue callback to just after QuerySamplesComplete returned.
Offline: LoadGen issues one query; every sample of a batch shares that batch's
completion, so each row stands for `samples` equal per-sample latencies (queue
positions, not response times: the Offline metric is the throughput).

LoadGen times the same events with its own clock points: it starts when it schedules
a query, before crossing into Python, and stops on entering QuerySamplesComplete.
Each latency therefore differs from LoadGen's by a near-constant offset, and since
shifting every observation by at most d moves every order statistic by at most d,
the percentiles differ by the same bound. `agreement` in stats.json shows it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.errors import HarnessError
from harness.files import atomic_write_json
from harness.results import stats
from harness.results.logs import DETAIL, LoadGenLog, read_detail_log
from harness.results.throughput import SteadyState, ThroughputSeries, steady_state, throughput_over_time
from harness.terms import Scenario

STATS = "stats.json"
TIMELINE = "timeline.npy"
SCHEMA = 1
# Throughput over time is binned at the widest of BIN_WIDTHS_S (at most 1 s) that still
# gives MIN_BINS bins, so a 5 s quick run shows its warm-up as a 600 s run shows its drift;
# but never so narrow that a bin holds fewer than MIN_EVENTS_PER_BIN completions on
# average, or the rates would mostly show whole batches landing in one bin or the next.
BIN_WIDTHS_S = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0)
MIN_BINS = 20
MIN_EVENTS_PER_BIN = 5
MIN_SERIES_BINS = 3  # fewer whole bins say nothing about warm-up or steady state

LATENCY_MEANING = {
    Scenario.SINGLE_STREAM: "per query (one sample): from the SUT's issue callback to just after "
                            "QuerySamplesComplete returned",
    Scenario.MULTI_STREAM: "per query (all its samples): from the SUT's issue callback to just after the "
                           "QuerySamplesComplete of the query's last batch returned",
    Scenario.SERVER: "per query (one sample): from the SUT's issue callback, through the wait for its "
                     "batch to close and for a free instance, to just after QuerySamplesComplete returned",
    Scenario.OFFLINE: "per sample: from the issue of the one Offline query to the completion of the batch "
                      "that held the sample (a queue position, not a response time; intervals assume "
                      "independent samples, which queue positions are not)",
}
AGREEMENT_MEANING = (
    "harness minus LoadGen. LoadGen's clock starts when it schedules a query (before the call into "
    "Python) and stops on entering QuerySamplesComplete; the harness's starts in the issue callback "
    "and stops after QuerySamplesComplete returns. Every latency differs by about the same offset, "
    "so every percentile does too."
)


class RunDataError(HarnessError):
    """A run directory lacks the files, or the content, that its analysis needs."""


@dataclass(frozen=True)
class Agreement:
    """One statistic as the harness and as LoadGen computed it."""

    name: str
    harness: float
    loadgen: float

    @property
    def difference(self) -> float:
        return self.harness - self.loadgen

    @property
    def relative(self) -> float | None:
        return self.difference / self.loadgen if self.loadgen else None

    def to_json(self) -> dict:
        return {"harness": self.harness, "loadgen": self.loadgen, "difference": self.difference,
                "relative": self.relative}


@dataclass(frozen=True)
class RunStats:
    scenario: Scenario
    latency: stats.LatencyStats
    early_stopping: stats.EarlyStoppingEstimate | None  # at the scenario's percentile; None for Offline
    overall_rate: float  # samples/s from the first issue to the last completion
    throughput: ThroughputSeries | None  # None: too few completions to bin (see notes)
    steady: SteadyState | None
    agreement: tuple[Agreement, ...]  # empty when LoadGen logged no result (accuracy mode)
    notes: tuple[str, ...]
    server: dict | None = None  # Server: scheduled and completed rates, latency over time

    def to_json(self) -> dict:
        return {
            "schema": SCHEMA,
            "scenario": self.scenario,
            "latency": {"meaning": LATENCY_MEANING[self.scenario], **self.latency.to_json()},
            "early_stopping": self.early_stopping.to_json() if self.early_stopping else None,
            "overall_rate": self.overall_rate,
            "throughput": {"unit": "samples/s", **self.throughput.to_json()} if self.throughput else None,
            "steady_state": self.steady.to_json() if self.steady else None,
            "agreement": {"meaning": AGREEMENT_MEANING, **{a.name: a.to_json() for a in self.agreement}},
            "server": self.server,
            "notes": list(self.notes),
        }

    def summary(self) -> dict:
        """The few numbers run.json carries; stats.json has the rest."""
        p90, p99 = self.latency.percentile(0.90), self.latency.percentile(0.99)
        steady = self.steady
        return {
            "file": STATS,
            "p90_ns": p90.value_ns,
            "p90_ci_ns": [p90.ci_low_ns, p90.ci_high_ns],
            "p99_ns": p99.value_ns,
            "p99_ci_ns": [p99.ci_low_ns, p99.ci_high_ns],
            "steady_rate": steady.mean_rate if steady else None,
            "steady_rate_ci": list(steady.mean_rate_ci) if steady and steady.mean_rate_ci else None,
            "warmup_s": steady.warmup_s if steady else None,
            "minus_loadgen": {a.name: a.difference for a in self.agreement
                              if a.name in ("p90_ns", "p99_ns", "samples_per_second")},
        }


def read_timeline(run_dir: Path) -> np.ndarray:
    path = Path(run_dir) / TIMELINE
    try:
        timeline = np.load(path)
    except (OSError, ValueError) as exc:
        raise RunDataError(f"{path}: cannot read the run's timeline ({exc}); is {run_dir} a completed run?") from None
    if timeline.ndim != 2 or timeline.shape[1] != 3 or len(timeline) == 0:
        raise RunDataError(f"{path}: expected rows of (issue_ns, complete_ns, samples), got shape {timeline.shape}")
    return timeline.astype(np.int64, copy=False)


def latencies_of(timeline: np.ndarray, scenario: Scenario) -> np.ndarray:
    """Per-query (SingleStream, MultiStream, Server) or per-sample (Offline) latencies in ns.

    A MultiStream query split across instances has a row per part, all with the query's
    issue time: the query is done when its last part is."""
    scenario = Scenario(scenario)
    latency = timeline[:, 1] - timeline[:, 0]
    if scenario is Scenario.OFFLINE:
        return np.repeat(latency, timeline[:, 2])
    if scenario is Scenario.MULTI_STREAM:
        issued, first = np.unique(timeline[:, 0], return_inverse=True)
        done = np.zeros(len(issued), dtype=np.int64)
        np.maximum.at(done, first, timeline[:, 1])
        return done - issued
    return latency


def latency_over_time(timeline: np.ndarray, bin_s: float) -> list[dict]:
    """Per time bin of completion: how many queries completed, and their p50 and p99 (LoadGen's rule)."""
    completed = completions_of(timeline)
    latency = timeline[:, 1] - timeline[:, 0]
    bins = (completed // int(bin_s * 1e9)).astype(np.int64)
    rows = []
    for b in np.unique(bins):
        mine = latency[bins == b]
        rows.append({"start_s": float(b * bin_s), "queries": int(mine.size),
                     "p50_ns": stats.loadgen_percentile(mine, 0.50), "p99_ns": stats.loadgen_percentile(mine, 0.99)})
    return rows


def completions_of(timeline: np.ndarray) -> np.ndarray:
    """Completion times in ns since the first issue."""
    return timeline[:, 1] - timeline[:, 0].min()


def bin_width(duration_s: float, events: int) -> float | None:
    """The bin width for a run of `events` completions over `duration_s`; None: too few."""
    target = min(1.0, duration_s / MIN_BINS)
    finest = MIN_EVENTS_PER_BIN * duration_s / events
    width = max((w for w in BIN_WIDTHS_S if w <= target), default=BIN_WIDTHS_S[0])
    if width < finest:
        width = next((w for w in BIN_WIDTHS_S if w >= finest), BIN_WIDTHS_S[-1])
    return width if duration_s / width >= MIN_SERIES_BINS else None


def throughput_of(timeline: np.ndarray, bin_s: float) -> ThroughputSeries:
    return throughput_over_time(completions_of(timeline), timeline[:, 2], bin_s)


def steady_rates(series: ThroughputSeries, steady: SteadyState) -> np.ndarray:
    first = round(steady.warmup_s / series.bin_s)
    return np.asarray(series.rates[first:first + steady.steady_bins])


# LoadGen's names for what the harness computes: MultiStream's query latencies are its
# "per_query" ones, its plain ones being per sample; Server logs a completed rate.
_PER_QUERY = {Scenario.MULTI_STREAM: "per_query_"}
_RATE_KEY = {Scenario.SERVER: "result_completed_samples_per_sec"}
_EARLY_KEY = {Scenario.SINGLE_STREAM: ("early_stopping_p90_ns", "early_stopping_latency_ss"),
              Scenario.MULTI_STREAM: ("early_stopping_p99_ns", "early_stopping_latency_ms")}


def _agreement(scenario: Scenario, latency: stats.LatencyStats, early: stats.EarlyStoppingEstimate | None,
               overall_rate: float, log: LoadGenLog) -> tuple[Agreement, ...]:
    kind = _PER_QUERY.get(scenario, "")
    pairs = [(f"{e.name}_ns", e.value_ns, log.get(f"result_{e.percentile * 100:.2f}_percentile_{kind}latency_ns"))
             for e in latency.percentiles]
    which = "query_" if kind else ""
    pairs += [("min_ns", latency.min_ns, log.get(f"result_min_{which}latency_ns")),
              ("max_ns", latency.max_ns, log.get(f"result_max_{which}latency_ns")),
              ("mean_ns", latency.mean_ns, log.get(f"result_mean_{which}latency_ns")),
              ("samples_per_second", overall_rate, log.get(_RATE_KEY.get(scenario, "result_samples_per_second")))]
    if early is not None and early.estimate_ns is not None and scenario in _EARLY_KEY:
        name, key = _EARLY_KEY[scenario]
        pairs.append((name, early.estimate_ns, log.get(key)))
    return tuple(Agreement(name, float(ours), float(theirs)) for name, ours, theirs in pairs
                 if theirs is not None)


def compute_run_stats(run_dir: Path) -> RunStats:
    run_dir = Path(run_dir)
    if not (run_dir / DETAIL).is_file():
        raise RunDataError(f"{run_dir} has no {DETAIL}: not a run directory, or LoadGen never started")
    log = read_detail_log(run_dir)
    name = log.get("effective_scenario")
    if name not in LATENCY_MEANING:
        raise RunDataError(f"{run_dir / DETAIL}: scenario {name!r} is not one this harness analyses")
    scenario = Scenario(name)
    timeline = read_timeline(run_dir)
    latencies = latencies_of(timeline, scenario)
    latency = stats.latency_stats(latencies)
    early = (stats.early_stopping_p90(latencies, target_percentile=scenario.percentile)
             if scenario.percentile else None)
    duration_s = completions_of(timeline).max() / 1e9
    overall_rate = float(timeline[:, 2].sum() / duration_s)
    bin_s = bin_width(duration_s, len(timeline))
    notes = list(latency.notes)
    if bin_s is None:
        series = steady = None
        notes.append(f"throughput over time: {len(timeline)} completions in {duration_s:.2f} s are too few "
                     f"to bin (a bin needs about {MIN_EVENTS_PER_BIN}, a series {MIN_SERIES_BINS} bins)")
    else:
        series = throughput_of(timeline, bin_s)
        steady = steady_state(series)
    server = None
    if scenario is Scenario.SERVER:
        server = {"target_qps": log.get("effective_target_qps"),
                  "scheduled_qps": log.get("result_scheduled_samples_per_sec"),
                  "completed_qps": log.get("result_completed_samples_per_sec"),
                  "latency_bound_ns": log.get("effective_target_latency_ns"),
                  "overlatency_queries": log.get("result_overlatency_query_count"),
                  "latency_over_time": latency_over_time(timeline, bin_s or max(duration_s, 1e-3))}
    return RunStats(scenario=scenario, latency=latency, early_stopping=early, overall_rate=overall_rate,
                    throughput=series, steady=steady,
                    agreement=_agreement(scenario, latency, early, overall_rate, log), notes=tuple(notes),
                    server=server)


def write_run_stats(run_dir: Path) -> RunStats:
    """Compute and write run_dir/stats.json (atomically); return what was written."""
    result = compute_run_stats(run_dir)
    atomic_write_json(Path(run_dir) / STATS, result.to_json())
    return result
