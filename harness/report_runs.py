"""What a report is made of, read from run directories only (never from the runner).

A report covers a sweep directory (sweep.json lists the planned runs, skipped ones
included), a single run directory, or any directory holding run directories.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.errors import HarnessError
from harness.results import DETAIL, read_detail_log
from harness.runstats import STATS, completions_of, compute_run_stats, read_timeline

SWEEP = "sweep.json"  # written by harness.sweep; read here as data, without importing it
RUN = "run.json"
# The LoadGen settings a reader needs to judge a run, as LoadGen itself logged them.
LOADGEN_KEYS = ("effective_test_mode", "effective_samples_per_query", "effective_target_qps",
                "effective_target_latency_ns", "effective_min_duration_ms", "effective_max_duration_ms",
                "effective_min_query_count", "effective_performance_sample_count",
                "effective_max_async_queries", "effective_qsl_rng_seed", "effective_sample_index_rng_seed",
                "effective_schedule_rng_seed", "result_min_duration_met", "result_min_queries_met",
                "early_stopping_met", "loadgen_version")


@dataclass(frozen=True)
class RunView:
    path: Path
    record: dict  # run.json
    stats: dict | None  # stats.json (computed when absent); None for a run that did not complete
    latencies_ns: np.ndarray | None  # one per timeline row: a query (SingleStream) or a batch (Offline)
    samples: np.ndarray | None  # how many samples each latency stands for
    completions_ns: np.ndarray | None  # when each row completed, since the first issue
    loadgen: dict  # LOADGEN_KEYS that LoadGen logged

    @property
    def run_id(self) -> str:
        return self.record.get("run_id", self.path.name)

    @property
    def scenario(self) -> str:
        return self.record["config"]["scenario"]

    @property
    def precision(self) -> str:
        return self.record["config"]["precision"]

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
    def compliant(self) -> bool:
        return bool(self.record.get("compliant_length"))

    @property
    def synthetic_weights(self) -> bool:
        return bool(self.record.get("model", {}).get("synthetic_weights"))

    @property
    def batch_size(self) -> int | None:
        instances = self.record.get("placement", {}).get("instances") or []
        return instances[0]["batch_size"] if instances else None


@dataclass(frozen=True)
class Planned:
    """One cell of the study: a precision in a scenario, and what became of it."""

    precision: str
    scenario: str
    batch_size: int | None
    status: str  # completed | skipped: <reason> | failed: <reason> | pending | running
    run: RunView | None


@dataclass(frozen=True)
class ReportInput:
    path: Path
    kind: str  # "sweep" | "run" | "runs"
    created: str | None
    planned: tuple[Planned, ...]

    @property
    def runs(self) -> tuple[RunView, ...]:
        return tuple(p.run for p in self.planned if p.run is not None)

    @property
    def completed(self) -> tuple[RunView, ...]:
        return tuple(r for r in self.runs if r.completed)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise HarnessError(f"{path}: cannot read it ({exc}); the report needs it intact") from None


def read_run(path: Path) -> RunView:
    record = _read_json(path / RUN)
    loadgen = {}
    if (path / DETAIL).is_file():
        log = read_detail_log(path)
        loadgen = {k: log.get(k) for k in LOADGEN_KEYS if log.get(k) is not None}
    if record.get("status") != "completed":
        return RunView(path, record, None, None, None, None, loadgen)
    stats = _read_json(path / STATS) if (path / STATS).is_file() else compute_run_stats(path).to_json()
    timeline = read_timeline(path)
    return RunView(path, record, stats, timeline[:, 1] - timeline[:, 0], timeline[:, 2],
                   completions_of(timeline), loadgen)


def _planned_of(run: RunView) -> Planned:
    status = run.record.get("status", "unknown")
    if status == "FAILED":
        status = f"failed: {(run.record.get('failure') or 'unknown').strip().splitlines()[-1]}"
    return Planned(run.precision, run.scenario, run.batch_size, status, run)


def read_input(path: Path) -> ReportInput:
    path = Path(path)
    if not path.is_dir():
        raise HarnessError(f"{path} is not a directory; pass a run or sweep directory")
    if (path / SWEEP).is_file():
        sweep = _read_json(path / SWEEP)
        planned = []
        for entry in sweep.get("runs", []):
            run_dir = entry.get("run_dir")
            # A skipped run may have left a directory behind; it measured nothing to report.
            measured = run_dir and not entry["status"].startswith("skipped") and (path / run_dir / RUN).is_file()
            run = read_run(path / run_dir) if measured else None
            planned.append(Planned(entry["precision"], entry["scenario"], entry.get("batch_size"),
                                   entry["status"], run))
        return ReportInput(path, "sweep", sweep.get("created"), tuple(planned))
    if (path / RUN).is_file():
        run = read_run(path)
        return ReportInput(path, "run", run.record.get("started"), (_planned_of(run),))
    runs = [read_run(p) for p in sorted(path.iterdir()) if (p / RUN).is_file()]
    if not runs:
        raise HarnessError(f"{path} holds no {RUN} or {SWEEP}: not a run, sweep or runs directory")
    return ReportInput(path, "runs", None, tuple(_planned_of(r) for r in runs))
