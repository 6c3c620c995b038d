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
from harness.errors import one_line
from harness.files import atomic_write_text
from harness.lifetime import as_child_of
from harness.loadgen.events import Calibrated, Done, Failed, Progress, Providers, ThreadsObserved
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


def _pinned(cpus: tuple[int, ...], fn) -> threading.Thread:
    """A started thread running fn on cpus[0], as the SUT's workers do.

    An unpinned calling thread competes with ORT's pinned pool threads for their
    cores: measured here, 20-28 samples/s unpinned against 41-50 pinned (ResNet-50,
    batch 116, 2 threads).
    """
    def body():
        if cpus:
            os.sched_setaffinity(0, {cpus[0]})
        fn()

    thread = threading.Thread(target=body)
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
        _pinned(inst.cpus, lambda e=e: (e.run(1), e.run(e.batch_size), e.run(e.batch_size))).join()


def _calibrate(job: TestJob, engines: list[Engine]) -> float:
    """Samples/s over all instances (Offline) or single-sample p90 latency in ms."""
    if job.loadgen.scenario.one_sample_per_query:
        times: list[float] = []

        def single() -> None:
            start = time.perf_counter()
            while len(times) < 10 or time.perf_counter() - start < CALIBRATION_MIN_S:
                t = time.perf_counter()
                engines[0].run(1)
                times.append(time.perf_counter() - t)

        _pinned(job.instances[0].cpus, single).join()
        return float(np.percentile(times, 90) * 1000)

    done = [0] * len(engines)
    start = time.perf_counter()

    def spin(k: int) -> None:
        while done[k] == 0 or time.perf_counter() - start < CALIBRATION_MIN_S:
            engines[k].run(engines[k].batch_size)
            done[k] += engines[k].batch_size

    for thread in [_pinned(inst.cpus, lambda k=k: spin(k)) for k, inst in enumerate(job.instances)]:
        thread.join()
    return OFFLINE_MARGIN * sum(done) / (time.perf_counter() - start)


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
    target = job.target or _calibrate(job, engines)
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

    batch = job.instances[0].batch_size
    sut = _sut_type(job.sut_class)(engines, job.instances, store, batch, on_error)
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
