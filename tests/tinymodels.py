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


def convention_model(path: Path, *, input_name: str = "input", layout: str = "NCHW", image_size: int = 32,
                     num_classes: int = 3, label_offset: int = 0,
                     outputs: tuple[tuple[str, str], ...] = (("logits", "logits"),)) -> Path:
    """The dominant-colour classifier in another model convention, to test a spec end to end.

    Class k (0 red, 1 green, 2 blue) scores as the mean of channel k at index k + label_offset of
    num_classes scores; every other index scores far below. `outputs` lists (name, kind) in graph
    order, kind one of logits, probabilities (softmax) or argmax (int64 class index, as in MLPerf's
    resnet50_v1.onnx). NHWC models take images channels-last and transpose them first.
    """
    nodes, inits = [], [numpy_helper.from_array(np.eye(3, dtype=np.float32).reshape(3, 3, 1, 1), "w")]
    image = input_name
    if layout == "NHWC":
        nodes.append(helper.make_node("Transpose", [input_name], ["nchw"], perm=[0, 3, 1, 2]))
        image = "nchw"
    nodes += [helper.make_node("Conv", [image, "w"], ["conv"], kernel_shape=[1, 1]),
              helper.make_node("GlobalAveragePool", ["conv"], ["gap"]),
              helper.make_node("Flatten", ["gap"], ["means"], axis=1)]
    spread = np.zeros((3, num_classes), dtype=np.float32)
    spread[range(3), np.arange(3) + label_offset] = 1.0
    floor = np.full(num_classes, -1e4, dtype=np.float32)
    floor[label_offset:label_offset + 3] = 0.0
    inits += [numpy_helper.from_array(spread, "spread"), numpy_helper.from_array(floor, "floor")]
    nodes += [helper.make_node("MatMul", ["means", "spread"], ["spread_means"]),
              helper.make_node("Add", ["spread_means", "floor"], ["scores"])]
    graph_outputs = []
    for name, kind in outputs:
        if kind == "argmax":
            nodes.append(helper.make_node("ArgMax", ["scores"], [name], axis=1, keepdims=0))
            graph_outputs.append(helper.make_tensor_value_info(name, TensorProto.INT64, ["batch"]))
            continue
        op = {"logits": "Identity", "probabilities": "Softmax"}[kind]
        nodes.append(helper.make_node(op, ["scores"], [name], **({"axis": 1} if op == "Softmax" else {})))
        graph_outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", num_classes]))
    shape = ["batch", image_size, image_size, 3] if layout == "NHWC" else ["batch", 3, image_size, image_size]
    graph = helper.make_graph(nodes, "dominant_colour_" + layout.lower(),
                              [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, shape)],
                              graph_outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path
