"""Where a run's instances and threads come from: flags, a system profile, or the default
layout for the scenario and execution provider on this topology.

The defaults are the engine's own best layouts, so that an untuned run is level with what
the engine's vendor tool picks by itself:
- Offline is the throughput layout. On the OpenVINO EP that is one instance (an OpenVINO
  stream) per physical core: what OpenVINO's THROUGHPUT hint chooses for ResNet-50, whose
  convolutions it rates compute-bound (OpenVINO 2025.4 asked on a 2-core VM: 2 streams of
  1 thread, FP32 and INT8; bench/anchors.py prints what benchmark_app chose). On the CPU EP
  it is one instance per NUMA node over all its cores: ONNX Runtime's intra-op threads
  scale over a node, and one instance per core measured slower (bench/anchors.py).
- SingleStream and MultiStream answer one query at a time: the latency layout, one
  instance over all cores of a NUMA node.
- Server batches across queries and meets a latency bound: one instance per NUMA node,
  each answering its batches as fast as a node can (`harness tune` measures others).
A system profile written by `harness tune` wins over the default; flags win over both.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from harness.config.profiles import read_profile
from harness.config.runconfig import RunConfig, layout_key
from harness.cpu.topology import Topology
from harness.engine.choice import OPENVINO
from harness.errors import ConfigError
from harness.terms import Scenario


@dataclass(frozen=True)
class Layout:
    instances: int | None  # None: as many as fit (see plan_instances)
    threads: int | None  # None: each node's CPUs split evenly among its instances
    source: str  # where this layout came from, as run.json and the summary say it


THROUGHPUT = "default: throughput layout"
LATENCY = "default: latency layout (one instance on all cores of a NUMA node)"


def default_layout(scenario: Scenario, ep: str, topology: Topology, smt: bool = False,
                   cpus: Collection[int] | None = None) -> Layout:
    """The layout a run takes when neither flags nor a system profile set one."""
    scenario = Scenario(scenario)
    if scenario.one_query_at_a_time:
        return Layout(1, None, LATENCY)
    if scenario is Scenario.SERVER:
        return Layout(None, None, "default: one instance per NUMA node (Server; harness tune measures others)")
    if ep == OPENVINO:
        threads = _threads_per_core(topology, smt, cpus)
        return Layout(None, threads, f"{THROUGHPUT} (OpenVINO EP: one stream per physical core, as its "
                                     "THROUGHPUT hint picks for ResNet-50)")
    return Layout(None, None, f"{THROUGHPUT} (CPU EP: one instance per NUMA node on all its cores, "
                              "measured faster than one per core)")


def run_layout(cfg: RunConfig, ep: str, topology: Topology, cpus: Collection[int] | None = None) -> Layout:
    """The layout `cfg` runs: its own instances and threads (from flags, --config or a system
    profile) or the default for its scenario and `ep`."""
    if cfg.instances is None and cfg.threads is None:
        return default_layout(cfg.scenario, ep, topology, cfg.smt, cpus)
    # One query at a time: one instance answers it whole unless the user asks for more.
    instances = 1 if cfg.instances is None and cfg.scenario.one_query_at_a_time else cfg.instances
    return Layout(instances, cfg.threads, _given_source(cfg))


def _given_source(cfg: RunConfig) -> str:
    """A system profile sets instances and threads only as a pair, and only when the user set
    neither: equal to its entry, the layout is the profile's."""
    if cfg.system_profile:
        try:
            _, entries = read_profile(Path(cfg.system_profile))
        except ConfigError:
            entries = []
        key = layout_key(cfg)
        if any(e.key == key and (e.instances, e.threads) == (cfg.instances, cfg.threads) for e in entries):
            return f"system profile {Path(cfg.system_profile).name} (harness tune)"
    return "flags (--instances/--threads or --config)"


def _threads_per_core(topology: Topology, smt: bool, cpus: Collection[int] | None) -> int:
    """1, or with --smt the SMT siblings every usable core has: one instance per physical core."""
    if not smt:
        return 1
    sizes = [len(core.cpus) for node in topology.nodes
             for core in topology.usable_cores(node.id, smt=True, cpus=cpus)]
    return min(sizes) if sizes else 1
