"""One LoadGen test in its own process: engines, calibration, QSL, SUT, StartTest.

Running each test in a child process gives LoadGen the one FromConfig call per
process it needs, and lets the parent stop a test LoadGen itself cannot abort
(a worker failure, Ctrl-C, a hang) while keeping whatever LoadGen logged.
The child reports to the parent through an event queue, in the typed events of
harness.loadgen.events.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import threading
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

import mlperf_loadgen as lg
import numpy as np

from harness.config.modelspec import ModelSpec
from harness.cpu.affinity import observe_threads
from harness.cpu.placement import Instance, cpus_by_node
from harness.engine.choice import EngineChoice
from harness.engine.session import Engine, build_engines
from harness.errors import RunFailed, one_line
from harness.files import atomic_write_text
from harness.lifetime import as_child_of
from harness.loadgen.events import Calibrated, Done, Failed, Progress, Providers, ServerBatching, ThreadsObserved
from harness.loadgen.qsl import SampleStore
from harness.loadgen.settings import LoadGenSettings, load_test_settings, render_user_conf
from harness.loadgen.sut import SUT

CALIBRATION_MIN_S = 1.0  # long enough that timer noise and per-batch overhead do not dominate
# A short calibration on a shared machine can underestimate the rate, and an Offline query
# sized too small ends before the minimum duration: INVALID. Oversizing only lengthens it.
OFFLINE_MARGIN = 1.25


@dataclass(frozen=True)
class TestJob:
    run_dir: Path
    mode: str
    model_path: str
    spec: ModelSpec
    engine: EngineChoice
    samples_path: str  # the preprocessed cache (.npy), memory-mapped
    instances: tuple[Instance, ...]
    loadgen: LoadGenSettings
    target: float | None  # expected samples/s or latency ms; None: measure
    audit_config: Path | None = None
    progress_interval_s: float = 1.0
    # "module:Class" of a SUT to use instead of harness.loadgen.sut.SUT: tests substitute
    # faulty SUTs (caching, failing) through it.
    sut_class: str | None = None


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


def _pinned(cpus: tuple[int, ...], fn, what: str = "calibration") -> threading.Thread:
    """A started thread running fn on cpus[0], as the SUT's workers do.

    An unpinned calling thread competes with ORT's pinned pool threads for their
    cores: measured here, 20-28 samples/s unpinned against 41-50 pinned (ResNet-50,
    batch 116, 2 threads).
    """
    thread = _Pinned(cpus, fn, what)
    thread.start()
    return thread


def _warm_up(job: TestJob, engines: list[Engine], cache: np.ndarray) -> None:
    """First runs pay for allocation and kernel selection: keep them out of the test.

    Two full batches, on the instance's pinned thread: after a batch-1 run the next full
    batch was still slow (measured: 2.27 s against 1.94 s, ResNet-50 FP32 batch 116), and
    a calibration that caught it sized quick Offline queries too small (INVALID).
    """
    for e, inst in zip(engines, job.instances):
        e.input[:] = cache[np.arange(e.batch_size) % len(cache)]
        _pinned(inst.cpus, lambda e=e: (e.run(1), e.run(e.batch_size), e.run(e.batch_size)),
                "warm-up").join()


def _calibrate(job: TestJob, engines: list[Engine]) -> float:
    """Samples/s over all instances (Offline) or a query's p90 latency in ms (SingleStream,
    MultiStream)."""
    if job.loadgen.scenario.one_query_at_a_time:
        return _query_latency_ms(job, engines)
    done = [0] * len(engines)
    start = time.perf_counter()

    def spin(k: int) -> None:
        while done[k] == 0 or time.perf_counter() - start < CALIBRATION_MIN_S:
            engines[k].run(engines[k].batch_size)
            done[k] += engines[k].batch_size

    for thread in [_pinned(inst.cpus, lambda k=k: spin(k)) for k, inst in enumerate(job.instances)]:
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

    _pinned(instance.cpus, measure).join()
    return {size: float(np.median(values)) for size, values in times.items()}


def _query_latency_ms(job: TestJob, engines: list[Engine]) -> float:
    """p90 of a query's latency in ms: every instance runs its part of the query (one sample,
    or its share of a MultiStream query) at once; a query takes as long as the slowest part."""
    per_query = 1 if job.loadgen.scenario.one_sample_per_query else None
    p90 = [0.0] * len(engines)

    def measure(k: int) -> None:
        size, times = per_query or engines[k].batch_size, []
        start = time.perf_counter()
        while len(times) < 10 or time.perf_counter() - start < CALIBRATION_MIN_S:
            t = time.perf_counter()
            engines[k].run(size)
            times.append(time.perf_counter() - t)
        p90[k] = float(np.percentile(times, 90))

    for thread in [_pinned(inst.cpus, lambda k=k: measure(k)) for k, inst in enumerate(job.instances)]:
        thread.join()
    return max(p90) * 1000


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


def run_test(job: TestJob, events) -> None:
    """Child-process entry point."""
    as_child_of(multiprocessing.parent_process().pid)
    code = 0
    try:
        _run(job, events)
    except BaseException as exc:
        events.put(Failed(one_line(exc), traceback.format_exc()))
        code = 1
    # Everything this process owes is written and reported. Skip interpreter teardown:
    # inference runtimes' thread pools have crashed it at exit (seen: SIGSEGV after a
    # complete SingleStream run), which would turn a good run into a failed one.
    events.close()
    events.join_thread()
    os._exit(code)


def _run(job: TestJob, events) -> None:
    cache = np.load(job.samples_path, mmap_mode="r")
    engines = build_engines(job.model_path, job.engine, job.spec, job.instances, cache.shape[1:], cache.dtype)
    events.put(Providers(tuple(engines[0].providers())))
    _warm_up(job, engines, cache)
    batching = None
    if job.loadgen.scenario.batches_across_queries:
        largest = engines[0].batch_size
        sizes = sorted({1, largest, *(2 ** k for k in range(1, 8) if 2 ** k < largest)})
        batching = server_batching(_batch_times(job.instances[0], engines[0], sizes), len(engines),
                                   job.loadgen.latency_bound_ms / 1000)
        events.put(batching)
    # Server without a target: a first look at half the capacity (the rate search's first step).
    target = job.target or (batching.capacity / 2 if batching else _calibrate(job, engines))
    events.put(Calibrated(target))
    user_conf = job.run_dir / "user.conf"
    atomic_write_text(user_conf, render_user_conf(job.loadgen, target))
    settings = load_test_settings(user_conf, job.loadgen.scenario, job.mode)

    store = SampleStore(cache, cpus_by_node(job.instances))
    failure = threading.Event()

    def on_error(worker: str, exc: BaseException) -> None:
        cause = f"{worker} failed: {one_line(exc)}"
        events.put(Failed(cause, "".join(traceback.format_exception(exc))))
        failure.set()

    one_query_at_a_time = job.loadgen.scenario.one_query_at_a_time
    sut = _sut_type(job.sut_class)(
        engines, job.instances, store, batching.batch if batching else job.instances[0].batch_size, on_error,
        collect_s=batching.collect_ms / 1000 if batching else None,
        inline=(one_query_at_a_time and len(job.instances) == 1
                and job.instances[0].batch_size >= job.loadgen.samples_per_query))
    sut.start()
    sut_handle = lg.ConstructFastSUT(sut.issue, sut.flush)
    qsl_handle = lg.ConstructQSL(len(cache), job.loadgen.performance_sample_count, store.load, store.unload)

    log_output = lg.LogOutputSettings()
    log_output.outdir = str(job.run_dir)
    log_output.copy_summary_to_stdout = False
    log_settings = lg.LogSettings()
    log_settings.log_output = log_output
    log_settings.enable_trace = False

    stop_reporting = threading.Event()

    def report() -> None:
        observed = False
        while not stop_reporting.wait(job.progress_interval_s):
            events.put(Progress(sut.samples_done))
            if not observed and sut.samples_done:
                events.put(ThreadsObserved(tuple(asdict(o) for o in observe_threads())))
                observed = True

    reporter = threading.Thread(target=report, daemon=True)
    reporter.start()
    audit = str(job.audit_config) if job.audit_config else "audit.config.absent"
    lg.StartTestWithLogSettings(sut_handle, qsl_handle, settings, log_settings, audit)
    stop_reporting.set()
    reporter.join()
    sut.stop()
    lg.DestroyQSL(qsl_handle)
    lg.DestroyFastSUT(sut_handle)
    timeline = sut.timeline.array()
    timeline = timeline[np.lexsort((timeline[:, 1], timeline[:, 0]))]  # issue order
    np.save(job.run_dir / "timeline.npy", timeline)
    np.save(job.run_dir / "latencies.npy", timeline[:, 1] - timeline[:, 0])
    if not failure.is_set():
        events.put(Done(int(timeline[:, 2].sum())))


def _sut_type(name: str | None) -> type:
    """The harness's SUT, or the "module:Class" a test injects from outside the project."""
    if name is None:
        return SUT
    module, _, cls = name.partition(":")
    return getattr(importlib.import_module(module), cls)
