"""CPU topology from sysfs: NUMA nodes, physical cores and their SMT siblings.

The filesystem root is a parameter (as in pyperf) so tests read synthetic trees.
"""
from __future__ import annotations

import os
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ConfigError, PlacementError

_RANGE = re.compile(r"(\d+)(?:-(\d+))?")


def parse_cpulist(text: str, source: str = "CPU list") -> list[int]:
    """Parse the kernel's list format ("0-3,8,10-11") into sorted, unique CPU ids.

    `source` names where the text came from (a file or a flag) for the error message.
    """
    text = text.strip()
    cpus: set[int] = set()
    # The kernel writes an empty list for a node without CPUs.
    for part in text.split(",") if text else ():
        match = _RANGE.fullmatch(part.strip())
        if match is None or (match[2] is not None and int(match[2]) < int(match[1])):
            raise ConfigError(f"{source}: {text!r} is not a CPU list; write it like 0-3,8,10-11")
        first = int(match[1])
        last = int(match[2]) if match[2] is not None else first
        cpus.update(range(first, last + 1))
    return sorted(cpus)


def format_cpulist(cpus: Iterable[int]) -> str:
    """Format CPU ids in the kernel's list format, e.g. [0, 1, 2, 3, 8] -> "0-3,8"."""
    parts: list[str] = []
    ordered = sorted(set(cpus))
    start = 0
    for i in range(1, len(ordered) + 1):
        if i == len(ordered) or ordered[i] != ordered[i - 1] + 1:
            first, last = ordered[start], ordered[i - 1]
            parts.append(str(first) if first == last else f"{first}-{last}")
            start = i
    return ",".join(parts)


def name_cpus(cpus: Iterable[int]) -> str:
    """"CPU 3" or "CPUs 0-3,8" for messages."""
    listed = format_cpulist(cpus)
    return f"CPUs {listed}" if "," in listed or "-" in listed else f"CPU {listed}"


def plural(count: int, noun: str) -> str:
    """"1 core", "2 cores": messages read naturally for any count."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


@dataclass(frozen=True)
class NumaNode:
    id: int
    cpus: frozenset[int]  # online CPUs only; empty for a memory-only node


@dataclass(frozen=True)
class Core:
    package: int
    core_id: int  # unique only within its package
    node: int
    cpus: tuple[int, ...]  # online SMT siblings, sorted; cpus[0] is the primary thread


@dataclass(frozen=True)
class Topology:
    nodes: tuple[NumaNode, ...]
    cores: tuple[Core, ...]  # sorted by primary CPU
    online: frozenset[int]
    allowed: frozenset[int]  # CPUs this process may run on (affinity / cgroup cpuset)
    distances: tuple[tuple[int, ...], ...]  # distances[i][j]: nodes[i] to nodes[j]

    @property
    def usable_cpus(self) -> frozenset[int]:
        return self.online & self.allowed

    def usable_cores(
        self, node_id: int, smt: bool = False, cpus: Collection[int] | None = None
    ) -> tuple[Core, ...]:
        """Cores of a node that have a usable CPU, each reduced to its usable CPUs.

        Usable = online, allowed and (if given) in `cpus`. Without `smt` each core keeps
        one CPU: its first usable sibling, because a cpuset may grant only the second
        hyperthread of a core and that is still one physical core to run on.
        """
        usable = self.usable_cpus if cpus is None else self.usable_cpus & frozenset(cpus)
        result = []
        for core in self.cores:
            siblings = tuple(cpu for cpu in core.cpus if cpu in usable)
            if core.node == node_id and siblings:
                kept = siblings if smt else siblings[:1]
                result.append(Core(core.package, core.core_id, core.node, kept))
        return tuple(result)

    def describe(self) -> str:
        """One line, e.g. "2 sockets, 2 NUMA nodes, 48 cores, 96 threads"."""
        sockets = len({core.package for core in self.cores})
        with_cpus = sum(1 for node in self.nodes if node.cpus)
        text = (
            f"{plural(sockets, 'socket')}, {plural(with_cpus, 'NUMA node')}, "
            f"{plural(len(self.cores), 'core')}, {plural(len(self.online), 'thread')}"
        )
        if with_cpus < len(self.nodes):
            text += f" (+{plural(len(self.nodes) - with_cpus, 'NUMA node')} without CPUs)"
        if self.usable_cpus != self.online:
            text += f"; this process may use {name_cpus(self.usable_cpus)}"
        return text


def read_topology(root: Path = Path("/"), allowed_cpus: frozenset[int] | None = None) -> Topology:
    """Read the topology under `root`.

    `allowed_cpus` None means: the real root asks the kernel (sched_getaffinity); a
    synthetic root reads root/proc/self/status Cpus_allowed_list, else all online CPUs.
    """
    cpu_dir = root / "sys/devices/system/cpu"
    online = frozenset(_read_cpulist(cpu_dir / "online"))
    nodes, distances = _read_nodes(root / "sys/devices/system/node", online)
    node_of = {cpu: node.id for node in nodes for cpu in node.cpus}
    missing = online - node_of.keys()
    if missing:
        raise PlacementError(
            f"{root / 'sys/devices/system/node'}: online {name_cpus(missing)} in no NUMA "
            "node's cpulist; check that /sys is the host's sysfs"
        )
    cores = _read_cores(cpu_dir, online, node_of)
    if allowed_cpus is None:
        allowed_cpus = _allowed_cpus(root, online)
    return Topology(nodes, cores, online, frozenset(allowed_cpus), distances)


def _read_cpulist(path: Path) -> list[int]:
    try:
        return parse_cpulist(path.read_text(), source=str(path))
    except OSError as exc:
        raise PlacementError(f"{path}: cannot read ({exc.strerror}); is /sys mounted?") from exc


def _read_nodes(
    node_dir: Path, online: frozenset[int]
) -> tuple[tuple[NumaNode, ...], tuple[tuple[int, ...], ...]]:
    # Numeric sort: the kernel writes distance rows in node id order, and node10 > node2.
    ids = sorted(
        int(path.name[4:])
        for path in node_dir.glob("node*")
        if path.name[4:].isdigit()
    )
    if not ids:
        # Containers and kernels without NUMA support: the whole machine is one node.
        return (NumaNode(0, online),), ((10,),)
    nodes = tuple(
        NumaNode(i, frozenset(_read_cpulist(node_dir / f"node{i}/cpulist")) & online) for i in ids
    )
    distances = []
    for i in ids:
        path = node_dir / f"node{i}/distance"
        row = tuple(int(value) for value in path.read_text().split())
        if len(row) != len(ids):
            raise PlacementError(
                f"{path}: {len(row)} distances for {len(ids)} NUMA nodes; "
                "check that /sys is the host's sysfs"
            )
        distances.append(row)
    return nodes, tuple(distances)


def _read_cores(cpu_dir: Path, online: frozenset[int], node_of: dict[int, int]) -> tuple[Core, ...]:
    cores: dict[tuple[int, ...], Core] = {}
    for cpu in sorted(online):
        topo = cpu_dir / f"cpu{cpu}/topology"
        if not (topo / "core_id").exists():
            # Some sandboxes hide cpu*/topology; each CPU then counts as its own core.
            siblings: tuple[int, ...] = (cpu,)
            package, core_id = 0, cpu
        else:
            # core_cpus_list is the newer name of thread_siblings_list (Linux 5.x).
            newer = topo / "core_cpus_list"
            listed = _read_cpulist(newer if newer.exists() else topo / "thread_siblings_list")
            siblings = tuple(c for c in listed if c in online)
            package = int((topo / "physical_package_id").read_text())
            core_id = int((topo / "core_id").read_text())
        if siblings not in cores:
            cores[siblings] = Core(package, core_id, node_of[siblings[0]], siblings)
    return tuple(sorted(cores.values(), key=lambda core: core.cpus[0]))


def _allowed_cpus(root: Path, online: frozenset[int]) -> frozenset[int]:
    if root == Path("/"):
        return frozenset(os.sched_getaffinity(0))
    status = root / "proc/self/status"
    if status.exists():
        for line in status.read_text().splitlines():
            key, _, value = line.partition(":")
            if key == "Cpus_allowed_list":
                return frozenset(parse_cpulist(value, source=f"{status} Cpus_allowed_list"))
    return online
