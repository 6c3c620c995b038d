"""SUTs with the faults compliance tests exist to catch; tests inject them by `sut_class`.

The LoadGen child process imports them as "faulty_suts:<Class>": it is spawned with
the parent's sys.path, on which pytest's rootdir conftest puts tests/.
"""

from __future__ import annotations

import os
import signal
import time
from collections import OrderedDict

from harness.loadgen.sut import SUT, Worker

# The tiny test model infers a batch in microseconds, so a cache would save almost
# nothing measurable. This stands in for a model whose inference costs real time; it
# is large against the per-batch overhead of a cached answer even when the machine is
# overloaded (seen here: load average 18 on 2 cores), so the speed-up stays far above
# the factor of 4 a quick TEST04 allows.
INFERENCE_COST_S = 0.05
CACHE_SAMPLES = 4


class WrongWhenRepeatedWorker(Worker):
    """Answers right the first time it sees a sample, then the next class.

    Accuracy mode issues every sample exactly once, so the accuracy run is perfect;
    performance mode repeats samples, so almost every answer there is wrong: the
    fault TEST01 exists to catch (a SUT that behaves differently when timed).
    """

    def __init__(self, *args):
        super().__init__(*args)
        self.seen: set[int] = set()

    def infer(self, indices):
        super().infer(indices)
        for k, idx in enumerate(indices.tolist()):
            if idx in self.seen:
                self.responses[k] = (self.responses[k] + 1) % self.engine.spec.num_classes
            self.seen.add(idx)


class WrongWhenRepeatedSUT(SUT):
    worker_class = WrongWhenRepeatedWorker


class SlowWorker(Worker):
    """Infers every batch, and pays INFERENCE_COST_S for it: the honest twin of CachingWorker."""

    def serve(self, items):
        time.sleep(INFERENCE_COST_S)
        super().serve(items)


class SlowSUT(SUT):
    worker_class = SlowWorker


class CachingWorker(SlowWorker):
    """Answers a batch whose samples it answered recently from a cache, skipping inference.

    The cache holds CACHE_SAMPLES results, far fewer than the performance set, so it
    barely helps a normal run (random samples rarely repeat within a few), while
    TEST04, which issues the same sample every time, is answered almost entirely from
    it: the fault TEST04 exists to catch.
    """

    def __init__(self, *args):
        super().__init__(*args)
        self.cache: OrderedDict[int, float] = OrderedDict()

    def serve(self, items):
        keys = [k for item in items for k in item[1].tolist()]
        if not all(k in self.cache for k in keys):
            super().serve(items)
            for key, label in zip(keys, self.responses[:len(keys)].tolist()):
                self.cache[key] = label
                self.cache.move_to_end(key)
            while len(self.cache) > CACHE_SAMPLES:
                self.cache.popitem(last=False)
            return
        self.responses[:len(keys)] = [self.cache[k] for k in keys]
        self.answer(items, len(keys))


class CachingSUT(SUT):
    worker_class = CachingWorker


FAIL_AT_BATCH = 3


class FailingWorker(Worker):
    """Its session fails on its FAIL_AT_BATCH-th batch, as a real one can (out of memory, a bad kernel)."""

    def __init__(self, *args):
        super().__init__(*args)
        self.batches = 0

    def serve(self, items):
        self.batches += 1
        if self.batches == FAIL_AT_BATCH:
            raise RuntimeError(f"injected session failure on batch {FAIL_AT_BATCH}")
        super().serve(items)


class FailingSUT(SUT):
    worker_class = FailingWorker


class SilentSUT(SUT):
    """Takes every query and never answers: LoadGen would wait for it forever."""

    def issue(self, ids, indices):
        pass


class CrashingSUT(SUT):
    """Its process dies on the first query, as one does on a segfault in native code."""

    def issue(self, ids, indices):
        os.kill(os.getpid(), signal.SIGKILL)


BATCH_COST_S = 0.004


class DelayedWorker(Worker):
    """Every batch costs BATCH_COST_S more, whatever its size: a known capacity for Server tests."""

    def infer(self, indices):
        time.sleep(BATCH_COST_S)
        super().infer(indices)


class DelayedSUT(SUT):
    worker_class = DelayedWorker
