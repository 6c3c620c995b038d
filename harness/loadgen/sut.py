"""The system under test: per-instance workers that gather, infer and answer LoadGen.

LoadGen's issue callback splits each query into batches of at most `batch_size`
samples and puts them on one shared queue; every instance's worker takes the next
batch when it is free, so faster instances simply serve more. The same SUT serves
Offline (one large query) and SingleStream (one sample per query).

SingleStream is the exception: with one instance and batch 1, the query is answered
on LoadGen's issue thread itself, as MLPerf's reference runner does, because a hand-off
to a worker thread adds its wake-up to every measured latency.

Per batch a worker gathers the samples from its NUMA node's copy of the loaded set
into its engine's bound input, runs the engine, writes float32 labels into its
response buffer and completes the LoadGen responses: the copying and the argmax run
in harness._native.dispatch without the GIL, inference releases it too.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from harness._native.dispatch import complete, gather
from harness.cpu.affinity import name_current_thread, worker_thread_name
from harness.cpu.placement import Instance
from harness.engine.session import Engine
from harness.loadgen.qsl import SampleStore


@dataclass
class Timeline:
    """One row per batch: when its query was issued, when it completed, how many samples."""

    rows: list[tuple[int, int, int]] = field(default_factory=list)

    def array(self) -> np.ndarray:
        return np.asarray(self.rows, dtype=np.int64).reshape(-1, 3)


def _bytes2d(a: np.ndarray) -> np.ndarray:
    return a.reshape(len(a), -1).view(np.uint8)


class Worker(threading.Thread):
    def __init__(self, index: int, engine: Engine, instance: Instance, store: SampleStore,
                 work: queue.SimpleQueue, timeline: Timeline, on_error: Callable[[str, BaseException], None]):
        super().__init__(name=f"harness-worker-{index}", daemon=True)
        self.index, self.engine, self.instance, self.store = index, engine, instance, store
        self.work, self.timeline, self.on_error = work, timeline, on_error
        self.responses = np.zeros(engine.batch_size, dtype=np.float32)
        self.samples_done = 0
        self._input_bytes = _bytes2d(engine.input)

    def take_current_thread(self) -> None:
        """Make the calling thread this instance's: named for placement checks, pinned.

        ORT pins its own extra threads; the thread that calls run() is ours to pin.
        """
        name_current_thread(worker_thread_name(self.index))
        if self.instance.cpus:
            os.sched_setaffinity(0, {self.instance.cpus[0]})

    def run(self) -> None:
        self.take_current_thread()
        while (item := self.work.get()) is not None:
            try:
                self.serve(*item)
            except BaseException as exc:  # LoadGen would wait forever for these samples
                self.on_error(self.name, exc)
                return

    def serve(self, ids: np.ndarray, indices: np.ndarray, issued_ns: int) -> None:
        self.infer(indices)
        self.respond(ids, len(ids), issued_ns)

    def infer(self, indices: np.ndarray) -> None:
        """Labels of the samples `indices` into responses[:len(indices)]."""
        n = len(indices)
        rows = self.store.rows_for(self.instance.node)
        gather(_bytes2d(rows), self.store.slot_of[indices], self._input_bytes)
        self.engine.run(n)
        self.engine.labels_into(n, self.responses)

    def respond(self, ids: np.ndarray, n: int, issued_ns: int) -> None:
        complete(ids, self.responses.ctypes.data, n)
        self.timeline.rows.append((issued_ns, time.monotonic_ns(), n))
        self.samples_done += n


class SUT:
    worker_class: type[Worker] = Worker

    def __init__(self, engines: list[Engine], instances: tuple[Instance, ...], store: SampleStore,
                 batch_size: int, on_error: Callable[[str, BaseException], None]):
        self.batch_size = batch_size
        self.work: queue.SimpleQueue = queue.SimpleQueue()
        self.timeline = Timeline()
        self.workers = [self.worker_class(i, e, inst, store, self.work, self.timeline, on_error)
                        for i, (e, inst) in enumerate(zip(engines, instances))]
        self.inline = batch_size == 1 and len(self.workers) == 1
        self.on_error = on_error
        self._issue_thread_taken = False

    def start(self) -> None:
        if self.inline:
            return  # the worker's thread is never needed
        for w in self.workers:
            w.start()

    def stop(self) -> None:
        running = [w for w in self.workers if w.is_alive()]
        for _ in running:  # any worker may take any None: one each, then wait for all
            self.work.put(None)
        for w in running:
            w.join()

    @property
    def samples_done(self) -> int:
        return sum(w.samples_done for w in self.workers)

    def issue(self, ids: list[int], indices: list[int]) -> None:
        issued = time.monotonic_ns()
        ids_arr = np.asarray(ids, dtype=np.uint64)
        idx_arr = np.asarray(indices, dtype=np.int64)
        if self.inline:
            self._serve_inline(ids_arr, idx_arr, issued)
            return
        for start in range(0, len(ids_arr), self.batch_size):
            end = start + self.batch_size
            self.work.put((ids_arr[start:end], idx_arr[start:end], issued))

    def _serve_inline(self, ids: np.ndarray, indices: np.ndarray, issued: int) -> None:
        worker = self.workers[0]
        try:
            if not self._issue_thread_taken:
                worker.take_current_thread()
                self._issue_thread_taken = True
            worker.serve(ids, indices, issued)
        except BaseException as exc:  # must not unwind into LoadGen's C++ thread
            self.on_error(worker.name, exc)

    def flush(self) -> None:
        pass
