"""Run directories written by hand, with latencies chosen by the test: for compare and report.

They carry the files and run.json fields the readers use, in the runner's layout; the
LoadGen log holds the percentiles LoadGen would have computed from the same latencies.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from harness.results.stats import LOADGEN_PERCENTILES, loadgen_percentile

SYSTEM = {"cpu_model": "Test CPU 9000", "isa": ["avx2", "avx512f"], "sockets": 1, "cores": 2, "threads": 2,
          "numa_nodes": [{"id": 0, "cpus": [0, 1]}], "allowed_cpus": [0, 1],
          "topology": "1 socket, 1 NUMA node, 2 cores, 2 threads", "memory_bytes": 8 * 2**30,
          "os": {"name": "Test OS 1", "kernel": "6.1.0-test", "machine": "x86_64"}, "hostname": "testhost",
          "versions": {"python": "3.11.7", "mlcommons-loadgen": "6.0.17"}}


def single_stream_timeline(latencies_ns: np.ndarray, gap_ns: int = 1000) -> np.ndarray:
    """Queries back to back: each issued `gap_ns` after the previous completed."""
    latencies_ns = np.asarray(latencies_ns, dtype=np.int64)
    issue = np.concatenate([[0], np.cumsum(latencies_ns + gap_ns)[:-1]]) + 10**9
    return np.stack([issue, issue + latencies_ns, np.ones_like(latencies_ns)], axis=1)


def offline_timeline(batch_ns: int, batches: int, batch_size: int) -> np.ndarray:
    """One query; batches complete every `batch_ns`."""
    complete = 10**9 + batch_ns * np.arange(1, batches + 1, dtype=np.int64)
    return np.stack([np.full(batches, 10**9), complete, np.full(batches, batch_size)], axis=1)


def _mllog(key: str, value) -> str:
    return ":::MLLOG " + json.dumps({"key": key, "value": value, "time_ms": 0.0, "namespace": "mlperf::logging",
                                     "event_type": "POINT_IN_TIME", "metadata": {}})


def write_run(path: Path, scenario: str, timeline: np.ndarray, precision: str = "fp32", model: str = "resnet50",
              sha256: str = "ab" * 32, status: str = "completed", quick: bool = True, mode: str = "performance",
              audit_test: str | None = None) -> Path:
    path.mkdir(parents=True)
    np.save(path / "timeline.npy", timeline)
    np.save(path / "latencies.npy", timeline[:, 1] - timeline[:, 0])
    latencies = timeline[:, 1] - timeline[:, 0]
    per_sample = latencies if scenario == "SingleStream" else np.repeat(latencies, timeline[:, 2])
    duration_s = (timeline[:, 1].max() - timeline[:, 0].min()) / 1e9
    rate = float(timeline[:, 2].sum() / duration_s)
    log = {"effective_scenario": scenario, "result_validity": "VALID", "effective_min_duration_ms": 5000,
           "effective_min_query_count": 64 if scenario == "SingleStream" else 1,
           "result_min_latency_ns": int(per_sample.min()), "result_max_latency_ns": int(per_sample.max()),
           "result_mean_latency_ns": int(per_sample.mean()), "result_samples_per_second": rate}
    for p in LOADGEN_PERCENTILES:
        log[f"result_{p * 100:.2f}_percentile_latency_ns"] = loadgen_percentile(per_sample, p)
    (path / "mlperf_log_detail.txt").write_text("\n".join(_mllog(k, v) for k, v in log.items()) + "\n")
    batch = 1 if scenario == "SingleStream" else int(timeline[0, 2])
    result = ({"metric": "samples_per_second", "value": rate} if scenario == "Offline" else
              {"metric": "p90_latency_ns", "value": log["result_90.00_percentile_latency_ns"],
               "early_stopping_p90_ns": None, "early_stopping_met": True})
    result = {"validity": "VALID", **result} if mode == "performance" else {"top1": 100.0}
    record = {
        "harness_version": "0.1.0", "status": status, "run_id": path.name,
        "config": {"scenario": scenario, "precision": precision, "model": model, "mode": mode,
                   "quick": quick, "ep": "auto"},
        "model": {"name": "resnet50-v1.5-synthetic", "sha256": sha256, "synthetic_weights": True},
        "placement": {"description": f"1 instance × 2 threads on NUMA node 0, batch {batch}",
                      "instances": [{"index": 0, "node": 0, "cpus": [0, 1], "threads": 2, "batch_size": batch}]},
        "system": SYSTEM, "compliant_length": not quick, "providers": ["CPUExecutionProvider"],
        "engine": {"ep": "cpu", "precision": precision, "reason": "test"},
        "precision": {"requested": precision, "ep": "cpu", "source": "test", "reported": precision, "matches": True},
        "notes": ["synthetic weights: performance is representative, accuracy is not"],
        "result": {**result, "samples": int(timeline[:, 2].sum())},
    }
    if audit_test:
        record["audit"] = {"test": audit_test}
    (path / "run.json").write_text(json.dumps(record, indent=2))
    return path
