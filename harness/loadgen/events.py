"""What the LoadGen child tells its parent, as typed events on a multiprocessing queue."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Providers:
    """The execution providers the sessions were created with, in ONNX Runtime's order."""

    names: tuple[str, ...]


@dataclass(frozen=True)
class Calibrated:
    """The expectation LoadGen was given: samples/s, or a latency in ms."""

    target: float


@dataclass(frozen=True)
class ServerBatching:
    """How the Server SUT batches queries, chosen from the batch times measured before the test."""

    batch: int  # the most queries one batch holds
    collect_ms: float  # how long a batch waits for more queries after its first arrived
    capacity: float  # samples/s all instances sustain at that batch
    batch_ms: dict  # measured time of one batch, by batch size

    def to_json(self) -> dict:
        return {"batch": self.batch, "collect_ms": self.collect_ms, "capacity": self.capacity,
                "batch_ms": {str(k): v for k, v in self.batch_ms.items()}}


@dataclass(frozen=True)
class ClusterNodes:
    """What each node of a cluster run said about itself: placement, system, engine, precision
    proof, and as the run goes on what it measured and how its threads ran."""

    nodes: tuple[dict, ...]
    # The QDL's own figures: "rate", samples/s it sustains with no inference (measured before
    # the test), "overhead_us", percentiles of its cost per part (after it)
    dispatch: dict | None = None


@dataclass(frozen=True)
class Progress:
    samples: int  # completed so far


@dataclass(frozen=True)
class ThreadsObserved:
    """Each worker and engine thread's allowed CPUs, last CPU and CPU time (cpu.affinity)."""

    threads: tuple[dict, ...]


@dataclass(frozen=True)
class Failed:
    cause: str  # one line
    detail: str | None = None  # a traceback


@dataclass(frozen=True)
class Done:
    samples: int  # answered in the whole test


@dataclass(frozen=True)
class TestOutcome:
    """How the child's test ended, as the supervisor saw it."""

    failure: Failed | None
    samples: int | None = None
    threads: tuple[dict, ...] | None = None
