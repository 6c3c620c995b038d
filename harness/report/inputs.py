"""What a report is made of, read from run directories only (never from the runner).

A report covers a sweep directory (sweep.json lists the planned runs, skipped ones
included), a single run directory, or any directory holding run directories.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.results.runjson import RUN_JSON
from harness.results.runview import RunView, read_json, read_run

SWEEP = "sweep.json"  # written by harness.cli.sweep; read here as data, without importing it


@dataclass(frozen=True)
class Planned:
    """One cell of the study: a precision in a scenario, and what became of it."""

    precision: str
    scenario: str
    batch_size: int | None
    status: str  # completed | skipped: <reason> | failed: <reason> | pending | running
    run: RunView | None


@dataclass(frozen=True)
class ReportInput:
    path: Path
    kind: str  # "sweep" | "run" | "runs"
    created: str | None
    planned: tuple[Planned, ...]

    @property
    def runs(self) -> tuple[RunView, ...]:
        return tuple(p.run for p in self.planned if p.run is not None)

    @property
    def completed(self) -> tuple[RunView, ...]:
        return tuple(r for r in self.runs if r.completed)


def _planned_of(run: RunView) -> Planned:
    status = run.record.get("status", "unknown")
    if status == "FAILED":
        status = f"failed: {(run.record.get('failure') or 'unknown').strip().splitlines()[-1]}"
    return Planned(run.precision, run.scenario, run.batch_size, status, run)


def read_input(path: Path) -> ReportInput:
    path = Path(path)
    if not path.is_dir():
        raise HarnessError(f"{path} is not a directory; pass a run or sweep directory")
    if (path / SWEEP).is_file():
        sweep = read_json(path / SWEEP)
        planned = []
        for entry in sweep.get("runs", []):
            run_dir = entry.get("run_dir")
            # A skipped run may have left a directory behind; it measured nothing to report.
            measured = run_dir and not entry["status"].startswith("skipped") and (path / run_dir / RUN_JSON).is_file()
            run = read_run(path / run_dir) if measured else None
            planned.append(Planned(entry["precision"], entry["scenario"], entry.get("batch_size"),
                                   entry["status"], run))
        return ReportInput(path, "sweep", sweep.get("created"), tuple(planned))
    if (path / RUN_JSON).is_file():
        run = read_run(path)
        return ReportInput(path, "run", run.record.get("started"), (_planned_of(run),))
    runs = [read_run(p) for p in sorted(path.iterdir()) if (p / RUN_JSON).is_file()]
    if not runs:
        raise HarnessError(f"{path} holds no {RUN_JSON} or {SWEEP}: not a run, sweep or runs directory")
    return ReportInput(path, "runs", None, tuple(_planned_of(r) for r in runs))
