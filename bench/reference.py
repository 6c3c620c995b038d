"""MLPerf's reference runner and the harness on the CPU EP, side by side in one run: the same
INT8 model file, the same synthetic images, the same onnxruntime.

    MLPERF_INFERENCE_DIR=/path/to/mlcommons/inference python bench/reference.py [--seconds 30] [--rounds 2]

The reference runner is the checkout's vision/classification_and_detection/python/main.py
with its onnxruntime backend (it needs opencv-python and pycocotools). Run this in an
environment with plain onnxruntime (`HARNESS_ORT=onnxruntime pip install -e .`): the CPU EP
inside onnxruntime-openvino is an older one, and the comparison is of runners, not
onnxruntime releases. Per round and scenario it runs the reference with --threads 2 and 1 and
`harness --ep cpu`, in an order that rotates from round to round (the machine drifts), each a
LoadGen test of --seconds. Offline compares samples/s, SingleStream p90 latency.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from anchors import load, run_harness  # noqa: E402

from harness.config.runconfig import load_config  # noqa: E402
from harness.loadgen.benchmark import _model_for_precision  # noqa: E402
from harness.loadgen.inputs import preprocessed_samples, resolve_inputs  # noqa: E402

# LoadGen's summary lines the two scores are read from.
_RATE = re.compile(r"^Samples per second\s*:\s*([\d.]+)", re.M)
_P90 = re.compile(r"^90\.0+(?:th)? percentile latency \(ns\)\s*:\s*(\d+)", re.M)
# Short runs for both: the reference takes --time, LoadGen's minimum query counts come from here.
USER_CONF = "resnet50.Offline.min_query_count = 1\nresnet50.SingleStream.min_query_count = 64\n"


def score(summary: str, scenario: str) -> float:
    """samples/s, or p90 latency in ms, from a mlperf_log_summary.txt's text."""
    match = (_RATE if scenario == "Offline" else _P90).search(summary)
    if match is None:
        raise ValueError(f"no {'Samples per second' if scenario == 'Offline' else '90th percentile'} line")
    return float(match[1]) if scenario == "Offline" else float(match[1]) / 1e6


def reference(inference: Path, model: str, dataset: Path, scenario: str, threads: int, seconds: float,
              work: Path) -> float:
    out = Path(tempfile.mkdtemp(dir=work))
    command = [sys.executable, "main.py", "--profile", "resnet50-onnxruntime", "--dataset-path", str(dataset),
               "--model", model, "--inputs", "input", "--outputs", "logits", "--scenario", scenario,
               "--time", f"{seconds:g}", "--threads", str(threads), "--user_conf", str(work / "user.conf"),
               "--cache_dir", str(work / "cache"), "--output", str(out)]
    runner = inference / "vision" / "classification_and_detection" / "python"
    subprocess.run(command, cwd=runner, env={**os.environ, "USE_GPU": "no"}, capture_output=True, text=True)
    summary = out / "mlperf_log_summary.txt"
    if not summary.is_file():
        raise RuntimeError(f"the reference runner wrote no {summary.name}; run it by hand in {runner}")
    return score(summary.read_text(), scenario)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--scenarios", default="Offline,SingleStream")
    args = parser.parse_args()
    inference = Path(os.environ.get("MLPERF_INFERENCE_DIR", ""))
    if not (inference / "vision" / "classification_and_detection" / "python" / "main.py").is_file():
        raise SystemExit("set MLPERF_INFERENCE_DIR to a checkout of mlcommons/inference")
    import onnxruntime as ort
    cfg = load_config(None, {"precision": "int8", "ep": "cpu", "quick": True, "progress": False})
    inputs = resolve_inputs(cfg)
    samples = preprocessed_samples(inputs, progress=False)
    # The INT8 file the harness runs (built once, then cached), and the synthetic images with
    # the val_map.txt both runners read.
    model, _ = _model_for_precision(cfg, inputs.artifact, inputs.dataset, samples)
    dataset = inputs.dataset.root
    print(f"onnxruntime {ort.__version__}; model {model}; images {dataset}")
    print("| round | scenario | reference --threads 2 | reference --threads 1 | harness --ep cpu | "
          "harness vs the better reference | load 1-min |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = {**os.environ, "HARNESS_SYSTEMS_DIR": str(work / "no-profiles")}  # untuned: the default layout

        def harness(scenario: str) -> float:
            value = run_harness("int8", scenario, "cpu", args.seconds, Path(tempfile.mkdtemp(dir=work)),
                                env)["result"]["value"]
            return value if scenario == "Offline" else value / 1e6

        (work / "user.conf").write_text(USER_CONF)
        for turn in range(args.rounds):
            for scenario in args.scenarios.split(","):
                steps = {"ref2": lambda: reference(inference, model, dataset, scenario, 2, args.seconds, work),
                         "ref1": lambda: reference(inference, model, dataset, scenario, 1, args.seconds, work),
                         "harness": lambda: harness(scenario)}
                names = list(steps)[turn % 3:] + list(steps)[:turn % 3]
                got, loads = {}, [load()]
                for name in names:
                    got[name] = steps[name]()
                    loads.append(load())
                if scenario == "Offline":
                    unit, ratio = "/s", got["harness"] / max(got["ref1"], got["ref2"])
                else:
                    unit, ratio = " ms p90", min(got["ref1"], got["ref2"]) / got["harness"]
                print(f"| {turn + 1} | {scenario} | {got['ref2']:.2f}{unit} | {got['ref1']:.2f}{unit} | "
                      f"{got['harness']:.2f}{unit} | {ratio:.3f} (above 1: the harness is faster) | "
                      f"{'/'.join(loads)} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
