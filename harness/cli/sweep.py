"""`harness sweep`: the study's grid, precisions × scenarios, into one sweep directory.

Offline runs at each precision's default batch size ([batch_size] in the configs, or
--batch-size), SingleStream at batch 1. sweep.json lists every planned run and its status, and is
rewritten after each one, so an interrupted sweep resumes where it stopped
(`--resume DIR` runs everything not yet completed). `--repeat N` plans every cell N times,
each repeat its own run, and ends with each cell's run-to-run spread. A precision this machine or its
execution provider cannot run is recorded as "skipped: <reason>", not a crash. The
sweep ends by writing the report of its directory.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from harness.cli.args import add_repeat_argument, add_run_arguments, overrides_from_args
from harness.cli.summary import summary_lines
from harness.config.runconfig import RunConfig, load_config
from harness.cpu.sysinfo import this_machine
from harness.errors import ConfigError, HarnessError, RunFailed, RunInterrupted
from harness.files import atomic_write_json, new_dir
from harness.loadgen import benchmark
from harness.results.repeats import record_repeat, spread_of
from harness.results.runjson import read_run_json
from harness.terms import PRECISIONS, RUNNABLE_SCENARIOS, STUDY_SCENARIOS, Scenario

HELP = "precisions × scenarios into one resumable sweep directory, then its report"
SWEEP = "sweep.json"
SCHEMA = 1
COMPLETED, PENDING, RUNNING = "completed", "pending", "running"
# Options of a single run that the sweep decides itself; they are hidden from its --help.
PER_RUN_OPTIONS = ("scenario", "precision", "mode")
SWEEP_OPTIONS = ("precisions", "scenarios", "resume", "repeat", "command", "func")
RESUME_OPTIONS = ("progress",)  # what --resume may change: display, not measurement


@dataclass(frozen=True)
class Entry:
    precision: str
    scenario: str
    batch_size: int
    # pending | running (or a sweep that died mid-run) | completed | skipped: <reason> | failed: <reason>
    status: str = PENDING
    run_dir: str | None = None  # relative to the sweep directory
    repeat: int | None = None  # which of the cell's repeats (1-based); None: the sweep has none

    @property
    def cell(self) -> str:
        return f"{self.precision} {self.scenario} (batch {self.batch_size})"

    @property
    def name(self) -> str:
        return self.cell + (f" repeat {self.repeat}" if self.repeat else "")


@dataclass(frozen=True)
class Sweep:
    path: Path
    created: str
    # What the user chose, as `load_config` takes it: each run's config is loaded from these
    # with its own scenario and precision, so per-scenario defaults and tuned layouts apply.
    config_file: str | None
    overrides: dict
    entries: tuple[Entry, ...]
    quick: bool  # the same for every run: neither depends on the scenario or precision
    compliant_length: bool
    repeats: int = 1  # runs of each cell

    def group(self, entry: Entry) -> str:
        """The repeat group of a cell: fixed by the sweep, so a resumed sweep adds to the same group."""
        return f"{self.path.name}-{entry.precision}-{entry.scenario}"

    def run_config(self, entry: Entry) -> RunConfig:
        overrides = {**self.overrides, "scenario": entry.scenario, "precision": entry.precision,
                     "mode": "performance", "output_dir": str(self.path)}
        machine = this_machine()
        if entry.scenario == Scenario.OFFLINE and "batch_size" not in self.overrides:
            # The study runs each precision at its default batch ([batch_size] in the configs), not
            # at a batch a system profile tuned; the profile may still set instances and threads.
            defaults = load_config(self.config_file, overrides, machine=machine).default_batch_sizes
            overrides["batch_size"] = defaults.get(entry.precision)
        return load_config(self.config_file, overrides, machine=machine)

    def to_json(self) -> dict:
        return {"schema": SCHEMA, "sweep_id": self.path.name, "created": self.created,
                "quick": self.quick, "compliant_length": self.compliant_length,
                "config_file": self.config_file, "overrides": self.overrides, "repeat": self.repeats,
                "runs": [asdict(e) for e in self.entries]}

    def save(self) -> None:
        atomic_write_json(self.path / SWEEP, self.to_json())

    def with_entry(self, index: int, **changes) -> Sweep:
        entries = list(self.entries)
        entries[index] = replace(entries[index], **changes)
        return replace(self, entries=tuple(entries))


def parse_choices(text: str, allowed: tuple[str, ...], flag: str) -> tuple[str, ...]:
    """'fp32,int8' -> ('fp32', 'int8'), in the order given, each checked."""
    by_lower = {a.lower(): a for a in allowed}
    chosen = []
    for word in (w.strip() for w in text.split(",") if w.strip()):
        if word.lower() not in by_lower:
            raise ConfigError(f"{flag}: {word!r} is not one of {', '.join(allowed)}")
        if by_lower[word.lower()] not in chosen:
            chosen.append(by_lower[word.lower()])
    if not chosen:
        raise ConfigError(f"{flag}: name at least one of {', '.join(allowed)}")
    return tuple(chosen)


def new_sweep_dir(root: Path, quick: bool) -> Path:
    return new_dir(root, f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-sweep{'-quick' if quick else ''}", "sweep")


def plan_sweep(config_file: str | None, overrides: dict, precisions: tuple[str, ...],
               scenarios: tuple[str, ...], repeats: int = 1) -> Sweep:
    """Validate every run's config before creating anything, then the sweep directory."""
    base = load_config(config_file, overrides, machine=this_machine())
    draft = Sweep(Path(), "", config_file, overrides, (), base.quick, base.compliant_length)
    batches = {(p, s): draft.run_config(Entry(p, s, 0)).effective_batch_size for p in precisions for s in scenarios}
    # Repeat k of every cell runs before repeat k + 1 of any: drift over the sweep then spreads
    # over all cells alike instead of landing on the cells that happened to run last.
    entries = tuple(Entry(p, s, batch, repeat=k if repeats > 1 else None)
                    for k in range(1, repeats + 1) for (p, s), batch in batches.items())
    path = new_sweep_dir(Path(base.output_dir), base.quick)
    sweep = Sweep(path, datetime.now(timezone.utc).isoformat(timespec="seconds"), config_file,
                  {k: v for k, v in overrides.items() if k != "output_dir"}, entries, base.quick,
                  base.compliant_length, repeats)
    sweep.save()
    return sweep


def load_sweep(path: Path) -> Sweep:
    try:
        data = json.loads((path / SWEEP).read_text())
        entries = tuple(Entry(**e) for e in data["runs"])
        return Sweep(path, data.get("created", ""), data["config_file"], data["overrides"], entries,
                     data["quick"], data["compliant_length"], data.get("repeat", 1))
    except FileNotFoundError:
        raise HarnessError(f"{path} has no {SWEEP}: not a sweep directory") from None
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise HarnessError(f"{path / SWEEP} is damaged ({type(exc).__name__}: {exc}); start a new sweep") from None


def _new_run_dir(before: set[str], sweep_dir: Path) -> str | None:
    created = sorted({p.name for p in sweep_dir.iterdir() if p.is_dir()} - before)
    return created[-1] if created else None


def run_sweep(sweep: Sweep, run, echo=print) -> Sweep:
    """Run every entry not yet completed; `run` is harness.loadgen.benchmark.run_benchmark (tests substitute it)."""
    todo = [i for i, e in enumerate(sweep.entries) if e.status != COMPLETED]
    skipped: dict[str, str] = {}  # cell -> why this machine could not run it, found in this call
    for step, index in enumerate(todo, 1):
        entry = sweep.entries[index]
        echo(f"[{step}/{len(todo)}] {entry.name}")
        if entry.cell in skipped:  # what this machine cannot run in one repeat it cannot run in the next
            sweep = sweep.with_entry(index, status=skipped[entry.cell], run_dir=None)
            sweep.save()
            echo(f"[{step}/{len(todo)}] {entry.name}: {skipped[entry.cell]}")
            continue
        sweep = sweep.with_entry(index, status=RUNNING, run_dir=None)
        sweep.save()
        before = {p.name for p in sweep.path.iterdir() if p.is_dir()}
        try:
            record = run(sweep.run_config(entry))
            if entry.repeat:
                record = record_repeat(sweep.path / record["run_id"], record, sweep.group(entry), entry.repeat,
                                       sweep.repeats)
            sweep = sweep.with_entry(index, status=COMPLETED, run_dir=record["run_id"])
            echo("  " + summary_lines(record)[0])
        except RunInterrupted:
            # Ctrl-C or SIGTERM stops the sweep, not just this run: --resume runs it again.
            sweep.with_entry(index, status=PENDING).save()
            raise
        except RunFailed as exc:
            sweep = sweep.with_entry(index, status=f"failed: {exc}", run_dir=_new_run_dir(before, sweep.path))
        except HarnessError as exc:
            sweep = sweep.with_entry(index, status=f"skipped: {exc}", run_dir=_new_run_dir(before, sweep.path))
            skipped[entry.cell] = sweep.entries[index].status
        sweep.save()
        echo(f"[{step}/{len(todo)}] {entry.name}: {sweep.entries[index].status}")
    return sweep


def cell_spreads(sweep: Sweep) -> list[str]:
    """Each cell's run-to-run spread over its completed repeats."""
    lines = []
    for cell in dict.fromkeys(e.cell for e in sweep.entries):
        runs = [e for e in sweep.entries if e.cell == cell]
        records = [read_run_json(sweep.path / e.run_dir) for e in runs if e.status == COMPLETED]
        spread = spread_of(records)
        if spread is not None:
            lines.append(f"  {cell}, {len(records)} of {len(runs)} repeats completed: {spread.line()}")
    return lines


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser)
    for action in parser._actions:  # argparse has no public way to change an inherited option
        if action.dest in PER_RUN_OPTIONS:
            action.help = argparse.SUPPRESS
        elif action.dest == "output_dir":
            action.help = "where the sweep directory is created (default: runs)"
    parser.add_argument("--precisions", default=",".join(PRECISIONS),
                        help=f"comma-separated subset of {','.join(PRECISIONS)} (default: all)")
    parser.add_argument("--scenarios", default=",".join(STUDY_SCENARIOS),
                        help=f"comma-separated subset of {','.join(RUNNABLE_SCENARIOS)} "
                             f"(default: the study's {','.join(STUDY_SCENARIOS)})")
    parser.add_argument("--resume", metavar="DIR", help="continue this sweep: run what is not completed yet")
    add_repeat_argument(parser)


def _overrides(args: argparse.Namespace) -> dict:
    """The run options given on the command line, as load_config takes them."""
    for option in PER_RUN_OPTIONS:
        if getattr(args, option) is not None:
            raise ConfigError(f"harness sweep chooses --{option} per run; use --precisions and --scenarios")
    return overrides_from_args(args, skip=tuple(SWEEP_OPTIONS))


def main(args: argparse.Namespace) -> int:
    if args.resume:
        given = [k for k, v in vars(args).items()
                 if v is not None and k not in SWEEP_OPTIONS and k not in RESUME_OPTIONS]
        if (given or args.repeat != 1 or args.precisions != ",".join(PRECISIONS)
                or args.scenarios != ",".join(STUDY_SCENARIOS)):
            raise ConfigError("--resume continues a sweep with its own settings; pass no options but --no-progress")
        sweep = load_sweep(Path(args.resume))
        if args.progress is not None:
            sweep = replace(sweep, overrides={**sweep.overrides, "progress": args.progress})
        done = sum(e.status == COMPLETED for e in sweep.entries)
        print(f"resuming {sweep.path}: {done} completed run(s) kept")
    else:
        precisions = parse_choices(args.precisions, PRECISIONS, "--precisions")
        scenarios = parse_choices(args.scenarios, RUNNABLE_SCENARIOS, "--scenarios")
        config_file = str(Path(args.config).resolve()) if args.config else None  # resumable from anywhere
        sweep = plan_sweep(config_file, _overrides(args), precisions, scenarios, args.repeat)
    print(f"sweep {sweep.path}: {len(sweep.entries)} runs"
          + ("" if sweep.compliant_length else " (NOT compliant length: a smoke test)"))
    sweep = run_sweep(sweep, benchmark.run_benchmark)
    for entry in sweep.entries:
        print(f"  {entry.name}: {entry.status}")
    if sweep.repeats > 1:
        for line in cell_spreads(sweep):
            print(line)
    from harness.report.write import write_report  # matplotlib: 0.8 s that other commands skip
    paths = write_report(sweep.path)
    print(f"report: {paths.html}\n        {paths.markdown}")
    return 3 if any(e.status.startswith("failed") for e in sweep.entries) else 0
