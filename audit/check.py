"""`python -m audit check TREE`: the submission tree checked as the official checker checks resnet50.

The official checker is mlcommons/inference tools/submission, run as `python -m
submission_checker.main --input TREE --version v6.1`. Every rule it applies to resnet50
in round v6.1 is a rule here (audit.rules, audit.systemcheck and this module): files
and paths, seeds, durations and sample counts, early stopping, accuracy target and
coverage, the truncated accuracy log and its hash, the compliance directories and
verdicts, the system fields, the scenarios each system type requires. A tree it
rejects fails here, naming the same rule. Beyond it:
- cross-checks (audit.crosscheck) fail a tree whose figures disagree with each other
  (a headline or accuracy edited after packaging), which the official checker passes;
- rules it does not apply (LoadGen's INVALID verdict, LoadGen errors in a performance
  log, compliance tests in the open division, ...) are warnings that say so.

--quick waives exactly the length rules, the fields only a person can fill, and a
compliance performance verdict that fails the official thresholds with scores within a
factor of 4 (what timing a run of seconds explains); the report says so first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from audit.configs import TESTS
from audit.crosscheck import (
    ACCURACY_VALUE,
    HASH_LINE,
    LogsAtHand,
    accuracy_findings,
    performance_verdict_findings,
    run_log_findings,
    summary_findings,
    test01_accuracy_findings,
)
from audit.errors import AuditError
from audit.package import DIVISIONS
from audit.rules import (
    ERROR,
    MAX_ACCURACY_LOG_BYTES,
    MIN_DURATION_MS,
    NOTE,
    ROUND,
    STRICTER,
    Finding,
    benchmark_is_resnet,
    performance_findings,
)
from audit.sysdesc import MEASUREMENT_FIELDS
from audit.systemcheck import check_system, scenario_findings
from audit.verify import ACCURACY_DELTA_PERCENT, QUICK_FACTOR, WAIVED_MARK, compare_scores
from harness.results.logs import ACCURACY_LOG, DETAIL, SUMMARY, LoadGenLog, read_detail_log
from harness.terms import (
    ACCURACY_TARGET,
    DATASET_SIZE,
    OFFLINE_MIN_SAMPLES_PER_QUERY,
    PERFORMANCE_SAMPLE_COUNT,
    Scenario,
)

REBUILD = "rebuild the tree with `python -m audit package`"
RERUN_TEST = "fix the SUT's fault, rerun the compliance test and repackage"
OPTIONAL_RUN_FILES = {ACCURACY_LOG, "mlperf_log_trace.json", "results.json", ".gitkeep"}
QUICK_NOTE = (f"QUICK CHECK: not a submission check. Waived: minimum duration {MIN_DURATION_MS // 1000} s, "
              f"performance sample count >= {PERFORMANCE_SAMPLE_COUNT}, Offline samples per query >= "
              f"{OFFLINE_MIN_SAMPLES_PER_QUERY:,}, accuracy over all {DATASET_SIZE:,} images, LoadGen's "
              f"duration/query-count validity, system fields a person fills, a compliance performance "
              f"verdict that fails with scores within a factor of {QUICK_FACTOR:g}.")


@dataclass(frozen=True)
class CheckReport:
    tree: Path
    quick: bool
    checked: tuple[str, ...]  # scenario directories, relative to the tree
    findings: tuple[Finding, ...]

    def _waived(self, f: Finding) -> bool:
        return self.quick and f.quick_waives

    @property
    def waived(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if self._waived(f))

    @property
    def failures(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.fails and not self._waived(f))

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.kind == STRICTER and not self._waived(f))

    @property
    def passed(self) -> bool:
        return bool(self.checked) and not self.failures

    def lines(self) -> list[str]:
        out = [QUICK_NOTE] if self.quick else []
        out += [f"waived (--quick): {f.line()}" for f in self.waived]
        out += [f"WARN (stricter than the official checker) {f.line()}" for f in self.warnings]
        out += [f"note {f.line()}" for f in self.findings if f.kind == NOTE]
        out += [f"FAIL {f.line()}" if f.kind == ERROR else f"FAIL (cross-check; the official checker does not "
                f"make it) {f.line()}" for f in self.failures]
        out += [f"checked {c}" for c in self.checked]
        verdict = "PASS" if self.passed else f"FAIL ({len(self.failures)} problems)"
        out.append(f"check {verdict}{' (quick: relaxed rules)' if self.quick else ''}: {self.tree} "
                   f"(round {ROUND} rules)")
        return out


def _log_format(path: Path) -> str | None:
    """Why the official parser would reject a LoadGen detail log (it crashes on these), or None."""
    lines = path.read_text(errors="replace").splitlines()
    if not lines or not lines[0].startswith(":::MLLOG"):
        return "the first line is not a :::MLLOG record"
    for number, line in enumerate(lines, 1):
        if line.startswith(":::MLLOG"):
            try:
                json.loads(line[len(":::MLLOG"):])
            except json.JSONDecodeError:
                return f"line {number} is not valid JSON"
    return None


@dataclass
class _Context:
    tree: Path
    division: str
    system_type: str | None
    logs: LogsAtHand


class _Scenario:
    """The findings for one results/<system>/<benchmark>/<Scenario> directory."""

    def __init__(self, ctx: _Context, results: Path, scenario: Scenario):
        self.ctx, self.results, self.scenario = ctx, results, scenario
        self.findings: list[Finding] = []

    def rel(self, path: Path) -> str:
        return str(path.relative_to(self.ctx.tree))

    def add(self, path: Path, problem: str, fix: str, quick_waives: bool = False, kind: str = ERROR) -> None:
        self.findings.append(Finding(self.rel(path), problem, fix, quick_waives, kind))

    def require(self, path: Path, kind: str = ERROR, why: str = "") -> bool:
        if path.is_file():
            return True
        self.add(path, "missing" + why, REBUILD, kind=kind)
        return False

    def log(self, directory: Path) -> LoadGenLog | None:
        """The detail log (required) of a run directory; its summary (not required by the official checker)
        is cross-checked against it."""
        has_detail = self.require(directory / DETAIL)
        has_summary = self.require(directory / SUMMARY, STRICTER, " (the official checker reads the detail log "
                                                                   "only; reviewers read the summary)")
        if not has_detail:
            return None
        problem = _log_format(directory / DETAIL)
        if problem:
            self.add(directory / DETAIL, f"not a LoadGen log: {problem}", REBUILD)
            return None
        log = read_detail_log(directory)
        if has_summary:
            self.findings += summary_findings(directory / SUMMARY, log, self.rel(directory / SUMMARY))
        self.findings += run_log_findings(directory, log, self.ctx.logs, self.rel)
        return log

    def run(self) -> list[Finding]:
        perf = self.log(self.results / "performance" / "run_1")
        if perf is not None:
            self.performance(perf)
        self.accuracy()
        self.compliance(perf)
        self.measurements()
        return self.findings

    def performance(self, log: LoadGenLog) -> None:
        where = self.results / "performance" / "run_1" / DETAIL
        self.findings += performance_findings(log, self.scenario, self.rel(where), self.ctx.division,
                                              self.ctx.system_type)
        if log.get("effective_test_mode") != "PerformanceOnly":
            self.add(where, f"test mode {log.get('effective_test_mode')!r}", "submit a performance-mode run",
                     kind=STRICTER)
        if log.get("effective_performance_issue_same") or log.get("effective_accuracy_log_sampling_target"):
            self.add(where, "compliance-test settings are active in the submission run",
                     "submit the plain performance run, not a compliance run", kind=STRICTER)

    def accuracy(self) -> None:
        acc = self.results / "accuracy"
        log = self.log(acc)
        has_text = self.require(acc / "accuracy.txt")
        has_json = self.require(acc / ACCURACY_LOG)
        closed = self.ctx.division == "closed"
        if log is not None:
            for error in log.errors:
                self.add(acc / DETAIL, f"contains LoadGen error: {error}", "fix its cause and rerun the accuracy run")
            if log.get("effective_test_mode") != "AccuracyOnly":
                self.add(acc / DETAIL, f"test mode {log.get('effective_test_mode')!r}", "submit an accuracy-mode run",
                         kind=STRICTER)
            total = log.get("effective_accuracy_sample_count") or log.get("qsl_reported_total_count")
            if total != DATASET_SIZE:
                self.add(acc / DETAIL, f"accuracy run does not cover all the dataset: {total} samples, dataset "
                                       f"size {DATASET_SIZE}", "run accuracy on the full ImageNet validation set",
                         quick_waives=True)
        if has_json:
            size = (acc / ACCURACY_LOG).stat().st_size
            if size > MAX_ACCURACY_LOG_BYTES:
                self.add(acc / ACCURACY_LOG, f"is not truncated: {size} bytes > {MAX_ACCURACY_LOG_BYTES}",
                         f"{REBUILD} (it truncates the log)")
        if not has_text:
            return
        lines = (acc / "accuracy.txt").read_text(errors="replace").splitlines()
        values = [float(m.group(1)) for line in lines if (m := ACCURACY_VALUE.match(line))]
        open_kind = ERROR if closed else STRICTER  # the open division's accuracy checks are logged, never fail
        if not values:
            self.add(acc / "accuracy.txt", "no accuracy=N% line", REBUILD, kind=open_kind)
        elif values[0] < ACCURACY_TARGET:
            self.add(acc / "accuracy.txt", f"accuracy not met: expected={ACCURACY_TARGET:f}, found={values[0]:.3f}",
                     "the closed division needs the reference model's accuracy; submit to open otherwise",
                     kind=ERROR if closed else NOTE)
        if not any(HASH_LINE.match(line) for line in lines):
            self.add(acc / "accuracy.txt", "no hash value (hash=<sha256> line)", f"{REBUILD} (it hashes the full log)",
                     kind=open_kind)
        if closed and self.synthetic_weights():
            self.add(self.results / "measurements.json", "the model has synthetic weights",
                     "the closed division needs the reference ResNet-50 weights; package with --division open",
                     kind=STRICTER)
        if log is not None:
            self.findings += accuracy_findings(acc, log, self.ctx.logs, self.rel)

    def synthetic_weights(self) -> bool:
        try:
            return bool(json.loads((self.results / "measurements.json").read_text())["harness"]["synthetic_weights"])
        except (OSError, json.JSONDecodeError, KeyError, TypeError):
            return False

    def accuracy_hash(self) -> str | None:
        path = self.results / "accuracy" / "accuracy.txt"
        if not path.is_file():
            return None
        return next((m.group(1) for line in path.read_text(errors="replace").splitlines()
                     if (m := HASH_LINE.match(line))), None)

    def compliance(self, perf: LoadGenLog | None) -> None:
        tests = [self.results / t for t in TESTS]
        if self.ctx.division != "closed":
            if not any(t.is_dir() for t in tests):
                self.add(self.results, "no TEST01/ and TEST04/ (the official checker skips compliance tests in the "
                                       "open division)", "run them: harness formal does", kind=STRICTER)
                return
            before = len(self.findings)
            self._compliance(perf)
            self.findings[before:] = [replace(f, kind=STRICTER) if f.kind == ERROR else f
                                      for f in self.findings[before:]]
            return
        self._compliance(perf)

    def _compliance(self, perf: LoadGenLog | None) -> None:
        for test in TESTS:
            test_dir = self.results / test
            if not test_dir.is_dir():
                self.add(test_dir, f"missing {test} in the compliance directory",
                         f"run {test} (python -m audit run {test} PERFORMANCE_RUN) and repackage")
                continue
            if test == "TEST01":
                self.test01_accuracy(test_dir)
            verify_file = test_dir / "verify_performance.txt"
            run_dir = test_dir / "performance" / "run_1"
            if run_dir.is_dir():
                extra = {p.name for p in run_dir.iterdir()} - {SUMMARY, DETAIL} - OPTIONAL_RUN_FILES
                if extra:
                    self.add(run_dir, f"file list mismatch ({sorted(extra)})", "remove them")
            log = self.log(run_dir)
            if self.require(verify_file):
                text = verify_file.read_text(errors="replace")
                if "TEST PASS" not in text:
                    # A quick run's timing cannot hold to the official thresholds: --quick waives a
                    # verdict the verifier marked waived, where the logs' scores confirm it (within
                    # QUICK_FACTOR); a failure for any other reason is never marked so.
                    marked = any(line.startswith(WAIVED_MARK) for line in text.splitlines())
                    within = perf is not None and log is not None and not compare_scores(
                        test, self.scenario, perf, log, quick=True).relaxed
                    self.add(verify_file, f"compliance test performance check failed: {_verdict(text)}", RERUN_TEST,
                             quick_waives=marked and within)
            if log is None:
                continue
            where = run_dir / DETAIL
            self.findings += performance_findings(log, self.scenario, self.rel(where), self.ctx.division,
                                                  self.ctx.system_type)
            for key, value in TESTS[test].expected_log().items():
                if log.get(key) != value:
                    self.add(where, f"{key} = {log.get(key)!r}, {test}'s audit.config sets {value!r}",
                             f"rerun {test} with `python -m audit run {test} PERFORMANCE_RUN`", kind=STRICTER)
            if perf is not None and verify_file.is_file():
                self.findings += performance_verdict_findings(test, self.scenario, verify_file, perf, log, self.rel)

    def test01_accuracy(self, test_dir: Path) -> None:
        verify_file = test_dir / "verify_accuracy.txt"
        self.require(test_dir / "accuracy" / ACCURACY_LOG, STRICTER,
                     " (the official checker needs it only when TEST01's accuracy check did not pass; the "
                     "responses are cross-checked with it)")
        if not self.require(verify_file):
            return
        lines = [line.strip() for line in verify_file.read_text(errors="replace").splitlines()]
        if "TEST PASS" not in lines and not self.accuracy_fallback(test_dir):
            self.add(verify_file, f"compliance test accuracy check failed: {_verdict(chr(10).join(lines))}",
                     RERUN_TEST)
        self.findings += test01_accuracy_findings(verify_file, test_dir / "accuracy" / ACCURACY_LOG,
                                                  self.accuracy_hash(), self.ctx.logs, self.rel)

    def accuracy_fallback(self, test_dir: Path) -> bool:
        """The official non-deterministic path: baseline and compliance accuracy within 1 %."""
        acc = test_dir / "accuracy"
        values = []
        for name in ("baseline_accuracy.txt", "compliance_accuracy.txt"):
            text = (acc / name).read_text(errors="replace") if (acc / name).is_file() else ""
            values += [float(m.group(1)) for line in text.splitlines() if (m := ACCURACY_VALUE.match(line))][:1]
        if len(values) != 2 or not all(values):
            return False
        return abs(1 - values[0] / values[1]) * 100 <= ACCURACY_DELTA_PERCENT

    def measurements(self) -> None:
        path = self.results / "measurements.json"
        if not path.is_file():
            self.add(path, "measurements json file not found", REBUILD)
        else:
            try:
                data = json.loads(path.read_text())
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                self.add(path, f"not valid JSON ({exc})", "fix the file or rebuild the tree")
                data = None
            for key in MEASUREMENT_FIELDS if isinstance(data, dict) else ():
                if key not in data:
                    self.add(path, f"field {key} is missing", "describe the model, or rebuild the tree")
                elif not data[key]:
                    self.add(path, f"field {key} is missing meaningful value", "describe the model, or rebuild the tree")
        for name in ("user.conf", "README.md"):
            if not (self.results / name).is_file():
                self.add(self.results / name, f"missing: the scenario directory needs its {name}", REBUILD)
            elif not (self.results / name).read_text(errors="replace").strip():
                self.add(self.results / name, "empty", REBUILD)


def _verdict(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip().startswith("TEST FAIL")), "no verdict")


def _dirs(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))


def _scenario_of(name: str) -> Scenario | None:
    return next((s for s in Scenario if s.lower() == name.lower()), None)


def _submitter(tree: Path, division: Path, submitter: Path, logs: LogsAtHand) -> tuple[list[Finding], list[str]]:
    rel = lambda p: str(p.relative_to(tree))  # noqa: E731
    findings: list[Finding] = []
    checked: list[str] = []
    if not (submitter / "src").is_dir():
        findings.append(Finding(rel(submitter / "src"), "src directory does not exist",
                                f"{REBUILD} (it copies the harness source there)"))
    results = submitter / "results"
    if not results.is_dir():
        return findings + [Finding(rel(results), "missing", REBUILD)], checked
    for system in _dirs(results):
        description = check_system(submitter / "systems" / f"{system.name}.json",
                                   rel(submitter / "systems" / f"{system.name}.json"), division.name, submitter.name)
        findings += description.findings
        ctx = _Context(tree, division.name, description.system_type, logs)
        for benchmark in _dirs(system):
            if not benchmark_is_resnet(benchmark.name):
                findings.append(Finding(rel(benchmark), "not checked: this checker knows resnet50 only",
                                        "check it with the official checker",
                                        kind=ERROR if division.name == "closed" else NOTE))
                continue
            scenarios = _dirs(benchmark)
            if division.name == "closed" and description.data is not None:
                findings += scenario_findings(rel(benchmark), [s.name for s in scenarios], description.system_type)
            for directory in scenarios:
                scenario = _scenario_of(directory.name)
                if scenario is None:
                    findings.append(Finding(rel(directory), "no LoadGen scenario of that name",
                                            f"name it one of {', '.join(Scenario)}"))
                    continue
                findings += _Scenario(ctx, directory, scenario).run()
                checked.append(rel(directory))
    return findings, checked


def check_tree(tree: Path, quick: bool = False, runs: list[Path] = ()) -> CheckReport:
    """Check TREE. `runs`: directories holding the packaged runs, whose full accuracy logs let accuracy.txt
    and TEST01 be recomputed; a formal run's runs/ beside the tree is found by itself."""
    tree = Path(tree)
    if not tree.is_dir():
        raise AuditError(f"{tree} is not a directory; pass the --out directory of `python -m audit package`")
    divisions = [d for d in _dirs(tree) if d.name in (*DIVISIONS, "network")]
    if not divisions:
        raise AuditError(f"{tree} has no closed/ or open/ directory; pass the --out directory of "
                         "`python -m audit package`, not a directory inside it")
    roots = [Path(r) for r in runs]
    if (tree.parent / "formal.json").is_file():
        roots.append(tree.parent / "runs")
    logs = LogsAtHand(list(dict.fromkeys(r.resolve() for r in roots)))
    findings: list[Finding] = []
    checked: list[str] = []
    for division in divisions:
        if division.name == "network":
            findings.append(Finding(str(division.relative_to(tree)), "not checked: harness makes no network-division "
                                    "trees", "check it with the official checker"))
            continue
        for submitter in _dirs(division):
            found, done = _submitter(tree, division, submitter, logs)
            findings += found
            checked += done
    if not checked:
        findings.append(Finding(str(tree), "no results/<system>/resnet50/<Scenario> directory", REBUILD))
    return CheckReport(tree, quick, tuple(checked), tuple(findings))
