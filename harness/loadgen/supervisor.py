"""The parent's side of a LoadGen test: start the child, follow its events, end it cleanly.

LoadGen cannot be aborted, so a test that must stop (a worker failed, nothing completed
for the stall timeout, SIGINT or SIGTERM raised in this thread) ends by ending the
child; whatever LoadGen logged stays on disk.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import queue
import signal
import time

from harness.errors import ConfigError
from harness.lifetime import children_starting
from harness.loadgen.child import run_test
from harness.loadgen.events import (
    Calibrated,
    ClusterNodes,
    Done,
    Failed,
    Progress,
    Providers,
    ServerBatching,
    TestOutcome,
    ThreadsObserved,
)
from harness.loadgen.job import TestJob
from harness.progress import bar as progress_bar
from harness.results.runjson import RunRecord

STALL_TIMEOUT_S = 300.0  # no completed sample for this long after calibration: a hang
STALL_TIMEOUT_ENV = "HARNESS_STALL_TIMEOUT"  # seconds, over STALL_TIMEOUT_S; tests shorten it


def stall_timeout() -> float:
    """STALL_TIMEOUT_S, or $HARNESS_STALL_TIMEOUT seconds."""
    text = os.environ.get(STALL_TIMEOUT_ENV)
    if not text:
        return STALL_TIMEOUT_S
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{STALL_TIMEOUT_ENV}={text!r} is not a positive number of seconds")
    return value


def supervise(job: TestJob, record: RunRecord, stall_timeout_s: float, progress: bool,
              label: str, on_calibrated=None) -> TestOutcome:
    """Run the child to completion and say how it ended. The providers and the calibrated
    target go into run.json as soon as the child reports them; `on_calibrated(target)` is
    called then, as the timed test starts.

    The child is ended on the way out whatever happened, SIGINT and SIGTERM (raised here
    as exceptions by the caller's handlers) included.
    """
    ctx = mp.get_context("spawn")
    events = ctx.Queue()
    child = ctx.Process(target=run_test, args=(job, events), name="harness-loadgen", daemon=True)
    bar = None
    last_progress, last_change = -1, time.monotonic()
    samples = threads = None
    try:
        with children_starting():
            child.start()
        while True:
            if bar is not None and time.monotonic() - last_change > stall_timeout_s:
                return TestOutcome(Failed(f"no sample completed in {stall_timeout_s:g} s: the run hung"),
                                   samples, threads)
            try:
                event = events.get(timeout=0.2)
            except queue.Empty:
                if child.is_alive():
                    continue
                if child.exitcode != 0 or samples is None:
                    return TestOutcome(Failed(_exit_cause(child.exitcode)), samples, threads)
                return TestOutcome(None, samples, threads)
            match event:
                case Failed():
                    return TestOutcome(event, samples, threads)
                case Providers(names):
                    record.update(providers=list(names))
                case ClusterNodes(nodes, dispatch):
                    # The engine and the proof every node must match: the first node's.
                    record.update(cluster={**record.data["cluster"], "nodes": list(nodes), "dispatch": dispatch},
                                  engine=nodes[0]["engine"], precision=nodes[0]["precision"],
                                  providers=nodes[0].get("providers"))
                case ServerBatching():
                    record.update(server_batching=event.to_json())
                case Calibrated(target):
                    record.update(calibrated_target=target)
                    if on_calibrated is not None:
                        on_calibrated(target)
                    bar = progress_bar(progress, desc=label, unit="sample")
                    last_change = time.monotonic()
                case ThreadsObserved(observed):
                    threads = observed
                case Progress(done) if done != last_progress:
                    last_progress, last_change = done, time.monotonic()
                    bar.update(done - bar.n)
                case Done(total):
                    samples = total
    finally:
        if bar is not None:
            bar.close()
        if child.is_alive():
            child.terminate()
            child.join(10)
            if child.is_alive():
                child.kill()
        if child.pid is not None:  # a signal can arrive before the child started
            child.join()


def _exit_cause(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        return f"the LoadGen process was killed by {signal.Signals(-exitcode).name}"
    return f"the LoadGen process exited with code {exitcode} before the test completed"
