"""How far a reduced-precision model moves the outputs from FP32, on the same samples.

With synthetic weights top-1 accuracy means nothing, but agreement with the FP32
model still shows what INT8 or BF16 does to the numbers: top-1 agreement, top-5
overlap, and the largest output difference.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

import numpy as np

from harness.config.modelspec import ModelSpec
from harness.engine.choice import CPU, EngineChoice
from harness.engine.session import create_session

MAX_SAMPLES = 1024  # the performance set's size: enough for agreement to two decimals
BATCH = 16


@dataclass(frozen=True)
class Agreement:
    samples: int
    top1_agreement: float  # fraction of samples with the same top-1 class
    top5_overlap: float | None  # mean |top5(a) ∩ top5(b)| / 5; None for argmax-only outputs
    max_abs_diff: float | None
    max_rel_diff: float | None  # max |a - b| / max |a|

    def to_json(self) -> dict:
        return asdict(self)


def outputs(model_path: str, choice: EngineChoice, spec: ModelSpec, samples: np.ndarray) -> np.ndarray:
    cpus = tuple(sorted(os.sched_getaffinity(0)))
    session = create_session(model_path, choice, len(cpus), cpus)
    name = spec.output_name or session.get_outputs()[0].name
    return np.concatenate([
        session.run([name], {spec.input_name: np.ascontiguousarray(samples[i:i + BATCH])})[0].reshape(
            min(BATCH, len(samples) - i), -1)
        for i in range(0, len(samples), BATCH)])


def agreement(reference: np.ndarray, other: np.ndarray) -> Agreement:
    n = len(reference)
    if reference.shape[1] == 1:  # argmax outputs: labels only
        return Agreement(n, float(np.mean(reference[:, 0] == other[:, 0])), None, None, None)
    top1 = float(np.mean(reference.argmax(1) == other.argmax(1)))
    top5_ref = np.argsort(-reference, axis=1)[:, :5]
    top5_other = np.argsort(-other, axis=1)[:, :5]
    overlap = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(top5_ref, top5_other)])
    diff = np.abs(reference.astype(np.float64) - other)
    return Agreement(n, top1, float(overlap), float(diff.max()), float(diff.max() / np.abs(reference).max()))


def fidelity(fp32_model: str, model: str, choice: EngineChoice, spec: ModelSpec,
             samples: np.ndarray) -> Agreement:
    """Agreement of `model` run as `choice` with the FP32 model on the CPU EP."""
    subset = samples[:MAX_SAMPLES]
    reference = outputs(fp32_model, EngineChoice(CPU, "fp32", "reference"), spec, subset)
    return agreement(reference, outputs(model, choice, spec, subset))
