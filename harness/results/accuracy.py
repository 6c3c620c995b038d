"""Top-1 accuracy from mlperf_log_accuracy.json, computed as MLPerf's accuracy-imagenet.py does.

Each response is one float32 label; entries are de-duplicated by qsl_idx (LoadGen
may log a sample more than once) and compared with the dataset's labels.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.results.logs import ACCURACY_LOG


@dataclass(frozen=True)
class Accuracy:
    good: int
    total: int

    @property
    def top1(self) -> float:
        return 100.0 * self.good / self.total if self.total else 0.0

    def line(self) -> str:
        return f"accuracy={self.top1:.3f}%, good={self.good}, total={self.total}"


def read_responses(run_dir: Path) -> dict[int, int]:
    """qsl_idx -> label (first occurrence), from the hex-encoded float32 responses."""
    entries = json.loads((Path(run_dir) / ACCURACY_LOG).read_text() or "[]")
    labels: dict[int, int] = {}
    for entry in entries:
        idx = int(entry["qsl_idx"])
        if idx not in labels:
            labels[idx] = int(np.frombuffer(bytes.fromhex(entry["data"]), dtype=np.float32)[0])
    return labels


def top1(run_dir: Path, expected: np.ndarray) -> Accuracy:
    responses = read_responses(run_dir)
    good = sum(1 for idx, label in responses.items() if label == int(expected[idx]))
    return Accuracy(good=good, total=len(responses))
