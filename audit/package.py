"""The submission tree, built from run directories.

    <out>/<division>/<submitter>/
      systems/<system>.json
      measurements/<system>/resnet50/<Scenario>/user.conf, README.md, <system>_harness_<Scenario>.json
      results/<system>/resnet50/<Scenario>/
        performance/run_1/mlperf_log_summary.txt, mlperf_log_detail.txt
        accuracy/accuracy.txt (with hash=), mlperf_log_accuracy.json (truncated), mlperf_log_{summary,detail}.txt
        TEST01/verify_accuracy.txt, verify_performance.txt, accuracy/mlperf_log_accuracy.json,
               performance/run_1/mlperf_log_{summary,detail}.txt
        TEST04/verify_performance.txt, performance/run_1/mlperf_log_{summary,detail}.txt

Compliance results sit under results/ as the v6.0 checker expects; measurements/
keeps its own directory as in v5.x. A tree is only ever added to: a scenario that is
already there is an error, and an existing systems/<system>.json (perhaps already
completed by a person) is kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from audit.configs import TESTS
from audit.errors import AuditError
from audit.runs import RunInfo, read_run
from audit.sysdesc import measurements, readme, system_description
from audit.truncate import hash_line, truncate_accuracy_log
from audit.verify import Verdict, setting_differences, verify
from harness.files import atomic_write_bytes, atomic_write_json, atomic_write_text
from harness.results.logs import ACCURACY_LOG, DETAIL, SUMMARY
from harness.terms import MODEL_KEY, RUNNABLE_SCENARIOS

DIVISIONS = ("closed", "open")
REFERENCE_MODEL = "resnet50_v1"  # MLCommons' resnet50_v1.onnx: the closed division's model
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class ScenarioRuns:
    performance: RunInfo
    accuracy: RunInfo
    compliance: tuple[RunInfo, ...]

    @property
    def scenario(self) -> str:
        return self.performance.scenario


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
    for scenario in sorted({r.scenario for r in runs}):
        if scenario not in RUNNABLE_SCENARIOS:
            raise AuditError(f"scenario {scenario} is not packaged; resnet50 trees hold {', '.join(RUNNABLE_SCENARIOS)}")
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
    """Closed only for the reference model with its real weights; everything else is open."""
    closed = all(g.performance.record["model"]["name"] == REFERENCE_MODEL and not g.performance.synthetic_weights
                 for g in groups)
    return "closed" if closed else "open"


def _copy(src: Path, dst: Path) -> None:
    if not src.is_file():
        raise AuditError(f"{src} is missing; the run did not finish writing its logs, rerun it")
    atomic_write_bytes(dst, src.read_bytes())


def _logs(run: RunInfo, dst: Path) -> None:
    for name in (SUMMARY, DETAIL):
        _copy(run.path / name, dst / name)


def _scenario(root: Path, system: str, g: ScenarioRuns) -> list[Verdict]:
    results = root / "results" / system / MODEL_KEY / g.scenario
    if results.exists():
        raise AuditError(f"{results} already exists; package into a new --out (trees are never overwritten)")
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
    meas = root / "measurements" / system / MODEL_KEY / g.scenario
    _copy(g.performance.path / "user.conf", meas / "user.conf")
    atomic_write_text(meas / "README.md", readme(g.performance, system))
    atomic_write_json(meas / f"{system}_harness_{g.scenario}.json", measurements(g.performance))
    return verdicts


def package(paths: list[Path], out: Path, submitter: str, system: str, division: str | None = None,
            echo=print) -> Path:
    """Write the tree under out/<division>/<submitter>; return that directory."""
    for what, name in (("--submitter", submitter), ("--system", system)):
        if not NAME.match(name):
            raise AuditError(f"{what} {name!r} must be letters, digits, '.', '_' or '-' (it names a directory)")
    if division is not None and division not in DIVISIONS:
        raise AuditError(f"--division {division!r} is not one of {', '.join(DIVISIONS)}")
    groups = group_runs(paths)
    if not groups:
        raise AuditError("no runs given; pass the run directories of a formal run")
    division = division or default_division(groups)
    root = Path(out) / division / submitter
    for g in groups:
        for verdict in _scenario(root, system, g):
            echo(f"{g.scenario} {verdict.test} {verdict.filename}: {verdict.status}")
    systems = root / "systems" / f"{system}.json"
    if systems.exists():  # kept: a person may already have completed it
        echo(f"kept existing {systems}")
    else:
        atomic_write_json(systems, system_description(groups[0].performance, system, submitter, division))
    return root
