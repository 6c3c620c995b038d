"""`harness cluster`: a Ray cluster of N nodes on this machine, on loopback only.

For trying `--cluster` on one machine, and for bench/cluster.py and the tests. Each node
gets its own equal share of this machine's allowed CPUs (its processes are pinned to
them), so N nodes split the machine as N smaller machines would. Ray's `ray start` cannot
make this cluster: it turns a loopback --node-ip-address into the machine's network
address and then listens on every interface; Ray's own multi-node test cluster
(ray.cluster_utils.Cluster) with RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 keeps every
process on 127.0.0.1. A real cluster is started with `ray start` (README: Clusters).
"""

from __future__ import annotations

import argparse
import os
import signal
from contextlib import contextmanager

from harness.errors import ConfigError
from harness.loadgen.cluster import import_ray

HELP = "start N Ray nodes on this machine, on loopback, each on its own share of the CPUs"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--nodes", type=int, default=2, help="how many nodes (default 2)")


def cpu_shares(cpus: list[int], nodes: int) -> list[list[int]]:
    """`cpus` dealt into `nodes` equal, contiguous shares (the remainder left unused)."""
    if nodes < 1 or nodes > len(cpus):
        raise ConfigError(f"--nodes {nodes}: this machine allows {len(cpus)} CPUs; give 1 to {len(cpus)} nodes")
    size = len(cpus) // nodes
    return [cpus[k * size:(k + 1) * size] for k in range(nodes)]


@contextmanager
def local_cluster(nodes: int):
    """A loopback Ray cluster of `nodes` nodes: yields ray.cluster_utils.Cluster (its `address`;
    add_node and remove_node for tests)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import_ray(local_only=True)
    from ray.cluster_utils import Cluster

    allowed = sorted(os.sched_getaffinity(0))
    shares = cpu_shares(allowed, nodes)
    cluster = Cluster()
    try:
        for k, share in enumerate(shares):
            # Ray's processes for the node inherit the affinity of the process that starts them.
            os.sched_setaffinity(0, share)
            try:
                args = {"num_cpus": len(share), "resources": {f"harness_node_{k}": 1}}
                if k == 0:
                    args["include_dashboard"] = False
                cluster.add_node(**args)
            finally:
                os.sched_setaffinity(0, allowed)
        yield cluster
    finally:
        cluster.shutdown()


def main(args: argparse.Namespace) -> int:
    with local_cluster(args.nodes) as cluster:
        address = cluster.address
        print(f"Ray cluster of {args.nodes} nodes on loopback: {address}")
        print(f"  python -m harness --cluster {address} --scenario Offline --quick")
        print("Ctrl-C stops it.", flush=True)
        stop = {signal.SIGINT, signal.SIGTERM}
        signal.pthread_sigmask(signal.SIG_BLOCK, stop)  # taken by sigwait, so the nodes are stopped
        signal.sigwait(stop)
    return 0
