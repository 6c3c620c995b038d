"""`harness tune`: measure a few instance layouts and batch sizes; keep the best for this machine.

Every candidate is a short, non-compliant run through run_benchmark, in its own run
directory under runs/tune/<id>/. By default the sweep measures every layout at the
precision's default batch size, then every batch size on the best layout: on a 2-socket
server that is 9 runs instead of the full grid's 25, and the layout decides far more than
the batch does. --grid measures every pair. The winner goes into this machine's system
profile (profile.py), which later runs use by default.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from harness.cli.args import add_run_arguments, config_from_args
from harness.config.profiles import TunedLayout, systems_dir, write_layout
from harness.config.runconfig import RunConfig, layout_key
from harness.cpu.placement import Plan, plan_instances
from harness.cpu.sysinfo import this_machine
from harness.cpu.topology import Topology, parse_cpulist, read_topology
from harness.errors import ConfigError, HarnessError, PlacementError, RunInterrupted
from harness.files import atomic_write_json
from harness.loadgen import benchmark
from harness.loadgen.settings import mlperf_conf
from harness.terms import Scenario

HELP = "measure instance layouts and batch sizes; write the best to this machine's system profile"
THREAD_STEPS = (16, 8, 4, 2, 1)  # instance sizes tried besides one instance per NUMA node
OFFLINE_BATCH_SIZES = (1, 16, 32, 64)  # tried besides the precision's default
SERVER_BATCH_SIZES = (1, 4, 8, 16)  # the most queries a Server batch may collect
DURATION_S = 5.0
NOISE = 0.05  # best two closer than this: within run-to-run noise on a shared machine
_SWEPT = ("instances", "threads", "batch_size")
_TUNE_ARGS = ("layouts", "batch_sizes", "grid", "dry_run")


@dataclass(frozen=True)
class Layout:
    instances: int
    threads: int | None  # None: each NUMA node's CPUs split evenly (nodes of unequal size)

    def label(self) -> str:
        return f"{self.instances}×{self.threads if self.threads else 'node'}"


@dataclass(frozen=True)
class Candidate:
    layout: Layout
    batch_size: int | None  # MultiStream: None, the query shared by the instances


@dataclass(frozen=True)
class Measurement:
    candidate: Candidate
    value: float | None  # samples/s (Offline) or p90 latency in ms (SingleStream); None: failed
    validity: str | None  # LoadGen's VALID / INVALID
    placement: str  # "ok", "not verified" or "N warnings"
    run_id: str | None
    error: str | None = None


def candidate_layouts(topology: Topology, scenario: Scenario, smt: bool = False, reserve_cores: int = 0,
                      cpus: Iterable[int] | None = None) -> list[Layout]:
    """One instance per NUMA node, then instances of 16, 8, 4, 2 and 1 threads where they
    split every node's cores evenly (an idle core is throughput thrown away). SingleStream
    answers one query at a time: one instance, of a whole node's threads down to one.
    MultiStream tries both: one instance answering the query whole, and the query split
    across instances (as many as evenly divide its samples)."""
    scenario = Scenario(scenario)
    per_node = plan_instances(topology, None, None, 1, smt, reserve_cores, cpus).instances
    sizes = [instance.threads for instance in per_node]
    largest = max(sizes)
    whole = [Layout(1, t) for t in (largest, *(t for t in THREAD_STEPS if t < largest))]
    if scenario.one_sample_per_query:
        return whole
    layouts = [Layout(len(sizes), sizes[0] if len(set(sizes)) == 1 else None)]
    for t in THREAD_STEPS:
        if t < min(sizes) and all(size % t == 0 for size in sizes):
            layouts.append(Layout(sum(size // t for size in sizes), t))
    if scenario is Scenario.MULTI_STREAM:
        per_query = mlperf_conf(scenario)["multi_stream_samples_per_query"]
        split = [layout for layout in layouts if layout.instances > 1 and per_query % layout.instances == 0]
        return whole + split
    return layouts


def batch_candidates(scenario: Scenario, default: int) -> list[int | None]:
    """Batch sizes to try. MultiStream: None, the query's samples shared by the instances.
    Server: the most queries a batch may collect (the SUT chooses how long it waits)."""
    scenario = Scenario(scenario)
    if scenario.one_sample_per_query:
        return [1]
    if scenario is Scenario.MULTI_STREAM:
        return [None]
    if scenario is Scenario.SERVER:
        return list(SERVER_BATCH_SIZES)
    return sorted({*OFFLINE_BATCH_SIZES, default})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser)
    t = parser.add_argument_group("tune")
    t.add_argument("--layouts", type=_layouts,
                   help="INSTANCESxTHREADS candidates, e.g. 1x2,2x1 (default: from the topology)")
    t.add_argument("--batch-sizes", type=_batch_sizes,
                   help="Offline batch sizes to try (default: 1,16,32,64 and the precision's default)")
    t.add_argument("--grid", action="store_true", help="measure every layout at every batch size")
    t.add_argument("--dry-run", action="store_true", help="print the candidates and exit")


def main(args: argparse.Namespace) -> int:
    for key in _SWEPT:
        if getattr(args, key) is not None:
            flag = "--" + key.replace("_", "-")
            raise ConfigError(f"harness tune chooses {flag} itself; give candidates with --layouts "
                              "and --batch-sizes instead")
    if args.mode == "accuracy":
        raise ConfigError("harness tune measures performance; drop --mode accuracy")
    base = config_from_args(argparse.Namespace(
        **{k: v for k, v in vars(args).items() if k not in _TUNE_ARGS}))
    single = base.scenario.one_sample_per_query
    if single and args.batch_sizes:
        raise ConfigError("SingleStream always runs batch 1; drop --batch-sizes")
    if single and args.layouts and any(layout.instances != 1 for layout in args.layouts):
        raise ConfigError("SingleStream runs one instance; give --layouts like 1x2,1x1")
    topology = read_topology()
    cpus = parse_cpulist(base.cpus, "--cpus") if base.cpus else None
    layouts = args.layouts or candidate_layouts(topology, base.scenario, base.smt, base.reserve_cores, cpus)
    default_batch = 1 if single else base.default_batch_sizes.get(base.precision, 1)
    batches = args.batch_sizes or batch_candidates(base.scenario, default_batch)
    first_batch = default_batch if default_batch in batches else batches[-1]
    if base.scenario is Scenario.SERVER and not args.batch_sizes:
        first_batch = benchmark.SERVER_MAX_BATCH
    # Plan every layout now: an impossible one is an error before any run starts.
    plans = {layout: _plan(topology, layout, first_batch, base, cpus) for layout in layouts}
    duration = base.duration or DURATION_S
    print(f"tune {base.scenario} {base.precision}, {base.model} on {topology.describe()}")
    if args.dry_run:
        _print_candidates(plans, batches, first_batch, args.grid, duration)
        return 0
    return _sweep(base, list(plans), batches, first_batch, args.grid, duration)


def _plan(topology: Topology, layout: Layout, batch: int | None, base: RunConfig, cpus) -> Plan:
    try:
        return plan_instances(topology, layout.instances, layout.threads, batch or 1, base.smt,
                              base.reserve_cores, cpus)
    except PlacementError as exc:
        raise PlacementError(f"--layouts {layout.label()}: {exc}") from None


def _sweep(base: RunConfig, layouts: list[Layout], batches: list[int], first_batch: int, grid: bool,
           duration: float) -> int:

    key = layout_key(base)
    tune_dir = benchmark.new_run_dir(replace(base, output_dir=str(Path(base.output_dir) / "tune")), key.model)
    print(f"  runs of at least {duration:g} s each in {tune_dir}")
    measured: list[Measurement] = []

    def measure(candidate: Candidate) -> None:
        measured.append(_measure(base, candidate, tune_dir, duration, len(measured) + 1))

    for layout in layouts:
        for batch in batches if grid else [first_batch]:
            measure(Candidate(layout, batch))
    best = _best(base.scenario, measured)
    if not grid and best is not None:
        for batch in batches:
            if batch != first_batch:
                measure(Candidate(best.candidate.layout, batch))
        best = _best(base.scenario, measured)
    print()
    print("\n".join(table(base.scenario, measured, best)))
    record = {"key": asdict(key), "duration_s": duration, "grid": grid,
              "measurements": [asdict(m) for m in measured], "best": asdict(best) if best else None}
    if best is None:
        atomic_write_json(tune_dir / "tune.json", record)
        raise HarnessError(f"every tune run failed; see the run directories in {tune_dir}")
    _note_if_close(base.scenario, measured, best)
    tuned = TunedLayout(key, best.candidate.layout.instances, best.candidate.layout.threads,
                        best.candidate.batch_size, base.scenario.metric, float(best.value),
                        datetime.now(timezone.utc).isoformat(timespec="seconds"), duration)
    path, backup = write_layout(this_machine(), tuned, systems_dir())
    record["profile"] = str(path)
    atomic_write_json(tune_dir / "tune.json", record)
    print(f"best: {best.candidate.layout.label()}, batch {best.candidate.batch_size}: "
          f"{_value(base.scenario, best.value)} {base.scenario.metric}")
    kept = f" (previous profile kept as {backup.name})" if backup else ""
    print(f"wrote {path}{kept}; later {key.model} {base.scenario} {base.precision} runs on this "
          "machine use it")
    return 0


def _measure(base: RunConfig, candidate: Candidate, tune_dir: Path, duration: float,
             number: int) -> Measurement:
    layout = candidate.layout
    cfg = replace(base, instances=layout.instances, threads=layout.threads,
                  batch_size=candidate.batch_size, quick=True, duration=duration,
                  output_dir=str(tune_dir), system_profile=None)
    print(f"  [{number}] {layout.label()}, batch {candidate.batch_size}: ", end="", flush=True)
    try:
        record = benchmark.run_benchmark(cfg, echo=lambda *_: None)
    except RunInterrupted:
        raise  # Ctrl-C or SIGTERM means stop tuning, not try the next candidate
    except HarnessError as exc:
        print(f"FAILED ({exc})")
        return Measurement(candidate, None, None, "", None, str(exc))
    result = record["result"]
    value = result.get("value")
    if value and base.scenario.latency_bound:
        value = value / 1e6  # LoadGen reports nanoseconds
    placement = record["placement"]
    warnings = placement.get("warnings", [])
    status = ("not verified" if placement.get("observed") is None
              else f"{len(warnings)} warnings" if warnings else "ok")
    measurement = Measurement(candidate, value or None, result.get("validity"), status,
                              record["run_id"], None if value else "LoadGen reported no result")
    print(f"{_value(base.scenario, measurement.value)} {base.scenario.metric}")
    for warning in warnings:
        print(f"      warning: {warning}")
    return measurement


def table(scenario: Scenario, measured: list[Measurement], best: Measurement | None) -> list[str]:
    """The measured candidates as aligned text, the best one marked."""
    header = ("instances", "threads", "batch", scenario.metric, "LoadGen", "placement", "run")
    rows = [header]
    for m in measured:
        layout = m.candidate.layout
        rows.append((str(layout.instances), str(layout.threads or "node"), str(m.candidate.batch_size),
                     _value(scenario, m.value), m.validity or "-", m.placement or "-",
                     (m.run_id or m.error or "") + ("  <- best" if m is best else "")))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    return ["  " + "  ".join(cell.rjust(w) if i < 4 else cell.ljust(w)
                             for i, (cell, w) in enumerate(zip(row, widths))) + "  " + row[-1]
            for row in rows]


def _best(scenario: Scenario, measured: list[Measurement]) -> Measurement | None:
    best = None
    for m in measured:
        if m.value is not None and (best is None or scenario.better(m.value, best.value)):
            best = m
    return best


def _note_if_close(scenario: Scenario, measured: list[Measurement], best: Measurement) -> None:
    others = [m.value for m in measured if m.value is not None and m is not best]
    if not others:
        return
    runner_up = min(others) if scenario.latency_bound else max(others)
    gap = abs(best.value - runner_up) / best.value
    if gap < NOISE:
        print(f"note: the best two candidates differ by {gap:.1%}, within run-to-run noise; "
              "a longer --duration separates them")


def _value(scenario: Scenario, value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if scenario.latency_bound else f"{value:.1f}"


def _print_candidates(plans: dict, batches: list[int], first_batch: int, grid: bool,
                      duration: float) -> None:
    print("layouts:")
    for layout, plan in plans.items():
        print(f"  {layout.label():>8}  {plan.description}")
    if grid:
        count = len(plans) * len(batches)
        print(f"batch sizes: {', '.join(map(str, batches))} on every layout")
    else:
        count = len(plans) + len(batches) - 1
        others = [b for b in batches if b != first_batch]
        print(f"batch size {first_batch} on every layout"
              + (f", then {', '.join(map(str, others))} on the best one" if others else ""))
    print(f"{count} runs of at least {duration:g} s each")


def _layouts(text: str) -> list[Layout]:
    layouts = []
    for part in text.split(","):
        instances, sep, threads = part.strip().replace("×", "x").partition("x")
        if not (sep and instances.isdigit() and threads.isdigit()) or 0 in (int(instances), int(threads)):
            raise argparse.ArgumentTypeError(f"{part!r} is not a layout; write INSTANCESxTHREADS like 2x1")
        layouts.append(Layout(int(instances), int(threads)))
    return list(dict.fromkeys(layouts))


def _batch_sizes(text: str) -> list[int]:
    try:
        sizes = sorted({int(value) for value in text.split(",")})
    except ValueError:
        sizes = []
    if not sizes or sizes[0] < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give positive batch sizes like 1,16,32")
    return sizes
