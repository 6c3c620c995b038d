"""Render the user.conf LoadGen is given, and load it the one allowed way.

The seeds, sample counts and durations of a formal run come from the mlperf.conf
compiled into LoadGen; user.conf adds only what this system needs (its expected
rate) and, for --quick or --duration runs, the shortened limits that make a run
non-compliant.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mlperf_loadgen as lg

from harness.errors import RunFailed
from harness.terms import MODEL_KEY, PERFORMANCE_SAMPLE_COUNT, Scenario

QUICK_DURATION_S = 5.0
# The fewest queries that give a verdict: one Offline query; 64 for SingleStream's early stopping.
QUICK_MIN_QUERIES = {Scenario.OFFLINE: 1, Scenario.SINGLE_STREAM: 64}


@dataclass(frozen=True)
class LoadGenSettings:
    scenario: Scenario
    quick: bool
    duration: float | None  # seconds; None: mlperf.conf's (or QUICK_DURATION_S when quick)
    dataset_size: int

    @property
    def performance_sample_count(self) -> int:
        return min(PERFORMANCE_SAMPLE_COUNT, self.dataset_size)


def render_user_conf(s: LoadGenSettings, expected: float) -> str:
    """`expected` is samples/s (Offline) or the latency in ms (SingleStream)."""
    prefix = f"{MODEL_KEY}.{s.scenario}"
    lines = [f"# written by harness; loaded with TestSettings.FromConfig('{MODEL_KEY}', '{s.scenario}')"]
    if s.scenario.latency_bound:
        lines.append(f"{prefix}.target_latency = {expected:.4f}")
    else:
        lines.append(f"{prefix}.target_qps = {expected:.4f}")
    if s.performance_sample_count != PERFORMANCE_SAMPLE_COUNT:
        lines.append(f"{prefix}.performance_sample_count_override = {s.performance_sample_count}")
    duration = QUICK_DURATION_S if s.quick and s.duration is None else s.duration
    if duration is not None:
        lines.append(f"{prefix}.min_duration = {int(duration * 1000)}")
    if s.quick:
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
