"""A formal run of one scenario, from one command, resumable where it stopped.

    harness --scenario Offline --formal [run flags] [--submitter S --system NAME --division D]
    python -m audit formal --scenario Offline ...        (the same command)
    ... --resume DIR                                     (continue DIR; finished steps are skipped)

Steps: performance (calibrates the target), accuracy, TEST01, TEST04 (each its own
LoadGen process repeating the performance run's settings), package, check. DIR keeps
formal.json (the settings and every finished step), runs/ (every run, failed ones
included: nothing is lost), submission/ (the tree) and check.txt. A step that failed
or was interrupted is simply run again on resume. The check is read-only and cheap,
so it runs every time.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import shutil
from dataclasses import fields
from datetime import datetime, timezone
from pathlib import Path

from audit.check import check_tree
from audit.errors import AuditError
from audit.package import package
from audit.runner import run_accuracy, run_compliance
from audit.runs import config_from_json, read_run
from audit.verify import verify
from harness.cli.args import SPEC_FLAGS, add_run_arguments, config_from_args
from harness.cli.summary import summary_lines
from harness.config.runconfig import RunConfig
from harness.files import atomic_write_json, atomic_write_text
from harness.loadgen.benchmark import run_benchmark

HELP = "formal run of a scenario: performance, accuracy, TEST01, TEST04, package, check (resumable)"
STATE = "formal.json"
RUN_STEPS = ("performance", "accuracy", "TEST01", "TEST04")
UNCOMPARED = {"progress", "output_dir"}  # may differ between the first command and a resume
FORMAL_FLAGS = ("resume", "formal_dir", "submitter", "system", "division")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_run_arguments(p)
    f = p.add_argument_group("formal run")
    f.add_argument("--resume", metavar="DIR", help="continue the formal run in DIR, skipping finished steps")
    f.add_argument("--formal-dir", metavar="DIR",
                   help="where to keep the formal run (default: OUTPUT_DIR/formal-<time>-<scenario>)")
    f.add_argument("--submitter", help="submitter name in the tree (default: harness-user)")
    f.add_argument("--system", help="system name in the tree (default: this machine's hostname)")
    f.add_argument("--division", choices=("closed", "open"),
                   help="default: closed for the reference resnet50_v1.onnx with real weights, else open")


def _stamp() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class FormalRun:
    """formal.json: the settings of a formal run and its finished steps, rewritten atomically."""

    def __init__(self, directory: Path, state: dict):
        self.dir, self.state = directory, state

    @classmethod
    def create(cls, directory: Path, config: dict, names: dict) -> FormalRun:
        try:
            directory.mkdir(parents=True)
        except FileExistsError:
            raise AuditError(f"{directory} already exists; continue it with --resume {directory} "
                             "or choose another --formal-dir") from None
        run = cls(directory, {"config": config, **names, "created": _stamp(), "steps": {}})
        run.save()
        return run

    @classmethod
    def load(cls, directory: Path) -> FormalRun:
        path = directory / STATE
        try:
            return cls(directory, json.loads(path.read_text()))
        except FileNotFoundError:
            raise AuditError(f"{path} does not exist; --resume takes a directory made by a formal run") from None
        except json.JSONDecodeError as exc:
            raise AuditError(f"{path} is not valid JSON ({exc.msg}); it was edited by hand, restore it") from None

    def save(self) -> None:
        atomic_write_json(self.dir / STATE, self.state)

    def finished(self, step: str) -> dict | None:
        return self.state["steps"].get(step)

    def finish(self, step: str, **values) -> None:
        self.state["steps"][step] = {**values, "finished": _stamp()}
        self.save()


def _run_config(args: argparse.Namespace):
    """The RunConfig of the run flags alone."""
    return config_from_args(argparse.Namespace(**{k: v for k, v in vars(args).items() if k not in FORMAL_FLAGS}))


def _given(args: argparse.Namespace) -> dict:
    """The run settings this command sets explicitly, as RunConfig values."""
    names = {f.name for f in fields(RunConfig)} - UNCOMPARED
    explicit = {k for k, v in vars(args).items() if v is not None and k in names}
    if any(getattr(args, k) is not None for k in SPEC_FLAGS):
        explicit.add("model_spec")
    config = _run_config(args).to_json()
    return {k: config[k] for k in (names if args.config else explicit)}


def _default_names(args: argparse.Namespace) -> dict:
    system = re.sub(r"[^A-Za-z0-9._-]", "_", platform.node()) or "system"
    return {"submitter": args.submitter or "harness-user", "system": args.system or system,
            "division": args.division}


def _open(args: argparse.Namespace) -> FormalRun:
    if args.mode not in (None, "performance"):
        raise AuditError(f"--mode {args.mode}: a formal run chooses the mode of each step; drop --mode")
    if args.resume:
        run = FormalRun.load(Path(args.resume))
        for key, value in _given(args).items():
            if run.state["config"].get(key) != value:
                raise AuditError(f"{run.dir / STATE} has {key} = {run.state['config'].get(key)!r} but this "
                                 f"command sets {value!r}; resume with the original settings")
        for key in ("submitter", "system", "division"):
            value = getattr(args, key)
            if value is not None and value != run.state[key]:
                raise AuditError(f"{run.dir / STATE} has {key} = {run.state[key]!r} but this command sets "
                                 f"{value!r}; resume with the original settings")
        return run
    cfg = _run_config(args)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    directory = Path(args.formal_dir or Path(cfg.output_dir) / f"formal-{stamp}-{cfg.scenario}")
    return FormalRun.create(directory, cfg.to_json(), _default_names(args))


def _run_step(run: FormalRun, step: str, echo) -> None:
    runs_dir = run.dir / "runs"
    if step == "performance":
        cfg = config_from_json(run.state["config"], mode="performance", output_dir=str(runs_dir))
        record = run_benchmark(cfg, echo=echo)
        _echo_result(record, echo)
        run.finish(step, run=str(runs_dir / record["run_id"]))
        return
    perf = read_run(Path(run.finished("performance")["run"]))
    if step == "accuracy":
        done = run_accuracy(perf, runs_dir, echo=echo)
        _echo_result(done.record, echo)
    else:
        done = run_compliance(step, perf, runs_dir, echo=echo)
        _echo_result(done.record, echo)
        accuracy = read_run(Path(run.finished("accuracy")["run"]))
        for verdict in verify(step, perf, done, accuracy):
            verdict.write(done.path)
            echo(f"  {verdict.filename}: {verdict.status}")
    run.finish(step, run=str(done.path))


def _echo_result(record: dict, echo) -> None:
    """What the step measured, as `harness run` ends: a formal run lasts long enough to want it."""
    for line in summary_lines(record)[:2]:  # the metric, then LoadGen's verdict
        echo("  " + line.lstrip())


def _package(run: FormalRun, echo) -> Path:
    tree = run.dir / "submission"
    if not run.finished("package"):
        staging = run.dir / ".submission-partial"
        shutil.rmtree(staging, ignore_errors=True)  # left by an interrupted attempt: never complete
        runs = [Path(run.finished(step)["run"]) for step in RUN_STEPS]
        root = package(runs, staging, run.state["submitter"], run.state["system"], run.state["division"], echo=echo)
        staging.rename(tree)
        echo(f"submission tree: {tree / root.relative_to(staging)}")
        run.finish("package", tree=str(tree))
    return tree


def formal_run(args: argparse.Namespace, echo=print) -> int:
    run = _open(args)
    scenario = run.state["config"]["scenario"]
    echo(f"formal {scenario} run in {run.dir}")
    for number, step in enumerate(RUN_STEPS, 1):
        done = run.finished(step)
        if done:
            echo(f"[{number}/6] {step}: finished earlier ({done['run']})")
            continue
        echo(f"[{number}/6] {step}")
        _run_step(run, step, echo)
    echo("[5/6] package" + (": finished earlier" if run.finished("package") else ""))
    tree = _package(run, echo)
    quick = not read_run(Path(run.finished("performance")["run"])).compliant
    echo(f"[6/6] check{' --quick (the runs are quick runs)' if quick else ''}")
    report = check_tree(tree, quick=quick)
    atomic_write_text(run.dir / "check.txt", "\n".join(report.lines()) + "\n")
    for line in report.lines():
        echo(line)
    return 0 if report.passed else 1


def main(args: argparse.Namespace) -> int:
    return formal_run(args)
