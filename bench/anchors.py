"""The harness against its anchors, side by side in one run: the bare engine and OpenVINO's
benchmark_app, on the same model file, per precision and scenario.

    python bench/anchors.py [--seconds 15] [--precisions fp32,int8] [--scenarios Offline,SingleStream]
                            [--ep auto] [--profile] [--rounds 1]

Each cell measures, back to back (the order rotates round by round): the bare engine (the harness's sessions and layout in a
plain loop, bench/bare.py), `benchmark_app` (from the `openvino` package, pip install
'.[bench]') with the THROUGHPUT hint at the harness's Offline batch or the LATENCY hint at
batch 1, and the harness itself (`python -m harness run --duration SECONDS`, a LoadGen test).
All three run the file the harness runs: the source model for FP32 and BF16, its cached
INT8 quantization for INT8. The harness runs untuned (no system profile; its default
layout, harness.engine.layouts) unless --profile is given. Offline compares samples/s,
SingleStream p90 latency; each ratio is a speed ratio, above 1 when the harness is faster.
The machine is shared: the load average is printed with every cell, and with --rounds N
the median ratio over the rounds and its range.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from bare import bare_offline, bare_setup, bare_single_stream  # noqa: E402

from harness.config.runconfig import load_config  # noqa: E402
from harness.cpu.sysinfo import cpu_info, this_machine  # noqa: E402
from harness.engine.choice import BF16_ISA, OPENVINO_HINT  # noqa: E402
from harness.errors import HarnessError  # noqa: E402

_THROUGHPUT = re.compile(r"^\[ INFO \] Throughput:\s+([\d.]+) FPS", re.M)
_PERCENTILE = re.compile(r"^\[ INFO \]\s+(\d+) percentile:\s+([\d.]+) ms", re.M)
_MEDIAN = re.compile(r"^\[ INFO \]\s+Median:\s+([\d.]+) ms", re.M)
_STREAMS = re.compile(r"^\[ INFO \]\s+NUM_STREAMS:\s+(\d+)", re.M)
_THREADS = re.compile(r"^\[ INFO \]\s+INFERENCE_NUM_THREADS:\s+(\d+)", re.M)


@dataclass(frozen=True)
class BenchmarkApp:
    """What benchmark_app reported: images/s (batch x requests per second), its latency
    percentile (90 when asked with -latency_percentile 90, else the median as 50), streams."""

    throughput: float
    percentile: int
    latency_ms: float
    streams: int | None
    threads: int | None


def parse_benchmark_app(text: str) -> BenchmarkApp:
    """benchmark_app's report, or ValueError naming the line it lacks."""
    throughput = _THROUGHPUT.search(text)
    if throughput is None:
        raise ValueError("benchmark_app printed no 'Throughput:' line")
    percentile = _PERCENTILE.search(text)
    median = _MEDIAN.search(text)
    if percentile is None and median is None:
        raise ValueError("benchmark_app printed no latency percentile or median line")
    pct, latency = (int(percentile[1]), float(percentile[2])) if percentile else (50, float(median[1]))
    streams, threads = _STREAMS.search(text), _THREADS.search(text)
    return BenchmarkApp(float(throughput[1]), pct, latency, int(streams[1]) if streams else None,
                        int(threads[1]) if threads else None)


def run_benchmark_app(model: str, precision: str, scenario: str, shape: tuple, seconds: float) -> BenchmarkApp:
    hint = "throughput" if scenario == "Offline" else "latency"
    command = ["benchmark_app", "-m", model, "-d", "CPU", "-hint", hint, "-t", f"{seconds:g}",
               "-shape", "[" + ",".join(map(str, shape)) + "]", "-latency_percentile", "90",
               # the precision the harness gives the OpenVINO EP (an INT8 QDQ graph sets its own)
               "-infer_precision", OPENVINO_HINT[precision]]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 300)
    except FileNotFoundError:
        raise SystemExit("benchmark_app not found; pip install -e '.[bench]' (the openvino package)") from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"benchmark_app exited {done.returncode}: {tail[0]}")
    return parse_benchmark_app(done.stdout)


def run_harness(precision: str, scenario: str, ep: str, seconds: float, out: Path, env: dict) -> dict:
    command = [sys.executable, "-m", "harness", "run", "--scenario", scenario, "--precision", precision, "--ep", ep,
               "--duration", f"{seconds:g}", "--output-dir", str(out), "--no-progress"]
    # From the output directory: a source tree in the working directory would shadow an installed harness.
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=out)
    runs = sorted(p for p in out.iterdir() if (p / "run.json").is_file())
    if done.returncode != 0 or not runs:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"harness exited {done.returncode}: {tail[0]}")
    return json.loads((runs[-1] / "run.json").read_text())


def load() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def cell(precision: str, scenario: str, ep: str, seconds: float, profile: bool, out: Path, env: dict,
         turn: int = 0) -> dict:
    """The three measurements of one cell, in an order rotated by `turn`: on a machine whose speed
    drifts over minutes, a fixed order would favour whichever always runs first."""
    cfg = load_config(None, {"precision": precision, "scenario": scenario, "ep": ep, "quick": True, "duration": seconds,
                             "progress": False}, machine=this_machine() if profile else None)
    loads = [load()]
    setup = bare_setup(cfg)
    batch = setup.engines[0].batch_size
    shape = (batch, *setup.engines[0].input.shape[1:])
    model = setup.model_path
    got: dict = {}

    def bare() -> None:
        nonlocal setup
        if scenario == "Offline":
            got["bare"] = bare_offline(setup, seconds)
        else:
            got["bare"] = float(np.percentile(bare_single_stream(setup, seconds), 90)) / 1e6
        setup = None  # the bare sessions and their threads are gone before the next measurement

    def app() -> None:
        got["app"] = run_benchmark_app(model, precision, scenario, shape, seconds)

    def harness() -> None:
        got["record"] = run_harness(precision, scenario, ep, seconds, out, env)

    steps = [bare, app, harness]
    for step in steps[turn % 3:] + steps[:turn % 3]:
        step()
        loads.append(load())
    record, app_result = got["record"], got["app"]
    value = record["result"]["value"]
    harness_value = value if scenario == "Offline" else value / 1e6
    anchor = app_result.throughput if scenario == "Offline" else app_result.latency_ms
    faster = (lambda a, b: a / b) if scenario == "Offline" else (lambda a, b: b / a)
    streams, threads = app_result.streams, app_result.threads
    return {"precision": precision, "scenario": scenario, "ep": record["engine"]["ep"],
            "layout": _layout(record["placement"]), "source": record["placement"].get("source", "").split(" (")[0],
            "batch": batch, "harness": harness_value, "bare": got["bare"], "benchmark_app": anchor,
            "app_streams": f"{streams}x{threads // streams}" if streams and threads else "?",
            "vs_bare": faster(harness_value, got["bare"]), "vs_app": faster(harness_value, anchor),
            "load": "/".join(loads)}


def _layout(placement: dict) -> str:
    """E.g. "2×1, batch 116": instances × threads each."""
    instances = placement["instances"]
    threads = sorted({i["threads"] for i in instances})
    each = str(threads[0]) if len(threads) == 1 else f"{threads[0]}-{threads[-1]}"
    return f"{len(instances)}×{each}, batch {instances[0]['batch_size']}"


def table(rows: list[dict]) -> list[str]:
    lines = ["| precision | scenario | harness EP | harness layout (where from) | harness | bare engine | "
             "benchmark_app (streams x threads) | harness/bare | harness/benchmark_app | load 1-min |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['precision']} | {r['scenario']} | not run: {r['error']} | | | | | | | |")
            continue
        unit = "/s" if r["scenario"] == "Offline" else " ms p90"
        lines.append(f"| {r['precision']} | {r['scenario']} | {r['ep']} | {r['layout']} ({r['source']}) | "
                     f"{r['harness']:.2f}{unit} | {r['bare']:.2f}{unit} | {r['benchmark_app']:.2f}{unit} "
                     f"({r['app_streams']}) | {r['vs_bare']:.3f} | {r['vs_app']:.3f} | {r['load']} |")
    return lines


def summary(rows: list[dict]) -> list[str]:
    """Per precision and scenario over the rounds: the median ratio and its range."""
    lines = []
    for key in dict.fromkeys((r["precision"], r["scenario"]) for r in rows if "error" not in r):
        cells = [r for r in rows if "error" not in r and (r["precision"], r["scenario"]) == key]
        ratios = [f"{name} median {np.median([r[k] for r in cells]):.3f} "
                  f"({min(r[k] for r in cells):.3f}-{max(r[k] for r in cells):.3f})"
                  for name, k in (("harness/bare", "vs_bare"), ("harness/benchmark_app", "vs_app"))]
        lines.append(f"{key[0]} {key[1]}, {len(cells)} rounds: " + "; ".join(ratios))
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="length of every measurement")
    has_bf16 = any(flag in cpu_info()["isa"] for flag in BF16_ISA)
    parser.add_argument("--precisions", default="fp32,int8,bf16" if has_bf16 else "fp32,int8")
    parser.add_argument("--scenarios", default="Offline,SingleStream")
    parser.add_argument("--ep", default="auto", choices=("auto", "cpu", "openvino"), help="the harness's EP")
    parser.add_argument("--profile", action="store_true", help="let this machine's system profile apply")
    parser.add_argument("--rounds", type=int, default=1, help="measure every cell this many times")
    args = parser.parse_args()
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ)
        if not args.profile:  # untuned: no system profile, so the default layout applies
            env["HARNESS_SYSTEMS_DIR"] = str(Path(tmp) / "no-profiles")
        for turn in range(args.rounds):
            for precision in args.precisions.split(","):
                for scenario in args.scenarios.split(","):
                    out = Path(tempfile.mkdtemp(dir=tmp))
                    try:
                        rows.append(cell(precision, scenario, args.ep, args.seconds, args.profile, out, env, turn))
                    except (HarnessError, RuntimeError) as exc:
                        rows.append({"precision": precision, "scenario": scenario, "error": str(exc)})
                    print(table(rows[-1:])[-1], flush=True)
    print(f"\n{cpu_info()['model']}, {os.cpu_count()} CPUs; {args.seconds:g} s per measurement; "
          f"harness {'with its system profile' if args.profile else 'untuned'}")
    print("\n".join(table(rows)))
    if args.rounds > 1:
        print("\n".join(["", *summary(rows)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
