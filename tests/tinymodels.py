"""Tiny generated models and datasets whose right answers are known by construction."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

COLOURS = ((230, 20, 20), (20, 230, 20), (20, 20, 230))  # class 0 red, 1 green, 2 blue


def dominant_colour_model(path: Path, image_size: int = 32) -> Path:
    """Labels an image by its dominant channel: logits = per-channel mean.

    The identity 1x1 convolution gives quantization and the precision proof a real
    convolution to work on, as in ResNet-50.
    """
    w = np.eye(3, dtype=np.float32).reshape(3, 3, 1, 1)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["input", "w"], ["conv"], kernel_shape=[1, 1]),
         helper.make_node("GlobalAveragePool", ["conv"], ["gap"]),
         helper.make_node("Flatten", ["gap"], ["logits"], axis=1)],
        "dominant_colour",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, image_size, image_size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3])],
        [numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def colour_dataset(root: Path, count: int, wrong: int = 0, seed: int = 0) -> Path:
    """`count` JPEGs of one dominant colour each; the first `wrong` labels are wrong."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(count):
        label = i % 3
        h, w = int(rng.integers(40, 120)), int(rng.integers(40, 120))
        pixels = np.clip(np.array(COLOURS[label]) + rng.normal(0, 10, (h, w, 3)), 0, 255)
        Image.fromarray(pixels.astype(np.uint8)).save(root / f"img_{i:05d}.jpg", quality=90)
        written = (label + 1) % 3 if i < wrong else label
        lines.append(f"img_{i:05d}.jpg {written}\n")
    (root / "val_map.txt").write_text("".join(lines))
    return root


# The spec keys that make the harness treat the dominant-colour model correctly.
COLOUR_SPEC = {"input_name": "input", "output_name": "logits", "image_size": 32, "resize_shorter": 36,
               "num_classes": 3}
