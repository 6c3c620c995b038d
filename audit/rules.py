"""MLPerf Inference rules for resnet50, round v6.1, as the official submission checker applies them.

The official checker is mlcommons/inference tools/submission (`python -m
submission_checker.main --input TREE --version v6.1`). Each rule here names the
official message it mirrors, so a tree the official checker rejects is rejected here
for the same reason. The round comes from the installed LoadGen: its mlperf.conf seeds
are one round's seeds (harness.terms.ROUND_SEEDS), read in a child process because
LoadGen loads mlperf.conf only on the first FromConfig call of a process.

A finding is one of:
  error         a rule the official checker applies: the check fails
  inconsistent  a figure that disagrees with another record of it (summary against detail
                log, accuracy.txt against its log, a verdict against its logs): the check
                fails, though the official checker does not look
  stricter      a rule the official checker does not apply (or not in that division):
                reported as a warning that says so, the check does not fail
  note          information, e.g. what could not be cross-checked
A --quick run breaks the length rules by design (duration, sample and query counts);
quick checks waive exactly those findings (`quick_waives`), and say so.
"""

from __future__ import annotations

from dataclasses import dataclass

from audit.errors import AuditError
from harness.loadgen.settings import mlperf_conf
from harness.results.logs import SEED_KEYS, LoadGenLog
from harness.terms import (
    MIN_DURATION_S,
    MODEL_KEY,
    OFFLINE_MIN_SAMPLES_PER_QUERY,
    PERFORMANCE_SAMPLE_COUNT,
    ROUND_SEEDS,
    Scenario,
)

ROUND = "v6.1"  # the round whose rules this module states
MIN_DURATION_MS = int(MIN_DURATION_S * 1000)
MAX_ACCURACY_LOG_BYTES = 10 * 1024  # a truncated mlperf_log_accuracy.json is below this
SERVER_TARGET_LATENCY_NS = 15_000_000
# The number the official checker reports for each scenario (its RESULT_FIELD_NEW).
SCORE_KEYS = {Scenario.OFFLINE: "result_samples_per_second",
              Scenario.SINGLE_STREAM: "early_stopping_latency_ss",
              Scenario.MULTI_STREAM: "early_stopping_latency_ms",
              Scenario.SERVER: "result_completed_samples_per_sec"}
# Required scenarios of resnet in the closed division, by the system JSON's system_type.
# A datacenter-only system has none: resnet is no datacenter benchmark in v6.1.
REQUIRED_SCENARIOS = {
    "edge": (Scenario.SINGLE_STREAM, Scenario.MULTI_STREAM, Scenario.OFFLINE),
    "datacenter,edge": (Scenario.SINGLE_STREAM, Scenario.MULTI_STREAM, Scenario.OFFLINE, Scenario.SERVER),
    "edge,datacenter": (Scenario.SINGLE_STREAM, Scenario.MULTI_STREAM, Scenario.OFFLINE, Scenario.SERVER),
}
SYSTEM_TYPES = ("datacenter", "edge", "datacenter,edge", "edge,datacenter")
# (logged scenario, directory scenario) pairs an edge system may infer a result for.
INFERABLE = {(Scenario.SINGLE_STREAM, Scenario.MULTI_STREAM), (Scenario.MULTI_STREAM, Scenario.OFFLINE),
             (Scenario.SINGLE_STREAM, Scenario.OFFLINE)}

ERROR, INCONSISTENT, STRICTER, NOTE = "error", "inconsistent", "stricter", "note"
FAILING = (ERROR, INCONSISTENT)


@dataclass(frozen=True)
class Finding:
    where: str  # the file, relative to the tree or run directory
    problem: str
    fix: str
    quick_waives: bool = False  # a length rule, or a field only a person can fill
    kind: str = ERROR

    @property
    def fails(self) -> bool:
        return self.kind in FAILING

    def line(self) -> str:
        return f"{self.where}: {self.problem}; {self.fix}"


def benchmark_is_resnet(name: str) -> bool:
    """The benchmark directory names the official checker maps to resnet."""
    name = name.lower()
    return name == "resnet" or any(n in name for n in (MODEL_KEY, "mobilenet", "efficientnet"))


# ---------------------------------------------------------------- the round

def mlperf_conf_seeds() -> dict:
    """The seeds (and LoadGen version) of the installed LoadGen's mlperf.conf."""
    conf = mlperf_conf(Scenario.OFFLINE)
    return {key: conf[key] for key in ("loadgen", *SEED_KEYS)}


def round_of(seeds: dict) -> str | None:
    """The round whose mlperf.conf has these seeds ({qsl_rng_seed: ..., ...}), or None."""
    found = tuple(seeds.get(k) for k in SEED_KEYS)
    return next((name for name, values in ROUND_SEEDS.items() if values == found), None)


def loadgen_round() -> str:
    """The round of the installed LoadGen, which must be the round whose rules this audit knows."""
    seeds = mlperf_conf_seeds()
    found = round_of(seeds)
    if found is None:
        raise AuditError(f"the installed LoadGen {seeds['loadgen']}'s mlperf.conf seeds "
                         f"({', '.join(str(seeds[k]) for k in SEED_KEYS)}) are no known round's; "
                         "install mlcommons-loadgen 6.0.x (round v6.1)")
    if found != ROUND:
        raise AuditError(f"the installed LoadGen {seeds['loadgen']} carries the {found} seeds, but this audit "
                         f"checks round {ROUND}; install mlcommons-loadgen 6.0.x (round {ROUND})")
    return found


def require_round(asked: str | None) -> str:
    """The round to package for: the installed LoadGen's. Another round is an error."""
    installed = loadgen_round()
    if asked not in (None, installed):
        version = mlperf_conf_seeds()["loadgen"]
        raise AuditError(f"--round {asked}: the installed LoadGen {version}'s mlperf.conf carries the "
                         f"{installed} seeds, so its runs are {installed} runs; package them for {installed} "
                         f"(drop --round), or install the LoadGen of {asked} and rerun")
    return installed


# ---------------------------------------------------------------- performance-mode logs

def validity_findings(log: LoadGenLog, where: str, kind: str = STRICTER) -> list[Finding]:
    """Why LoadGen called a run INVALID; duration and query-count shortfalls are length rules."""
    if log.valid:
        return []
    findings = []
    if log.get("result_min_duration_met") is False:
        findings.append(Finding(where, "LoadGen result INVALID: minimum duration not met",
                                "raise target_qps / lower target_latency so the run lasts the minimum duration",
                                quick_waives=True, kind=kind))
    if log.get("result_min_queries_met") is False:
        findings.append(Finding(where, "LoadGen result INVALID: minimum query count not met",
                                "let the run issue mlperf.conf's minimum number of queries", quick_waives=True,
                                kind=kind))
    if log.get("early_stopping_met") is False:
        findings.append(Finding(where, "LoadGen result INVALID: early stopping not met",
                                "run longer so early stopping can bound the percentile", kind=kind))
    if not findings:
        findings.append(Finding(where, f"LoadGen result {log.get('result_validity')!r}",
                                "see mlperf_log_summary.txt for why, and rerun", kind=kind))
    return findings


def _scenario(value) -> Scenario | None:
    try:
        return Scenario(value)
    except ValueError:
        return None


def performance_findings(log: LoadGenLog, directory: Scenario, where: str, division: str,
                         system_type: str | None) -> list[Finding]:
    """The official PerformanceCheck on one performance-mode log (the submission run, TEST01, TEST04)."""
    findings = []
    logged = _scenario(log.get("effective_scenario"))
    if logged is None:
        return [Finding(where, f"effective_scenario {log.get('effective_scenario')!r} is no LoadGen scenario",
                        "package a LoadGen log of this scenario")]
    if logged != directory:
        if (logged, directory) not in INFERABLE:
            findings.append(Finding(where, f"result for scenario {directory} can not be inferred from {logged}",
                                    f"put the {logged} run under {logged}/, or run {directory}"))
        elif "edge" not in (system_type or ""):
            findings.append(Finding(where, f"result can not be inferred for system type {system_type!r}: "
                                           f"{logged} log in the {directory} directory",
                                    f"run {directory}, or describe an edge system"))
        else:
            findings.append(Finding(where, f"a {logged} log in the {directory} directory (an inferred result)",
                                    f"run {directory}: harness packages measured results only", kind=STRICTER))
    expected = dict(zip(SEED_KEYS, ROUND_SEEDS[ROUND], strict=True))
    for key in SEED_KEYS:
        if log.get(f"effective_{key}") != expected[key]:
            findings.append(Finding(where, f"{key} is wrong: {log.get(f'effective_{key}')}, round {ROUND} "
                                           f"requires {expected[key]}",
                                    "do not set seeds in user.conf; load it with FromConfig so mlperf.conf applies"))
    duration = log.get("effective_min_duration_ms") or 0
    if duration < MIN_DURATION_MS:
        findings.append(Finding(where, f"test duration less than 600 s in user config: min_duration {duration} ms "
                                       f"< {MIN_DURATION_MS} ms",
                                "run without --quick and without a --duration below 600", quick_waives=True))
    count = log.get("effective_performance_sample_count") or 0
    if count < PERFORMANCE_SAMPLE_COUNT:
        findings.append(Finding(where, f"performance_sample_count {count} < {PERFORMANCE_SAMPLE_COUNT}",
                                "use a dataset of at least 1024 images and no performance_sample_count_override",
                                quick_waives=True))
    if logged is Scenario.OFFLINE:
        if (log.get("effective_min_query_count") or 0) < 1:
            findings.append(Finding(where, f"min_query_count {log.get('effective_min_query_count')} < 1",
                                    "do not set min_query_count in user.conf"))
        per_query = log.get("effective_samples_per_query") or 0
        if per_query < OFFLINE_MIN_SAMPLES_PER_QUERY:
            findings.append(Finding(where, f"samples per query {per_query} < {OFFLINE_MIN_SAMPLES_PER_QUERY}",
                                    "run without --quick so mlperf.conf's min_query_count applies",
                                    quick_waives=True, kind=ERROR if division == "closed" else STRICTER))
    else:
        if log.get("early_stopping_met") is not True:
            findings.append(Finding(where, f"early stopping condition was not met "
                                           f"({(log.get('early_stopping_result') or '').strip() or 'no result'})",
                                    "run longer so early stopping can bound the percentile"))
        if logged is Scenario.SERVER:
            target = log.get("effective_target_latency_ns") or 0
            if target > SERVER_TARGET_LATENCY_NS:
                findings.append(Finding(where, f"latency constraint not met: target latency {target} ns > "
                                               f"{SERVER_TARGET_LATENCY_NS} ns",
                                        "do not raise target_latency in user.conf"))
    if log.get(SCORE_KEYS[logged]) is None:
        findings.append(Finding(where, f"no {SCORE_KEYS[logged]}, the {logged} result",
                                "package the complete log of a finished run"))
    findings += [Finding(where, f"LoadGen error: {e}", "fix its cause and rerun", kind=STRICTER) for e in log.errors]
    findings += [f for f in validity_findings(log, where) if not (f.problem.endswith("early stopping not met")
                                                                 and logged is not Scenario.OFFLINE)]
    return findings
