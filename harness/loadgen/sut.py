"""The system under test: per-instance workers that gather, infer and answer LoadGen.

LoadGen's issue callback splits each query into batches of at most `batch_size`
samples and puts them on one shared queue; every instance's worker takes the next
batch when it is free, so faster instances simply serve more. The same SUT serves
every scenario: Offline (one large query), MultiStream (a query of 8 samples: one batch,
or split across instances), SingleStream and Server (one sample per query).

Server queries arrive one sample at a time (Poisson), so the SUT batches across queries:
a worker that takes a query keeps collecting until its batch is full or `collect_s` has
passed since the first query it holds arrived, then runs the batch.

With one instance and queries that fit one batch (SingleStream, MultiStream with one
instance), the query is answered on LoadGen's issue thread itself, as MLPerf's reference
runner does, because a hand-off to a worker thread adds its wake-up to every latency.

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
    """One row per part of a query answered by one batch: when the query was issued, when the
    batch completed, how many of the query's samples it held."""

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
                if self.collect_s is None:
                    self.serve([item])
                elif not self.serve_collected(item):
                    return
            except BaseException as exc:  # LoadGen would wait forever for these samples
                self.on_error(self.name, exc)
                return

    collect_s: float | None = None  # Server: how long a batch waits for more queries
    batch_limit = 0  # Server: the most samples a collected batch holds

    def serve_collected(self, first: tuple) -> bool:
        """Collect queries after `first` until the batch is full or collect_s has passed since
        `first` arrived, run them as one batch. False when the SUT is stopping."""
        items, n = [first], len(first[1])
        deadline = first[2] + self.collect_s * 1e9
        stopping = False
        while n < self.batch_limit:
            wait = (deadline - time.monotonic_ns()) / 1e9
            try:
                item = self.work.get(timeout=wait) if wait > 0 else self.work.get_nowait()
            except queue.Empty:
                break
            if item is None:
                stopping = True
                break
            items.append(item)
            n += len(item[1])
        self.serve(items)
        return not stopping

    def serve(self, items: list[tuple]) -> None:
        """Run the work items (ids, indices, issued_ns, ...) as one batch and answer them."""
        indices = items[0][1] if len(items) == 1 else np.concatenate([item[1] for item in items])
        self.infer(indices)
        self.answer(items, len(indices))

    def infer(self, indices: np.ndarray) -> None:
        """Labels of the samples `indices` into responses[:len(indices)]."""
        n = len(indices)
        rows = self.store.rows_for(self.instance.node)
        gather(_bytes2d(rows), self.store.slot_of[indices], self._input_bytes)
        self.engine.run(n)
        self.engine.labels_into(n, self.responses)

    def answer(self, items: list[tuple], n: int) -> None:
        """Complete the items' LoadGen responses with responses[:n], in the items' order."""
        ids = items[0][0] if len(items) == 1 else np.concatenate([item[0] for item in items])
        complete(ids, self.responses.ctypes.data, n)
        completed_ns = time.monotonic_ns()
        self.timeline.rows.extend((item[2], completed_ns, len(item[1])) for item in items)
        self.samples_done += n


class SUT:
    worker_class: type[Worker] = Worker

    def __init__(self, engines: list[Engine], instances: tuple[Instance, ...], store: SampleStore,
                 batch_size: int, on_error: Callable[[str, BaseException], None],
                 collect_s: float | None = None, inline: bool = False):
        """`collect_s` None: each query is split into batches on its own (Offline,
        SingleStream, MultiStream); a number: queries are batched together (Server).
        `inline`: one instance answers each query, whole, on LoadGen's issue thread."""
        self.batch_size = batch_size
        self.work: queue.SimpleQueue = queue.SimpleQueue()
        self.timeline = Timeline()
        self.workers = [self.worker_class(i, e, inst, store, self.work, self.timeline, on_error)
                        for i, (e, inst) in enumerate(zip(engines, instances))]
        for worker in self.workers:
            worker.collect_s, worker.batch_limit = collect_s, batch_size
        self.inline = inline
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
            worker.serve([(ids, indices, issued)])
        except BaseException as exc:  # must not unwind into LoadGen's C++ thread
            self.on_error(worker.name, exc)

    def flush(self) -> None:
        pass
