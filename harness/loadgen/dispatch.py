"""The Query Dispatch Library: LoadGen's queries forwarded to the nodes, their labels returned.

MLPerf's network division puts a QDL between LoadGen and the SUT nodes and allows it no
batching, preprocessing or caching. This one splits a query into parts of at most one
batch (an Offline query is thousands of samples; a Server query, one), and sends each part
to the node with the fewest samples in flight, as long as that node holds fewer than its
window; the rest wait here, in issue order, and go out as nodes answer. The nodes batch
(harness.loadgen.node). A node that fails or keeps a part longer than the node timeout
fails the run, named.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from harness._native.dispatch import complete
from harness.loadgen.sut import Timeline


@dataclass
class NodeLink:
    """The LoadGen side of one node: its actor, its name in messages, what it holds."""

    name: str
    actor: object  # a Ray actor handle of harness.loadgen.node.NodeServer
    window: int  # the most samples in flight to this node: enough to keep every instance busy
    in_flight: int = 0
    sent_ns: dict[int, int] = field(default_factory=dict)  # part number -> when it was sent


class Dispatch:
    def __init__(self, nodes: list[NodeLink], part_size: int, name: str,
                 on_error: Callable[[str, BaseException], None], node_timeout_s: float):
        self.nodes, self.part_size, self._name = nodes, part_size, name
        self.on_error, self.node_timeout_s = on_error, node_timeout_s
        self.timeline = Timeline()
        self.samples_done = 0
        # Per part: its time from sent to answered, less its time on the node: the dispatch's
        # own cost (Ray's transport both ways, this code).
        self.overhead_ns: list[int] = []
        self._waiting: deque = deque()
        self._parts = 0
        # Reentrant: a future already done runs its callback (_answered) inside _send_waiting.
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._watchdog = threading.Thread(target=self._watch, name="harness-node-watchdog", daemon=True)

    def start(self) -> None:
        self._watchdog.start()

    def stop(self) -> None:
        self._stop.set()
        self._watchdog.join()

    def name(self) -> str:
        return self._name

    def flush(self) -> None:
        pass

    def issue(self, samples: list) -> None:
        issued = time.monotonic_ns()
        ids = np.fromiter((s.id for s in samples), dtype=np.uint64, count=len(samples))
        indices = np.fromiter((s.index for s in samples), dtype=np.int64, count=len(samples))
        with self._lock:
            for start in range(0, len(ids), self.part_size):
                end = start + self.part_size
                self._waiting.append((ids[start:end], indices[start:end], issued))
            self._send_waiting()

    def _send_waiting(self) -> None:
        """Send waiting parts while some node has room (the lock is held)."""
        while self._waiting:
            node = min(self.nodes, key=lambda n: n.in_flight / n.window)
            if node.in_flight >= node.window:
                return
            ids, indices, issued = self._waiting.popleft()
            self._parts += 1
            part = self._parts
            node.in_flight += len(ids)
            node.sent_ns[part] = time.monotonic_ns()
            future = node.actor.infer.remote(indices).future()
            future.add_done_callback(lambda f, node=node, part=part, ids=ids, issued=issued:
                                     self._answered(node, part, ids, issued, f))

    def _answered(self, node: NodeLink, part: int, ids: np.ndarray, issued: int, future) -> None:
        try:
            labels, node_ns = future.result()
        except BaseException as exc:  # the node died, or its worker failed
            self.on_error(f"node {node.name}", exc)
            return
        complete(ids, np.ascontiguousarray(labels, dtype=np.float32).ctypes.data, len(ids))
        answered = time.monotonic_ns()
        with self._lock:
            self.timeline.rows.append((issued, answered, len(ids)))
            self.overhead_ns.append(answered - node.sent_ns.pop(part) - node_ns)
            self.samples_done += len(ids)
            node.in_flight -= len(ids)
            self._send_waiting()

    def _watch(self) -> None:
        """Fail the run when a node holds a part longer than the node timeout: a hung node
        answers nothing, and nothing else would say which one it is."""
        while not self._stop.wait(0.5):
            now = time.monotonic_ns()
            with self._lock:
                late = [(n, (now - min(n.sent_ns.values())) / 1e9) for n in self.nodes if n.sent_ns]
            for node, held_s in late:
                if held_s > self.node_timeout_s:
                    self.on_error(f"node {node.name}", TimeoutError(
                        f"no answer for {held_s:.0f} s (node timeout {self.node_timeout_s:g} s): the node hung"))
                    return
