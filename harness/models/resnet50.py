"""The embedded default model: ResNet-50 v1.5 with deterministic synthetic weights.

Real topology (torchvision / MLPerf v1.5: stride on the 3x3 convolution of each
bottleneck), batch norm folded into the convolutions, dynamic batch dimension.
The weights come from a seeded generator, so performance is representative of the
real model and accuracy is not.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

INPUT_NAME = "input"
OUTPUT_NAME = "logits"
NUM_CLASSES = 1000
STAGES = ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2))  # (width, blocks, stride)
EXPANSION = 4
OPSET = 17


class _GraphBuilder:
    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._count = 0

    def _name(self, kind: str) -> str:
        self._count += 1
        return f"{kind}_{self._count}"

    def conv(self, x: str, cin: int, cout: int, k: int, stride: int, relu: bool,
             gain: float = 1.0) -> str:
        name = self._name("conv")
        # He initialisation keeps activations in a stable range through 50 layers,
        # which matters for INT8 calibration even though the labels are meaningless.
        std = gain * np.sqrt(2.0 / (cin * k * k))
        w = (self.rng.standard_normal((cout, cin, k, k), dtype=np.float32) * std).astype(np.float32)
        b = (self.rng.standard_normal(cout, dtype=np.float32) * 0.01).astype(np.float32)
        self.initializers += [numpy_helper.from_array(w, f"{name}.w"),
                              numpy_helper.from_array(b, f"{name}.b")]
        pad = k // 2
        self.nodes.append(helper.make_node(
            "Conv", [x, f"{name}.w", f"{name}.b"], [name],
            kernel_shape=[k, k], strides=[stride, stride], pads=[pad] * 4))
        return self.relu(name) if relu else name

    def relu(self, x: str) -> str:
        out = self._name("relu")
        self.nodes.append(helper.make_node("Relu", [x], [out]))
        return out

    def bottleneck(self, x: str, cin: int, width: int, stride: int) -> str:
        cout = width * EXPANSION
        y = self.conv(x, cin, width, 1, 1, relu=True)
        y = self.conv(y, width, width, 3, stride, relu=True)
        # A small last-layer gain plays the role of zero-init residual batch norm: the
        # residual sum stays bounded instead of doubling at every block.
        y = self.conv(y, width, cout, 1, 1, relu=False, gain=0.2)
        shortcut = x
        if stride != 1 or cin != cout:
            shortcut = self.conv(x, cin, cout, 1, stride, relu=False)
        out = self._name("add")
        self.nodes.append(helper.make_node("Add", [y, shortcut], [out]))
        return self.relu(out)


def _probe_images(rng: np.random.Generator, n: int = 16) -> np.ndarray:
    """Smooth random images in the reference preprocessing's value range."""
    coarse = rng.uniform(-120, 135, size=(n, 3, 7, 7)).astype(np.float32)
    return np.repeat(np.repeat(coarse, 32, axis=2), 32, axis=3)


def _classifier(g: _GraphBuilder, features: str, cin: int) -> tuple[np.ndarray, np.ndarray]:
    """Fully connected weights whose argmax depends on the image.

    A deep random ReLU network maps every input to much the same feature vector, so a
    random classifier would give every image the same label and precision agreement
    would pass vacuously. Centring the features on probe images spreads the labels.
    The logits are scaled to unit spread rather than whitened per feature: whitening
    amplified features that vary by a hair, which any quantization erases (measured:
    the INT8 model agreed with FP32 on 0 % of top-1 labels).
    """
    import onnxruntime as ort  # only needed at build time

    probe = helper.make_model(
        helper.make_graph(g.nodes, "probe",
                          [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["batch", 3, 224, 224])],
                          [helper.make_tensor_value_info(features, TensorProto.FLOAT, ["batch", cin])],
                          g.initializers),
        opset_imports=[helper.make_opsetid("", OPSET)])
    probe.ir_version = 8
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1  # bit-identical features, hence a reproducible model
    session = ort.InferenceSession(probe.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    f = session.run(None, {INPUT_NAME: _probe_images(g.rng)})[0].astype(np.float64)
    mean = f.mean(axis=0)
    w = g.rng.standard_normal((cin, NUM_CLASSES)) / np.sqrt(cin)
    w /= ((f - mean) @ w).std()
    return w.astype(np.float32), (-mean @ w).astype(np.float32)


def build_resnet50(seed: int = 0) -> onnx.ModelProto:
    """Build ResNet-50 v1.5 (about 25.5 M parameters, 4.1 GMAC per 224x224 image)."""
    g = _GraphBuilder(seed)
    x = g.conv(INPUT_NAME, 3, 64, 7, 2, relu=True)
    pooled = g._name("maxpool")
    g.nodes.append(helper.make_node("MaxPool", [x], [pooled], kernel_shape=[3, 3],
                                    strides=[2, 2], pads=[1, 1, 1, 1]))
    x, cin = pooled, 64
    for width, blocks, stride in STAGES:
        for i in range(blocks):
            x = g.bottleneck(x, cin, width, stride if i == 0 else 1)
            cin = width * EXPANSION
    gap = g._name("gap")
    g.nodes.append(helper.make_node("GlobalAveragePool", [x], [gap]))
    flat = g._name("flatten")
    g.nodes.append(helper.make_node("Flatten", [gap], [flat], axis=1))
    w, b = _classifier(g, flat, cin)
    g.initializers += [numpy_helper.from_array(w, "fc.w"), numpy_helper.from_array(b, "fc.b")]
    g.nodes.append(helper.make_node("Gemm", [flat, "fc.w", "fc.b"], [OUTPUT_NAME]))

    graph = helper.make_graph(
        g.nodes, "resnet50_v1.5_synthetic",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["batch", 3, 224, 224])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch", NUM_CLASSES])],
        g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="harness", producer_version="resnet50-synthetic-1")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model
