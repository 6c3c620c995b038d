"""Read what LoadGen wrote: mlperf_log_detail.txt (one `:::MLLOG {json}` per line)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from harness.terms import Scenario

DETAIL = "mlperf_log_detail.txt"
SUMMARY = "mlperf_log_summary.txt"
ACCURACY_LOG = "mlperf_log_accuracy.json"
SEED_KEYS = ("qsl_rng_seed", "sample_index_rng_seed", "schedule_rng_seed")


@dataclass(frozen=True)
class LoadGenLog:
    values: dict  # key -> last logged value
    errors: tuple[str, ...]
    warnings: tuple[str, ...]

    def get(self, key: str, default=None):
        return self.values.get(key, default)

    @property
    def valid(self) -> bool:
        return self.values.get("result_validity") == "VALID"

    def seeds(self, prefix: str = "effective_") -> dict:
        return {k: self.values.get(prefix + k) for k in SEED_KEYS}


def read_detail_log(run_dir: Path) -> LoadGenLog:
    values: dict = {}
    errors: list[str] = []
    warnings: list[str] = []
    path = Path(run_dir) / DETAIL
    for line in path.read_text(errors="replace").splitlines():
        if not line.startswith(":::MLLOG"):
            continue
        try:
            record = json.loads(line[len(":::MLLOG"):])
        except json.JSONDecodeError:
            continue  # a line cut short by a killed process
        key, value = record.get("key"), record.get("value")
        meta = record.get("metadata") or {}
        if meta.get("is_error") or key == "error_runtime":
            errors.append(f"{key}: {value}")
        elif meta.get("is_warning"):
            warnings.append(f"{key}: {value}")
        values[key] = value
    return LoadGenLog(values, tuple(errors), tuple(warnings))


def headline(log: LoadGenLog, scenario: Scenario) -> dict:
    """The scenario's metric as LoadGen computed it (`value`), and what qualifies it."""
    scenario = Scenario(scenario)
    if scenario is Scenario.OFFLINE:
        return {"metric": "samples_per_second", "value": log.get("result_samples_per_second")}
    if scenario is Scenario.SINGLE_STREAM:
        return {"metric": "p90_latency_ns", "value": log.get("result_90.00_percentile_latency_ns"),
                "early_stopping_p90_ns": log.get("early_stopping_latency_ss"),
                "early_stopping_met": log.get("early_stopping_met")}
    if scenario is Scenario.MULTI_STREAM:  # a query's latency; LoadGen's plain percentiles are per sample
        return {"metric": "p99_latency_ns", "value": log.get("result_99.00_percentile_per_query_latency_ns"),
                "early_stopping_p99_ns": log.get("early_stopping_latency_ms"),  # in ns, whatever its name
                "early_stopping_met": log.get("early_stopping_met")}
    return {"metric": "completed_samples_per_second", "value": log.get("result_completed_samples_per_sec"),
            "target_qps": log.get("effective_target_qps"),
            "scheduled_samples_per_second": log.get("result_scheduled_samples_per_sec"),
            "p99_latency_ns": log.get("result_99.00_percentile_latency_ns"),
            "latency_bound_ns": log.get("effective_target_latency_ns"),
            "latency_bound_met": log.get("result_perf_constraints_met"),
            "early_stopping_met": log.get("early_stopping_met")}


def summary_value(run_dir: Path, label: str) -> str | None:
    """A 'label : value' line of mlperf_log_summary.txt (human file, stable labels)."""
    for line in (Path(run_dir) / SUMMARY).read_text(errors="replace").splitlines():
        name, sep, value = line.partition(":")
        if sep and name.strip() == label:
            return value.strip()
    return None
