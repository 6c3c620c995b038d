"""One machine's part of a cluster run: a Ray actor that owns the node's placement, engines
and loaded samples, batches on the node and answers with labels.

The actor is this module's `NodeServer`, made remote by harness.loadgen.cluster. Each node
applies the run's layout flags to its own topology, chooses the execution provider for its
own CPU and proves the precision its engine computes in, as a single-machine run does; the
LoadGen machine only forwards sample indices (harness.loadgen.dispatch).
"""

from __future__ import annotations

import os
import platform
import queue
import shutil
import tempfile
import threading
import time
from dataclasses import asdict, dataclass

import numpy as np
import onnxruntime as ort

from harness import __version__
from harness.config.modelspec import ModelSpec
from harness.cpu.affinity import observe_threads
from harness.cpu.placement import cpus_by_node, plan_instances
from harness.cpu.sysinfo import system_info
from harness.cpu.topology import read_topology
from harness.engine.choice import choose_ep
from harness.engine.layouts import default_layout
from harness.engine.proof import precision_proof
from harness.engine.session import build_engines
from harness.errors import RunFailed, one_line
from harness.loadgen.job import NodeLayout
from harness.loadgen.prepare import calibrate, measure_server_batching, warm_up
from harness.loadgen.qsl import SampleStore
from harness.loadgen.sut import SUT, Worker
from harness.terms import Scenario


@dataclass(frozen=True)
class NodeSetup:
    model_name: str
    spec: ModelSpec
    ep: str
    precision: str
    layout: NodeLayout
    sample_shape: tuple[int, ...]
    sample_dtype: str
    dataset_size: int
    scenario: Scenario
    latency_bound_ms: float | None


class _Reply:
    """Where a worker leaves a request's answer (or its failure) for the thread that waits."""

    def __init__(self):
        self.done = threading.Event()
        self.answer: tuple | None = None
        self.error: BaseException | None = None

    def settle(self, answer: tuple | None, error: BaseException | None = None) -> None:
        self.answer, self.error = answer, error
        self.done.set()


class NodeWorker(Worker):
    """A worker whose items are a node's requests: (None, indices, arrived_ns, _Reply)."""

    def serve(self, items: list[tuple]) -> None:
        try:
            super().serve(items)
        except BaseException as exc:
            for item in items:
                item[3].settle(None, exc)
            raise

    def answer(self, items: list[tuple], n: int) -> None:
        """Each request gets its labels and how long it spent on the node (ns)."""
        start, answered = 0, time.monotonic_ns()
        for item in items:
            end = start + len(item[1])
            item[3].settle((self.responses[start:end].copy(), answered - item[2]))
            start = end
        self.samples_done += n


class NodeSUT(SUT):
    worker_class = NodeWorker


class _Shipped:
    """The dataset as the node's SampleStore reads it: the rows LoadGen's load shipped,
    addressed by dataset index like the memory-mapped cache on a single machine."""

    def __init__(self, size: int, shape: tuple[int, ...], dtype: str):
        self.shape, self.dtype = (size, *shape), np.dtype(dtype)
        self._position = np.full(size, -1, dtype=np.int64)
        self._rows = np.empty((0, *shape), dtype=self.dtype)

    def __len__(self) -> int:
        return self.shape[0]

    def ship(self, indices: np.ndarray, rows: np.ndarray) -> None:
        self._rows = rows
        self._position[:] = -1
        self._position[indices] = np.arange(len(indices))

    def __getitem__(self, indices: np.ndarray) -> np.ndarray:
        return self._rows[self._position[indices]]


class NodeServer:
    """Ray actor: the node's engines, samples and workers."""

    def __init__(self, setup: NodeSetup, model: bytes):
        self.setup = setup
        self.failure: BaseException | None = None
        self.sut: NodeSUT | None = None
        self.dir = tempfile.mkdtemp(prefix="harness-node-")
        # An error here would reach the LoadGen side as Ray's "actor died" with the cause buried
        # in its text: keep it, and let describe() raise it as itself.
        try:
            self._place(model)
        except Exception as exc:
            self.failure = exc

    def _place(self, model: bytes) -> None:
        setup = self.setup
        self.model_path = os.path.join(self.dir, setup.model_name)
        with open(self.model_path, "wb") as f:
            f.write(model)
        topology = read_topology()
        system = system_info(topology)
        self.choice = choose_ep(setup.ep, setup.precision, system["isa"], ort.get_available_providers())
        layout = setup.layout
        if layout.instances is None and layout.threads is None:  # this node's default for its own EP
            chosen = default_layout(setup.scenario, self.choice.ep, topology, layout.smt)
            instances, threads, source = chosen.instances, chosen.threads, chosen.source
        else:
            instances, threads, source = layout.instances, layout.threads, "flags (--instances/--threads)"
        self.plan = plan_instances(topology, instances, threads, layout.batch_size,
                                   smt=layout.smt, reserve_cores=layout.reserve_cores)
        proof = precision_proof(self.model_path, self.choice)
        self.facts = {
            "host": platform.node(), "harness_version": __version__, "system": system,
            "placement": {"description": self.plan.description, "source": source,
                          "instances": [vars(i) for i in self.plan.instances],
                          "reserved_cpus": list(self.plan.reserved_cpus)},
            "engine": self.choice.to_json(), "precision": proof,
        }
        self.shipped = _Shipped(setup.dataset_size, setup.sample_shape, setup.sample_dtype)

    def describe(self) -> dict:
        if self.failure is not None:
            raise self.failure
        return self.facts

    def prepare(self, target_given: bool) -> dict:
        """Build, warm and measure the engines, start the workers. What was measured: the Server
        batching, and the calibration (samples/s, or a query's latency in ms) unless the
        target is given."""
        proof = self.facts["precision"]
        if not proof["matches"]:
            raise RunFailed(f"asked for {self.setup.precision} on the {self.choice.ep} EP but the engine "
                            f"reports {proof.get('reported') or proof.get('error')}")
        instances, scenario = self.plan.instances, self.setup.scenario
        engines = build_engines(self.model_path, self.choice, self.setup.spec, instances,
                                self.setup.sample_shape, np.dtype(self.setup.sample_dtype))
        # The samples arrive with LoadGen's first load, after this: warm up on zeros.
        warm_up(instances, engines, np.zeros((1, *self.setup.sample_shape), self.setup.sample_dtype))
        batching = None
        if scenario.batches_across_queries:
            batching = measure_server_batching(instances, engines, self.setup.latency_bound_ms / 1000)
        calibration = None if target_given or batching else calibrate(scenario, instances, engines)
        self.store = SampleStore(self.shipped, cpus_by_node(instances))
        self.sut = NodeSUT(engines, instances, self.store, batching.batch if batching else instances[0].batch_size,
                           self._on_error, collect_s=batching.collect_ms / 1000 if batching else None)
        self.sut.start()
        return {"providers": engines[0].providers(), "batching": batching, "calibration": calibration}

    def _on_error(self, worker: str, exc: BaseException) -> None:
        """A worker failed: so do the requests waiting for one, and every request after them."""
        self.failure = RunFailed(f"{worker} failed: {one_line(exc)}")
        while True:
            try:
                item = self.sut.work.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                item[3].settle(None, self.failure)

    def load(self, indices: np.ndarray, rows: np.ndarray) -> None:
        self.shipped.ship(indices, rows)
        self.store.load(indices)

    def unload(self, indices: np.ndarray) -> None:
        self.store.unload(indices)

    def infer(self, indices: np.ndarray) -> tuple[np.ndarray, int]:
        """The labels of the samples `indices`, once a worker has run them (with whatever other
        requests it batched them with), and the ns the request spent on this node. Ray calls
        it on as many threads as requests are in flight (the actor's max_concurrency)."""
        if self.failure is not None:
            raise self.failure
        reply = _Reply()
        self.sut.work.put((None, indices, time.monotonic_ns(), reply))
        reply.done.wait()
        if reply.error is not None:
            raise reply.error
        return reply.answer

    def echo(self, indices: np.ndarray) -> tuple[np.ndarray, int]:
        """An answer of infer's shape without inference: the dispatch's own rate is measured on it."""
        return np.zeros(len(indices), dtype=np.float32), 0

    def threads(self) -> list[dict]:
        """Each thread's allowed CPUs, last CPU and CPU time, for the placement check."""
        return [asdict(o) for o in observe_threads()]

    def stop(self) -> None:
        if self.sut is not None:
            self.sut.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
