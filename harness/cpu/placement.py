"""Place inference instances on CPUs: never across NUMA nodes, one CPU per thread.

Each NUMA node contributes a pool of CPUs in core order: one CPU per physical core by
default, every usable SMT sibling with `smt=True` (siblings adjacent, so contiguous
slices hand out whole cores). Instances take contiguous slices of one node's pool.
Instance indices go round-robin over the nodes that still have room, so the first k
instances are spread across nodes rather than packed onto node 0.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from harness.cpu.topology import Topology, format_cpulist, name_cpus, plural
from harness.errors import PlacementError


@dataclass(frozen=True)
class Instance:
    index: int
    node: int
    cpus: tuple[int, ...]  # sorted; one inference thread per CPU
    threads: int
    batch_size: int


@dataclass(frozen=True)
class Plan:
    instances: tuple[Instance, ...]
    reserved_cpus: tuple[int, ...]  # whole cores held back for LoadGen and dispatch
    description: str
    source: str = "flags"  # where the layout came from (harness.engine.layouts says)

    def cpus_by_instance(self) -> dict[int, tuple[int, ...]]:
        return {instance.index: instance.cpus for instance in self.instances}


def cpus_by_node(instances: Iterable[Instance]) -> dict[int, tuple[int, ...]]:
    """NUMA node -> the CPUs its instances use: where per-node sample copies are written."""
    nodes: dict[int, set[int]] = {}
    for instance in instances:
        nodes.setdefault(instance.node, set()).update(instance.cpus)
    return {node: tuple(sorted(cpus)) for node, cpus in sorted(nodes.items())}


@dataclass(frozen=True)
class _Pool:
    node: int
    cpus: tuple[int, ...]  # in core order, siblings adjacent
    reserved: int  # cores taken from this node by --reserve-cores


def plan_instances(
    topology: Topology,
    instances: int | None,
    threads: int | None,
    batch_size: int,
    smt: bool = False,
    reserve_cores: int = 0,
    cpus: Iterable[int] | None = None,
) -> Plan:
    """Lay out instances on the usable (online, allowed, `cpus`) CPUs of `topology`.

    instances and threads both None: one instance per NUMA node using all its CPUs.
    Only instances: spread over nodes, each node's CPUs split evenly among its instances.
    Only threads: as many instances of that many threads as fit on each node.
    Both: exactly that layout, or PlacementError.
    """
    _check_counts(instances, threads, batch_size, reserve_cores)
    restriction = _check_restriction(topology, cpus)
    pools, reserved = _pools(topology, smt, reserve_cores, restriction)
    unit = "CPU" if smt else "core"

    if threads is not None and threads > max(len(pool.cpus) for pool in pools):
        largest = max(pools, key=lambda pool: len(pool.cpus))
        raise PlacementError(
            f"--threads {threads} does not fit: {_pool_text(largest, unit)} and instances "
            f"never span NUMA nodes; use --threads {len(largest.cpus)} or fewer"
        )
    if instances is None and threads is None:
        capacity = [1] * len(pools)
    else:
        capacity = [len(pool.cpus) // (threads or 1) for pool in pools]
    count = instances if instances is not None else sum(capacity)
    if count > sum(capacity):
        raise PlacementError(_too_many(pools, count, threads, unit))

    order = _round_robin(count, capacity)
    per_node = [order.count(position) for position in range(len(pools))]
    taken = [0] * len(pools)
    placed = []
    for index, position in enumerate(order):
        pool = pools[position]
        size = threads or len(pool.cpus) // per_node[position]
        slot = taken[position]
        taken[position] += 1
        chunk = tuple(sorted(pool.cpus[slot * size : (slot + 1) * size]))
        placed.append(Instance(index, pool.node, chunk, size, batch_size))

    idle = sum(len(pool.cpus) for pool in pools) - sum(i.threads for i in placed)
    return Plan(tuple(placed), reserved, _describe(placed, reserved, idle, smt, unit))


def _check_counts(
    instances: int | None, threads: int | None, batch_size: int, reserve_cores: int
) -> None:
    if instances is not None and instances < 1:
        raise PlacementError(
            f"--instances {instances} is invalid; use 1 or more, or omit it for one per NUMA node"
        )
    if threads is not None and threads < 1:
        raise PlacementError(
            f"--threads {threads} is invalid; use 1 or more, or omit it to split each node evenly"
        )
    if batch_size < 1:
        raise PlacementError(f"--batch-size {batch_size} is invalid; use 1 or more")
    if reserve_cores < 0:
        raise PlacementError(f"--reserve-cores {reserve_cores} is invalid; use 0 or more")


def _check_restriction(topology: Topology, cpus: Iterable[int] | None) -> frozenset[int]:
    usable = topology.usable_cpus
    if not usable:
        raise PlacementError(
            f"no usable CPUs: online CPUs {format_cpulist(topology.online)} and CPUs allowed "
            f"for this process {format_cpulist(topology.allowed)} do not overlap; "
            "check the taskset or cgroup cpuset this runs under"
        )
    if cpus is None:
        return usable
    requested = frozenset(cpus)
    if not requested:
        raise PlacementError("--cpus is empty; give CPUs like 0-7, or omit it to use all")
    outside = requested - usable
    if outside:
        raise PlacementError(
            f"--cpus {format_cpulist(requested)}: {name_cpus(outside)} cannot be used (offline or "
            f"not allowed for this process); choose from {format_cpulist(usable)}"
        )
    return requested


def _pools(
    topology: Topology, smt: bool, reserve_cores: int, restriction: frozenset[int]
) -> tuple[list[_Pool], tuple[int, ...]]:
    pools = []
    reserved: list[int] = []
    for node in topology.nodes:
        cores = list(topology.usable_cores(node.id, smt=True, cpus=restriction))
        if not cores:
            continue
        held = 0
        if not pools and reserve_cores:
            # Reserve whole cores, all siblings, so nothing else shares them with dispatch.
            if reserve_cores >= len(cores):
                raise PlacementError(
                    f"--reserve-cores {reserve_cores} leaves no cores for instances on NUMA "
                    f"node {node.id}, which has {plural(len(cores), 'usable core')}; "
                    f"use --reserve-cores {len(cores) - 1} or fewer"
                )
            held = reserve_cores
            reserved = [cpu for core in cores[:held] for cpu in core.cpus]
            cores = cores[held:]
        cpus = tuple(cpu for core in cores for cpu in (core.cpus if smt else core.cpus[:1]))
        pools.append(_Pool(node.id, cpus, held))
    return pools, tuple(sorted(reserved))


def _round_robin(count: int, capacity: list[int]) -> list[int]:
    """Pool position of each instance, in index order; needs count <= sum(capacity)."""
    order: list[int] = []
    used = [0] * len(capacity)
    while len(order) < count:
        for position, room in enumerate(capacity):
            if used[position] < room and len(order) < count:
                order.append(position)
                used[position] += 1
    return order


def _pool_text(pool: _Pool, unit: str) -> str:
    text = f"NUMA node {pool.node} has {plural(len(pool.cpus), 'usable ' + unit)} "
    text += f"({name_cpus(pool.cpus)})"
    if pool.reserved:
        text += f" after --reserve-cores {pool.reserved}"
    return text


def _too_many(pools: list[_Pool], count: int, threads: int | None, unit: str) -> str:
    nodes = ", ".join(_pool_text(pool, unit) for pool in pools)
    total = sum(len(pool.cpus) for pool in pools)
    if threads is None:
        return (
            f"--instances {count} does not fit: {nodes}, so at most {total} instances of one "
            f"thread fit; use --instances {total} or fewer"
        )
    fit = sum(len(pool.cpus) // threads for pool in pools)
    hint = f"use --instances {fit} or fewer"
    # The largest thread count that still gives `count` instances, if any does.
    smaller = [
        t for t in range(threads - 1, 0, -1) if sum(len(p.cpus) // t for p in pools) >= count
    ]
    if smaller:
        hint += f", or --threads {smaller[0]} or fewer"
    return (
        f"--instances {count} --threads {threads} does not fit: {nodes}, and instances never "
        f"span NUMA nodes, so at most {plural(fit, 'instance')} of {threads} threads fit; {hint}"
    )


def _describe(
    placed: list[Instance], reserved: tuple[int, ...], idle: int, smt: bool, unit: str
) -> str:
    sizes = sorted({instance.threads for instance in placed})
    threads = plural(sizes[0], "thread") if len(sizes) == 1 else f"{sizes[0]}-{sizes[-1]} threads"
    nodes = sorted({instance.node for instance in placed})
    where = f"NUMA node {nodes[0]}" if len(nodes) == 1 else f"NUMA nodes {format_cpulist(nodes)}"
    text = (
        f"{plural(len(placed), 'instance')} × {threads} on {where}, "
        f"batch {placed[0].batch_size}, "
        + ("all SMT siblings used" if smt else "1 thread per physical core")
    )
    if reserved:
        text += f"; {name_cpus(reserved)} reserved for LoadGen"
    if idle:
        text += f"; {plural(idle, unit)} left idle"
    return text
