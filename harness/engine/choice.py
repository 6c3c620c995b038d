"""Which execution provider runs a precision, why, and the session settings that make it so.

FP32 and INT8 run on the ONNX Runtime CPU EP everywhere. The OpenVINO EP (from the
onnxruntime-openvino build) adds BF16 and much faster INT8 where the CPU has the
instructions for them. OpenVINO must be told the precision explicitly: without an
f32 hint it may compute an FP32 model in BF16 on AMX parts.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from harness.errors import ConfigError

CPU, OPENVINO = "cpu", "openvino"
ORT_NAMES = {CPU: "CPUExecutionProvider", OPENVINO: "OpenVINOExecutionProvider"}
BF16_ISA = ("amx_bf16", "avx512_bf16")
INT8_ISA = ("amx_int8", "avx512_vnni", "avx_vnni")
OPENVINO_HINT = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}  # int8: the QDQ graph sets it


@dataclass(frozen=True)
class EngineChoice:
    ep: str
    precision: str
    reason: str

    def to_json(self) -> dict:
        return asdict(self)


def choose_ep(requested: str, precision: str, isa: list[str], available: list[str]) -> EngineChoice:
    """Resolve --ep auto|cpu|openvino for a precision on this CPU, or say why it cannot run."""
    has_openvino = ORT_NAMES[OPENVINO] in available
    has = {flag for flag in isa}
    if requested == OPENVINO and not has_openvino:
        raise ConfigError("--ep openvino: the OpenVINO EP is not installed; "
                          "pip install onnxruntime-openvino (x86-64 Linux) in place of onnxruntime")
    if precision == "bf16":
        if requested == CPU:
            raise ConfigError("--precision bf16 cannot run on --ep cpu (ONNX Runtime's CPU EP has no "
                              "BF16 convolutions on x86); use --ep openvino or --ep auto")
        if not has_openvino:
            raise ConfigError("--precision bf16 needs the OpenVINO EP; "
                              "pip install onnxruntime-openvino (x86-64 Linux) in place of onnxruntime")
        found = [f for f in BF16_ISA if f in has]
        if not found:
            raise ConfigError("--precision bf16: this CPU has neither AMX-BF16 nor AVX512-BF16, so "
                              "OpenVINO would emulate BF16 in FP32; run fp32 or int8 instead")
        return EngineChoice(OPENVINO, precision, f"BF16 runs on the OpenVINO EP ({found[0]} present)")
    if requested != "auto":
        return EngineChoice(requested, precision, f"--ep {requested} requested")
    if precision == "int8":
        found = [f for f in INT8_ISA if f in has]
        if has_openvino and found:
            return EngineChoice(OPENVINO, precision, f"auto: OpenVINO EP installed and {found[0]} present")
        why = "the OpenVINO EP is not installed" if not has_openvino else "no VNNI or AMX-INT8 on this CPU"
        return EngineChoice(CPU, precision, f"auto: CPU EP because {why}")
    return EngineChoice(CPU, precision, "auto: FP32 gains no instructions from OpenVINO; "
                                        "the CPU EP measured level with it (bench/precisions.py)")


def openvino_options(precision: str, threads: int, streams: int) -> dict:
    """Provider options: one OpenVINO compiled model serving `streams` concurrent callers.

    OpenVINO runs all of a process's sessions on one thread pool and pins them alike,
    so separate sessions per instance collide on the same cores (measured: two sessions
    pinned to one core, half the throughput). One session per NUMA node
    with one stream per instance lets OpenVINO place the streams on distinct cores.
    """
    config = {"INFERENCE_PRECISION_HINT": OPENVINO_HINT[precision], "NUM_STREAMS": str(streams),
              "INFERENCE_NUM_THREADS": str(threads),
              "PERFORMANCE_HINT": "THROUGHPUT" if streams > 1 else "LATENCY"}
    return {"device_type": "CPU", "num_of_threads": str(threads), "num_streams": str(streams),
            "load_config": json.dumps({"CPU": config})}
