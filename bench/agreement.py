"""How far the harness's clock reads from LoadGen's on the same queries: stats.json's `agreement`.

    python bench/agreement.py [--runs 5] [--duration 1] [--model resnet50]

The harness times a query from the SUT's issue callback to just after QuerySamplesComplete
returns; LoadGen from scheduling it to entering QuerySamplesComplete. The difference is a
near-constant per-query offset whose size depends on the machine and its load, so the test
suite asserts only what holds under any load (same queries, same counts, exact order
statistics) and this script measures the offsets: SingleStream p90 and early-stopping
estimate, Offline min/p90 latency and samples/s, each as harness minus LoadGen.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from harness.config.runconfig import load_config
from harness.loadgen.benchmark import run_benchmark

ROWS = (("SingleStream", "p90_ns"), ("SingleStream", "early_stopping_p90_ns"),
        ("Offline", "min_ns"), ("Offline", "p90_ns"), ("Offline", "samples_per_second"))


def agreement(scenario: str, model: str, seconds: float, out: Path) -> dict:
    cfg = load_config(None, {"model": model, "scenario": scenario, "quick": True, "duration": seconds,
                             "output_dir": str(out), "progress": False})
    record = run_benchmark(cfg, echo=lambda *_: None)
    return json.loads((out / record["run_id"] / "stats.json").read_text())["agreement"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--duration", type=float, default=1.0)
    parser.add_argument("--model", default="resnet50")
    args = parser.parse_args()
    found: dict[tuple[str, str], list[dict]] = {row: [] for row in ROWS}
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(args.runs):
            for scenario in ("SingleStream", "Offline"):
                measured = agreement(scenario, args.model, args.duration, Path(tmp) / f"{scenario}-{n}")
                for row in ROWS:
                    if row[0] == scenario and row[1] in measured:
                        found[row].append(measured[row[1]])
    print("| scenario | statistic | harness - LoadGen, each run | relative, each run |")
    print("|---|---|---|---|")
    for (scenario, name), values in found.items():
        differences = ", ".join(f"{v['difference']:,.0f}" for v in values)
        relative = ", ".join(f"{v['relative'] * 100:+.2f} %" for v in values if v["relative"] is not None)
        print(f"| {scenario} | {name} | {differences} | {relative} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
