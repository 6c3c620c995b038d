"""A formal run of one scenario or of a whole system, from one command, resumable where it stopped.

    harness --scenario Offline --formal [run flags] [--submitter S --system NAME --division D]
    harness --scenario all --formal [--system-type edge|datacenter,edge] ...
    python -m audit formal --scenario Offline ...        (the same command)
    ... --resume DIR                                     (continue DIR; finished steps are skipped)

`--scenario all` runs every scenario the system type requires (edge: SingleStream,
MultiStream, Offline; datacenter,edge: and Server) that the harness runs, into one tree.
Steps, per scenario: performance (calibrates the target), accuracy, TEST01, TEST04
(each its own LoadGen process repeating the performance run's settings); then package
and check. DIR keeps formal.json (the settings, the round and every finished step),
runs/ (every run, failed ones included: nothing is lost), submission/ (the tree) and
check.txt. A step that failed or was interrupted is simply run again on resume. The
check is read-only and cheap, so it runs every time; it finds the full accuracy logs
in runs/ and recomputes accuracy.txt and TEST01 from them.
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
from audit.rules import ROUND, SYSTEM_TYPES, require_round
from audit.runner import run_accuracy, run_compliance
from audit.runs import config_from_json, read_run
from audit.verify import verify
from harness.cli.args import SPEC_FLAGS, add_run_arguments, config_from_args
from harness.cli.summary import summary_lines
from harness.config.runconfig import RunConfig
from harness.files import atomic_write_json, atomic_write_text
from harness.loadgen.benchmark import run_benchmark
from harness.terms import RUNNABLE_SCENARIOS, Scenario

HELP = "formal run of a scenario or all: performance, accuracy, TEST01, TEST04, package, check (resumable)"
STATE = "formal.json"
RUN_STEPS = ("performance", "accuracy", "TEST01", "TEST04")
UNCOMPARED = {"progress", "output_dir"}  # may differ between the first command and a resume
FORMAL_FLAGS = ("resume", "formal_dir", "submitter", "system", "division", "system_type", "round")
NAMES = ("submitter", "system", "division", "system_type")  # what a resume must not change
ALL = "all"
# The scenarios of `--scenario all`, by system type (the closed division's required scenarios of resnet50;
# a datacenter-only system submits resnet50 to the open division, as Offline and Server).
SYSTEM_SCENARIOS = {
    "edge": (Scenario.SINGLE_STREAM, Scenario.MULTI_STREAM, Scenario.OFFLINE),
    "datacenter": (Scenario.OFFLINE, Scenario.SERVER),
    "datacenter,edge": tuple(Scenario),
    "edge,datacenter": tuple(Scenario),
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_run_arguments(p)
    scenario = next(a for a in p._actions if a.dest == "scenario")
    scenario.choices = (*RUNNABLE_SCENARIOS, ALL)
    scenario.help = ("a scenario, or all: every scenario the system type requires (edge: SingleStream, "
                     "MultiStream, Offline; datacenter,edge: and Server), into one tree")
    f = p.add_argument_group("formal run")
    f.add_argument("--resume", metavar="DIR", help="continue the formal run in DIR, skipping finished steps")
    f.add_argument("--formal-dir", metavar="DIR",
                   help="where to keep the formal run (default: OUTPUT_DIR/formal-<time>-<scenario>)")
    f.add_argument("--submitter", help="submitter name in the tree (default: harness-user)")
    f.add_argument("--system", help="system name in the tree (default: this machine's hostname)")
    f.add_argument("--division", choices=("closed", "open"),
                   help="default: closed for the reference resnet50_v1.onnx with real weights, else open")
    f.add_argument("--system-type", choices=SYSTEM_TYPES,
                   help="the system JSON's system_type (default: left for you to fill; --scenario all then runs "
                        "an edge system's scenarios)")
    f.add_argument("--round", help=f"MLPerf Inference round (default: the installed LoadGen's, {ROUND}); "
                                   "another round is an error")


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
            state = json.loads(path.read_text())
        except FileNotFoundError:
            raise AuditError(f"{path} does not exist; --resume takes a directory made by a formal run") from None
        except json.JSONDecodeError as exc:
            raise AuditError(f"{path} is not valid JSON ({exc.msg}); it was edited by hand, restore it") from None
        if "scenarios" not in state:  # written before formal runs of several scenarios: one scenario, no round
            scenario = state["config"]["scenario"]
            state["scenarios"] = [scenario]
            state["steps"] = {(k if k == "package" else f"{scenario} {k}"): v for k, v in state["steps"].items()}
            state.setdefault("system_type", None)
            state.setdefault("round", None)
        return cls(directory, state)

    @property
    def scenarios(self) -> list[Scenario]:
        return [Scenario(s) for s in self.state["scenarios"]]

    def save(self) -> None:
        atomic_write_json(self.dir / STATE, self.state)

    def finished(self, step: str) -> dict | None:
        return self.state["steps"].get(step)

    def finish(self, step: str, **values) -> None:
        self.state["steps"][step] = {**values, "finished": _stamp()}
        self.save()


def _run_args(args: argparse.Namespace) -> argparse.Namespace:
    """The run flags alone; --scenario all leaves the scenario to each step."""
    values = {k: v for k, v in vars(args).items() if k not in FORMAL_FLAGS}
    if values.get("scenario") == ALL:
        values["scenario"] = None
    return argparse.Namespace(**values)


def _run_config(args: argparse.Namespace):
    """The RunConfig of the run flags alone."""
    return config_from_args(_run_args(args))


def _given(args: argparse.Namespace) -> dict:
    """The run settings this command sets explicitly, as RunConfig values."""
    run_args = _run_args(args)
    names = {f.name for f in fields(RunConfig)} - UNCOMPARED - ({"scenario"} if args.scenario == ALL else set())
    explicit = {k for k, v in vars(run_args).items() if v is not None and k in names}
    if any(getattr(run_args, k) is not None for k in SPEC_FLAGS):
        explicit.add("model_spec")
    config = _run_config(args).to_json()
    return {k: config[k] for k in (names if args.config else explicit)}


def _scenarios(args: argparse.Namespace, cfg: RunConfig, echo) -> list[str]:
    """The scenarios this command runs: one, or those its system type requires that the harness runs."""
    if args.scenario != ALL:
        return [str(cfg.scenario)]
    system_type = args.system_type or "edge"
    wanted = SYSTEM_SCENARIOS[system_type]
    missing = [s for s in wanted if s not in RUNNABLE_SCENARIOS]
    if missing:
        echo(f"note: an {system_type} system needs {', '.join(missing)} too, which this harness does not run: "
             "the closed division's check will miss them")
    return [str(s) for s in RUNNABLE_SCENARIOS if s in wanted]


def _default_names(args: argparse.Namespace) -> dict:
    system = re.sub(r"[^A-Za-z0-9._-]", "_", platform.node()) or "system"
    return {"submitter": args.submitter or "harness-user", "system": args.system or system,
            "division": args.division, "system_type": args.system_type}


def _differs(run: FormalRun, what: str, stored, given) -> AuditError:
    return AuditError(f"{run.dir / STATE} has {what} = {stored!r} but this command sets {given!r}; "
                      "resume with the original settings")


def _open(args: argparse.Namespace, echo) -> FormalRun:
    if args.mode not in (None, "performance"):
        raise AuditError(f"--mode {args.mode}: a formal run chooses the mode of each step; drop --mode")
    if args.resume:
        run = FormalRun.load(Path(args.resume))
        for key, value in _given(args).items():
            if run.state["config"].get(key) != value:
                raise _differs(run, key, run.state["config"].get(key), value)
        if args.scenario is not None:
            scenarios = _scenarios(args, _run_config(args), echo)
            if scenarios != run.state["scenarios"]:
                raise _differs(run, "scenarios", run.state["scenarios"], scenarios)
        for key in NAMES:
            value = getattr(args, key)
            if value is not None and value != run.state[key]:
                raise _differs(run, key, run.state[key], value)
        if args.round is not None:
            require_round(args.round)
        return run
    cfg = _run_config(args)
    scenarios = _scenarios(args, cfg, echo)
    # Each scenario's own settings: a system profile tuned for one scenario sets its layout only.
    configs = {s: config_from_args(argparse.Namespace(**{**vars(_run_args(args)), "scenario": s})).to_json()
               for s in scenarios}
    names = {**_default_names(args), "round": require_round(args.round), "scenarios": scenarios,
             "configs": configs}
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    label = ALL if args.scenario == ALL else cfg.scenario
    directory = Path(args.formal_dir or Path(cfg.output_dir) / f"formal-{stamp}-{label}")
    return FormalRun.create(directory, cfg.to_json(), names)


def _run_step(run: FormalRun, scenario: str, step: str, echo) -> None:
    runs_dir = run.dir / "runs"
    key = f"{scenario} {step}"
    if step == "performance":
        config = run.state.get("configs", {}).get(scenario) or {**run.state["config"], "scenario": scenario}
        cfg = config_from_json(config, mode="performance", output_dir=str(runs_dir))
        record = run_benchmark(cfg, echo=echo)
        _echo_result(record, echo)
        run.finish(key, run=str(runs_dir / record["run_id"]))
        return
    perf = read_run(Path(run.finished(f"{scenario} performance")["run"]))
    if step == "accuracy":
        done = run_accuracy(perf, runs_dir, echo=echo)
        _echo_result(done.record, echo)
    else:
        done = run_compliance(step, perf, runs_dir, echo=echo)
        _echo_result(done.record, echo)
        accuracy = read_run(Path(run.finished(f"{scenario} accuracy")["run"]))
        for verdict in verify(step, perf, done, accuracy):
            verdict.write(done.path)
            echo(f"  {verdict.filename}: {verdict.shown()}")
    run.finish(key, run=str(done.path))


def _echo_result(record: dict, echo) -> None:
    """What the step measured, as `harness run` ends: a formal run lasts long enough to want it."""
    for line in summary_lines(record)[:2]:  # the metric, then LoadGen's verdict
        echo("  " + line.lstrip())


def _run_keys(run: FormalRun) -> list[str]:
    return [f"{scenario} {step}" for scenario in run.state["scenarios"] for step in RUN_STEPS]


def _package(run: FormalRun, echo) -> Path:
    tree = run.dir / "submission"
    if not run.finished("package"):
        staging = run.dir / ".submission-partial"
        shutil.rmtree(staging, ignore_errors=True)  # left by an interrupted attempt: never complete
        runs = [Path(run.finished(key)["run"]) for key in _run_keys(run)]
        root = package(runs, staging, run.state["submitter"], run.state["system"], run.state["division"],
                       round_=run.state["round"], system_type=run.state["system_type"], echo=echo)
        staging.rename(tree)
        echo(f"submission tree: {tree / root.relative_to(staging)}")
        run.finish("package", tree=str(tree))
    return tree


def formal_run(args: argparse.Namespace, echo=print) -> int:
    run = _open(args, echo)
    scenarios = run.state["scenarios"]
    run.state["round"] = run.state["round"] or require_round(None)  # a formal run from before rounds were kept
    echo(f"formal run of {', '.join(scenarios)} in {run.dir} (MLPerf Inference {run.state['round']})")
    total = len(scenarios) * len(RUN_STEPS) + 2
    for number, key in enumerate(_run_keys(run), 1):
        scenario, step = key.split(" ")
        done = run.finished(key)
        if done:
            echo(f"[{number}/{total}] {key}: finished earlier ({done['run']})")
            continue
        echo(f"[{number}/{total}] {key}")
        _run_step(run, scenario, step, echo)
    echo(f"[{total - 1}/{total}] package" + (": finished earlier" if run.finished("package") else ""))
    tree = _package(run, echo)
    quick = not all(read_run(Path(run.finished(f"{s} performance")["run"])).compliant for s in scenarios)
    echo(f"[{total}/{total}] check{' --quick (the runs are quick runs)' if quick else ''}")
    report = check_tree(tree, quick=quick, runs=[run.dir / "runs"])
    atomic_write_text(run.dir / "check.txt", "\n".join(report.lines()) + "\n")
    for line in report.lines():
        echo(line)
    return 0 if report.passed else 1


def main(args: argparse.Namespace) -> int:
    return formal_run(args)
