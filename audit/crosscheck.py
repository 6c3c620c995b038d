"""Every figure a reader quotes, checked against every other place it is recorded.

The official checker reads each figure from one file and trusts it, so a tree edited
after packaging (a headline divided by 10, an accuracy made up) passes it. These
checks fail such a tree, naming both values:
- mlperf_log_summary.txt against mlperf_log_detail.txt of the same LoadGen run, and both
  against the run directory's own where that is at hand;
- accuracy.txt: its accuracy against its good/total, its total against the accuracy
  run's sample count, and, where the full accuracy log is at hand (a formal run's
  runs/ directory, or `audit check --runs DIR`), its hash line against that log and
  its accuracy against top-1 recomputed from it;
- verify_performance.txt: its scores and verdict recomputed from the logs in the tree;
  verify_accuracy.txt: its response counts recomputed where the full log is at hand.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from pathlib import Path

from audit.errors import AuditError
from audit.rules import INCONSISTENT, MAX_ACCURACY_LOG_BYTES, NOTE, SCORE_KEYS, Finding
from audit.runs import read_run
from audit.truncate import ELISION, VIEWABLE_BYTES
from audit.verify import HEADER_MARK, compare_responses, compare_scores, read_accuracy_log, score
from harness.errors import HarnessError
from harness.results.accuracy import top1
from harness.results.logs import ACCURACY_LOG, DETAIL, SUMMARY, LoadGenLog, read_detail_log
from harness.terms import Scenario

EDITED = "the records of one run disagree, so one was edited: repackage from the run directories"
ACCURACY_VALUE = re.compile(r"^(?:\{\"accuracy|accuracy)[\": ]*=?\s*([\d.]+)")  # the official checker's pattern
GOOD_TOTAL = re.compile(r"good=(\d+), total=(\d+)")
HASH_LINE = re.compile(r"^hash=([\w\d]+)$")
PARAMETER = re.compile(r"^(\w+)\s*(?:\((\w+)\))?$")  # "min_duration (ms)" -> effective_min_duration_ms
PERCENTILE = re.compile(r"^(\d+\.\d+)(?:th)? percentile latency \(ns\)$")
SUMMARY_KEYS = {
    "SUT name": "sut_name", "Scenario": "effective_scenario", "Mode": "effective_test_mode",
    "Result is": "result_validity", "Samples per second": "result_samples_per_second",
    "Completed samples per second": "result_completed_samples_per_sec",
    "Scheduled samples per second": "result_scheduled_samples_per_sec",
    "Performance constraints satisfied": "result_perf_constraints_met",
    "Min duration satisfied": "result_min_duration_met", "Min queries satisfied": "result_min_queries_met",
    "Early stopping satisfied": "early_stopping_met",
    "QPS w/ loadgen overhead": "result_qps_with_loadgen_overhead",
    "QPS w/o loadgen overhead": "result_qps_without_loadgen_overhead",
    "Min latency (ns)": "result_min_latency_ns", "Max latency (ns)": "result_max_latency_ns",
    "Mean latency (ns)": "result_mean_latency_ns",
}
PER_QUERY_KEYS = {"Min latency (ns)": "result_min_query_latency_ns", "Max latency (ns)": "result_max_query_latency_ns",
                  "Mean latency (ns)": "result_mean_query_latency_ns"}
EARLY_STOPPING_KEYS = {  # the estimates LoadGen prints per scenario, and where the detail log has them
    Scenario.SINGLE_STREAM: {"90.0": "early_stopping_latency_ss", "99.0": "early_stopping_latency_ms"},
    Scenario.MULTI_STREAM: {"99.0": "early_stopping_latency_ms"},
}
EARLY_STOPPING_LINE = re.compile(r"^\* Early stopping (\d+\.\d+)th percentile estimate: (\S+)$")


# ---------------------------------------------------------------- summary against detail

def _summary_pairs(text: str, scenario: Scenario | None):
    """(label, value, detail key) for every summary line that has a detail-log counterpart."""
    section, per_query = "", False
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            per_query = False
            continue
        if line.startswith("Per-query latency"):
            per_query = True
            continue
        if line in ("MLPerf Results Summary", "Additional Stats", "Test Parameters Used"):
            section, per_query = line, False
            continue
        early = EARLY_STOPPING_LINE.match(line)
        if early:
            key = EARLY_STOPPING_KEYS.get(scenario, {}).get(early.group(1))
            if key:
                yield f"Early stopping {early.group(1)}th percentile estimate", early.group(2), key
            continue
        label, sep, value = line.partition(":")
        label, value = label.strip(), value.strip()
        if not sep or not value:
            continue
        if section == "Test Parameters Used":
            found = PARAMETER.match(label)
            if found:
                yield label, value, "effective_" + "_".join(p for p in found.groups() if p)
            continue
        percentile = PERCENTILE.match(label)
        if percentile:
            query = per_query or (section == "MLPerf Results Summary" and scenario is Scenario.MULTI_STREAM)
            yield label, value, f"result_{float(percentile.group(1)):.2f}_percentile_{'per_query_' if query else ''}latency_ns"
        elif per_query and label in PER_QUERY_KEYS:
            yield label, value, PER_QUERY_KEYS[label]
        elif label in SUMMARY_KEYS:
            yield label, value, SUMMARY_KEYS[label]


def _same(printed: str, logged) -> bool:
    """Whether the summary's printed value is the detail log's value as LoadGen prints it."""
    if isinstance(logged, bool):  # "Yes"/"NO" in the results, 1/0 among the test parameters
        return printed.lower() in (("yes", "true", "1") if logged else ("no", "false", "0"))
    if isinstance(logged, (int, float)):
        try:
            value = float(printed)
        except ValueError:
            return False
        mantissa, _, exponent = printed.lower().partition("e")
        decimals = len(mantissa.partition(".")[2])
        tolerance = 0.5 * 10.0 ** (int(exponent or 0) - decimals) + 1e-5 * abs(logged)
        return math.isfinite(value) and abs(value - logged) <= tolerance
    return printed == str(logged).strip()


def summary_findings(summary: Path, log: LoadGenLog, where: str) -> list[Finding]:
    """Each figure of mlperf_log_summary.txt that differs from the same run's mlperf_log_detail.txt."""
    scenario = log.get("effective_scenario")
    scenario = scenario if scenario in list(Scenario) else None
    findings = []
    for label, printed, key in _summary_pairs(summary.read_text(errors="replace"), scenario and Scenario(scenario)):
        logged = log.get(key)
        if logged is not None and not _same(printed, logged):
            findings.append(Finding(where, f"{label} = {printed} in {SUMMARY}, but {DETAIL} has {key} = {logged}",
                                    EDITED, kind=INCONSISTENT))
    return findings


# ---------------------------------------------------------------- full logs at hand

class LogsAtHand:
    """The full mlperf_log_accuracy.json files under some directories, found by hash or by their two ends."""

    def __init__(self, roots: list[Path]):
        self.roots = [Path(r) for r in roots if Path(r).is_dir()]

    @functools.cached_property
    def _by_hash(self) -> dict[str, Path]:
        found = {}
        for root in self.roots:
            for path in sorted(root.rglob(ACCURACY_LOG)):
                found.setdefault(hashlib.sha256(path.read_bytes()).hexdigest(), path)
        return found

    @functools.cached_property
    def _runs(self) -> dict[tuple, Path]:
        """Run directories by what identifies a LoadGen run: its start time, scenario and mode."""
        found = {}
        for root in self.roots:
            for path in sorted(root.rglob(DETAIL)):
                found.setdefault(_identity(read_detail_log(path.parent)), path.parent)
        return found

    def run_of(self, log: LoadGenLog) -> Path | None:
        """The run directory that wrote this log, if at hand."""
        return self._runs.get(_identity(log)) if log.get("test_datetime") else None

    def by_hash(self, digest: str) -> Path | None:
        return self._by_hash.get(digest.lower())

    def by_ends(self, truncated: bytes) -> Path | None:
        """The full log a truncated one was cut from (its first and last 4096 bytes)."""
        head, sep, tail = truncated.partition(ELISION)
        for path in self._by_hash.values():
            data = path.read_bytes()
            whole = not sep and data == truncated
            if whole or (sep and data[:VIEWABLE_BYTES] == head and data[-VIEWABLE_BYTES:] == tail):
                return path
        return None


def _identity(log: LoadGenLog) -> tuple:
    return tuple(log.get(k) for k in ("test_datetime", "effective_scenario", "effective_test_mode"))


def run_log_findings(directory: Path, log: LoadGenLog, logs: LogsAtHand, rel) -> list[Finding]:
    """A packaged run's logs against the run directory's own, where that is at hand: edited consistently,
    the summary and detail log of the tree still differ from the run's."""
    run_dir = logs.run_of(log)
    if run_dir is None:
        return []
    original = read_detail_log(run_dir)
    changed = sorted(k for k in set(log.values) | set(original.values) if log.get(k) != original.get(k))
    findings = [Finding(rel(directory / DETAIL), f"{key} = {log.get(key)}, but the run's own log {run_dir / DETAIL} "
                                                 f"has {original.get(key)}", EDITED, kind=INCONSISTENT)
                for key in changed[:3]]
    summary = directory / SUMMARY
    if summary.is_file() and (run_dir / SUMMARY).is_file() and summary.read_bytes() != (run_dir / SUMMARY).read_bytes():
        findings.append(Finding(rel(summary), f"differs from the run's own {run_dir / SUMMARY}", EDITED,
                                kind=INCONSISTENT))
    return findings


def _labels(run_dir: Path):
    try:
        return read_run(run_dir).labels()
    except (HarnessError, OSError, KeyError):
        return None


def accuracy_findings(acc_dir: Path, log: LoadGenLog, logs: LogsAtHand, rel) -> list[Finding]:
    """accuracy.txt against itself, the accuracy run's log, and the full accuracy log where at hand."""
    text_path, json_path = acc_dir / "accuracy.txt", acc_dir / ACCURACY_LOG
    where = rel(text_path)
    lines = text_path.read_text(errors="replace").splitlines()
    value = next((float(m.group(1)) for line in lines if (m := ACCURACY_VALUE.match(line))), None)
    counts = next((tuple(map(int, m.groups())) for line in lines if (m := GOOD_TOTAL.search(line))), None)
    digest = next((m.group(1) for line in lines if (m := HASH_LINE.match(line))), None)
    findings = []
    if value is not None and counts and counts[1]:
        good, total = counts
        if abs(value - 100.0 * good / total) > 0.0005 + 1e-9:
            findings.append(Finding(where, f"accuracy={value:.3f}% but good={good} of total={total} is "
                                           f"{100.0 * good / total:.3f}%", EDITED, kind=INCONSISTENT))
        samples = log.get("effective_accuracy_sample_count") or log.get("qsl_reported_total_count")
        if samples is not None and total != samples:
            findings.append(Finding(where, f"total={total}, but the accuracy run's {DETAIL} covers {samples} "
                                           "samples", EDITED, kind=INCONSISTENT))
    if digest is None or not json_path.is_file():
        return findings
    truncated = json_path.read_bytes()
    full = logs.by_hash(digest)
    if full is None and ELISION not in truncated and hashlib.sha256(truncated).hexdigest() != digest:
        return findings + [Finding(where, f"hash={digest}, but {ACCURACY_LOG} beside it (whole, not truncated) "
                                          f"hashes to {hashlib.sha256(truncated).hexdigest()}",
                                   EDITED, kind=INCONSISTENT)]
    if full is None:
        cut_from = logs.by_ends(truncated)
        if cut_from is None:
            return findings + [Finding(where, "the full accuracy log is not at hand, so its hash and top-1 "
                                              "were not recomputed", "pass --runs DIR (the runs packaged)",
                                       kind=NOTE)]
        return findings + [Finding(where, f"hash={digest}, but the full log {cut_from} that {ACCURACY_LOG} was "
                                          f"cut from hashes to {hashlib.sha256(cut_from.read_bytes()).hexdigest()}",
                                   EDITED, kind=INCONSISTENT)]
    data = full.read_bytes()
    expected = data if len(data) < MAX_ACCURACY_LOG_BYTES else data[:VIEWABLE_BYTES] + ELISION + data[-VIEWABLE_BYTES:]
    if truncated != expected:
        findings.append(Finding(rel(json_path), f"is not the truncated full log {full} that the hash line names",
                                EDITED, kind=INCONSISTENT))
    labels = _labels(full.parent)
    if labels is None:
        return findings + [Finding(where, f"the labels of {full.parent} cannot be read, so top-1 was not "
                                          "recomputed", "keep the run's dataset where run.json says", kind=NOTE)]
    recomputed = top1(full.parent, labels)
    if value is not None and abs(value - recomputed.top1) > 0.0005 + 1e-9:
        findings.append(Finding(where, f"accuracy={value:.3f}%, but the full log {full} it hashes gives "
                                       f"{recomputed.line()}", EDITED, kind=INCONSISTENT))
    return findings


# ---------------------------------------------------------------- compliance verdicts recomputed

def _recorded(lines: list[str], name: str) -> float | None:
    for line in lines:
        label, sep, value = line.partition("=")
        if sep and label.strip().lower() == name:
            try:
                return float(value)
            except ValueError:
                return None
    return None


def _passed(lines: list[str]) -> bool:
    return any(line.strip() == "TEST PASS" for line in lines)


def performance_verdict_findings(test: str, scenario: Scenario, verify_file: Path, perf: LoadGenLog,
                                 measured: LoadGenLog, rel) -> list[Finding]:
    """verify_performance.txt's scores and verdict against the logs in the tree."""
    lines = verify_file.read_text(errors="replace").splitlines()
    where = rel(verify_file)
    if not lines or HEADER_MARK not in lines[0]:
        return [Finding(where, "not written by harness: its scores were not recomputed", "—", kind=NOTE)]
    findings = []
    for name, log, whose in (("reference score", perf, "performance/run_1"),
                             ("test score", measured, f"{test}/performance/run_1")):
        recorded, actual = _recorded(lines, name), score(log, scenario).value
        if actual is not None and (recorded is None or not math.isclose(recorded, actual, rel_tol=1e-9)):
            findings.append(Finding(where, f"{name} = {recorded}, but {whose}/{DETAIL} has "
                                           f"{SCORE_KEYS[scenario]} = {actual}", EDITED, kind=INCONSISTENT))
    reason = compare_scores(test, scenario, perf, measured, quick=False).official
    if reason and _passed(lines):
        findings.append(Finding(where, f"says TEST PASS, but the logs in the tree give: {reason}", EDITED,
                                kind=INCONSISTENT))
    return findings


def test01_accuracy_findings(verify_file: Path, test01_log: Path, digest: str | None, logs: LogsAtHand,
                             rel) -> list[Finding]:
    """verify_accuracy.txt's response counts, recomputed where the accuracy run's full log is at hand."""
    lines = verify_file.read_text(errors="replace").splitlines()
    where = rel(verify_file)
    if not lines or HEADER_MARK not in lines[0] or not test01_log.is_file():
        return []
    full = logs.by_hash(digest) if digest else None
    if full is None:
        return []
    try:
        c = compare_responses(read_accuracy_log(full), read_accuracy_log(test01_log))
    except AuditError as exc:
        return [Finding(rel(test01_log), str(exc), "repackage from the run directories")]
    findings = []
    for name, actual in (("num_perf_log_entries", c.test_entries), ("num_perf_log_qsl_idx_match", c.matched),
                         ("num_perf_log_data_mismatch", c.mismatched)):
        recorded = _recorded(lines, name)
        if recorded != actual:
            findings.append(Finding(where, f"{name} = {recorded}, but {rel(test01_log)} against the full "
                                           f"accuracy log {full} gives {actual}", EDITED, kind=INCONSISTENT))
    fallback = any(line.startswith("fallback:") for line in lines)
    if _passed(lines) and not c.identical and not fallback:
        findings.append(Finding(where, f"says TEST PASS, but {c.mismatched} of {c.matched} responses differ from "
                                       "the accuracy run's", EDITED, kind=INCONSISTENT))
    return findings

