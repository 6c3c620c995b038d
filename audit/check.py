"""`python -m audit check TREE`: the submission tree checked as the official checker checks resnet50.

For every results/<system>/resnet50/<Scenario> directory: the required files; no
LoadGen errors; seeds equal mlperf.conf's; performance sample count, minimum
duration and (Offline) samples per query; a VALID result (SingleStream: early
stopping met); accuracy.txt with a hash line and a truncated log; for the closed
division top-1 >= 75.6954 % over all 50,000 images with real weights; TEST01 and
TEST04 present, really run with their audit.config, passing, and their
performance recomputed from the logs in the tree; the system description complete.

Stricter than the official checker where it is lax: compliance is required in the
open division too (the official checker skips it there), and the TEST04 direction is
the one that catches caching (see audit.verify).

--quick waives exactly the length rules and the fields only a person can fill, and
relaxes the compliance performance thresholds; the report says so first.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from audit.configs import TESTS
from audit.errors import AuditError
from audit.package import DIVISIONS
from audit.rules import MAX_ACCURACY_LOG_BYTES, MIN_DURATION_MS, Finding, performance_findings
from audit.sysdesc import AVAILABILITIES, MEASUREMENT_FIELDS, SYSTEM_FIELDS, SYSTEM_TYPES, TO_FILL
from audit.verify import QUICK_FACTOR, compare_scores
from harness.results.logs import ACCURACY_LOG, DETAIL, SUMMARY, LoadGenLog, read_detail_log
from harness.terms import (
    ACCURACY_TARGET,
    DATASET_SIZE,
    MODEL_KEY,
    OFFLINE_MIN_SAMPLES_PER_QUERY,
    PERFORMANCE_SAMPLE_COUNT,
    RUNNABLE_SCENARIOS,
)

ACCURACY_LINE = re.compile(r"^accuracy=([\d.]+)%")
HASH_LINE = re.compile(r"^hash=([0-9a-fA-F]{64})$")
REBUILD = "rebuild the tree with `python -m audit package`"
QUICK_NOTE = (f"QUICK CHECK: not a submission check. Waived: minimum duration {MIN_DURATION_MS // 1000} s, "
              f"performance sample count >= {PERFORMANCE_SAMPLE_COUNT}, Offline samples per query >= "
              f"{OFFLINE_MIN_SAMPLES_PER_QUERY:,}, accuracy over all {DATASET_SIZE:,} images, LoadGen's "
              f"duration/query-count validity, system fields a person fills; compliance performance "
              f"thresholds relaxed to a factor of {QUICK_FACTOR:g}.")


@dataclass(frozen=True)
class CheckReport:
    tree: Path
    quick: bool
    checked: tuple[str, ...]  # scenario directories, relative to the tree
    failures: tuple[Finding, ...]
    waived: tuple[Finding, ...]

    @property
    def passed(self) -> bool:
        return bool(self.checked) and not self.failures

    def lines(self) -> list[str]:
        out = [QUICK_NOTE] if self.quick else []
        out += [f"waived (--quick): {f.line()}" for f in self.waived]
        out += [f"FAIL {f.line()}" for f in self.failures]
        out += [f"checked {c}" for c in self.checked]
        verdict = "PASS" if self.passed else f"FAIL ({len(self.failures)} problems)"
        out.append(f"check {verdict}{' (quick: relaxed rules)' if self.quick else ''}: {self.tree}")
        return out


class _Scenario:
    """The findings for one results/<system>/resnet50/<Scenario> directory."""

    def __init__(self, tree: Path, division: str, submitter: Path, system: str, scenario: str):
        self.tree, self.division, self.scenario = tree, division, scenario
        self.results = submitter / "results" / system / MODEL_KEY / scenario
        self.measurements = submitter / "measurements" / system / MODEL_KEY / scenario
        self.system = system
        self.findings: list[Finding] = []

    def rel(self, path: Path) -> str:
        return str(path.relative_to(self.tree))

    def add(self, path: Path, problem: str, fix: str, quick_waives: bool = False) -> None:
        self.findings.append(Finding(self.rel(path), problem, fix, quick_waives))

    def require(self, *paths: Path) -> bool:
        """One finding per missing file; True if all exist."""
        missing = [p for p in paths if not p.is_file()]
        for path in missing:
            self.add(path, "missing", REBUILD)
        return not missing

    def log(self, directory: Path) -> LoadGenLog | None:
        if not self.require(directory / SUMMARY, directory / DETAIL):
            return None
        return read_detail_log(directory)

    def run(self, quick: bool) -> list[Finding]:
        perf = self.log(self.results / "performance" / "run_1")
        if perf is not None:
            self.performance(perf)
        self.accuracy()
        for test in TESTS:
            self.compliance(test, perf, quick)
        self.measurement_files()
        return self.findings

    def performance(self, log: LoadGenLog) -> None:
        where = self.results / "performance" / "run_1" / DETAIL
        self.findings += performance_findings(log, self.scenario, self.rel(where))
        if log.get("effective_test_mode") != "PerformanceOnly":
            self.add(where, f"test mode {log.get('effective_test_mode')!r}", "submit a performance-mode run")
        if log.get("effective_performance_issue_same") or log.get("effective_accuracy_log_sampling_target"):
            self.add(where, "compliance-test settings are active in the submission run",
                     "submit the plain performance run, not a compliance run")

    def accuracy(self) -> None:
        acc = self.results / "accuracy"
        if not self.require(acc / SUMMARY, acc / DETAIL, acc / "accuracy.txt", acc / ACCURACY_LOG):
            return
        log = read_detail_log(acc)
        for error in log.errors:
            self.add(acc / DETAIL, f"LoadGen error: {error}", "fix its cause and rerun the accuracy run")
        if log.get("effective_test_mode") != "AccuracyOnly":
            self.add(acc / DETAIL, f"test mode {log.get('effective_test_mode')!r}", "submit an accuracy-mode run")
        lines = (acc / "accuracy.txt").read_text(errors="replace").splitlines()
        values = [float(m.group(1)) for line in lines if (m := ACCURACY_LINE.match(line))]
        if not values:
            self.add(acc / "accuracy.txt", "no 'accuracy=N%' line", REBUILD)
        if not any(HASH_LINE.match(line) for line in lines):
            self.add(acc / "accuracy.txt", "no 'hash=<sha256>' line", f"{REBUILD} (it hashes the full log)")
        size = (acc / ACCURACY_LOG).stat().st_size
        if size > MAX_ACCURACY_LOG_BYTES:
            self.add(acc / ACCURACY_LOG, f"{size} bytes: not truncated", f"{REBUILD} (it truncates the log)")
        if self.division != "closed":
            return
        if values and values[0] < ACCURACY_TARGET:
            self.add(acc / "accuracy.txt", f"top-1 {values[0]:.3f}% < {ACCURACY_TARGET:.4f}% (99% of 76.46%)",
                     "the closed division needs the reference model's accuracy; submit to open otherwise")
        total = log.get("effective_accuracy_sample_count") or log.get("qsl_reported_total_count")
        if total != DATASET_SIZE:
            self.add(acc / DETAIL, f"accuracy over {total} images, not all {DATASET_SIZE:,}",
                     "run accuracy on the full ImageNet validation set", quick_waives=True)
        if self.synthetic_weights():
            self.add(self.measurements, "the model has synthetic weights",
                     "the closed division needs the reference ResNet-50 weights; package with --division open")

    def synthetic_weights(self) -> bool:
        for path in self.measurements.glob(f"{self.system}_*_{self.scenario}.json"):
            try:
                return bool(json.loads(path.read_text()).get("harness", {}).get("synthetic_weights"))
            except (json.JSONDecodeError, AttributeError):
                return False
        return False

    def verify_file(self, path: Path) -> None:
        if not self.require(path):
            return
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines()]
        if "TEST PASS" not in lines:
            failed = next((line for line in lines if line.startswith("TEST FAIL")), "no verdict")
            self.add(path, failed, "fix the SUT's fault, rerun the compliance test and repackage")

    def compliance(self, test: str, perf: LoadGenLog | None, quick: bool) -> None:
        test_dir = self.results / test
        if test == "TEST01":
            self.verify_file(test_dir / "verify_accuracy.txt")
            self.require(test_dir / "accuracy" / ACCURACY_LOG)
        self.verify_file(test_dir / "verify_performance.txt")
        log = self.log(test_dir / "performance" / "run_1")
        if log is None:
            return
        where = test_dir / "performance" / "run_1" / DETAIL
        self.findings += performance_findings(log, self.scenario, self.rel(where))
        for key, value in TESTS[test].expected_log().items():
            if log.get(key) != value:
                self.add(where, f"{key} = {log.get(key)!r}, {test}'s audit.config sets {value!r}",
                         f"rerun {test} with `python -m audit run {test} PERFORMANCE_RUN`")
        if perf is not None:
            _, reason = compare_scores(test, self.scenario, perf, log, quick)
            if reason:
                self.add(where, reason, f"fix the SUT and rerun the performance run and {test}")

    def measurement_files(self) -> None:
        meas = self.measurements
        self.require(meas / "user.conf", meas / "README.md")
        found = sorted(meas.glob(f"{self.system}_*_{self.scenario}.json"))
        if not found:
            self.add(meas / f"{self.system}_harness_{self.scenario}.json", "missing", REBUILD)
            return
        try:
            data = json.loads(found[0].read_text())
        except json.JSONDecodeError as exc:
            self.add(found[0], f"not valid JSON ({exc.msg}, line {exc.lineno})", "fix the file or rebuild the tree")
            return
        for key in MEASUREMENT_FIELDS:
            if not data.get(key):
                self.add(found[0], f"field {key!r} missing or empty", "describe the model, or rebuild the tree")


def _system_findings(tree: Path, path: Path, division: str, submitter: str) -> list[Finding]:
    where = str(path.relative_to(tree))
    if not path.is_file():
        return [Finding(where, "missing", REBUILD)]
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        return [Finding(where, f"not valid JSON ({exc.msg}, line {exc.lineno})", "fix the file")]
    findings = [Finding(where, f"field {k!r} missing", "add it (see the MLPerf system description fields)")
                for k in SYSTEM_FIELDS if k not in data]
    unfilled = [k for k in SYSTEM_FIELDS if data.get(k) == TO_FILL]
    if unfilled:
        findings.append(Finding(where, f"fields still {TO_FILL!r}: {', '.join(unfilled)}",
                                "fill them in by hand", quick_waives=True))
    for key, allowed in (("status", AVAILABILITIES), ("system_type", SYSTEM_TYPES)):
        value = data.get(key)
        if value not in (None, TO_FILL) and str(value).lower() not in allowed:
            findings.append(Finding(where, f"{key} = {value!r}", f"use one of {', '.join(allowed)}"))
    for key, expected in (("division", division), ("submitter", submitter)):
        if key in data and str(data[key]).lower() != expected.lower():
            findings.append(Finding(where, f"{key} = {data[key]!r} in a tree under {expected}/",
                                    f"set it to {expected!r}"))
    return findings


def _dirs(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))


def check_tree(tree: Path, quick: bool = False) -> CheckReport:
    tree = Path(tree)
    if not tree.is_dir():
        raise AuditError(f"{tree} is not a directory; pass the --out directory of `python -m audit package`")
    divisions = [d for d in _dirs(tree) if d.name in DIVISIONS]
    if not divisions:
        raise AuditError(f"{tree} has no closed/ or open/ directory; pass the --out directory of "
                         "`python -m audit package`, not a directory inside it")
    findings: list[Finding] = []
    checked: list[str] = []
    for division in divisions:
        for submitter in _dirs(division):
            results = submitter / "results"
            if not results.is_dir():
                findings.append(Finding(str(results.relative_to(tree)), "missing", REBUILD))
                continue
            for system in _dirs(results):
                findings += _system_findings(tree, submitter / "systems" / f"{system.name}.json",
                                             division.name, submitter.name)
                for benchmark in _dirs(system):
                    if benchmark.name != MODEL_KEY:
                        findings.append(Finding(str(benchmark.relative_to(tree)), "not checked",
                                                f"this checker knows {MODEL_KEY} only"))
                        continue
                    for scenario in _dirs(benchmark):
                        if scenario.name not in RUNNABLE_SCENARIOS:
                            findings.append(Finding(str(scenario.relative_to(tree)), "not checked",
                                                    f"this checker knows {', '.join(RUNNABLE_SCENARIOS)} only"))
                            continue
                        findings += _Scenario(tree, division.name, submitter, system.name, scenario.name).run(quick)
                        checked.append(str(scenario.relative_to(tree)))
    if not checked:
        findings.append(Finding(str(tree), f"no results/<system>/{MODEL_KEY}/<Scenario> directory", REBUILD))
    waived = tuple(f for f in findings if quick and f.quick_waives)
    failures = tuple(f for f in findings if not (quick and f.quick_waives))
    return CheckReport(tree, quick, tuple(checked), failures, waived)
