"""The submission tree of round v6.1, built from run directories.

    <out>/<division>/<submitter>/
      systems/<system>.json
      src/                  the harness source (audit.source), SOURCE.md: round, hashes, how to rerun
      results/<system>/resnet50/<Scenario>/
        measurements.json, user.conf, README.md
        performance/run_1/mlperf_log_summary.txt, mlperf_log_detail.txt
        accuracy/accuracy.txt (with hash=), mlperf_log_accuracy.json (truncated), mlperf_log_{summary,detail}.txt
        TEST01/verify_accuracy.txt, verify_performance.txt, accuracy/mlperf_log_accuracy.json,
               performance/run_1/mlperf_log_{summary,detail}.txt
        TEST04/verify_performance.txt, performance/run_1/mlperf_log_{summary,detail}.txt

The round is the installed LoadGen's (audit.rules.require_round); every run must carry
its seeds. A tree is only ever added to, one system per tree: a scenario that is already
there is an error, so repeated packaging (or formal runs) of other scenarios into one
--out builds the whole system; an existing systems/<system>.json (perhaps already
completed by a person) is kept, and must be of the same round.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from audit.configs import TESTS
from audit.errors import AuditError
from audit.rules import REQUIRED_SCENARIOS, SYSTEM_TYPES, require_round, round_of
from audit.runs import RunInfo, read_run
from audit.source import write_source
from audit.sysdesc import TO_FILL, command, measurements, readme, recorded_round, system_description
from audit.truncate import hash_line, truncate_accuracy_log
from audit.verify import Verdict, setting_differences, verify
from harness.files import atomic_write_bytes, atomic_write_json, atomic_write_text
from harness.results.logs import ACCURACY_LOG, DETAIL, SUMMARY, read_detail_log
from harness.terms import MODEL_KEY, RUNNABLE_SCENARIOS, Scenario

DIVISIONS = ("closed", "open")
REFERENCE_MODEL = "resnet50_v1"  # MLCommons' resnet50_v1.onnx: the closed division's model
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class ScenarioRuns:
    performance: RunInfo
    accuracy: RunInfo
    compliance: tuple[RunInfo, ...]

    @property
    def scenario(self) -> Scenario:
        return self.performance.scenario

    @property
    def runs(self) -> tuple[RunInfo, ...]:
        return (self.performance, self.accuracy, *self.compliance)


def _one(runs: list[RunInfo], kind: str, scenario: str, hint: str) -> RunInfo:
    found = [r for r in runs if r.kind == kind]
    if not found:
        raise AuditError(f"no {kind} run for {scenario} among the runs given; {hint}")
    if len(found) > 1:
        raise AuditError(f"{len(found)} {kind} runs for {scenario} ({', '.join(r.run_id for r in found)}); "
                         "pass exactly one")
    return found[0]


def group_runs(paths: list[Path]) -> list[ScenarioRuns]:
    """Per scenario: one performance run, its accuracy run and one run of each compliance test."""
    runs = [read_run(p) for p in paths]
    groups = []
    for scenario in [s for s in RUNNABLE_SCENARIOS if any(r.scenario == s for r in runs)]:
        mine = [r for r in runs if r.scenario == scenario]
        perf = _one(mine, "performance", scenario, "pass the performance run being submitted")
        acc = _one(mine, "accuracy", scenario, f"run `python -m audit run accuracy {perf.path}`")
        tests = [_one(mine, t, scenario, f"run `python -m audit run {t} {perf.path}`") for t in TESTS]
        for run in (acc, *tests):
            if run.audited_run not in (None, perf.run_id):
                raise AuditError(f"{run.path} audits run {run.audited_run}, not the performance run "
                                 f"{perf.run_id}; pass the runs of one formal run together")
        differences = setting_differences(perf, acc, ignore_target=True)
        if differences:
            raise AuditError(f"accuracy run {acc.path} differs from performance run {perf.run_id}: "
                             f"{differences[0]}; rerun it with `python -m audit run accuracy {perf.path}`")
        groups.append(ScenarioRuns(perf, acc, tuple(tests)))
    return groups


def default_division(groups: list[ScenarioRuns]) -> str:
    """Closed only for the reference model with its real weights on one host; everything else is
    open."""
    closed = all(g.performance.record["model"]["name"] == REFERENCE_MODEL and not g.performance.synthetic_weights
                 and not g.performance.record.get("cluster") for g in groups)
    return "closed" if closed else "open"


def _require_seeds(groups: list[ScenarioRuns], round_: str) -> None:
    """Every run was made with the round's seeds."""
    for run in (r for g in groups for r in g.runs):
        seeds = read_detail_log(run.path).seeds()
        found = round_of(seeds)
        if found != round_:
            raise AuditError(f"{run.path / DETAIL} has the seeds of {found or 'no known round'} "
                             f"({', '.join(map(str, seeds.values()))}), not round {round_}'s; rerun it with "
                             f"the installed LoadGen")


def _require_system_type(groups: list[ScenarioRuns], system_type: str | None, division: str) -> None:
    if system_type is None:
        return
    if system_type not in SYSTEM_TYPES:
        raise AuditError(f"--system-type {system_type!r} is not one of {', '.join(SYSTEM_TYPES)}")
    allowed = REQUIRED_SCENARIOS.get(system_type, ())
    if division == "closed":
        if not allowed:
            raise AuditError(f"--system-type {system_type}: resnet50 is no datacenter benchmark in the closed "
                             "division; use edge or datacenter,edge")
        extra = [g.scenario for g in groups if g.scenario not in allowed]
        if extra:
            raise AuditError(f"{', '.join(extra)} is no scenario of an {system_type} system (the official checker "
                             f"then fails every scenario); use --system-type datacenter,edge or leave it out")


def _copy(src: Path, dst: Path) -> None:
    if not src.is_file():
        raise AuditError(f"{src} is missing; the run did not finish writing its logs, rerun it")
    atomic_write_bytes(dst, src.read_bytes())


def _logs(run: RunInfo, dst: Path) -> None:
    for name in (SUMMARY, DETAIL):
        _copy(run.path / name, dst / name)


def _scenario(root: Path, system: str, g: ScenarioRuns, round_: str) -> list[Verdict]:
    results = root / "results" / system / MODEL_KEY / g.scenario
    _logs(g.performance, results / "performance" / "run_1")
    _logs(g.accuracy, results / "accuracy")
    digest = truncate_accuracy_log(g.accuracy.path / ACCURACY_LOG, results / "accuracy" / ACCURACY_LOG)
    accuracy_txt = g.accuracy.path / "accuracy.txt"
    if not accuracy_txt.is_file():
        raise AuditError(f"{accuracy_txt} is missing; the accuracy run did not finish, rerun it")
    atomic_write_text(results / "accuracy" / "accuracy.txt", accuracy_txt.read_text() + hash_line(digest))
    verdicts = []
    for run in g.compliance:
        test_dir = results / run.test
        _logs(run, test_dir / "performance" / "run_1")
        if run.test == "TEST01":
            _copy(run.path / ACCURACY_LOG, test_dir / "accuracy" / ACCURACY_LOG)
        for verdict in verify(run.test, g.performance, run, g.accuracy):
            verdict.write(test_dir)
            verdicts.append(verdict)
    _copy(g.performance.path / "user.conf", results / "user.conf")
    atomic_write_text(results / "README.md", readme(g.performance, system, round_))
    atomic_write_json(results / "measurements.json", measurements(g.performance))
    return verdicts


def _system_json(path: Path, groups: list[ScenarioRuns], system: str, submitter: str, division: str,
                 round_: str, system_type: str | None, echo) -> None:
    if not path.exists():
        atomic_write_json(path, system_description(groups[0].performance, system, submitter, division, round_,
                                                   system_type))
        return
    try:  # kept: a person may already have completed it
        existing = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise AuditError(f"{path} cannot be read ({exc}); fix it or package into a new --out") from None
    found = recorded_round(existing)
    if found not in (None, round_):
        raise AuditError(f"{path} says MLPerf Inference {found} (sw_notes); this tree is of another round: "
                         f"package these {round_} runs into a new --out")
    if system_type and existing.get("system_type") == TO_FILL:
        atomic_write_json(path, {**existing, "system_type": system_type})
    elif system_type and existing.get("system_type") not in (system_type, None):
        raise AuditError(f"{path} has system_type {existing.get('system_type')!r}, not {system_type!r}; "
                         "drop --system-type or package into a new --out")
    echo(f"kept existing {path}")


def package(paths: list[Path], out: Path, submitter: str, system: str, division: str | None = None,
            round_: str | None = None, system_type: str | None = None, echo=print) -> Path:
    """Write the tree under out/<division>/<submitter>; return that directory. `round_` None: the
    installed LoadGen's round; another round is an error, and every run must carry its seeds."""
    for what, name in (("--submitter", submitter), ("--system", system)):
        if not NAME.match(name):
            raise AuditError(f"{what} {name!r} must be letters, digits, '.', '_' or '-' (it names a directory)")
    if division is not None and division not in DIVISIONS:
        raise AuditError(f"--division {division!r} is not one of {', '.join(DIVISIONS)}")
    groups = group_runs(paths)
    if not groups:
        raise AuditError("no runs given; pass the run directories of a formal run")
    division = division or default_division(groups)
    clustered = [g.performance.path for g in groups if g.performance.record.get("cluster")]
    if division == "closed" and clustered:
        raise AuditError(f"{clustered[0]} ran on a Ray cluster: the closed division wants LoadGen and the SUT "
                         "on one host (is_network false); package it with --division open")
    round_ = require_round(round_)
    _require_seeds(groups, round_)
    _require_system_type(groups, system_type, division)
    root = Path(out) / division / submitter
    for g in groups:
        results = root / "results" / system / MODEL_KEY / g.scenario
        if results.exists():
            raise AuditError(f"{results} already exists; package into a new --out (trees are never overwritten)")
    _system_json(root / "systems" / f"{system}.json", groups, system, submitter, division, round_, system_type,
                 echo)
    write_source(root / "src", round_, groups[0].performance.record["system"].get("versions", {}),
                 [command(g.performance) for g in groups])
    for g in groups:
        for verdict in _scenario(root, system, g, round_):
            echo(f"{g.scenario} {verdict.test} {verdict.filename}: {verdict.shown()}")
        for run in g.runs:  # run.json says which round's submission the run went into
            run.annotate(round=round_)
    return root
