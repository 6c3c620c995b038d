"""Proof of the precision a run computed in, read back from the engine, not assumed.

OpenVINO EP: the precision each convolution executes in, from OpenVINO's runtime
model (harness.engine.ovprobe). CPU EP: the operator types in ONNX Runtime's optimized
graph; INT8 convolutions appear as QLinearConv or ConvInteger, FP32 ones as Conv.
"""

from __future__ import annotations

import collections
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import onnx

from harness.engine.choice import CPU, OPENVINO_HINT, EngineChoice

INT8_OPS = ("QLinearConv", "ConvInteger", "QLinearMatMul", "MatMulInteger")
OV_NAMES = {"bf16": "bf16", "f32": "fp32", "u8": "int8", "i8": "int8"}


def _verdict(counts: dict[str, int]) -> str:
    names = {OV_NAMES.get(k, k) for k, v in counts.items() if v}
    if not names:
        return "unknown: the model has no convolutions"
    return names.pop() if len(names) == 1 else "mixed: " + ", ".join(sorted(names))


def _openvino_evidence(model_path: str, choice: EngineChoice) -> dict:
    config = {"INFERENCE_PRECISION_HINT": OPENVINO_HINT[choice.precision]}  # as the EP is given it
    done = subprocess.run([sys.executable, "-m", "harness.engine.ovprobe", model_path, json.dumps(config)],
                          capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"source": "OpenVINO runtime model", "error": tail}
    evidence = json.loads(done.stdout)
    return {"source": "OpenVINO runtime model (convolution runtimePrecision)", **evidence,
            "reported": _verdict(evidence["convolution_precisions"])}


def _cpu_evidence(model_path: str) -> dict:
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        optimized = Path(tmp) / "optimized.onnx"
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        options.optimized_model_filepath = str(optimized)
        options.log_severity_level = 3
        ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
        ops = collections.Counter(n.op_type for n in onnx.load(str(optimized), load_external_data=False).graph.node)
    convs = {"int8": sum(ops[o] for o in INT8_OPS), "fp32": ops["Conv"] + ops["FusedConv"]}
    return {"source": "ONNX Runtime optimized graph (operator types)",
            "operators": {k: v for k, v in sorted(ops.items()) if k in INT8_OPS or "Conv" in k},
            "reported": _verdict(convs)}


def precision_proof(model_path: str, choice: EngineChoice) -> dict:
    evidence = _cpu_evidence(model_path) if choice.ep == CPU else _openvino_evidence(model_path, choice)
    return {"requested": choice.precision, "ep": choice.ep, **evidence,
            "matches": evidence.get("reported") == choice.precision}
