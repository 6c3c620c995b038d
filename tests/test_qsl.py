import os

import numpy as np
import pytest

from harness.cpu.placement import cpus_by_node, plan_instances
from harness.cpu.topology import read_topology
from harness.errors import PlacementError
from harness.loadgen.qsl import SampleStore


@pytest.fixture
def cache(tmp_path):
    """A memory-mapped cache like the preprocessed one: row i holds the value i."""
    path = tmp_path / "cache.npy"
    rows = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(600, 3, 4, 4))
    rows[:] = np.arange(600, dtype=np.float32)[:, None, None, None]
    rows.flush()
    return np.load(path, mmap_mode="r")


def gathered(store, node, indices):
    return store.rows_for(node)[store.slot_of[indices]][:, 0, 0, 0]


def test_one_copy_on_this_machines_node_filled_on_its_cpus(cache):
    plan = plan_instances(read_topology(), None, None, 16)
    nodes = cpus_by_node(plan.instances)
    store = SampleStore(cache, nodes)
    mask = os.sched_getaffinity(0)
    store.load([599, 3, 300, 7])
    assert os.sched_getaffinity(0) == mask  # pinning happened in the filling threads only
    for node, cpus in nodes.items():
        assert store.filled_on(node) == cpus
        assert gathered(store, node, [7, 599, 3]).tolist() == [7, 599, 3]


def test_two_nodes_get_identical_copies_each_filled_by_its_own_cpus(cache):
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        pytest.skip("needs two CPUs to stand for two NUMA nodes")
    nodes = {0: (cpus[0],), 1: (cpus[1],)}
    store = SampleStore(cache, nodes)
    performance_set = list(range(0, 600, 2))  # more rows than one chunk of the copy loop
    store.load(performance_set)
    first, second = store.rows_for(0), store.rows_for(1)
    assert first.shape == second.shape == (300, 3, 4, 4)
    assert not np.shares_memory(first, second)
    assert np.array_equal(first, second)
    assert store.filled_on(0) == (cpus[0],) and store.filled_on(1) == (cpus[1],)
    assert gathered(store, 1, [598, 0, 2]).tolist() == [598, 0, 2]
    assert (store.slot_of[1::2] == -1).all()


def test_load_replaces_and_unload_frees_every_copy(cache):
    cpu = min(os.sched_getaffinity(0))
    store = SampleStore(cache, {0: (cpu,), 1: (cpu,)})
    store.load([1, 2, 3])
    store.load([10, 20])  # accuracy mode loads successive chunks
    assert gathered(store, 1, [20, 10]).tolist() == [20, 10]
    assert store.slot_of[[1, 2, 3]].tolist() == [-1, -1, -1]
    store.unload([10])
    assert len(store.rows_for(0)) == 2
    store.unload([20])
    assert len(store.rows_for(0)) == len(store.rows_for(1)) == 0


def test_a_node_whose_cpus_cannot_be_used_fails_the_load(cache):
    store = SampleStore(cache, {0: (100000,)})
    with pytest.raises(PlacementError, match="cannot pin a thread to CPU 100000"):
        store.load([1])
