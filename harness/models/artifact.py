"""Model files: the embedded default, user ONNX models, and their validation."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import onnx

from harness.config.modelspec import ModelSpec
from harness.errors import ModelError
from harness.files import atomic_write_bytes, cache_root, sha256_file

EMBEDDED = "resnet50"
EMBEDDED_SEED = 0
BUILDER_VERSION = "v2"  # in the cached file's name: a changed builder never reuses an old file


@dataclass(frozen=True)
class ModelArtifact:
    path: Path
    spec: ModelSpec
    sha256: str
    name: str
    synthetic_weights: bool

    def to_json(self) -> dict:
        return {"name": self.name, "path": str(self.path), "sha256": self.sha256,
                "synthetic_weights": self.synthetic_weights, "spec": self.spec.to_json()}


def embedded_model_path() -> Path:
    """Build (once) and cache the embedded ResNet-50 with synthetic weights."""
    from harness.models.resnet50 import build_resnet50

    path = cache_root() / "models" / f"resnet50-v1.5-synthetic-{BUILDER_VERSION}-seed{EMBEDDED_SEED}.onnx"
    if not path.exists():
        atomic_write_bytes(path, build_resnet50(EMBEDDED_SEED).SerializeToString())
    return path


def resolve_model(model: str, spec: ModelSpec) -> ModelArtifact:
    """The model file a run uses, validated against its spec."""
    if model == EMBEDDED:
        path, name, synthetic = embedded_model_path(), "resnet50-v1.5-synthetic", True
    else:
        path, name, synthetic = Path(model), Path(model).stem, False
        if not path.is_file():
            raise ModelError(f"model file {path} does not exist; pass --model PATH.onnx or --model resnet50")
    check_model(path, spec)
    return ModelArtifact(path=path, spec=spec, sha256=sha256_file(path), name=name,
                         synthetic_weights=synthetic)


def _dims(value_info) -> list:
    return [d.dim_param or d.dim_value or "?" for d in value_info.type.tensor_type.shape.dim]


def check_model(path: Path, spec: ModelSpec) -> None:
    """Fail with a clear message unless the model's input and output match the spec."""
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError, OSError, ValueError...
        raise ModelError(f"{path} is not a readable ONNX model ({type(exc).__name__}); "
                         "export the model to ONNX first") from None
    _check_runtime_loads(path, model)
    initializers = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    listing = "; ".join(f"{i.name} {_dims(i)}" for i in inputs) or "none"
    match = [i for i in inputs if i.name == spec.input_name]
    if not match:
        raise ModelError(f"{path} has no input named {spec.input_name!r}; its inputs are: {listing}. "
                         "Set --input-name (or choose a --preset)")
    dims = _dims(match[0])
    channel_axis = 1 if spec.layout == "NCHW" else 3
    if len(dims) != 4 or dims[channel_axis] not in (3, "?") and not isinstance(dims[channel_axis], str):
        raise ModelError(f"{path} input {spec.input_name!r} has shape {dims}, not an {spec.layout} image "
                         f"tensor with 3 channels; its inputs are: {listing}. Check --layout")
    spatial = dims[2:] if spec.layout == "NCHW" else dims[1:3]
    if any(isinstance(d, int) and d != spec.image_size for d in spatial):
        raise ModelError(f"{path} input {spec.input_name!r} has shape {dims} but the spec crops "
                         f"{spec.image_size}x{spec.image_size}; set --image-size")
    outputs = [o.name for o in model.graph.output]
    if spec.output_name is not None and spec.output_name not in outputs:
        raise ModelError(f"{path} has no output named {spec.output_name!r}; its outputs are: "
                         f"{', '.join(outputs)}. Set --output-name")


# The C++ source location and function signature ORT puts before its message.
_CPP_LOCATION = r"^\S+:\d+ [^(]*\(.*?\) (?=\S)"


def _check_runtime_loads(path: Path, model: onnx.ModelProto) -> None:
    """ONNX Runtime must accept the file: an unsupported opset or operator, or bytes that
    merely parse as protobuf, fail here in one line rather than in the LoadGen process."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # a check, not a run
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    try:
        ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises Fail, InvalidGraph, InvalidProtobuf, NotImplemented...
        text = " ".join(str(exc).split())
        opsets = ", ".join(f"{o.domain or 'ai.onnx'} {o.version}" for o in model.opset_import) or "none"
        limit = re.search(r"support for domain ai\.onnx is till opset (\d+)", text)
        detail = re.sub(_CPP_LOCATION, "", text.split(" failed:", 1)[-1].strip()).rstrip(" .")
        reason = f"it supports ai.onnx up to opset {limit[1]}" if limit else detail[:300]
        raise ModelError(f"ONNX Runtime {ort.__version__} cannot load {path} (opsets: {opsets}): {reason}; "
                         "re-export the model for this ONNX Runtime") from None
