"""The query sample library: which preprocessed samples are in RAM, and where.

LoadGen asks for the performance set (or, in accuracy mode, successive chunks of
the dataset) through load/unload callbacks. Loaded samples are copied out of the
memory-mapped cache into one contiguous array per NUMA node the plan uses, so each
instance gathers its batches from memory local to its cores; every copy has the same
row order, and `slot_of[qsl_idx]` says which row.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Collection, Mapping

import numpy as np

from harness.cpu.affinity import pin_current_thread

_CHUNK = 256  # rows read from the memory map at a time: bounded pages in flight


class SampleStore:
    def __init__(self, cache: np.ndarray, nodes: Mapping[int, Collection[int]]):
        """`nodes`: NUMA node -> CPUs of that node the plan uses (placement.cpus_by_node).
        Each node gets its own copy, written by a thread pinned to those CPUs, so the
        kernel's first-touch policy puts its pages on that node.
        """
        self.cache = cache  # memory map of every preprocessed sample, never read whole
        self.nodes = {node: tuple(sorted(cpus)) for node, cpus in nodes.items()}
        self.slot_of = np.full(len(cache), -1, dtype=np.int64)
        self._rows = {node: self._empty() for node in self.nodes}
        self._filled_on: dict[int, tuple[int, ...]] = {}

    def __len__(self) -> int:
        return len(self.cache)

    def rows_for(self, node: int) -> np.ndarray:
        """The loaded samples in node `node`'s memory; index them with slot_of."""
        return self._rows[node]

    def filled_on(self, node: int) -> tuple[int, ...]:
        """The CPUs the thread that wrote node `node`'s copy was allowed on, read back there."""
        return self._filled_on[node]

    def load(self, indices: list[int]) -> None:
        # Sorted reads walk the memory map sequentially; the row order does not matter.
        order = np.sort(np.asarray(indices, dtype=np.int64))
        copies: dict[int, np.ndarray] = {}
        errors: list[BaseException] = []

        def fill(node: int, cpus: tuple[int, ...]) -> None:
            try:
                pin_current_thread(cpus)
                self._filled_on[node] = tuple(sorted(os.sched_getaffinity(0)))
                copies[node] = self._copy(order)
            except BaseException as exc:  # re-raised in LoadGen's thread below
                errors.append(exc)

        fillers = [threading.Thread(target=fill, args=item, name=f"harness-load-{item[0]}")
                   for item in self.nodes.items()]
        for filler in fillers:
            filler.start()
        for filler in fillers:
            filler.join()
        if errors:
            raise errors[0]
        self._rows = copies
        self.slot_of[:] = -1
        self.slot_of[order] = np.arange(len(order))

    def unload(self, indices: list[int]) -> None:
        self.slot_of[np.asarray(indices, dtype=np.int64)] = -1
        if not (self.slot_of >= 0).any():
            self._rows = {node: self._empty() for node in self.nodes}

    def _copy(self, order: np.ndarray) -> np.ndarray:
        # np.empty only reserves address space: the writes below are the first touch.
        rows = np.empty((len(order), *self.cache.shape[1:]), dtype=self.cache.dtype)
        for start in range(0, len(order), _CHUNK):
            rows[start:start + _CHUNK] = self.cache[order[start:start + _CHUNK]]
        return rows

    def _empty(self) -> np.ndarray:
        return np.empty((0, *self.cache.shape[1:]), dtype=self.cache.dtype)
