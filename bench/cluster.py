"""One machine split into Ray nodes against the same machine whole, in one run, on ResNet-50.

    python bench/cluster.py [--precision fp32] [--duration 10] [--rounds 2]

Three layouts of this machine's CPUs, interleaved round by round (a shared machine drifts):
the harness on its own (no Ray), one Ray node with every CPU, and N Ray nodes with 1/N of
the CPUs each (N = 2 by default), all on loopback (harness cluster's local_cluster). Quick
Offline runs give samples/s and the ratio N nodes / 1 node: what splitting a machine into
nodes and dispatching through the QDL costs or gains. A quick SingleStream run on the N
nodes gives the dispatch's own cost per query: its round trip less the time the query
spent on its node (run.json cluster.dispatch.overhead_us), and the rate the dispatch
sustains with no inference (cluster.dispatch.rate).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from harness.cli.cluster import local_cluster
from harness.config.runconfig import load_config
from harness.cpu.sysinfo import cpu_info, this_machine
from harness.cpu.topology import read_topology
from harness.errors import HarnessError
from harness.loadgen.benchmark import run_benchmark


def run(out: Path, args, scenario: str, cluster: str | None) -> dict | str:
    cfg = load_config(None, {"precision": args.precision, "scenario": scenario, "quick": True,
                             "duration": args.duration, "output_dir": str(out), "progress": False,
                             "cluster": cluster}, machine=this_machine())
    try:
        return run_benchmark(cfg, echo=lambda *_: None)
    except HarnessError as exc:
        return str(exc)


def rate(record: dict | str) -> float | None:
    return record["result"]["value"] if isinstance(record, dict) else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--nodes", type=int, default=2, help="the split layout's node count")
    args = parser.parse_args()
    print(f"{cpu_info()['model']}, {len(read_topology().cores)} cores; ResNet-50 {args.precision}, "
          f"quick Offline runs of {args.duration:g} s, {args.rounds} rounds")
    figures: dict[str, list[float]] = {"no Ray": [], "1 node": [], f"{args.nodes} nodes": []}
    failures, single, dispatch_rate = [], None, None
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        out = Path(tmp)
        for _ in range(args.rounds):
            for name, nodes in (("no Ray", 0), ("1 node", 1), (f"{args.nodes} nodes", args.nodes)):
                if nodes == 0:
                    record = run(out, args, "Offline", None)
                else:
                    with local_cluster(nodes) as cluster:
                        record = run(out, args, "Offline", cluster.address)
                        if nodes > 1 and single is None:
                            single = run(out, args, "SingleStream", cluster.address)
                if rate(record):
                    figures[name].append(rate(record))
                    dispatch_rate = (record.get("cluster") or {}).get("dispatch", {}).get("rate", dispatch_rate)
                else:
                    failures.append(f"{name}: {record}")
    print(f"{'layout':<10} {'Offline samples/s (median of rounds)':>38}  rounds")
    for name, values in figures.items():
        median = statistics.median(values) if values else float("nan")
        print(f"{name:<10} {median:>38.2f}  {', '.join(f'{v:.2f}' for v in values)}")
    one, split = figures["1 node"], figures[f"{args.nodes} nodes"]
    if one and split:
        print(f"{args.nodes} nodes / 1 node: {statistics.median(split) / statistics.median(one):.3f}")
    if figures["no Ray"] and one:
        print(f"1 node / no Ray: {statistics.median(one) / statistics.median(figures['no Ray']):.3f}")
    if dispatch_rate:
        print(f"dispatch rate with no inference (QDL to the nodes and back): {dispatch_rate:,.0f} samples/s")
    if isinstance(single, dict):
        dispatch = single["cluster"]["dispatch"]
        over = dispatch.get("overhead_us", {})
        print(f"dispatch cost per query (SingleStream on {args.nodes} nodes, round trip less time on the node): "
              f"p50 {over.get('p50', float('nan')):.0f} us, p90 {over.get('p90', float('nan')):.0f} us, "
              f"p99 {over.get('p99', float('nan')):.0f} us; SingleStream p90 {single['result']['value'] / 1e6:.2f} ms")
    elif single is not None:
        failures.append(f"SingleStream: {single}")
    for failure in failures:
        print(f"FAILED {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
