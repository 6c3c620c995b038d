"""What a report is made of, read from run directories only (never from the runner).

A report covers a sweep directory (sweep.json lists the planned runs, skipped ones
included), a formal run's directory (formal.json, its runs under runs/), a single run
directory, or any directory holding run directories.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.results.runjson import ABANDONED, RUN_JSON
from harness.results.runview import RunView, read_json, read_run

SWEEP = "sweep.json"  # written by harness.cli.sweep; read here as data, without importing it
FORMAL = "formal.json"  # written by audit's formal run, above harness: read as data too
FORMAL_RUNS = "runs"  # where a formal run keeps its runs


@dataclass(frozen=True)
class Planned:
    """One cell of the study: a precision in a scenario, and what became of it."""

    precision: str
    scenario: str
    batch_size: int | None
    # completed | skipped: <reason> | failed: <reason> | abandoned: <reason> | pending | running
    status: str
    run: RunView | None


@dataclass(frozen=True)
class ReportInput:
    path: Path
    kind: str  # "sweep" | "formal" | "run" | "runs"
    created: str | None
    planned: tuple[Planned, ...]
    skipped: tuple[str, ...] = ()  # why each unreadable run directory was left out, one line each

    @property
    def runs(self) -> tuple[RunView, ...]:
        return tuple(p.run for p in self.planned if p.run is not None)

    @property
    def completed(self) -> tuple[RunView, ...]:
        return tuple(r for r in self.runs if r.completed)


def _planned_of(run: RunView) -> Planned:
    status = run.record.get("status", "unknown")
    if status in ("FAILED", ABANDONED):
        word = "failed" if status == "FAILED" else ABANDONED
        status = f"{word}: {(run.record.get('failure') or 'unknown').strip().splitlines()[-1]}"
    return Planned(run.precision, run.scenario, run.batch_size, status, run)


def _readable(path: Path, skipped: list[str]) -> RunView | None:
    """The run in `path` with the files a report reads, or None and the reason added to
    `skipped`: one damaged run directory must not take the report of the others down."""
    try:
        run = read_run(path)
        run.stats  # a completed run's timeline and statistics, read now rather than mid-report
        return run
    except HarnessError as exc:
        skipped.append(str(exc))
        return None


def _runs_in(path: Path, skipped: list[str]) -> list[RunView]:
    """The readable run directories directly under `path`, in name (start time) order."""
    runs = [_readable(p, skipped) for p in sorted(path.iterdir()) if (p / RUN_JSON).is_file()]
    return [r for r in runs if r is not None]


def _none_readable(path: Path, skipped: list[str]) -> HarnessError:
    more = f" (and {len(skipped) - 1} more unreadable)" if len(skipped) > 1 else ""
    return HarnessError(f"no run directory under {path} can be read: {skipped[0]}{more}")


def read_input(path: Path) -> ReportInput:
    path = Path(path)
    skipped: list[str] = []
    if not path.is_dir():
        raise HarnessError(f"{path} is not a directory; pass a run or sweep directory")
    if (path / SWEEP).is_file():
        sweep = read_json(path / SWEEP)
        planned = []
        for entry in sweep.get("runs", []):
            run_dir = entry.get("run_dir")
            # A skipped run may have left a directory behind; it measured nothing to report.
            measured = run_dir and not entry["status"].startswith("skipped") and (path / run_dir / RUN_JSON).is_file()
            run = _readable(path / run_dir, skipped) if measured else None
            status = "failed: its run directory cannot be read" if measured and run is None else entry["status"]
            planned.append(Planned(entry["precision"], entry["scenario"], entry.get("batch_size"), status, run))
        return ReportInput(path, "sweep", sweep.get("created"), tuple(planned), tuple(skipped))
    if (path / FORMAL).is_file() and (path / FORMAL_RUNS).is_dir():
        runs = _runs_in(path / FORMAL_RUNS, skipped)
        if not runs and skipped:
            raise _none_readable(path / FORMAL_RUNS, skipped)
        if not runs:
            raise HarnessError(f"formal run {path} has no runs in {path / FORMAL_RUNS} yet; report it once "
                               "its performance step has started")
        return ReportInput(path, "formal", read_json(path / FORMAL).get("created"),
                           tuple(_planned_of(r) for r in runs), tuple(skipped))
    if (path / RUN_JSON).is_file():
        run = read_run(path)
        return ReportInput(path, "run", run.record.get("started"), (_planned_of(run),))
    runs = _runs_in(path, skipped)
    if not runs and skipped:
        raise _none_readable(path, skipped)
    if not runs:
        raise HarnessError(f"{path} holds no {RUN_JSON} or {SWEEP}: not a run, sweep or runs directory")
    return ReportInput(path, "runs", None, tuple(_planned_of(r) for r in runs), tuple(skipped))
