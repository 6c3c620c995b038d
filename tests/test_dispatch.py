"""The native dispatch loop: gather, labels, and every sample answered once, rightly."""

import json

import numpy as np
import pytest

from harness._native.dispatch import argmax_labels, gather
from harness.cli.main import main
from harness.results.accuracy import read_responses

from conftest import colour_args
from tinymodels import colour_dataset


def test_gather_copies_rows_by_slot_for_any_dtype():
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.uint8, np.int8):
        rows = rng.integers(-100, 100, size=(10, 3, 4, 5)).astype(dtype)
        slots = np.array([3, 3, 9, 0], dtype=np.int64)
        out = np.zeros((6, 3, 4, 5), dtype=dtype)
        gather(rows.reshape(10, -1).view(np.uint8), slots, out.reshape(6, -1).view(np.uint8))
        assert np.array_equal(out[:4], rows[slots]) and not out[4:].any()


def test_gather_rejects_a_slot_outside_the_loaded_set_and_a_wrong_width():
    rows = np.zeros((4, 8), dtype=np.uint8)
    with pytest.raises(IndexError, match="slot -1, outside the 4 loaded samples"):
        gather(rows, np.array([0, -1], dtype=np.int64), np.zeros((2, 8), dtype=np.uint8))
    with pytest.raises(ValueError, match="do not fit"):
        gather(rows, np.array([0], dtype=np.int64), np.zeros((2, 9), dtype=np.uint8))


def test_argmax_labels_match_numpy_with_ties_and_offset():
    rng = np.random.default_rng(1)
    scores = rng.integers(0, 5, size=(200, 11)).astype(np.float32)  # many ties
    labels = np.zeros(200, dtype=np.float32)
    argmax_labels(scores, 1, labels)
    assert np.array_equal(labels, scores.argmax(axis=1) - 1)


@pytest.mark.parametrize("layout", [["--instances", "2", "--threads", "1"], ["--instances", "1"]])
def test_every_sample_answered_once_with_its_label_under_concurrency(colour_model, tmp_path, layout):
    """Ragged batches of 7 over two concurrent instances: right label for every qsl_idx."""
    data = colour_dataset(tmp_path / "data", 101)
    args = colour_args(colour_model, data, tmp_path / "runs", "--mode", "accuracy", "--batch-size", "7", *layout)
    assert main(args) == 0
    run = next((tmp_path / "runs").iterdir())
    entries = json.loads((run / "mlperf_log_accuracy.json").read_text())
    assert sorted(e["qsl_idx"] for e in entries) == list(range(101))  # each exactly once
    responses = read_responses(run)
    assert all(label == idx % 3 for idx, label in responses.items())
    record = json.loads((run / "run.json").read_text())
    assert len(record["placement"]["instances"]) == int(layout[1])
