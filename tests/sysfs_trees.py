"""Write synthetic sysfs/proc trees shaped like real Linux servers, for topology tests.

CPUs are numbered the way Linux enumerates Intel Xeons: first thread of every core of
socket 0, then of socket 1, ..., then the second threads in the same order, so with 2
sockets x 24 cores the sibling of CPU i is CPU i + 48.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from harness.cpu.topology import format_cpulist


def make_tree(
    root: Path,
    *,
    sockets: int = 1,
    cores_per_socket: int = 2,
    smt: int = 1,
    nodes_per_socket: int = 1,
    numa: bool = True,
    offline: Iterable[int] = (),
    allowed: Iterable[int] | None = None,
    distances: Sequence[Sequence[int]] | None = None,
) -> Path:
    """Write root/sys/devices/system/{cpu,node} (and root/proc/self/status if `allowed`).

    nodes_per_socket > 1 is sub-NUMA clustering: each socket's cores split into equal,
    contiguous groups. numa=False leaves out the node directory, as in many containers.
    Offline CPUs lose their topology directory and vanish from the lists, as in Linux.
    Returns root.
    """
    offline = frozenset(offline)
    total_cores = sockets * cores_per_socket
    cores_per_node = cores_per_socket // nodes_per_socket
    node_cpus: dict[int, list[int]] = {}
    cpu_dir = root / "sys/devices/system/cpu"
    for socket in range(sockets):
        for core in range(cores_per_socket):
            first = socket * cores_per_socket + core
            siblings = [first + thread * total_cores for thread in range(smt)]
            online_siblings = [cpu for cpu in siblings if cpu not in offline]
            node = socket * nodes_per_socket + core // cores_per_node
            node_cpus.setdefault(node, []).extend(online_siblings)
            for cpu in online_siblings:
                topo = cpu_dir / f"cpu{cpu}/topology"
                topo.mkdir(parents=True)
                # Real core ids have gaps (fused-off cores) and repeat across sockets.
                (topo / "core_id").write_text(f"{core * 2}\n")
                (topo / "physical_package_id").write_text(f"{socket}\n")
                (topo / "thread_siblings_list").write_text(f"{format_cpulist(online_siblings)}\n")
                (topo / "core_cpus_list").write_text(f"{format_cpulist(online_siblings)}\n")
    online = [cpu for cpu in range(total_cores * smt) if cpu not in offline]
    (cpu_dir / "online").write_text(f"{format_cpulist(online)}\n")
    (cpu_dir / "offline").write_text(f"{format_cpulist(offline)}\n")
    # Directories the kernel also keeps here, which must not be taken for CPUs.
    (cpu_dir / "cpufreq").mkdir()
    (cpu_dir / "cpuidle").mkdir()

    if numa:
        node_dir = root / "sys/devices/system/node"
        node_count = sockets * nodes_per_socket
        for node in range(node_count):
            (node_dir / f"node{node}").mkdir(parents=True)
            (node_dir / f"node{node}/cpulist").write_text(f"{format_cpulist(node_cpus[node])}\n")
            row = distances[node] if distances else [
                _distance(node, other, nodes_per_socket) for other in range(node_count)
            ]
            (node_dir / f"node{node}/distance").write_text(" ".join(map(str, row)) + "\n")
        (node_dir / "online").write_text(f"0-{node_count - 1}\n")
        (node_dir / "possible").write_text(f"0-{node_count - 1}\n")

    if allowed is not None:
        allowed = sorted(allowed)
        status = root / "proc/self/status"
        status.parent.mkdir(parents=True)
        status.write_text(
            "Name:\tpython\nState:\tR (running)\n"
            f"Cpus_allowed:\t{sum(1 << cpu for cpu in allowed):x}\n"
            f"Cpus_allowed_list:\t{format_cpulist(allowed)}\n"
            "Mems_allowed_list:\t0\n"
        )
    return root


def _distance(node: int, other: int, nodes_per_socket: int) -> int:
    if node == other:
        return 10
    return 12 if node // nodes_per_socket == other // nodes_per_socket else 21
