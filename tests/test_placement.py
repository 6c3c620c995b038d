import dataclasses

import pytest

from harness.cpu.placement import Instance, Plan, cpus_by_node, plan_instances
from harness.cpu.topology import read_topology
from harness.errors import PlacementError

from sysfs_trees import make_tree


def span(first, last):
    return tuple(range(first, last + 1))


def layout(plan):
    """(node, cpus, threads) per instance, in index order."""
    assert [instance.index for instance in plan.instances] == list(range(len(plan.instances)))
    return [(instance.node, instance.cpus, instance.threads) for instance in plan.instances]


# Topologies are immutable, so each tree is written once per module.
@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """This machine's shape: one node, two cores, no SMT."""
    return read_topology(make_tree(tmp_path_factory.mktemp("small"), cores_per_socket=2))


@pytest.fixture(scope="module")
def xeon(tmp_path_factory):
    """2 sockets x 24 cores, SMT 2: CPU i and i + 48 are siblings."""
    root = tmp_path_factory.mktemp("xeon")
    return read_topology(make_tree(root, sockets=2, cores_per_socket=24, smt=2))


@pytest.fixture(scope="module")
def snc4(tmp_path_factory):
    """The same machine with sub-NUMA clustering: 8 nodes of 6 cores."""
    root = tmp_path_factory.mktemp("snc4")
    return read_topology(make_tree(root, sockets=2, cores_per_socket=24, smt=2, nodes_per_socket=4))


def test_instance_is_the_agreed_contract():
    assert [field.name for field in dataclasses.fields(Instance)] == [
        "index", "node", "cpus", "threads", "batch_size",
    ]
    with pytest.raises(dataclasses.FrozenInstanceError):
        Instance(0, 0, (0,), 1, 1).threads = 2


def test_small_machine_auto(small):
    plan = plan_instances(small, None, None, batch_size=4)
    assert plan == Plan(
        (Instance(0, 0, (0, 1), 2, 4),),
        (),
        "1 instance × 2 threads on NUMA node 0, batch 4, 1 thread per physical core",
    )
    assert plan.cpus_by_instance() == {0: (0, 1)}


def test_small_machine_two_instances_and_reserve(small):
    assert layout(plan_instances(small, 2, None, 1)) == [(0, (0,), 1), (0, (1,), 1)]
    plan = plan_instances(small, None, None, 1, reserve_cores=1)
    assert layout(plan) == [(0, (1,), 1)]
    assert plan.reserved_cpus == (0,)
    assert plan.description.endswith("; CPU 0 reserved for LoadGen")


def test_xeon_auto_is_one_instance_per_socket(xeon):
    plan = plan_instances(xeon, None, None, batch_size=8)
    assert layout(plan) == [(0, span(0, 23), 24), (1, span(24, 47), 24)]
    assert {instance.batch_size for instance in plan.instances} == {8}
    assert plan.description == (
        "2 instances × 24 threads on NUMA nodes 0-1, batch 8, 1 thread per physical core"
    )


def test_xeon_auto_with_smt_uses_siblings(xeon):
    plan = plan_instances(xeon, None, None, 1, smt=True)
    assert layout(plan) == [
        (0, span(0, 23) + span(48, 71), 48),
        (1, span(24, 47) + span(72, 95), 48),
    ]
    assert "all SMT siblings used" in plan.description


def test_xeon_smt_instances_get_whole_cores(xeon):
    plan = plan_instances(xeon, None, 4, 1, smt=True)
    assert len(plan.instances) == 24
    assert layout(plan)[:3] == [
        (0, (0, 1, 48, 49), 4), (1, (24, 25, 72, 73), 4), (0, (2, 3, 50, 51), 4),
    ]


def test_xeon_instances_alternate_between_nodes(xeon):
    expected = [
        (0, span(0, 11), 12), (1, span(24, 35), 12), (0, span(12, 23), 12), (1, span(36, 47), 12),
    ]
    assert layout(plan_instances(xeon, 4, None, 1)) == expected
    assert layout(plan_instances(xeon, None, 12, 1)) == expected
    assert layout(plan_instances(xeon, 4, 12, 1)) == expected


def test_xeon_uneven_split(xeon):
    plan = plan_instances(xeon, 5, None, 1)
    assert layout(plan) == [
        (0, span(0, 7), 8), (1, span(24, 35), 12), (0, span(8, 15), 8),
        (1, span(36, 47), 12), (0, span(16, 23), 8),
    ]
    assert plan.description.startswith("5 instances × 8-12 threads on NUMA nodes 0-1")


def test_xeon_threads_that_leave_cores_idle(xeon):
    plan = plan_instances(xeon, None, 10, 1)
    assert layout(plan) == [
        (0, span(0, 9), 10), (1, span(24, 33), 10), (0, span(10, 19), 10), (1, span(34, 43), 10),
    ]
    assert plan.description.endswith("; 8 cores left idle")


def test_fewer_instances_than_nodes(xeon):
    assert layout(plan_instances(xeon, 1, None, 1)) == [(0, span(0, 23), 24)]


def test_xeon_reserve_cores_come_from_the_first_node(xeon):
    plan = plan_instances(xeon, None, None, 1, reserve_cores=1)
    assert plan.reserved_cpus == (0, 48)
    assert layout(plan) == [(0, span(1, 23), 23), (1, span(24, 47), 24)]
    # 24-thread instances now fit only on node 1.
    assert layout(plan_instances(xeon, None, 24, 1, reserve_cores=1)) == [(1, span(24, 47), 24)]


def test_snc4_auto_is_one_instance_per_sub_numa_node(snc4):
    plan = plan_instances(snc4, None, None, 1)
    assert layout(plan) == [(node, span(6 * node, 6 * node + 5), 6) for node in range(8)]
    assert layout(plan_instances(snc4, 8, 6, 1)) == layout(plan)


def test_cpus_by_node_gathers_each_nodes_instances(xeon, snc4):
    plan = plan_instances(xeon, 4, 12, batch_size=1)
    assert cpus_by_node(plan.instances) == {0: span(0, 23), 1: span(24, 47)}
    # Fewer instances than sub-NUMA nodes: only the nodes in use get samples.
    plan = plan_instances(snc4, 3, None, batch_size=1)
    assert cpus_by_node(plan.instances) == {0: span(0, 5), 1: span(6, 11), 2: span(12, 17)}


def test_snc4_sixteen_instances(snc4):
    plan = layout(plan_instances(snc4, 16, None, 1))
    assert plan[:2] == [(0, (0, 1, 2), 3), (1, (6, 7, 8), 3)]
    assert plan[8] == (0, (3, 4, 5), 3)
    assert plan[15] == (7, (45, 46, 47), 3)


def test_snc4_threads_beyond_a_sub_node(snc4):
    with pytest.raises(PlacementError) as error:
        plan_instances(snc4, None, 8, 1)
    assert str(error.value) == (
        "--threads 8 does not fit: NUMA node 0 has 6 usable cores (CPUs 0-5) and instances "
        "never span NUMA nodes; use --threads 6 or fewer"
    )


def test_offline_cpus_are_not_used(tmp_path):
    root = make_tree(tmp_path, sockets=2, cores_per_socket=24, smt=2, offline=[5, 50, 53])
    topology = read_topology(root)
    cpus = tuple(cpu for cpu in span(0, 23) if cpu != 5)
    assert layout(plan_instances(topology, None, None, 1))[0] == (0, cpus, 23)
    smt_cpus = cpus + tuple(cpu for cpu in span(48, 71) if cpu not in (50, 53))
    assert layout(plan_instances(topology, None, None, 1, smt=True))[0] == (0, smt_cpus, 45)


def test_restricted_cpuset_uses_only_allowed_cpus(tmp_path):
    allowed = [*range(0, 12), *range(48, 60)]
    topology = read_topology(
        make_tree(tmp_path, sockets=2, cores_per_socket=24, smt=2, allowed=allowed)
    )
    assert layout(plan_instances(topology, None, None, 1)) == [(0, span(0, 11), 12)]
    with pytest.raises(
        PlacementError,
        match=r"^--threads 16 does not fit: NUMA node 0 has 12 usable cores \(CPUs 0-11\) and",
    ):
        plan_instances(topology, None, 16, 1)


def test_cpus_flag_restricts_placement(xeon):
    assert layout(plan_instances(xeon, None, None, 1, cpus=range(8))) == [(0, span(0, 7), 8)]
    assert layout(plan_instances(xeon, None, None, 1, cpus=range(20, 30))) == [
        (0, span(20, 23), 4), (1, span(24, 29), 6),
    ]


def test_cpus_flag_outside_allowed_is_an_error(tmp_path):
    root = make_tree(tmp_path, sockets=2, cores_per_socket=24, smt=2, allowed=range(12))
    with pytest.raises(PlacementError) as error:
        plan_instances(read_topology(root), None, None, 1, cpus=range(16))
    assert str(error.value) == (
        "--cpus 0-15: CPUs 12-15 cannot be used (offline or not allowed for this process); "
        "choose from 0-11"
    )


def test_too_many_instances(xeon):
    with pytest.raises(PlacementError) as error:
        plan_instances(xeon, 49, None, 1)
    assert str(error.value) == (
        "--instances 49 does not fit: NUMA node 0 has 24 usable cores (CPUs 0-23), NUMA node 1 "
        "has 24 usable cores (CPUs 24-47), so at most 48 instances of one thread fit; "
        "use --instances 48 or fewer"
    )


def test_instances_and_threads_that_do_not_fit(xeon):
    with pytest.raises(PlacementError) as error:
        plan_instances(xeon, 3, 16, 1)
    message = str(error.value)
    assert message.startswith("--instances 3 --threads 16 does not fit: NUMA node 0 has 24")
    assert message.endswith(
        "so at most 2 instances of 16 threads fit; use --instances 2 or fewer, "
        "or --threads 12 or fewer"
    )


def test_threads_larger_than_any_node_names_the_largest(xeon):
    with pytest.raises(PlacementError) as error:
        plan_instances(xeon, None, 30, 1, reserve_cores=2)
    assert str(error.value) == (
        "--threads 30 does not fit: NUMA node 1 has 24 usable cores (CPUs 24-47) and instances "
        "never span NUMA nodes; use --threads 24 or fewer"
    )
    with pytest.raises(PlacementError, match=r"NUMA node 0 has 22 usable cores \(CPUs 2-23\) "
                       r"after --reserve-cores 2, NUMA node 1"):
        plan_instances(xeon, 3, 16, 1, reserve_cores=2)


def test_smt_messages_count_cpus(xeon):
    with pytest.raises(PlacementError, match=r"NUMA node 0 has 48 usable CPUs \(CPUs 0-23,48-71\)"):
        plan_instances(xeon, None, 49, 1, smt=True)


@pytest.mark.parametrize(
    "arguments, message",
    [
        (dict(instances=0), "--instances 0 is invalid; use 1 or more"),
        (dict(threads=-1), "--threads -1 is invalid; use 1 or more"),
        (dict(batch_size=0), "--batch-size 0 is invalid; use 1 or more"),
        (dict(reserve_cores=-1), "--reserve-cores -1 is invalid; use 0 or more"),
        (dict(reserve_cores=2), "--reserve-cores 2 leaves no cores for instances on NUMA node 0, "
                                "which has 2 usable cores; use --reserve-cores 1 or fewer"),
        (dict(cpus=[]), "--cpus is empty; give CPUs like 0-7"),
    ],
)
def test_invalid_requests(small, arguments, message):
    request = dict(instances=None, threads=None, batch_size=1) | arguments
    with pytest.raises(PlacementError, match="^" + message.replace("(", r"\(")):
        plan_instances(small, **request)


def test_no_usable_cpus(tmp_path):
    topology = read_topology(make_tree(tmp_path, cores_per_socket=2), allowed_cpus=frozenset({7}))
    with pytest.raises(PlacementError) as error:
        plan_instances(topology, None, None, 1)
    assert str(error.value) == (
        "no usable CPUs: online CPUs 0-1 and CPUs allowed for this process 7 do not overlap; "
        "check the taskset or cgroup cpuset this runs under"
    )


def test_this_machine_places_every_allowed_core():
    topology = read_topology()
    plan = plan_instances(topology, None, None, 1)
    placed = sorted(cpu for instance in plan.instances for cpu in instance.cpus)
    assert placed == sorted(core.cpus[0] for node in topology.nodes
                            for core in topology.usable_cores(node.id))
