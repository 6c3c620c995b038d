"""Model files: the embedded default, user ONNX models, and their validation."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import onnx
from onnx import helper, shape_inference

from harness.config.modelspec import ModelSpec
from harness.cpu.placement import Instance
from harness.cpu.sysinfo import memory_bytes
from harness.errors import ModelError, PlacementError
from harness.files import atomic_write_bytes, cache_root, exclusive, sha256_file
from harness.progress import note

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
    fixed_batch: int | None = None  # the one batch size the model takes; None: any
    sample_bytes: int = 0  # the least memory one sample of a batch needs (input, output, largest layer)

    def to_json(self) -> dict:
        return {"name": self.name, "path": str(self.path), "sha256": self.sha256,
                "synthetic_weights": self.synthetic_weights, "spec": self.spec.to_json()}


def embedded_model_path(progress: bool = True) -> Path:
    """Build (once, under a lock: two first runs build it once) and cache the embedded
    ResNet-50 with synthetic weights."""
    from harness.models.resnet50 import build_resnet50

    path = cache_root() / "models" / f"resnet50-v1.5-synthetic-{BUILDER_VERSION}-seed{EMBEDDED_SEED}.onnx"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    waiting = f"another harness process is building the embedded ResNet-50 {path}; waiting for it"
    with exclusive(path.parent / f".{path.name}.lock", lambda: note(waiting, progress)):
        if not path.exists():
            note(f"building the embedded ResNet-50 (synthetic weights) into {path}; once per cache", progress)
            atomic_write_bytes(path, build_resnet50(EMBEDDED_SEED).SerializeToString())
    return path


def resolve_model(model: str, spec: ModelSpec, progress: bool = True) -> ModelArtifact:
    """The model file a run uses, validated against its spec."""
    if model == EMBEDDED:
        path, name, synthetic = embedded_model_path(progress), "resnet50-v1.5-synthetic", True
    else:
        path, name, synthetic = Path(model), Path(model).stem, False
        if not path.is_file():
            raise ModelError(f"model file {path} does not exist; pass --model PATH.onnx or --model resnet50")
    shapes = check_model(path, spec)
    return ModelArtifact(path=path, spec=spec, sha256=sha256_file(path), name=name,
                         synthetic_weights=synthetic, fixed_batch=shapes.fixed_batch,
                         sample_bytes=shapes.sample_bytes)


def _dims(value_info) -> list:
    return [d.dim_param or d.dim_value or "?" for d in value_info.type.tensor_type.shape.dim]


@dataclass(frozen=True)
class ModelShapes:
    """What check_model learns of a model that a layout must respect."""

    fixed_batch: int | None
    sample_bytes: int


def check_model(path: Path, spec: ModelSpec) -> ModelShapes:
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
    if len(inputs) > 1:
        raise ModelError(f"{path} has {len(inputs)} inputs ({listing}); the harness feeds one image tensor, "
                         f"so export the model with {spec.input_name!r} as its only input")
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
    if not outputs:
        raise ModelError(f"{path} has no outputs; export the model with its class scores as an output")
    output = next(o for o in model.graph.output if o.name == (spec.output_name or outputs[0]))
    _check_classes(path, spec, output)
    return ModelShapes(_fixed_batch(path, match[0], output), _sample_bytes(model))


def _check_classes(path: Path, spec: ModelSpec, output) -> None:
    """The output must hold what the spec decodes: one score per class (classes + label offset)
    for logits and probabilities, one class index for argmax. Else every label read is wrong."""
    dims = _dims(output)
    if len(dims) < 2 or not all(isinstance(d, int) for d in dims[1:]):
        return  # a width known only when the model runs: nothing to hold it to here
    width = math.prod(dims[1:])
    if spec.output_kind == "argmax":
        if width != 1:
            raise ModelError(f"{path} output {output.name!r} has shape {dims}, {width} values a sample, "
                             "not one class index; set --output-kind logits (or probabilities)")
        return
    expected = spec.num_classes + spec.label_offset
    if width != expected:
        raise ModelError(f"{path} output {output.name!r} has {width} classes (shape {dims}) but the spec "
                         f"expects {expected} ({spec.num_classes} classes + label offset {spec.label_offset}); "
                         "set --num-classes and --label-offset to the model's")


def _fixed_batch(path: Path, model_input, output) -> int | None:
    """The batch size the model is fixed to by its input's or output's first dimension, if any."""
    fixed = {d[0] for d in (_dims(model_input), _dims(output)) if d and isinstance(d[0], int)}
    if len(fixed) > 1:
        raise ModelError(f"{path} input {model_input.name!r} and output {output.name!r} have different "
                         f"batch dimensions ({' and '.join(map(str, sorted(fixed)))}); re-export the model "
                         "with a dynamic batch dimension")
    return fixed.pop() if fixed else None


def _sample_bytes(model: onnx.ModelProto) -> int:
    """A lower bound of the memory one sample of a batch takes: the input and output buffers
    the harness allocates, and the largest layer's inputs and outputs inside the runtime.
    Per-sample sizes come from shape inference; a tensor of unknown shape counts as 0."""
    weights = {i.name for i in model.graph.initializer}
    try:
        inferred = shape_inference.infer_shapes(_without_weight_data(model)).graph
    except Exception:  # shape inference is best effort: a model it cannot follow still runs
        inferred = model.graph
    sizes = {v.name: _per_sample_bytes(v) for v in (*inferred.value_info, *inferred.input, *inferred.output)}
    ends = {v.name for v in (*model.graph.input, *model.graph.output)}
    largest = max((sum(sizes.get(t, 0) for t in (*node.input, *node.output) if t not in weights | ends)
                   for node in model.graph.node), default=0)
    return sum(sizes.get(name, 0) for name in ends - weights) + largest


def _without_weight_data(model: onnx.ModelProto) -> onnx.ModelProto:
    """The graph with its weights as inputs of their shape: shape inference copies the model it
    is given, and ResNet-50's 100 MB of weights made that 2 s of every run's start."""
    declared = {i.name for i in model.graph.input}
    weights = [helper.make_tensor_value_info(i.name, i.data_type, i.dims)
               for i in model.graph.initializer if i.name not in declared]
    graph = helper.make_graph(model.graph.node, model.graph.name, [*model.graph.input, *weights],
                              model.graph.output)
    return helper.make_model(graph, opset_imports=model.opset_import, ir_version=model.ir_version,
                             functions=model.functions)


def _per_sample_bytes(value_info) -> int:
    tensor = value_info.type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim][1:]
    if not tensor.HasField("shape") or not dims or None in dims or not tensor.elem_type:
        return 0
    try:
        itemsize = helper.tensor_dtype_to_np_dtype(tensor.elem_type).itemsize
    except (KeyError, ValueError):
        return 0
    return math.prod(dims) * itemsize


def check_layout(artifact: ModelArtifact, instances: Iterable[Instance], root: Path = Path("/")) -> None:
    """Refuse a layout the model cannot run, before anything starts: a batch its fixed batch
    dimension does not take, or more memory than this machine has available."""
    instances = tuple(instances)
    batch = max(i.batch_size for i in instances)
    fixed = artifact.fixed_batch
    if fixed is not None and fixed > 1:
        raise ModelError(f"{artifact.path} has a fixed batch dimension of {fixed}; the harness runs batches of "
                         f"1 to the batch size, so re-export the model with a dynamic batch dimension")
    if fixed == 1 and batch != 1:
        raise ModelError(f"{artifact.path} takes batch size 1 only (its batch dimension is fixed to 1) but this "
                         f"run asks for batch {batch}; pass --batch-size 1, or re-export the model with a "
                         "dynamic batch dimension")
    available = memory_bytes(root, "MemAvailable")
    samples = sum(i.batch_size for i in instances)
    need = samples * artifact.sample_bytes
    if available is None or need <= available:
        return
    largest = available // (artifact.sample_bytes * len(instances))
    advice = (f"use --batch-size {largest} or less" if largest >= 1
              else "free memory or use fewer --instances")
    count = f"{len(instances)} instance{'s' if len(instances) > 1 else ''}"
    raise PlacementError(f"batch {batch} on {count} needs at least {_size(need)} of memory "
                         f"({_size(artifact.sample_bytes)} a sample: input, output and the largest layer), "
                         f"but this machine has {_size(available)} available; {advice}")


def _size(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


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
