"""Render the user.conf LoadGen is given, and load it the one allowed way.

The seeds, sample counts and durations of a formal run come from the mlperf.conf
compiled into LoadGen; user.conf adds only what this system needs (its expected
rate) and, for --quick or --duration runs, the shortened limits that make a run
non-compliant.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import mlperf_loadgen as lg

from harness.errors import RunFailed
from harness.results.logs import SEED_KEYS
from harness.terms import MIN_DURATION_S, MODEL_KEY, PERFORMANCE_SAMPLE_COUNT, Scenario

QUICK_DURATION_S = 5.0
OFFLINE_SLACK = 1.1  # LoadGen sizes the Offline query for min_duration at the expected rate, plus 10 %
# A short calibration on a shared machine can underestimate the rate, and an Offline query
# sized too small ends before the minimum duration: INVALID. Oversizing only lengthens it.
OFFLINE_MARGIN = 1.25  # a calibrated Offline target is this much over the measured rate
# The fewest queries that can give a VALID verdict: one Offline query; early stopping needs 64
# queries at p90 (SingleStream) and 662 at p99 (MultiStream; Server with one query over the bound).
QUICK_MIN_QUERIES = {Scenario.OFFLINE: 1, Scenario.SINGLE_STREAM: 64, Scenario.MULTI_STREAM: 662,
                     Scenario.SERVER: 662}


@dataclass(frozen=True)
class LoadGenSettings:
    scenario: Scenario
    quick: bool
    duration: float | None  # seconds; None: mlperf.conf's (or QUICK_DURATION_S when quick)
    dataset_size: int
    latency_bound_ms: float | None = None  # Server: mlperf.conf's target latency
    samples_per_query: int = 1  # MultiStream: mlperf.conf's samples per query

    @property
    def performance_sample_count(self) -> int:
        return min(PERFORMANCE_SAMPLE_COUNT, self.dataset_size)

    @property
    def duration_s(self) -> float:
        """How long the run was asked to last: --duration, else --quick's, else mlperf.conf's."""
        if self.duration is not None:
            return self.duration
        return QUICK_DURATION_S if self.quick else MIN_DURATION_S

    @property
    def short(self) -> bool:
        """--quick, or a --duration under 600 s: not compliant, and the quick query counts apply."""
        return self.quick or self.duration_s < MIN_DURATION_S

    def min_duration_s(self, calibrated: bool) -> float:
        """LoadGen's min_duration; `calibrated` when the target holds OFFLINE_MARGIN over the rate.

        A short Offline run's one query holds `duration_s` of work at the measured rate:
        LoadGen sizes it as OFFLINE_SLACK x target x min_duration, and a calibrated target holds
        OFFLINE_MARGIN, so min_duration is the duration divided by both. Left at the duration,
        the test lasted 1.375 x as long (82 s of a 60 s run, measured). The run still ends VALID
        unless the engines run OFFLINE_SLACK x OFFLINE_MARGIN faster than calibrated, as before.
        """
        if not (self.short and self.scenario is Scenario.OFFLINE):
            return self.duration_s
        return self.duration_s / (OFFLINE_SLACK * (OFFLINE_MARGIN if calibrated else 1.0))


def render_user_conf(s: LoadGenSettings, expected: float, calibrated: bool) -> str:
    """`expected` is samples/s (Offline, Server) or a query's latency in ms (SingleStream,
    MultiStream); `calibrated` when the harness measured it (OFFLINE_MARGIN over the rate)."""
    prefix = f"{MODEL_KEY}.{s.scenario}"
    lines = [f"# written by harness; loaded with TestSettings.FromConfig('{MODEL_KEY}', '{s.scenario}')"]
    if s.scenario.latency_bound:
        lines.append(f"{prefix}.target_latency = {expected:.4f}")
    else:
        lines.append(f"{prefix}.target_qps = {expected:.4f}")
    if s.performance_sample_count != PERFORMANCE_SAMPLE_COUNT:
        lines.append(f"{prefix}.performance_sample_count_override = {s.performance_sample_count}")
    if s.quick or s.duration is not None:  # else mlperf.conf's, as a formal run must have it
        lines.append(f"{prefix}.min_duration = {int(s.min_duration_s(calibrated) * 1000)}")
    if s.short:
        # A run asked to last D seconds lasts about D: mlperf.conf's query count (24,576
        # samples Offline) would hold it far longer. Like --quick, it is not compliant.
        lines.append(f"{prefix}.min_query_count = {QUICK_MIN_QUERIES[s.scenario]}")
    return "\n".join(lines) + "\n"


def load_test_settings(user_conf: Path, scenario: Scenario, mode: str) -> lg.TestSettings:
    """FromConfig once (a second call in one process logs an error the checker rejects)."""
    settings = lg.TestSettings()
    rc = settings.FromConfig(str(user_conf), MODEL_KEY, scenario, 1)
    if rc != 0:
        raise RunFailed(f"LoadGen rejected {user_conf} (FromConfig returned {rc}); "
                        "see mlperf_log_detail.txt for the offending line")
    settings.scenario = getattr(lg.TestScenario, scenario)
    settings.mode = lg.TestMode.AccuracyOnly if mode == "accuracy" else lg.TestMode.PerformanceOnly
    return settings


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
MLPERF_CONF_KEYS = ("multi_stream_samples_per_query", "server_target_latency_ns", "min_query_count",
                    "min_duration_ms", *SEED_KEYS)


@functools.cache
def mlperf_conf(scenario: Scenario) -> dict:
    """What the installed LoadGen's mlperf.conf sets for resnet50 in `scenario` (MLPERF_CONF_KEYS),
    and the LoadGen version ("loadgen").

    Read in a separate process: FromConfig loads mlperf.conf on its first call in a process only.
    """
    done = subprocess.run([sys.executable, "-c", _PROBE, MODEL_KEY, str(scenario), *MLPERF_CONF_KEYS],
                          capture_output=True, text=True)
    try:
        values = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise RunFailed(f"could not read mlperf.conf from LoadGen ({done.stderr.strip()[-200:]}); "
                        "check that mlcommons-loadgen imports") from None
    if values.pop("rc") != 0:
        raise RunFailed("LoadGen rejected its own mlperf.conf; reinstall mlcommons-loadgen")
    return values
