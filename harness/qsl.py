"""The query sample library: which preprocessed samples are in RAM, and where.

LoadGen asks for the performance set (or, in accuracy mode, successive chunks of
the dataset) through load/unload callbacks. Loaded samples are copied out of the
memory-mapped cache into one contiguous array; `slot_of[qsl_idx]` says which row.
"""

from __future__ import annotations

import numpy as np


class SampleStore:
    def __init__(self, cache: np.ndarray):
        self.cache = cache  # memory map of every preprocessed sample, never read whole
        self.rows = np.empty((0, *cache.shape[1:]), dtype=cache.dtype)
        self.slot_of = np.full(len(cache), -1, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.cache)

    def load(self, indices: list[int]) -> None:
        idx = np.asarray(indices, dtype=np.int64)
        # Sorted reads walk the memory map sequentially; the row order does not matter.
        order = np.sort(idx)
        rows = np.empty((len(order), *self.cache.shape[1:]), dtype=self.cache.dtype)
        for start in range(0, len(order), 256):  # bounded pages in flight, not the whole file
            rows[start:start + 256] = self.cache[order[start:start + 256]]
        self.rows = rows
        self.slot_of[:] = -1
        self.slot_of[order] = np.arange(len(order))

    def unload(self, indices: list[int]) -> None:
        self.slot_of[np.asarray(indices, dtype=np.int64)] = -1
        if not (self.slot_of >= 0).any():
            self.rows = np.empty((0, *self.cache.shape[1:]), dtype=self.cache.dtype)
