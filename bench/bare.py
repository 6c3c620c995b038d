"""The bare engine: the harness's own sessions, driven by a plain loop with no LoadGen.

Benchmarks run this next to a harness run with the same model file, precision, EP,
placement and batch, so the ratio between the two is the harness's overhead.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

import numpy as np

from harness.config.runconfig import RunConfig
from harness.cpu.sysinfo import cpu_info
from harness.engine.choice import choose_ep
from harness.engine.session import build_engines
from harness.loadgen.benchmark import _model_for_precision, _plan
from harness.loadgen.inputs import preprocessed_samples, resolve_inputs


@dataclass
class BareSetup:
    cfg: RunConfig
    model_path: str
    engines: list
    instances: tuple


def bare_setup(cfg: RunConfig) -> BareSetup:
    import onnxruntime as ort

    inputs = resolve_inputs(cfg)
    samples = preprocessed_samples(inputs, progress=False)
    choice = choose_ep(cfg.ep, cfg.precision, cpu_info()["isa"], ort.get_available_providers())
    model_path, _ = _model_for_precision(cfg, inputs.artifact, inputs.dataset, samples)
    plan, _ = _plan(cfg)
    engines = build_engines(model_path, choice, inputs.artifact.spec, plan.instances, samples.shape[1:],
                            samples.dtype)
    for e in engines:
        e.input[:] = samples[np.arange(e.batch_size) % len(samples)]
        e.run(e.batch_size)
        e.run(1)
    return BareSetup(cfg, model_path, engines, plan.instances)


def _runner(engine, n: int, plain: bool):
    """One inference of n samples: session.run with a feed dict, or the bound buffers."""
    if not plain:
        return lambda: engine.run(n)
    feed = {engine.spec.input_name: engine.input[:n]}
    names = [engine.output.name]
    return lambda: engine.session.run(names, feed)


def bare_offline(setup: BareSetup, seconds: float, plain: bool = False) -> float:
    """Samples/s with every instance running full batches in a pinned thread."""
    done = [0] * len(setup.engines)
    start = time.perf_counter()

    def loop(k: int) -> None:
        os.sched_setaffinity(0, {setup.instances[k].cpus[0]})
        e = setup.engines[k]
        infer = _runner(e, e.batch_size, plain)
        while time.perf_counter() - start < seconds:
            infer()
            done[k] += e.batch_size

    threads = [threading.Thread(target=loop, args=(k,)) for k in range(len(setup.engines))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done) / (time.perf_counter() - start)


def bare_single_stream(setup: BareSetup, seconds: float, plain: bool = False) -> np.ndarray:
    """Batch-1 latencies in ns from instance 0, one query at a time, in a pinned thread."""
    latencies: list[int] = []

    def loop() -> None:
        os.sched_setaffinity(0, {setup.instances[0].cpus[0]})
        infer, end = _runner(setup.engines[0], 1, plain), time.perf_counter() + seconds
        while time.perf_counter() < end:
            t = time.perf_counter_ns()
            infer()
            latencies.append(time.perf_counter_ns() - t)

    thread = threading.Thread(target=loop)
    thread.start()
    thread.join()
    return np.asarray(latencies, dtype=np.int64)
