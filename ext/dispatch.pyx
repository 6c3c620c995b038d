# cython: initializedcheck=False
"""The dispatch loop's per-batch work, without the GIL where it can be.

gather: copy the batch's samples from the loaded set into the engine's bound input.
labels: turn the engine's output into float32 labels (argmax, label offset applied).
complete: hand LoadGen one response per sample, pointing into the response buffer.
"""

from libc.stdint cimport int64_t, uint64_t
from libc.string cimport memcpy

import mlperf_loadgen as lg

ctypedef unsigned char u8


def gather(const u8[:, ::1] rows, const int64_t[::1] slots, u8[:, ::1] out):
    """out[i] = rows[slots[i]], rows and out viewed as bytes. Raises on a bad slot."""
    cdef Py_ssize_t n = slots.shape[0], width = rows.shape[1], i
    cdef int64_t s, bad = -1
    if out.shape[0] < n or out.shape[1] != width:
        raise ValueError(f"gather: {n} rows of {width} bytes do not fit an output of shape "
                         f"({out.shape[0]}, {out.shape[1]})")
    with nogil:
        for i in range(n):
            s = slots[i]
            if s < 0 or s >= rows.shape[0]:
                bad = i
                break
            memcpy(&out[i, 0], &rows[s, 0], width)
    if bad >= 0:
        raise IndexError(f"gather: sample {bad} of the batch has slot {slots[bad]}, "
                         f"outside the {rows.shape[0]} loaded samples")


def argmax_labels(const float[:, ::1] scores, int offset, float[::1] labels):
    """labels[i] = argmax(scores[i]) - offset, first maximum on ties (as numpy)."""
    cdef Py_ssize_t n = scores.shape[0], classes = scores.shape[1], i, j, best
    cdef float top
    with nogil:
        for i in range(n):
            best, top = 0, scores[i, 0]
            for j in range(1, classes):
                if scores[i, j] > top:
                    best, top = j, scores[i, j]
            labels[i] = <float>(best - offset)


def complete(const uint64_t[::1] ids, Py_ssize_t base, Py_ssize_t n):
    """QuerySamplesComplete for ids[:n], response i = 4 bytes at base + 4 i.

    LoadGen copies the bytes during the call, so the buffer only has to outlive it.
    """
    cdef Py_ssize_t i
    lg.QuerySamplesComplete([lg.QuerySampleResponse(ids[i], base + 4 * i, 4) for i in range(n)])
