"""Repeats: N independent runs of one configuration, and their run-to-run spread.

Samples inside one run are correlated (the same process, caches, neighbours on a shared
machine), so a difference within one run can be drift between runs. `--repeat N` runs a
configuration N times, each in its own LoadGen process and run directory, and records in
each run.json `repeat`: {"group": id shared by the N, "index": k (1-based), "of": N}.
The figure a repeat contributes is its headline: LoadGen's metric for the scenario.
"""

from __future__ import annotations

import math
import statistics
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from harness.results.format import latency
from harness.results.runjson import RunRecord

REPEAT = "repeat"  # run.json's key


def new_group_id(precision: str, scenario: str) -> str:
    """A group id no other `--repeat` shares, readable as when and what."""
    return f"{datetime.now():%Y%m%d-%H%M%S}-{precision}-{scenario}-{uuid.uuid4().hex[:6]}"


def record_repeat(run_dir: Path, record: dict, group: str, index: int, of: int) -> dict:
    """Add `repeat` to a finished run's run.json (through its one writer); the updated record."""
    writer = RunRecord(Path(run_dir), record)
    writer.update(**{REPEAT: {"group": group, "index": index, "of": of}})
    return writer.data


def repeat_of(record: dict) -> dict | None:
    """run.json's `repeat`, or None for a run made alone (and every run before --repeat existed).
    The reader checked the types of its keys; one without all three is no repeat to group."""
    repeat = record.get(REPEAT)
    return repeat if isinstance(repeat, dict) and {"group", "index", "of"} <= set(repeat) else None


def headline(record: dict) -> tuple[str, float] | None:
    """(metric, value) of a completed performance run: the figure its repeats spread over."""
    result = record.get("result") or {}
    value = result.get("value")
    # A rate or a latency is positive; anything else is no figure to spread or test.
    if record.get("status") != "completed" or not result.get("metric") or not isinstance(value, int | float) \
            or not value > 0 or not math.isfinite(value):
        return None
    return result["metric"], float(value)


def show_figure(metric: str, value: float) -> str:
    return latency(value, 4) if metric.endswith("_ns") else f"{value:,.1f} samples/s"


def metric_words(metric: str) -> str:
    """run.json's metric key as a reader says it."""
    return {"samples_per_second": "throughput", "completed_samples_per_second": "completed throughput",
            "p90_latency_ns": "p90 latency", "p99_latency_ns": "p99 latency"}.get(metric, metric)


@dataclass(frozen=True)
class Spread:
    """The headline figures of repeated runs: median, range, and the range relative to the median."""

    metric: str
    values: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def high(self) -> float:
        return max(self.values)

    @property
    def relative(self) -> float:
        """(max - min) / median: how far apart the runs landed, as a share of the typical one."""
        return (self.high - self.low) / self.median

    @property
    def log_sd(self) -> float | None:
        """Standard deviation of the log figures (about the relative SD): what run-level tests use."""
        if len(self.values) < 2:
            return None
        return statistics.stdev(math.log(v) for v in self.values)

    def line(self) -> str:
        def show(value: float) -> str:
            return show_figure(self.metric, value)

        if len(self.values) == 1:
            return f"{metric_words(self.metric)} {show(self.median)} (one run: no spread)"
        return (f"{metric_words(self.metric)} over {len(self.values)} runs: median {show(self.median)}, "
                f"min-max {show(self.low)} - {show(self.high)}, relative spread {self.relative * 100:.1f} % "
                "((max - min) / median)")

    def to_json(self) -> dict:
        return {"metric": self.metric, "runs": len(self.values), "values": list(self.values),
                "median": self.median, "min": self.low, "max": self.high, "relative_spread": self.relative}


def spread_of(records: list[dict]) -> Spread | None:
    """The spread of the completed runs' headline figures; None if none has one. The runs must
    share a metric (callers group runs of one configuration)."""
    figures = [f for f in map(headline, records) if f is not None]
    if not figures:
        return None
    metrics = {m for m, _ in figures}
    if len(metrics) > 1:
        raise ValueError(f"runs of different metrics have no common spread: {', '.join(sorted(metrics))}")
    return Spread(figures[0][0], tuple(v for _, v in figures))
