"""ResNet-50 Offline at every precision x EP: the harness next to the bare engine, same run.

    python bench/precisions.py [--duration 20] [--precisions fp32,bf16,int8] [--eps cpu,openvino]

For each pair: bare engine, harness (a full LoadGen Offline test of the same length),
bare engine again; the ratio divides the harness's LoadGen samples/s by the mean of
the two bare measurements, so drift on a shared machine shows up in the bare pair.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bare import bare_offline, bare_setup  # noqa: E402

from harness.config.runconfig import load_config  # noqa: E402
from harness.errors import HarnessError  # noqa: E402
from harness.loadgen.benchmark import run_benchmark  # noqa: E402


def measure(precision: str, ep: str, seconds: float, out: Path) -> tuple[float, float, float]:
    cfg = load_config(None, {"precision": precision, "ep": ep, "quick": True, "duration": seconds,
                             "output_dir": str(out), "progress": False})
    setup = bare_setup(cfg)
    before = bare_offline(setup, seconds)
    del setup  # release the sessions and their threads before the harness runs
    record = run_benchmark(cfg, echo=lambda *_: None)
    setup = bare_setup(cfg)
    after = bare_offline(setup, seconds)
    return before, record["result"]["value"], after


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--precisions", default="fp32,bf16,int8")
    parser.add_argument("--eps", default="cpu,openvino")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for precision in args.precisions.split(","):
            for ep in args.eps.split(","):
                try:
                    before, harness, after = measure(precision, ep, args.duration, Path(tmp))
                except HarnessError as exc:
                    rows.append(f"| {precision} | {ep} | not run: {exc} | | | |")
                    continue
                bare = (before + after) / 2
                rows.append(f"| {precision} | {ep} | {before:.1f} | {harness:.1f} | {after:.1f} | "
                            f"{harness / bare:.3f} |")
                print(rows[-1], flush=True)
    print("\n| precision | EP | bare before (samples/s) | harness (LoadGen samples/s) | bare after | "
          "harness / bare |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
