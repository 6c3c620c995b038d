"""A LoadGen test over a Ray cluster: one NodeServer actor per node, LoadGen's queries through
the QDL (harness.loadgen.dispatch).

Runs in the LoadGen child. Everything untimed happens here before the test: the model file
and the layout go to every node once, each node builds, warms and measures its engines, and
LoadGen's sample loads ship the loaded rows to every node.

Security: anyone who reaches a Ray cluster's ports can run code on it. Connecting to a
loopback address keeps this process's own Ray endpoint on loopback too.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import time
from dataclasses import replace
from ipaddress import ip_address

import mlperf_loadgen as lg
import numpy as np

from harness import __version__
from harness.errors import ConfigError, RunFailed, one_line
from harness.loadgen.dispatch import Dispatch, NodeLink
from harness.loadgen.events import ClusterNodes
from harness.loadgen.job import TestJob
from harness.loadgen.node import NodeServer, NodeSetup

# Ray binds its servers to the node's address; on a loopback address with this set to 0
# they bind to 127.0.0.1 only (measured: Ray 2.60 otherwise listens on all interfaces).
RAY_LOCAL_ONLY_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
CONNECT_TIMEOUT_S = 10.0
SETUP_TIMEOUT_S = 600.0  # engines built and measured on every node (an INT8 compile takes minutes)
DISPATCH_PROBE_S = 1.0
# Requests one node holds at once; each waits on a thread of the node's actor. Sync calls on a
# threaded actor answered sooner than an async actor's event loop (measured, Server, 2 loopback
# nodes of 1 CPU: round-trip p50 4.2 against 6.1 ms, p99 9.7 against 13.9 ms).
MAX_IN_FLIGHT = 64


RAY_MISSING = "--cluster needs Ray on this machine and every node: pip install -e '.[cluster]' (or pip install ray)"


def require_ray() -> None:
    """Ray is installed (found, not imported: the LoadGen child imports it)."""
    if importlib.util.find_spec("ray") is None:
        raise ConfigError(RAY_MISSING)


def import_ray(local_only: bool = False):
    """Ray, imported; `local_only`: its servers in this process and what it starts bind to
    loopback only."""
    if local_only:  # read by Ray when it is imported: it must be set first
        os.environ[RAY_LOCAL_ONLY_ENV] = "0"
    require_ray()
    import ray
    from ray._private import ray_constants

    if local_only and ray_constants.ENABLE_RAY_CLUSTER:
        raise ConfigError(f"Ray was imported before {RAY_LOCAL_ONLY_ENV}=0 was set and would listen on every "
                          "interface; set it in the environment before starting")
    return ray


def _host_port(address: str) -> tuple[str, str]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), port


def is_loopback(address: str) -> bool:
    host = _host_port(address)[0]
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def connect(address: str):
    """ray.init on the cluster at `address` ("auto": the one this machine belongs to)."""
    ray = import_ray(local_only=is_loopback(address))
    try:
        ray.init(address=address, logging_level="ERROR", log_to_driver=False, configure_logging=False)
    except Exception as exc:  # Ray raises ConnectionError, ValueError and its own types
        raise ConfigError(f"--cluster {address}: cannot join the Ray cluster ({one_line(exc)}); start it "
                          "with `ray start --head` and give its address (see README, Clusters)") from None
    return ray


def check_reachable(address: str) -> None:
    """Ray retries an unreachable address for minutes: say so at once instead."""
    if address == "auto":
        return
    host, port = _host_port(address)
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--cluster {address}: no Ray head answers there ({one_line(exc)}); give the "
                          "HOST:PORT that `ray start --head` printed, or 'auto' on a node") from None


def node_name(node: dict) -> str:
    return f"{node['NodeManagerAddress']} ({node['NodeManagerHostname']}, id {node['NodeID'][:8]})"


class ClusterSide:
    """The cluster's half of the child's test: nodes set up, and LoadGen's SUT and QSL handles."""

    def __init__(self, job: TestJob, cache: np.ndarray, events, on_error):
        self.events = events
        cluster = job.cluster
        ray = self.ray = connect(cluster.address)
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        nodes = [n for n in ray.nodes() if n["Alive"]]
        setup = NodeSetup(os.path.basename(job.model_path), job.spec, cluster.ep, cluster.precision,
                          cluster.layout, tuple(cache.shape[1:]), cache.dtype.str, len(cache),
                          job.loadgen.scenario, job.loadgen.latency_bound_ms)
        with open(job.model_path, "rb") as f:
            model = ray.put(f.read())
        remote = ray.remote(NodeServer)
        # num_cpus=0: the node's own placement decides its cores, not Ray's CPU accounting.
        # max_concurrency: a thread for each request the node may hold (its window, at most
        # one sample each) and for the calls around them.
        actors = [remote.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False),
                                 num_cpus=0, max_concurrency=MAX_IN_FLIGHT + 4,
                                 name=f"harness-node-{n['NodeID'][:8]}").remote(setup, model)
                  for n in nodes]
        self.names = [node_name(n) for n in nodes]
        self.actors = actors
        facts = self._each("describe")
        for name, fact in zip(self.names, facts):
            fact["node"] = name
            if fact["harness_version"] != __version__:
                raise RunFailed(f"node {name} runs harness {fact['harness_version']}, this machine "
                                f"{__version__}: install the same version on every node")
        self.facts = facts
        self.dispatch_facts: dict = {}  # the QDL's own rate and cost per part
        events.put(ClusterNodes(tuple(facts)))
        prepared = self._each("prepare", job.target is not None)
        for fact, ready in zip(facts, prepared):
            fact["providers"] = ready["providers"]
            if ready["batching"] is not None:
                fact["server_batching"] = ready["batching"].to_json()
            if ready["calibration"] is not None:
                fact["calibration"] = ready["calibration"]
        part_size = 1 if job.loadgen.scenario.one_sample_per_query else min(
            min(i["batch_size"] for i in f["placement"]["instances"]) for f in facts)
        windows = [min(2 * sum(i["batch_size"] for i in f["placement"]["instances"]), MAX_IN_FLIGHT * part_size)
                   for f in facts]
        self.target = job.target or self._target(job, prepared, part_size, windows, events)
        events.put(ClusterNodes(tuple(facts), dict(self.dispatch_facts)))
        self.dispatch = Dispatch([NodeLink(name, actor, window)
                                  for name, actor, window in zip(self.names, actors, windows)],
                                 part_size, f"harness Network SUT ({len(actors)} nodes over Ray)",
                                 on_error, cluster.node_timeout_s)
        self.dispatch.start()
        self.cache = cache
        self.sut_handle = lg.ConstructQDL(self.dispatch.issue, self.dispatch.flush, self.dispatch.name)
        self.qsl_handle = lg.ConstructQSL(len(cache), job.loadgen.performance_sample_count, self.load, self.unload)

    def _each(self, method: str, *args) -> list:
        """`method` on every node at once; a node that fails or does not answer in time is named."""
        refs = [getattr(actor, method).remote(*args) for actor in self.actors]
        done, pending = self.ray.wait(refs, num_returns=len(refs), timeout=SETUP_TIMEOUT_S)
        if pending:
            late = self.names[refs.index(pending[0])]
            raise RunFailed(f"node {late} did not finish {method} in {SETUP_TIMEOUT_S:g} s")
        results = []
        for name, ref in zip(self.names, refs):
            try:
                results.append(self.ray.get(ref))
            except Exception as exc:  # Ray's RayTaskError carries the node's own exception as its cause
                raise RunFailed(f"node {name} failed in {method}: {one_line(getattr(exc, 'cause', None) or exc)}") \
                    from None
        return results

    def _target(self, job: TestJob, prepared: list[dict], part_size: int, windows: list[int], events) -> float:
        """Offline: the nodes' rates add up; a query at a time: as slow as the slowest node;
        Server: half the summed capacity (the rate search's first step). A rate is capped at
        what the dispatch itself sustains: with a small model Ray's transport, not the
        nodes, sets the pace, and a query sized from the nodes alone would run for minutes."""
        batchings = [p["batching"] for p in prepared]
        calibrations = [p["calibration"] for p in prepared]
        if job.loadgen.scenario.one_query_at_a_time:
            return max(calibrations)
        dispatch = self._dispatch_rate(part_size, windows)
        self.dispatch_facts["rate"] = dispatch
        if batchings[0] is not None:
            capacity = min(sum(b.capacity for b in batchings), dispatch)
            events.put(replace(batchings[0], capacity=capacity))
            return capacity / 2
        return min(sum(calibrations), dispatch)

    def _dispatch_rate(self, part_size: int, windows: list[int]) -> float:
        """Samples/s through Ray to the nodes and back with no inference, each node's window
        kept full for DISPATCH_PROBE_S."""
        parts = np.zeros(part_size, dtype=np.int64)
        in_flight = [[actor.echo.remote(parts) for _ in range(max(1, w // part_size))]
                     for actor, w in zip(self.actors, windows)]
        done, start = 0, time.perf_counter()
        while time.perf_counter() - start < DISPATCH_PROBE_S:
            for queue, actor in zip(in_flight, self.actors):
                self.ray.get(queue.pop(0))
                queue.append(actor.echo.remote(parts))
                done += part_size
        elapsed = time.perf_counter() - start
        self.ray.get([ref for queue in in_flight for ref in queue])
        return done / elapsed

    @property
    def samples_done(self) -> int:
        return self.dispatch.samples_done

    def load(self, indices: list[int]) -> None:
        """Ship the rows LoadGen loads to every node once, before timing (LoadGen's load)."""
        order = np.asarray(indices, dtype=np.int64)
        rows = self.ray.put(np.ascontiguousarray(self.cache[order]))
        self._each("load", order, rows)

    def unload(self, indices: list[int]) -> None:
        self._each("unload", np.asarray(indices, dtype=np.int64))

    def observe(self) -> None:
        """Nodes' threads are observed once, after the test (threads)."""

    def threads(self) -> None:
        """Each node's threads, observed after the test, into its facts."""
        for fact, observed in zip(self.facts, self._each("threads")):
            fact["threads_observed"] = observed

    def finish(self) -> np.ndarray:
        self.dispatch.stop()
        overhead = np.asarray(self.dispatch.overhead_ns, dtype=np.float64) / 1000
        if len(overhead):
            self.dispatch_facts["overhead_us"] = {f"p{q}": float(np.percentile(overhead, q)) for q in (50, 90, 99)}
        self.threads()
        self.events.put(ClusterNodes(tuple(self.facts), dict(self.dispatch_facts)))
        for actor in self.actors:
            actor.stop.remote()
        lg.DestroyQSL(self.qsl_handle)
        lg.DestroyQDL(self.sut_handle)
        return self.dispatch.timeline.array()

