"""The system under test: per-instance workers that gather, infer and answer LoadGen.

LoadGen's issue callback splits each query into batches of at most `batch_size`
samples and puts them on one shared queue; every instance's worker takes the next
batch when it is free, so faster instances simply serve more. The same SUT serves
Offline (one large query) and SingleStream (one sample per query).
"""

from __future__ import annotations

import os
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import mlperf_loadgen as lg
import numpy as np

from harness.engine import Engine
from harness.qsl import SampleStore


@dataclass
class Timeline:
    """One row per batch: when its query was issued, when it completed, how many samples."""

    rows: list[tuple[int, int, int]] = field(default_factory=list)

    def array(self) -> np.ndarray:
        return np.asarray(self.rows, dtype=np.int64).reshape(-1, 3)


class Worker(threading.Thread):
    def __init__(self, index: int, engine: Engine, cpus: tuple[int, ...], store: SampleStore,
                 work: queue.SimpleQueue, timeline: Timeline, on_error: Callable[[BaseException], None]):
        super().__init__(name=f"harness-worker-{index}", daemon=True)
        self.engine, self.cpus, self.store = engine, cpus, store
        self.work, self.timeline, self.on_error = work, timeline, on_error
        self.responses = np.zeros(engine.batch_size, dtype=np.float32)
        self.samples_done = 0

    def run(self) -> None:
        if self.cpus:
            # ORT pins its own extra threads; the calling thread is ours to pin.
            os.sched_setaffinity(0, {self.cpus[0]})
        while (item := self.work.get()) is not None:
            try:
                self.serve(*item)
            except BaseException as exc:  # LoadGen would wait forever for these samples
                self.on_error(exc)
                return

    def serve(self, ids: np.ndarray, indices: np.ndarray, issued_ns: int) -> None:
        n = len(ids)
        slots = self.store.slot_of[indices]
        if (slots < 0).any():
            raise RuntimeError(f"LoadGen issued sample {int(indices[slots.argmin()])} that is not loaded")
        np.take(self.store.rows, slots, axis=0, out=self.engine.input[:n])
        self.responses[:n] = self.engine.run(n)
        base = self.responses.ctypes.data
        lg.QuerySamplesComplete([lg.QuerySampleResponse(int(ids[i]), base + 4 * i, 4) for i in range(n)])
        self.timeline.rows.append((issued_ns, time.monotonic_ns(), n))
        self.samples_done += n


class SUT:
    def __init__(self, engines: list[Engine], cpus: list[tuple[int, ...]], store: SampleStore,
                 batch_size: int, on_error: Callable[[BaseException], None]):
        self.batch_size = batch_size
        self.work: queue.SimpleQueue = queue.SimpleQueue()
        self.timeline = Timeline()
        self.workers = [Worker(i, e, c, store, self.work, self.timeline, on_error)
                        for i, (e, c) in enumerate(zip(engines, cpus))]

    def start(self) -> None:
        for w in self.workers:
            w.start()

    def stop(self) -> None:
        for _ in self.workers:
            self.work.put(None)
        for w in self.workers:
            w.join()

    @property
    def samples_done(self) -> int:
        return sum(w.samples_done for w in self.workers)

    def issue(self, ids: list[int], indices: list[int]) -> None:
        issued = time.monotonic_ns()
        ids_arr = np.asarray(ids, dtype=np.uint64)
        idx_arr = np.asarray(indices, dtype=np.int64)
        for start in range(0, len(ids_arr), self.batch_size):
            end = start + self.batch_size
            self.work.put((ids_arr[start:end], idx_arr[start:end], issued))

    def flush(self) -> None:
        pass
