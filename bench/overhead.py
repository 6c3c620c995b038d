"""The harness's overhead: full LoadGen runs next to bare loops over the same sessions.

    python bench/overhead.py [--precision fp32] [--duration 20] [--batches 16,116]

Offline, per batch size: bare (session.run with a feed, and the bound IOBinding
buffers the harness uses), the harness, bare again; ratio = harness / best bare mean.
SingleStream: bare batch-1 p90 (both ways), the harness's LoadGen p90, bare again.
Then the per-batch cost of the dispatch work itself (gather, labels, responses),
measured in this process, and what it would cost at N instances.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bare import bare_offline, bare_setup, bare_single_stream  # noqa: E402

from harness._native.dispatch import argmax_labels, gather  # noqa: E402
from harness.config.runconfig import load_config  # noqa: E402
from harness.loadgen.benchmark import run_benchmark  # noqa: E402


def _cfg(args, out: Path, **values):
    return load_config(None, {"precision": args.precision, "ep": args.ep, "quick": True,
                              "duration": args.duration, "output_dir": str(out), "progress": False, **values})


def offline(args, out: Path, batch: int) -> str:
    cfg = _cfg(args, out, scenario="Offline", batch_size=batch)
    setup = bare_setup(cfg)
    plain_a, bound_a = bare_offline(setup, args.duration, plain=True), bare_offline(setup, args.duration)
    del setup
    harness = run_benchmark(cfg, echo=lambda *_: None)["result"]["value"]
    setup = bare_setup(cfg)
    plain_b, bound_b = bare_offline(setup, args.duration, plain=True), bare_offline(setup, args.duration)
    best = max((plain_a + plain_b) / 2, (bound_a + bound_b) / 2)
    return (f"| Offline batch {batch} | {plain_a:.1f} / {plain_b:.1f} | {bound_a:.1f} / {bound_b:.1f} | "
            f"{harness:.1f} | {harness / best:.3f} |")


def single_stream(args, out: Path) -> str:
    cfg = _cfg(args, out, scenario="SingleStream")
    setup = bare_setup(cfg)
    p90 = lambda ns: float(np.percentile(ns, 90)) / 1e6  # noqa: E731
    plain_a, bound_a = p90(bare_single_stream(setup, args.duration, True)), p90(bare_single_stream(setup, args.duration))
    del setup
    harness = run_benchmark(cfg, echo=lambda *_: None)["result"]["value"] / 1e6
    setup = bare_setup(cfg)
    plain_b, bound_b = p90(bare_single_stream(setup, args.duration, True)), p90(bare_single_stream(setup, args.duration))
    best = min((plain_a + plain_b) / 2, (bound_a + bound_b) / 2)
    return (f"| SingleStream p90 ms | {plain_a:.3f} / {plain_b:.3f} | {bound_a:.3f} / {bound_b:.3f} | "
            f"{harness:.3f} | {harness - best:+.3f} ms |")


def dispatch_cost(batch: int, classes: int = 1000, reps: int = 200) -> float:
    """Microseconds of gather + argmax per batch of ResNet-50-sized float32 samples."""
    rows = np.random.default_rng(0).random((1024, 3 * 224 * 224), dtype=np.float32).view(np.uint8)
    out = np.empty((batch, rows.shape[1]), dtype=np.uint8)
    scores = np.random.default_rng(1).random((batch, classes), dtype=np.float32)
    labels = np.empty(batch, dtype=np.float32)
    slots = np.random.default_rng(2).integers(0, 1024, batch)
    start = time.perf_counter()
    for _ in range(reps):
        gather(rows, slots, out)
        argmax_labels(scores, 0, labels)
    return (time.perf_counter() - start) / reps * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--ep", default="auto")
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--batches", default="16,116")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for batch in map(int, args.batches.split(",")):
            rows.append(offline(args, Path(tmp), batch))
            print(rows[-1], flush=True)
        rows.append(single_stream(args, Path(tmp)))
        print(rows[-1], flush=True)
    print(f"\nResNet-50 {args.precision}, {args.duration:.0f} s per measurement; bare = before / after the harness")
    print("| test | bare session.run | bare IOBinding | harness (LoadGen) | harness vs best bare |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))
    print("\nDispatch work per batch (gather of float32 224x224 samples + argmax over 1000 classes):")
    for batch in (1, 16, 116):
        cost = dispatch_cost(batch)
        print(f"  batch {batch:>3}: {cost:8.1f} us; at N instances the dispatch thread-time is N x this "
              f"per batch, spread over N workers (each worker pays its own)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
