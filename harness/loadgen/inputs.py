"""What a run reads before it measures: model spec and file, dataset, preprocessed samples."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.config.modelspec import spec_from
from harness.config.runconfig import RunConfig
from harness.data.cache import open_cache
from harness.data.imagenet import Dataset, read_dataset
from harness.data.preprocess import params_for
from harness.data.synthetic import make_synthetic_dataset, synthetic_dataset_dir
from harness.files import cache_root
from harness.models.artifact import ModelArtifact, resolve_model
from harness.terms import PERFORMANCE_SAMPLE_COUNT

SYNTHETIC_COUNT = PERFORMANCE_SAMPLE_COUNT


@dataclass(frozen=True)
class Inputs:
    artifact: ModelArtifact
    dataset: Dataset


def resolve_inputs(cfg: RunConfig) -> Inputs:
    """Validate the model and dataset (fast: no preprocessing yet)."""
    preset = cfg.preset or ("embedded" if cfg.model == "resnet50" else "mlperf")
    artifact = resolve_model(cfg.model, spec_from(preset, cfg.model_spec), cfg.progress)
    return Inputs(artifact, _dataset(cfg, artifact.spec.num_classes))


def _dataset(cfg: RunConfig, num_classes: int) -> Dataset:
    if cfg.dataset:
        return read_dataset(Path(cfg.dataset), num_classes, cfg.count)
    count = cfg.count or SYNTHETIC_COUNT
    root = make_synthetic_dataset(synthetic_dataset_dir(cache_root(), count), count=count,
                                  num_classes=num_classes, progress=cfg.progress)
    return read_dataset(root, num_classes, count, synthetic=True)


def preprocessed_samples(inputs: Inputs, progress: bool = True) -> np.ndarray:
    return open_cache(inputs.dataset, params_for(inputs.artifact.spec), cache_root(), progress=progress)
