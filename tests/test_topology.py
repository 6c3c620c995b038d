import os
from pathlib import Path

import pytest

from harness.cpu.topology import Core, NumaNode, format_cpulist, parse_cpulist, read_topology
from harness.errors import ConfigError, PlacementError

from sysfs_trees import make_tree


def test_parse_cpulist_reads_ranges_and_singles_in_any_order():
    assert parse_cpulist("0-3,8,10-11\n") == [0, 1, 2, 3, 8, 10, 11]
    assert parse_cpulist("8, 0-1,1") == [0, 1, 8]
    assert parse_cpulist("\n") == []


@pytest.mark.parametrize("text", ["0-", "3-1", "a", "1,,2", "-1"])
def test_parse_cpulist_rejects_malformed_text_naming_source(text):
    with pytest.raises(ConfigError, match=f"--cpus: '{text}' is not a CPU list; write it like"):
        parse_cpulist(text, source="--cpus")


def test_format_cpulist_compresses_runs():
    assert format_cpulist([11, 0, 1, 2, 3, 8, 10]) == "0-3,8,10-11"
    assert format_cpulist([5]) == "5"
    assert format_cpulist([]) == ""
    assert parse_cpulist(format_cpulist(range(0, 96, 3))) == list(range(0, 96, 3))


def test_two_cores_one_node_like_this_machine(tmp_path):
    topology = read_topology(make_tree(tmp_path, cores_per_socket=2))
    assert topology.nodes == (NumaNode(0, frozenset({0, 1})),)
    assert topology.cores == (Core(0, 0, 0, (0,)), Core(0, 2, 0, (1,)))
    assert topology.online == topology.allowed == frozenset({0, 1})
    assert topology.distances == ((10,),)
    assert topology.describe() == "1 socket, 1 NUMA node, 2 cores, 2 threads"


def test_two_socket_xeon_with_smt(tmp_path):
    topology = read_topology(make_tree(tmp_path, sockets=2, cores_per_socket=24, smt=2))
    assert [node.cpus for node in topology.nodes] == [
        frozenset([*range(0, 24), *range(48, 72)]),
        frozenset([*range(24, 48), *range(72, 96)]),
    ]
    assert len(topology.cores) == 48
    # core_id repeats across packages: cores are told apart by their siblings.
    assert topology.cores[0] == Core(0, 0, 0, (0, 48))
    assert topology.cores[24] == Core(1, 0, 1, (24, 72))
    assert topology.distances == ((10, 21), (21, 10))
    assert topology.describe() == "2 sockets, 2 NUMA nodes, 48 cores, 96 threads"
    assert [core.cpus for core in topology.usable_cores(1)] == [(cpu,) for cpu in range(24, 48)]
    assert topology.usable_cores(1, smt=True)[0].cpus == (24, 72)
    assert [core.cpus for core in topology.usable_cores(0, cpus=[3, 51, 30])] == [(3,)]


def test_sub_numa_clustering_splits_each_socket(tmp_path):
    topology = read_topology(
        make_tree(tmp_path, sockets=2, cores_per_socket=24, smt=2, nodes_per_socket=4)
    )
    assert [node.id for node in topology.nodes] == list(range(8))
    assert topology.nodes[5].cpus == frozenset([*range(30, 36), *range(78, 84)])
    assert topology.distances[0] == (10, 12, 12, 12, 21, 21, 21, 21)
    assert topology.distances[6] == (21, 21, 21, 21, 12, 12, 10, 12)
    assert {core.node for core in topology.cores if core.package == 1} == {4, 5, 6, 7}
    assert topology.describe() == "2 sockets, 8 NUMA nodes, 48 cores, 96 threads"


def test_nodes_are_ordered_numerically_past_node9(tmp_path):
    root = make_tree(tmp_path, sockets=2, cores_per_socket=12, nodes_per_socket=6)
    topology = read_topology(root)
    assert [node.id for node in topology.nodes] == list(range(12))
    assert topology.nodes[10].cpus == frozenset({20, 21})
    assert topology.distances[10][10] == 10


def test_offline_cpus_are_left_out_of_cores_and_nodes(tmp_path):
    # CPU 50 is the second thread of core 2; CPUs 5 and 53 are a whole core.
    root = make_tree(tmp_path, sockets=2, cores_per_socket=24, smt=2, offline=[5, 50, 53])
    topology = read_topology(root)
    assert topology.online == frozenset(range(96)) - {5, 50, 53}
    assert len(topology.cores) == 47
    assert Core(0, 4, 0, (2,)) in topology.cores
    assert all(5 not in core.cpus and 53 not in core.cpus for core in topology.cores)
    assert topology.describe() == "2 sockets, 2 NUMA nodes, 47 cores, 93 threads"


def test_restricted_cpuset_from_proc_status(tmp_path):
    allowed = [*range(0, 12), *range(48, 60)]
    root = make_tree(tmp_path, sockets=2, cores_per_socket=24, smt=2, allowed=allowed)
    topology = read_topology(root)
    assert topology.allowed == frozenset(allowed)
    assert [core.cpus for core in topology.usable_cores(0)] == [(cpu,) for cpu in range(12)]
    assert topology.usable_cores(1) == ()
    assert topology.describe().endswith("; this process may use CPUs 0-11,48-59")


def test_cpuset_of_second_hyperthreads_still_gives_one_cpu_per_core(tmp_path):
    root = make_tree(tmp_path, sockets=2, cores_per_socket=24, smt=2, allowed=range(48, 72))
    topology = read_topology(root)
    assert [core.cpus for core in topology.usable_cores(0)] == [(cpu,) for cpu in range(48, 72)]


def test_allowed_cpus_parameter_overrides_the_tree(tmp_path):
    root = make_tree(tmp_path, cores_per_socket=4, allowed=[0, 1, 2, 3])
    assert read_topology(root, allowed_cpus=frozenset({1, 2})).allowed == frozenset({1, 2})


def test_without_node_directory_the_machine_is_one_node(tmp_path):
    topology = read_topology(make_tree(tmp_path, sockets=2, cores_per_socket=2, smt=2, numa=False))
    assert topology.nodes == (NumaNode(0, frozenset(range(8))),)
    assert topology.distances == ((10,),)
    assert {core.node for core in topology.cores} == {0}
    assert topology.describe() == "2 sockets, 1 NUMA node, 4 cores, 8 threads"


def test_older_kernels_without_core_cpus_list(tmp_path):
    root = make_tree(tmp_path, cores_per_socket=2, smt=2)
    for path in root.glob("sys/devices/system/cpu/cpu*/topology/core_cpus_list"):
        path.unlink()
    assert [core.cpus for core in read_topology(root).cores] == [(0, 2), (1, 3)]


def test_hidden_cpu_topology_counts_each_cpu_as_a_core(tmp_path):
    root = make_tree(tmp_path, cores_per_socket=2, smt=2)
    for path in root.glob("sys/devices/system/cpu/cpu*/topology/*"):
        path.unlink()
    assert [core.cpus for core in read_topology(root).cores] == [(0,), (1,), (2,), (3,)]


def test_memory_only_node_is_kept_for_distances(tmp_path):
    root = make_tree(tmp_path, cores_per_socket=2, distances=[[10, 17]])
    node1 = root / "sys/devices/system/node/node1"
    node1.mkdir()
    (node1 / "cpulist").write_text("\n")
    (node1 / "distance").write_text("17 10\n")
    topology = read_topology(root)
    assert topology.nodes[1] == NumaNode(1, frozenset())
    assert topology.distances == ((10, 17), (17, 10))
    assert topology.describe() == (
        "1 socket, 1 NUMA node, 2 cores, 2 threads (+1 NUMA node without CPUs)"
    )


def test_distance_row_of_wrong_length_is_an_error(tmp_path):
    root = make_tree(tmp_path, sockets=2, cores_per_socket=2, distances=[[10, 21], [21]])
    with pytest.raises(PlacementError, match=r"node1/distance: 1 distances for 2 NUMA nodes"):
        read_topology(root)


def test_cpu_in_no_node_is_an_error(tmp_path):
    root = make_tree(tmp_path, cores_per_socket=4)
    (root / "sys/devices/system/node/node0/cpulist").write_text("0-2\n")
    with pytest.raises(PlacementError, match="online CPU 3 in no NUMA node's cpulist"):
        read_topology(root)


def test_missing_sysfs_is_an_error(tmp_path):
    with pytest.raises(PlacementError, match=r"cpu/online: cannot read .*; is /sys mounted\?"):
        read_topology(tmp_path)


def cpuinfo_cores() -> dict[int, tuple[int, int]]:
    """CPU -> (physical id, core id) as /proc/cpuinfo lists them (x86 does; other architectures may not)."""
    found = {}
    for block in Path("/proc/cpuinfo").read_text().split("\n\n"):
        fields = {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in block.splitlines())}
        if {"processor", "physical id", "core id"} <= fields.keys():
            found[int(fields["processor"])] = (int(fields["physical id"]), int(fields["core id"]))
    return found


def test_this_machine():
    topology = read_topology()
    assert topology.allowed == frozenset(os.sched_getaffinity(0))
    assert sorted(cpu for core in topology.cores for cpu in core.cpus) == sorted(topology.online)
    assert frozenset().union(*(node.cpus for node in topology.nodes)) == topology.online
    assert len(topology.distances) == len(topology.nodes)
    assert f"{len(topology.online)} thread" in topology.describe()
    # Against sources other than sysfs: the C library's count of online CPUs, and the
    # package and core of each CPU in /proc/cpuinfo where the architecture lists them there.
    assert len(topology.online) == os.sysconf("SC_NPROCESSORS_ONLN")
    listed = cpuinfo_cores()
    if listed:
        assert {cpu: (core.package, core.core_id) for core in topology.cores for cpu in core.cpus} == listed
