"""Is feeding the INT8 model pre-quantized uint8 input faster than float32 input?

    python bench/prequantized.py [--seconds 5] [--rounds 3] [--batch 116]

Builds a variant of the cached INT8 ResNet-50 whose graph input is the uint8 tensor
its first QuantizeLinear would produce (that node removed), and times both models
on the same EP with the same threads, interleaved A/B rounds, batch `--batch`.
"""

from __future__ import annotations

import argparse
import glob
import os
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from harness.engine.choice import CPU, OPENVINO, ORT_NAMES, EngineChoice
from harness.engine.session import create_session
from harness.files import cache_root


def uint8_input_variant(model: onnx.ModelProto) -> tuple[onnx.ModelProto, float, int]:
    graph = model.graph
    name = graph.input[0].name
    quant = next(n for n in graph.node if n.op_type == "QuantizeLinear" and n.input[0] == name)
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    scale, zero = float(inits[quant.input[1]]), int(inits[quant.input[2]])
    for node in graph.node:
        node.input[:] = [name if x == quant.output[0] else x for x in node.input]
    graph.node.remove(quant)
    shape = [d.dim_param or d.dim_value for d in graph.input[0].type.tensor_type.shape.dim]
    graph.input.remove(graph.input[0])
    graph.input.insert(0, helper.make_tensor_value_info(name, TensorProto.UINT8, shape))
    return model, scale, zero


def rate(session, feed: dict, batch: int, seconds: float) -> float:
    session.run(None, feed)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        session.run(None, feed)
        n += batch
    return n / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=116)
    args = parser.parse_args()
    found = sorted(p for p in glob.glob(str(cache_root() / "models" / "*-int8-*.onnx")) if "uint8-input" not in p)
    if not found:
        raise SystemExit("no INT8 model in the cache: run `harness quantize` first")
    source = found[0]
    variant, scale, zero = uint8_input_variant(onnx.load(source))
    variant_path = Path(source).with_suffix(".uint8-input.onnx")
    onnx.save(variant, str(variant_path))
    x = np.random.default_rng(0).uniform(-120, 130, (args.batch, 3, 224, 224)).astype(np.float32)
    q = np.clip(np.rint(x / scale) + zero, 0, 255).astype(np.uint8)
    cpus = tuple(sorted(os.sched_getaffinity(0)))
    eps = [CPU] + ([OPENVINO] if ORT_NAMES[OPENVINO] in ort.get_available_providers() else [])
    print("| EP | float32 input (samples/s) | uint8 input (samples/s) | uint8 / float32 |")
    print("|---|---|---|---|")
    for ep in eps:
        choice = EngineChoice(ep, "int8", "bench")
        a = create_session(source, choice, len(cpus), cpus)
        b = create_session(str(variant_path), choice, len(cpus), cpus)
        fa, fb = [], []
        for _ in range(args.rounds):
            fa.append(rate(a, {a.get_inputs()[0].name: x}, args.batch, args.seconds))
            fb.append(rate(b, {b.get_inputs()[0].name: q}, args.batch, args.seconds))
        print(f"| {ep} | {np.mean(fa):.1f} ({', '.join(f'{v:.0f}' for v in fa)}) | "
              f"{np.mean(fb):.1f} ({', '.join(f'{v:.0f}' for v in fb)}) | {np.mean(fb) / np.mean(fa):.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
