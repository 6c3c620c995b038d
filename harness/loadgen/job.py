"""What the parent hands the LoadGen child: one test, fully decided."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.config.modelspec import ModelSpec
from harness.cpu.placement import Instance
from harness.engine.choice import EngineChoice
from harness.loadgen.settings import LoadGenSettings


@dataclass(frozen=True)
class NodeLayout:
    """How every node of a cluster lays out its instances: the run's flags, applied on each
    node to that node's own topology, as a single-machine run applies them to its own."""

    instances: int | None
    threads: int | None
    batch_size: int
    smt: bool = False
    reserve_cores: int = 0


@dataclass(frozen=True)
class ClusterJob:
    address: str  # a Ray address, or "auto" for the cluster this machine belongs to
    ep: str  # as asked (auto | cpu | openvino): each node chooses for its own CPU
    precision: str
    layout: NodeLayout
    node_timeout_s: float  # a node holding a request longer than this is hung


@dataclass(frozen=True)
class TestJob:
    run_dir: Path
    mode: str
    model_path: str
    spec: ModelSpec
    engine: EngineChoice | None  # None: a cluster run, where each node chooses
    samples_path: str  # the preprocessed cache (.npy), memory-mapped
    instances: tuple[Instance, ...]  # empty for a cluster run: the nodes place themselves
    loadgen: LoadGenSettings
    target: float | None  # expected samples/s or latency ms; None: measure
    # The target holds OFFLINE_MARGIN over the measured rate: measured here (target None), or
    # the calibrated target of the run an audit repeats.
    calibrated: bool
    audit_config: Path | None = None
    progress_interval_s: float = 1.0
    # "module:Class" of a SUT to use instead of harness.loadgen.sut.SUT: tests substitute
    # faulty SUTs (caching, failing) through it.
    sut_class: str | None = None
    cluster: ClusterJob | None = None
