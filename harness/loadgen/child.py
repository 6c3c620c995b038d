"""One LoadGen test in its own process: engines, calibration, QSL, SUT, StartTest.

Running each test in a child process gives LoadGen the one FromConfig call per
process it needs, and lets the parent stop a test LoadGen itself cannot abort
(a worker failure, Ctrl-C, a hang) while keeping whatever LoadGen logged.
The child reports to the parent through an event queue, in the typed events of
harness.loadgen.events. The engines run here (`_LocalSide`) or on the nodes of a Ray
cluster (harness.loadgen.cluster.ClusterSide); the test around them is the same.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import threading
import traceback
from dataclasses import asdict

import mlperf_loadgen as lg
import numpy as np

from harness.cpu.affinity import observe_threads
from harness.cpu.placement import cpus_by_node
from harness.engine.session import build_engines
from harness.errors import one_line
from harness.files import atomic_write_text
from harness.lifetime import as_child_of
from harness.loadgen.events import Calibrated, Done, Failed, Progress, Providers, ThreadsObserved
from harness.loadgen.job import TestJob
from harness.loadgen.prepare import calibrate, measure_server_batching, warm_up
from harness.loadgen.qsl import SampleStore
from harness.loadgen.settings import load_test_settings, render_user_conf
from harness.loadgen.sut import SUT


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


class _LocalSide:
    """This machine's engines and SUT, and LoadGen's SUT and QSL handles for them."""

    def __init__(self, job: TestJob, cache: np.ndarray, events, on_error):
        instances, scenario = job.instances, job.loadgen.scenario
        engines = build_engines(job.model_path, job.engine, job.spec, instances, cache.shape[1:], cache.dtype)
        events.put(Providers(tuple(engines[0].providers())))
        warm_up(instances, engines, cache)
        batching = None
        if scenario.batches_across_queries:
            batching = measure_server_batching(instances, engines, job.loadgen.latency_bound_ms / 1000)
            events.put(batching)
        # Server without a target: a first look at half the capacity (the rate search's first step).
        self.target = job.target or (batching.capacity / 2 if batching else calibrate(scenario, instances, engines))
        store = SampleStore(cache, cpus_by_node(instances))
        self.sut = _sut_type(job.sut_class)(
            engines, instances, store, batching.batch if batching else instances[0].batch_size, on_error,
            collect_s=batching.collect_ms / 1000 if batching else None,
            inline=(scenario.one_query_at_a_time and len(instances) == 1
                    and instances[0].batch_size >= job.loadgen.samples_per_query))
        self.sut.start()
        self.sut_handle = lg.ConstructFastSUT(self.sut.issue, self.sut.flush)
        self.qsl_handle = lg.ConstructQSL(len(cache), job.loadgen.performance_sample_count, store.load, store.unload)
        self._observed = False
        self.events = events

    @property
    def samples_done(self) -> int:
        return self.sut.samples_done

    def observe(self) -> None:
        """Once samples flow: where this process's threads are allowed and run."""
        if not self._observed and self.sut.samples_done:
            self.events.put(ThreadsObserved(tuple(asdict(o) for o in observe_threads())))
            self._observed = True

    def finish(self) -> np.ndarray:
        self.sut.stop()
        lg.DestroyQSL(self.qsl_handle)
        lg.DestroyFastSUT(self.sut_handle)
        return self.sut.timeline.array()


def _run(job: TestJob, events) -> None:
    cache = np.load(job.samples_path, mmap_mode="r")
    failure = threading.Event()

    def on_error(worker: str, exc: BaseException) -> None:
        cause = f"{worker} failed: {one_line(exc)}"
        events.put(Failed(cause, "".join(traceback.format_exception(exc))))
        failure.set()

    if job.cluster is not None:
        from harness.loadgen.cluster import ClusterSide  # imports Ray, needed for cluster runs only
        side = ClusterSide(job, cache, events, on_error)
    else:
        side = _LocalSide(job, cache, events, on_error)
    events.put(Calibrated(side.target))
    user_conf = job.run_dir / "user.conf"
    atomic_write_text(user_conf, render_user_conf(job.loadgen, side.target, job.calibrated))
    settings = load_test_settings(user_conf, job.loadgen.scenario, job.mode)

    log_output = lg.LogOutputSettings()
    log_output.outdir = str(job.run_dir)
    log_output.copy_summary_to_stdout = False
    log_settings = lg.LogSettings()
    log_settings.log_output = log_output
    log_settings.enable_trace = False

    stop_reporting = threading.Event()

    def report() -> None:
        while not stop_reporting.wait(job.progress_interval_s):
            events.put(Progress(side.samples_done))
            side.observe()

    reporter = threading.Thread(target=report, daemon=True)
    reporter.start()
    audit = str(job.audit_config) if job.audit_config else "audit.config.absent"
    lg.StartTestWithLogSettings(side.sut_handle, side.qsl_handle, settings, log_settings, audit)
    stop_reporting.set()
    reporter.join()
    timeline = side.finish()
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
