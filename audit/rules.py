"""MLPerf Inference rules for resnet50 Offline and SingleStream, as the submission checker applies them.

Thresholds are the rules' numbers; the RNG seeds are whatever the mlperf.conf compiled
into the installed LoadGen says, read in a child process because LoadGen loads
mlperf.conf only on the first FromConfig call of a process.

A --quick run breaks the length rules by design (duration, sample and query counts)
and leaves the system fields only a person can fill: quick checks waive exactly
those findings (`quick_waives`), and say so.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from dataclasses import dataclass

from audit.errors import AuditError
from harness.results.logs import SEED_KEYS, LoadGenLog
from harness.terms import MIN_DURATION_S, MODEL_KEY, OFFLINE_MIN_SAMPLES_PER_QUERY, PERFORMANCE_SAMPLE_COUNT, Scenario

MIN_DURATION_MS = int(MIN_DURATION_S * 1000)
MAX_ACCURACY_LOG_BYTES = 10 * 1024  # a truncated mlperf_log_accuracy.json is below this


@dataclass(frozen=True)
class Finding:
    where: str  # the file, relative to the tree or run directory
    problem: str
    fix: str
    quick_waives: bool = False  # a length rule, or a field only a person can fill

    def line(self) -> str:
        return f"{self.where}: {self.problem}; {self.fix}"


_PROBE = """
import json, sys, tempfile
import mlperf_loadgen as lg
from importlib import metadata
s = lg.TestSettings()
with tempfile.NamedTemporaryFile("w", suffix=".conf") as empty:
    rc = s.FromConfig(empty.name, sys.argv[1], sys.argv[2], 1)
print(json.dumps({"rc": rc, "loadgen": metadata.version("mlcommons-loadgen"),
                  **{k: getattr(s, k) for k in sys.argv[3:]}}))
"""


@functools.cache
def mlperf_conf_seeds() -> dict:
    """The seeds (and LoadGen version) of the installed LoadGen's mlperf.conf."""
    done = subprocess.run([sys.executable, "-c", _PROBE, MODEL_KEY, Scenario.OFFLINE, *SEED_KEYS],
                          capture_output=True, text=True)
    try:
        values = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise AuditError(f"could not read mlperf.conf from LoadGen ({done.stderr.strip()[-200:]}); "
                         "check that mlcommons-loadgen imports") from None
    if values.pop("rc") != 0:
        raise AuditError("LoadGen rejected its own mlperf.conf; reinstall mlcommons-loadgen")
    return values


def validity_findings(log: LoadGenLog, where: str) -> list[Finding]:
    """Why LoadGen called a run INVALID; duration and query-count shortfalls are length rules."""
    if log.valid:
        return []
    findings = []
    if log.get("result_min_duration_met") is False:
        findings.append(Finding(where, "LoadGen result INVALID: minimum duration not met",
                                "raise target_qps / lower target_latency so the run lasts the minimum duration",
                                quick_waives=True))
    if log.get("result_min_queries_met") is False:
        findings.append(Finding(where, "LoadGen result INVALID: minimum query count not met",
                                "let the run issue mlperf.conf's minimum number of queries", quick_waives=True))
    if log.get("early_stopping_met") is False:
        findings.append(Finding(where, "LoadGen result INVALID: early stopping not met",
                                "run longer (at least 64 queries) so early stopping can bound the percentile"))
    if not findings:
        findings.append(Finding(where, f"LoadGen result {log.get('result_validity')!r}",
                                "see mlperf_log_summary.txt for why, and rerun"))
    return findings


def performance_findings(log: LoadGenLog, scenario: str, where: str) -> list[Finding]:
    """The checker's rules for one performance-mode log (the submission run, TEST01, TEST04)."""
    findings = [Finding(where, f"LoadGen error: {e}", "fix its cause and rerun") for e in log.errors]
    if log.get("effective_scenario") != scenario:
        findings.append(Finding(where, f"scenario {log.get('effective_scenario')!r} in a {scenario} directory",
                                f"put the run under {scenario}/ or rerun as {scenario}"))
    expected = mlperf_conf_seeds()
    for key in SEED_KEYS:
        if log.get(f"effective_{key}") != expected[key]:
            findings.append(Finding(where, f"{key} = {log.get(f'effective_{key}')}, mlperf.conf (LoadGen "
                                           f"{expected['loadgen']}) has {expected[key]}",
                                    "do not set seeds in user.conf; load it with FromConfig so mlperf.conf applies"))
    findings += validity_findings(log, where)
    count = log.get("effective_performance_sample_count") or 0
    if count < PERFORMANCE_SAMPLE_COUNT:
        findings.append(Finding(where, f"performance_sample_count {count} < {PERFORMANCE_SAMPLE_COUNT}",
                                "use a dataset of at least 1024 images and no performance_sample_count_override",
                                quick_waives=True))
    duration = log.get("effective_min_duration_ms") or 0
    if duration < MIN_DURATION_MS:
        findings.append(Finding(where, f"min_duration {duration} ms < {MIN_DURATION_MS} ms",
                                "run without --quick and without a --duration below 600", quick_waives=True))
    if scenario == Scenario.OFFLINE:
        per_query = log.get("effective_samples_per_query") or 0
        if per_query < OFFLINE_MIN_SAMPLES_PER_QUERY:
            findings.append(Finding(where, f"samples per query {per_query} < {OFFLINE_MIN_SAMPLES_PER_QUERY}",
                                    "run without --quick so mlperf.conf's min_query_count applies",
                                    quick_waives=True))
    # SingleStream's early-stopping rule: LoadGen makes such a run INVALID, reported above.
    return findings
