"""The options of a run, shared by every subcommand that runs one, and the error-to-exit rule."""

from __future__ import annotations

import argparse
import sys

from harness.config.modelspec import INTERPOLATIONS, LAYOUTS, OUTPUT_KINDS, PRESETS
from harness.config.runconfig import RunConfig, check_batch_size, load_config
from harness.cpu.sysinfo import this_machine
from harness.errors import HarnessError
from harness.terms import EPS, MODES, PRECISIONS, RUNNABLE_SCENARIOS


class Parser(argparse.ArgumentParser):
    """Usage mistakes are one line too, like every other error."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="TOML file with [run], [model_spec], [batch_size] tables")
    p.add_argument("--scenario", choices=RUNNABLE_SCENARIOS)
    p.add_argument("--mode", choices=MODES)
    p.add_argument("--precision", choices=PRECISIONS)
    p.add_argument("--ep", choices=EPS, help="execution provider")
    p.add_argument("--quick", action="store_true", default=None,
                   help="short smoke run; the result is marked non-compliant")
    p.add_argument("--duration", type=float, help="minimum duration in seconds (formal: 600)")
    p.add_argument("--target-qps", type=float,
                   help="Offline: expected samples/s (default: measured); Server: the Poisson rate offered "
                        "(default: the highest VALID rate, searched for in short runs)")
    p.add_argument("--target-latency-ms", type=float,
                   help="SingleStream, MultiStream: a query's expected latency (default: measured)")
    p.add_argument("--output-dir", help="where run directories are created (default: runs)")
    p.add_argument("--no-progress", dest="progress", action="store_false", default=None)

    m = p.add_argument_group("model")
    m.add_argument("--model", help="'resnet50' (embedded, synthetic weights) or PATH.onnx")
    m.add_argument("--preset", choices=tuple(PRESETS), help="model conventions (default: embedded / mlperf)")
    m.add_argument("--input-name")
    m.add_argument("--output-name")
    m.add_argument("--layout", choices=LAYOUTS)
    m.add_argument("--image-size", type=int)
    m.add_argument("--resize-shorter", type=int)
    m.add_argument("--interpolation", choices=INTERPOLATIONS)
    m.add_argument("--mean", type=_floats, help="R,G,B")
    m.add_argument("--std", type=_floats, help="R,G,B")
    m.add_argument("--scale-to-unit", action="store_true", default=None)
    m.add_argument("--output-kind", choices=OUTPUT_KINDS)
    m.add_argument("--label-offset", type=int)
    m.add_argument("--num-classes", type=int)

    d = p.add_argument_group("data and placement")
    d.add_argument("--dataset", help="ImageNet-layout directory (images + val_map.txt); default synthetic")
    d.add_argument("--count", type=int, help="use only the first COUNT images")
    d.add_argument("--calibration-list", help="INT8 calibration image names, one per line "
                                              "(default: a seeded subset of 500)")
    d.add_argument("--instances", type=int)
    d.add_argument("--threads", type=int, help="threads per instance")
    d.add_argument("--batch-size", type=int)
    d.add_argument("--cpus", help="restrict to these CPUs, e.g. 0-23")
    d.add_argument("--smt", action="store_true", default=None, help="use SMT siblings too")
    d.add_argument("--reserve-cores", type=int)
    d.add_argument("--cluster", metavar="ADDRESS",
                   help="run on the nodes of a Ray cluster (head's HOST:PORT, or 'auto'), LoadGen here; "
                        "the placement flags apply on each node (README: Clusters)")


def _runs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of runs, 1 or more, got {text!r}")
    return value


def add_repeat_argument(p: argparse.ArgumentParser) -> None:
    """--repeat N: not a run's option but how many runs; run and sweep take it."""
    p.add_argument("--repeat", type=_runs, default=1, metavar="N",
                   help="N independent runs of each configuration, each in its own process and run "
                        "directory, then their run-to-run spread (default 1)")


SPEC_FLAGS = ("input_name", "output_name", "layout", "image_size", "resize_shorter", "interpolation",
              "mean", "std", "scale_to_unit", "output_kind", "label_offset", "num_classes")


def overrides_from_args(args: argparse.Namespace, skip: tuple[str, ...] = ()) -> dict:
    """The run options given on the command line, as load_config takes them."""
    skipped = {"config", "command", "func", "repeat", *skip, *SPEC_FLAGS}
    values = {k: v for k, v in vars(args).items() if k not in skipped and v is not None}
    spec = {k: getattr(args, k) for k in SPEC_FLAGS if getattr(args, k) is not None}
    return {**values, "model_spec": spec} if spec else values


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """The run configuration, with this machine's tuned layout where the user left it open.
    A --batch-size for SingleStream is refused here, not in load_config: a sweep's --batch-size
    is meant for its Offline runs and is dropped for SingleStream."""
    cfg = load_config(args.config, overrides_from_args(args), machine=this_machine())
    check_batch_size(cfg)
    return cfg


def run_command(prog: str, args: argparse.Namespace) -> int:
    """Call the parsed command; a HarnessError becomes one line and its exit code."""
    try:
        return args.func(args)
    except HarnessError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
