"""Engines made ready before the timed test: warm-up, and what is measured to set it up.

The same steps run in the LoadGen child for a single machine and on every node of a
cluster (harness.loadgen.node): warm the engines, measure the batch times Server batching
is chosen from, and calibrate the expectation LoadGen is given.
"""

from __future__ import annotations

import os
import threading
import time

import numpy as np

from harness.cpu.placement import Instance
from harness.engine.session import Engine
from harness.errors import RunFailed, one_line
from harness.loadgen.events import ServerBatching
from harness.loadgen.settings import OFFLINE_MARGIN
from harness.terms import Scenario

CALIBRATION_MIN_S = 1.0  # long enough that timer noise and per-batch overhead do not dominate


class _Pinned(threading.Thread):
    """fn on cpus[0]; join() raises what fn raised, so that a warm-up or calibration that
    failed fails the run instead of letting it measure with a target of 0."""

    def __init__(self, cpus: tuple[int, ...], fn, what: str):
        super().__init__()
        self.cpus, self.fn, self.what, self.error = cpus, fn, what, None

    def run(self) -> None:
        try:
            if self.cpus:
                os.sched_setaffinity(0, {self.cpus[0]})
            self.fn()
        except BaseException as exc:
            self.error = exc

    def join(self, timeout: float | None = None) -> None:
        super().join(timeout)
        if self.error is not None:
            raise RunFailed(f"{self.what} failed before measuring: {one_line(self.error)}") from self.error


def pinned(cpus: tuple[int, ...], fn, what: str = "calibration") -> threading.Thread:
    """A started thread running fn on cpus[0], as the SUT's workers do.

    An unpinned calling thread competes with ORT's pinned pool threads for their
    cores: measured here, 20-28 samples/s unpinned against 41-50 pinned (ResNet-50,
    batch 116, 2 threads).
    """
    thread = _Pinned(cpus, fn, what)
    thread.start()
    return thread


def warm_up(instances: tuple[Instance, ...], engines: list[Engine], rows: np.ndarray) -> None:
    """First runs pay for allocation and kernel selection: keep them out of the test.

    Batch 1, then a full batch, on the instance's pinned thread: after a batch-1 run the next
    full batch was still slow (measured: 2.27 s against 1.94 s, ResNet-50 FP32 batch 116), and
    a calibration that caught it sized quick Offline queries too small (INVALID). The batch
    after it ran at speed (2-core EPYC, FP32 batch 116: 8.41 s, then 8.01, 7.98, 8.53 s), so
    calibration, which follows, needs no second warm-up batch: it cost every FP32 run 8 s there.
    """
    for e, inst in zip(engines, instances):
        e.input[:] = rows[np.arange(e.batch_size) % len(rows)]
        pinned(inst.cpus, lambda e=e: (e.run(1), e.run(e.batch_size)), "warm-up").join()


def calibrate(scenario: Scenario, instances: tuple[Instance, ...], engines: list[Engine]) -> float:
    """Samples/s over all instances (Offline) or a query's p90 latency in ms (SingleStream,
    MultiStream)."""
    if scenario.one_query_at_a_time:
        return _query_latency_ms(scenario, instances, engines)
    done = [0] * len(engines)
    start = time.perf_counter()

    def spin(k: int) -> None:
        while done[k] == 0 or time.perf_counter() - start < CALIBRATION_MIN_S:
            engines[k].run(engines[k].batch_size)
            done[k] += engines[k].batch_size

    for thread in [pinned(inst.cpus, lambda k=k: spin(k)) for k, inst in enumerate(instances)]:
        thread.join()
    return OFFLINE_MARGIN * sum(done) / (time.perf_counter() - start)


def _batch_times(instance: Instance, engine: Engine, sizes: list[int]) -> dict[int, float]:
    """Seconds per run of each batch size: the median of several runs on the pinned thread."""
    times: dict[int, list[float]] = {size: [] for size in sizes}

    def measure() -> None:
        for size in sizes:
            start = time.perf_counter()
            while len(times[size]) < 5 or time.perf_counter() - start < CALIBRATION_MIN_S / len(sizes):
                t = time.perf_counter()
                engine.run(size)
                times[size].append(time.perf_counter() - t)

    pinned(instance.cpus, measure).join()
    return {size: float(np.median(values)) for size, values in times.items()}


def _query_latency_ms(scenario: Scenario, instances: tuple[Instance, ...], engines: list[Engine]) -> float:
    """p90 of a query's latency in ms: every instance runs its part of the query (one sample,
    or its share of a MultiStream query) at once; a query takes as long as the slowest part."""
    per_query = 1 if scenario.one_sample_per_query else None
    p90 = [0.0] * len(engines)

    def measure(k: int) -> None:
        size, times = per_query or engines[k].batch_size, []
        start = time.perf_counter()
        while len(times) < 10 or time.perf_counter() - start < CALIBRATION_MIN_S:
            t = time.perf_counter()
            engines[k].run(size)
            times.append(time.perf_counter() - t)
        p90[k] = float(np.percentile(times, 90))

    for thread in [pinned(inst.cpus, lambda k=k: measure(k)) for k, inst in enumerate(instances)]:
        thread.join()
    return max(p90) * 1000


def measure_server_batching(instances: tuple[Instance, ...], engines: list[Engine],
                            bound_s: float) -> ServerBatching:
    """Batch times of the first instance at batch 1, the powers of two and its largest batch,
    and the batching chosen from them."""
    largest = engines[0].batch_size
    sizes = sorted({1, largest, *(2 ** k for k in range(1, 8) if 2 ** k < largest)})
    return server_batching(_batch_times(instances[0], engines[0], sizes), len(engines), bound_s)


def server_batching(batch_s: dict[int, float], instances: int, bound_s: float) -> ServerBatching:
    """The largest batch that leaves room in the latency bound, and how long it may wait to fill.

    A query can wait for its batch to close (collect), for a busy instance to finish its
    batch, then for its own batch: collect + 2 x batch time within half the bound leaves the
    other half for queueing near the peak rate. Waiting longer than a batch takes is never
    worth it: at that rate the queue fills the batch anyway.
    """
    fitting = [b for b, s in batch_s.items() if 2 * s <= bound_s / 2]
    batch = max(fitting) if fitting else min(batch_s)
    collect = min(batch_s[batch], max(0.0, bound_s / 2 - 2 * batch_s[batch]))
    return ServerBatching(batch, collect * 1000, instances * batch / batch_s[batch],
                          {b: s * 1000 for b, s in batch_s.items()})
