"""Server and MultiStream against Offline and SingleStream, in one run, on ResNet-50.

    python bench/server.py [--precision int8] [--duration 10]

Offline samples/s, then the Server rate search (highest VALID rate, and the run at it):
the ratio Server / Offline says how much of its throughput the machine keeps when every
answer must come within 15 ms (Intel's MLPerf CPU results keep about 0.89). Then
SingleStream's p90 and MultiStream's p99 of an 8-sample query, one instance answering the
query whole and the query split across instances: the ratio MultiStream p99 / (8 x
SingleStream p90) says what batching a query buys. All runs are quick (non-compliant),
with the default execution provider for the precision, and this machine's system profile.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from harness.config.runconfig import load_config
from harness.cpu.sysinfo import cpu_info, this_machine
from harness.cpu.topology import read_topology
from harness.errors import HarnessError
from harness.loadgen.benchmark import run_benchmark


def run(out: Path, args, scenario: str, **values) -> dict | str:
    cfg = load_config(None, {"precision": args.precision, "scenario": scenario, "quick": True,
                             "duration": args.duration, "output_dir": str(out), "progress": False, **values},
                      machine=this_machine())
    try:
        return run_benchmark(cfg, echo=lambda *_: None)
    except HarnessError as exc:
        return str(exc)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--precision", default="int8")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run (and per search step)")
    args = parser.parse_args()
    cores = len(read_topology().cores)
    print(f"{cpu_info()['model']}, {cores} cores; ResNet-50 {args.precision}, runs of {args.duration:g} s")
    with tempfile.TemporaryDirectory(prefix="bench-server-") as tmp:
        out = Path(tmp)
        offline = run(out, args, "Offline")
        server = run(out, args, "Server")
        single = run(out, args, "SingleStream")
        whole = run(out, args, "MultiStream", instances=1)
        split = run(out, args, "MultiStream", instances=min(cores, 2), threads=max(cores // 2, 1))
    rows = [("Offline samples/s", offline, lambda r: f"{r['result']['value']:.1f}")]
    rows.append(("Server: highest VALID rate (search)", server,
                 lambda r: f"{r['server_search']['highest_valid']:.1f} samples/s"))
    rows.append(("Server: the run at 90 % of it", server,
                 lambda r: f"{r['result']['value']:.1f} completed, p99 {r['result']['p99_latency_ns'] / 1e6:.2f} ms, "
                           f"{r['result']['validity']}"))
    rows.append(("SingleStream p90", single, lambda r: f"{r['result']['value'] / 1e6:.2f} ms"))
    rows.append(("MultiStream p99, 1 instance (batch 8)", whole, lambda r: f"{r['result']['value'] / 1e6:.2f} ms"))
    rows.append(("MultiStream p99, split across instances", split,
                 lambda r: f"{r['result']['value'] / 1e6:.2f} ms ({r['placement']['description']})"))
    print("| measurement | result |\n|---|---|")
    for name, record, show in rows:
        print(f"| {name} | {show(record) if isinstance(record, dict) else 'no result: ' + record} |")
    if isinstance(offline, dict) and isinstance(server, dict):
        print(f"Server / Offline: {server['server_search']['highest_valid'] / offline['result']['value']:.3f}")
    if isinstance(single, dict):
        for name, record in (("1 instance", whole), ("split", split)):
            if isinstance(record, dict):
                ratio = record["result"]["value"] / (8 * single["result"]["value"])
                print(f"MultiStream p99 ({name}) / (8 x SingleStream p90): {ratio:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
