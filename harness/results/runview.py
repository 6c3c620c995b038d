"""One run directory, read back: run.json, the timeline, and what LoadGen logged.

The one view of a finished (or failed) run that `harness compare` and `harness report`
share. It reads files only, never the runner, so old run directories stay readable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from harness.results.logs import DETAIL, read_detail_log
from harness.results.runjson import RUN_JSON, read_run_json
from harness.results.runstats import STATS, RunDataError, completions_of, compute_run_stats, read_timeline
from harness.terms import Scenario

# The LoadGen settings a reader needs to judge a run, as LoadGen itself logged them, and
# what a report calls them.
LOADGEN_LABELS = {
    "effective_test_mode": "test mode", "effective_samples_per_query": "samples per query",
    "effective_target_qps": "target QPS", "effective_target_latency_ns": "target latency (ns)",
    "effective_min_duration_ms": "min duration (ms)", "effective_max_duration_ms": "max duration (ms)",
    "effective_min_query_count": "min query count",
    "effective_performance_sample_count": "performance sample count",
    "effective_max_async_queries": "max async queries", "effective_qsl_rng_seed": "QSL seed",
    "effective_sample_index_rng_seed": "sample index seed", "effective_schedule_rng_seed": "schedule seed",
    "result_min_duration_met": "min duration met", "result_min_queries_met": "min queries met",
    "early_stopping_met": "early stopping met", "loadgen_version": "LoadGen version",
}


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise RunDataError(f"{path}: cannot read it ({exc}); it must be intact") from None


@dataclass(frozen=True)
class RunView:
    path: Path
    record: dict  # run.json

    @cached_property
    def timeline(self) -> np.ndarray | None:
        """Rows of (issue_ns, complete_ns, samples), read when first asked for; None for a run
        that did not complete."""
        return read_timeline(self.path) if self.completed else None

    @cached_property
    def stats(self) -> dict | None:
        """stats.json, computed when absent; None for a run that did not complete."""
        if self.timeline is None:
            return None
        return read_json(self.path / STATS) if (self.path / STATS).is_file() else compute_run_stats(self.path).to_json()

    @cached_property
    def loadgen(self) -> dict:
        """The LOADGEN_LABELS keys that LoadGen logged."""
        if not (self.path / DETAIL).is_file():
            return {}
        log = read_detail_log(self.path)
        return {k: log.get(k) for k in LOADGEN_LABELS if log.get(k) is not None}

    @property
    def latencies_ns(self) -> np.ndarray | None:
        """One per timeline row: a query (SingleStream) or a batch (Offline)."""
        return None if self.timeline is None else self.timeline[:, 1] - self.timeline[:, 0]

    @property
    def samples(self) -> np.ndarray | None:
        """How many samples each latency stands for."""
        return None if self.timeline is None else self.timeline[:, 2]

    @property
    def completions_ns(self) -> np.ndarray | None:
        """When each row completed, since the first issue."""
        return None if self.timeline is None else completions_of(self.timeline)

    @property
    def run_id(self) -> str:
        return self.record.get("run_id", self.path.name)

    @property
    def scenario(self) -> Scenario:
        return Scenario(self.record["config"]["scenario"])

    @property
    def precision(self) -> str:
        return self.record["config"]["precision"]

    @property
    def mode(self) -> str:
        return self.record["config"]["mode"]

    @property
    def kind(self) -> str:
        """performance, accuracy, or the compliance test (TEST01, TEST04) the run was made for."""
        return (self.record.get("audit") or {}).get("test") or self.mode

    @property
    def completed(self) -> bool:
        return self.record.get("status") == "completed"

    @property
    def result(self) -> dict:
        return self.record.get("result") or {}

    @property
    def validity(self) -> str:
        return self.result.get("validity") or "no result"

    @property
    def invalid(self) -> bool:
        """LoadGen judged the run INVALID. An accuracy run has no verdict to fail."""
        return self.mode == "performance" and self.validity != "VALID"

    @property
    def compliant(self) -> bool:
        return bool(self.record.get("compliant_length"))

    @property
    def synthetic_weights(self) -> bool:
        return bool(self.record.get("model", {}).get("synthetic_weights"))

    @property
    def batch_size(self) -> int | None:
        instances = self.record.get("placement", {}).get("instances") or []
        return instances[0]["batch_size"] if instances else None


def read_run(path: Path) -> RunView:
    path = Path(path)
    if not (path / RUN_JSON).is_file():
        raise RunDataError(f"{path} has no {RUN_JSON}: not a run directory")
    return RunView(path, read_run_json(path))
