"""Static INT8 quantization: QDQ, per-channel signed weights, unsigned activations.

The method follows MLPerf's rules: post-training calibration on a fixed list of
images (500 by default), no retraining, reproducible. The result is cached by a
fingerprint of (source model hash, calibration image names, method), so the same
inputs give the same file, and any change gives a new one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
from pathlib import Path

import numpy as np

from harness.data.imagenet import Dataset
from harness.errors import ConfigError, DatasetError
from harness.files import atomic_write_json, cache_root

CALIBRATION_COUNT = 500  # MLPerf's cal_image_list_option_1.txt has 500 images
CALIBRATION_BATCH = 16
METHOD = {"format": "QDQ", "weights": "int8, per-channel, symmetric", "activations": "uint8, per-tensor",
          "calibration": "MinMax", "reduce_range": False, "tool": "onnxruntime.quantization.quantize_static",
          "version": 1}


class _NoPreprocessAdvice(logging.Filter):
    """ORT's quantizer advises, through the root logger, running its shape-inference and
    graph-optimisation pre-pass first. The harness quantizes the graph as given (its batch
    norms are folded already), and the advice would read as a fault in every first INT8 run."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()


def calibration_indices(dataset: Dataset, calibration_list: str | None) -> list[int]:
    """Dataset indices of the calibration images: from a list file, else a seeded subset."""
    if calibration_list:
        path = Path(calibration_list)
        try:
            names = [line.split()[0] for line in path.read_text().splitlines() if line.strip()]
        except OSError as exc:
            raise ConfigError(f"calibration list {path} cannot be read ({exc.strerror})") from None
        index = {name: i for i, name in enumerate(dataset.files)}
        missing = [n for n in names if n not in index]
        if missing:
            raise DatasetError(f"calibration list {path}: {missing[0]} (and {len(missing) - 1} more) not in "
                               f"{dataset.root}/val_map.txt; use a list of that dataset's images")
        return [index[n] for n in names]
    count = min(CALIBRATION_COUNT, len(dataset))
    return sorted(np.random.default_rng(0).choice(len(dataset), count, replace=False).tolist())


def fingerprint(source_sha256: str, dataset: Dataset, indices: list[int]) -> str:
    h = hashlib.sha256(source_sha256.encode())
    h.update("\n".join(dataset.files[i] for i in indices).encode())
    h.update(json.dumps(METHOD, sort_keys=True).encode())
    return h.hexdigest()[:20]


class _Reader:
    """Feeds calibration samples from the preprocessed cache in small batches."""

    def __init__(self, input_name: str, samples: np.ndarray, indices: list[int]):
        self.input_name, self.samples = input_name, samples
        self.batches = [indices[i:i + CALIBRATION_BATCH] for i in range(0, len(indices), CALIBRATION_BATCH)]
        self.rewind()

    def get_next(self):
        batch = next(self._next, None)
        return None if batch is None else {self.input_name: np.ascontiguousarray(self.samples[batch])}

    def rewind(self):
        self._next = iter(self.batches)


def quantize_int8(source: Path, source_sha256: str, input_name: str, dataset: Dataset,
                  samples: np.ndarray, indices: list[int], models_dir: Path) -> Path:
    """The INT8 model for these inputs, built once and cached."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    fp = fingerprint(source_sha256, dataset, indices)
    path = models_dir / f"{source.stem}-int8-{fp}.onnx"
    if path.is_file():
        return path
    models_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=models_dir, prefix=".quantize-"))
    try:
        # Merge min/max every few batches instead of holding every activation of every
        # image (about 1.5 GB per batch of 16 for ResNet-50). ORT 1.24 raises "No data is
        # collected" when the last merge leaves nothing pending, so the count must not
        # divide the number of batches.
        batches = -(-len(indices) // CALIBRATION_BATCH)
        merge_every = next(k for k in range(4, batches + 5) if batches % k)
        advice = _NoPreprocessAdvice()
        logging.getLogger().addFilter(advice)
        try:
            quantize_static(
                str(source), str(work / "model.onnx"), _Reader(input_name, samples, indices),
                quant_format=QuantFormat.QDQ, per_channel=True, reduce_range=False,
                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.MinMax, calibration_providers=["CPUExecutionProvider"],
                extra_options={"CalibMaxIntermediateOutputs": merge_every})
        finally:
            logging.getLogger().removeFilter(advice)
        atomic_write_json(path.with_suffix(".json"), {
            "source_sha256": source_sha256, "fingerprint": fp, "method": METHOD,
            "calibration_images": [dataset.files[i] for i in indices]})
        (work / "model.onnx").rename(path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return path


def quantized_model(artifact, dataset: Dataset, samples: np.ndarray,
                    calibration_list: str | None) -> tuple[Path, list[int]]:
    """The cached INT8 model of `artifact`, calibrated on `calibration_list` or the default subset."""

    indices = calibration_indices(dataset, calibration_list)
    return quantize_int8(artifact.path, artifact.sha256, artifact.spec.input_name, dataset, samples,
                         indices, cache_root() / "models"), indices
