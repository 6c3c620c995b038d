"""ONNX Runtime sessions with their threads and pinning, and per-instance engines.

On the CPU EP every instance has its own session, its threads pinned to the
instance's CPUs. On the OpenVINO EP the instances of a NUMA node share one session
with a stream each (harness.engine.choice explains why). Either way each instance has
an Engine: a preallocated input and output buffer bound to the session through
IOBinding. The dispatcher writes a batch into `input[:n]`, `run(n)` infers without
allocating and returns the class labels.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from harness._native.dispatch import argmax_labels
from harness.config.modelspec import ModelSpec
from harness.cpu.placement import Instance
from harness.engine.choice import CPU, ORT_NAMES, EngineChoice, openvino_options
from harness.errors import ModelError


def session_options(threads: int, cpus: tuple[int, ...]) -> ort.SessionOptions:
    """CPU EP options: `threads` intra-op threads; the extra ones pinned to cpus[1:].

    ORT pins only the threads it creates; the calling thread (cpus[0]) is pinned by
    the worker that calls run().
    """
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    if threads > 1 and len(cpus) >= threads:
        opts.add_session_config_entry("session.intra_op_thread_affinities",
                                      ";".join(str(c + 1) for c in cpus[1:threads]))
    return opts


def create_session(model_path: str, choice: EngineChoice, threads: int, cpus: tuple[int, ...],
                   streams: int = 1) -> ort.InferenceSession:
    if choice.ep == CPU:
        options, providers = session_options(threads, cpus), [ORT_NAMES[CPU]]
    else:
        options = ort.SessionOptions()
        options.log_severity_level = 3
        providers = [(ORT_NAMES[choice.ep], openvino_options(choice.precision, threads, streams))]
    try:
        session = ort.InferenceSession(str(model_path), options, providers=providers)
    except Exception as exc:  # ORT raises its own Fail/InvalidGraph types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"ONNX Runtime cannot load {model_path}: {first}") from None
    if session.get_providers()[0] != ORT_NAMES[choice.ep]:
        raise ModelError(f"{ORT_NAMES[choice.ep]} did not take {model_path} (ONNX Runtime fell back to "
                         f"{session.get_providers()[0]}); the result would not be what was asked")
    return session


class Engine:
    def __init__(self, session: ort.InferenceSession, spec: ModelSpec, batch_size: int,
                 sample_shape: tuple, sample_dtype: np.dtype):
        self.session = session
        self.spec = spec
        self.batch_size = batch_size
        outputs = self.session.get_outputs()
        self.output = next((o for o in outputs if o.name == spec.output_name), outputs[0])
        self.input = np.zeros((batch_size, *sample_shape), dtype=sample_dtype)
        self._out = None
        self._bindings: dict[int, ort.IOBinding] = {}

    def providers(self) -> list[str]:
        return self.session.get_providers()

    def _binding(self, n: int) -> ort.IOBinding:
        binding = self._bindings.get(n)
        if binding is None:
            if self._out is None:
                # The output's width (classes, or 1 for argmax) is only known after a run.
                probe = self.session.run([self.output.name], {self.spec.input_name: self.input[:1]})[0]
                self._out = np.zeros((self.batch_size, *probe.shape[1:]), dtype=probe.dtype)
            binding = self.session.io_binding()
            x, y = self.input[:n], self._out[:n]
            binding.bind_input(self.spec.input_name, "cpu", 0, x.dtype, x.shape, x.ctypes.data)
            binding.bind_output(self.output.name, "cpu", 0, y.dtype, y.shape, y.ctypes.data)
            self._bindings[n] = binding
        return binding

    def run(self, n: int) -> None:
        """Infer input[:n] into the bound output; labels_into reads it."""
        self.session.run_with_iobinding(self._binding(n))

    def labels_into(self, n: int, labels: np.ndarray) -> None:
        """The class labels of the last run's n outputs, label offset applied, as float32."""
        out = self._out[:n].reshape(n, -1)
        if self.spec.output_kind == "argmax":
            labels[:n] = out[:, 0] - self.spec.label_offset
        else:
            argmax_labels(np.ascontiguousarray(out, dtype=np.float32), self.spec.label_offset, labels)


def build_engines(model_path: str, choice: EngineChoice, spec: ModelSpec, instances: tuple[Instance, ...],
                  sample_shape: tuple, sample_dtype: np.dtype) -> list[Engine]:
    """One session per instance (CPU EP) or per NUMA node with a stream per instance."""
    if choice.ep == CPU:
        sessions = [create_session(model_path, choice, i.threads, i.cpus) for i in instances]
    else:
        by_node: dict[int, list[Instance]] = {}
        for inst in instances:
            by_node.setdefault(inst.node, []).append(inst)
        # OpenVINO places its own stream threads: the session takes no CPU list.
        shared = {node: create_session(model_path, choice, sum(i.threads for i in group), (),
                                       streams=len(group))
                  for node, group in by_node.items()}
        sessions = [shared[i.node] for i in instances]
    return [Engine(s, spec, i.batch_size, sample_shape, sample_dtype) for s, i in zip(sessions, instances)]
