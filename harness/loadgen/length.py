"""How long a LoadGen test will take, said before it starts.

A formal run lasts MLPerf's 600 s at least, and more where the minimum query count takes
longer: someone who typed `harness` to try it out must learn that before the wait, with
the way to make it short.
"""

from __future__ import annotations

from dataclasses import replace

from harness.loadgen.settings import (
    OFFLINE_MARGIN,
    OFFLINE_SLACK,
    QUICK_MIN_QUERIES,
    LoadGenSettings,
    mlperf_conf,
)
from harness.terms import Scenario

LONG_S = 60.0  # a test this long says how to make it short


def expected_length_s(s: LoadGenSettings, target: float, calibrated: bool) -> float:
    """Seconds the timed test should take. `target` is what LoadGen was given: samples/s, or a
    query's latency in ms; `calibrated` when the harness measured it (an Offline target then
    holds OFFLINE_MARGIN over the measured rate)."""
    queries = QUICK_MIN_QUERIES[s.scenario] if s.short else mlperf_conf(s.scenario)["min_query_count"]
    if s.scenario.latency_bound:  # one query at a time, each about the expected latency
        return max(s.duration_s, queries * target / 1000)
    if s.scenario is Scenario.OFFLINE:
        rate = target / OFFLINE_MARGIN if calibrated else target
        return max(queries, OFFLINE_SLACK * s.min_duration_s(calibrated) * target) / rate
    return max(s.duration_s, queries / target)  # queries arrive at the expected rate


def length_line(s: LoadGenSettings, target: float, calibrated: bool) -> str:
    """One line: the test's expected length and, when it is long, how to make it short."""
    seconds = expected_length_s(s, target, calibrated)
    expected = f"{target:.3g} ms per query" if s.scenario.latency_bound else f"{target:,.1f} samples/s"
    line = f"  LoadGen test: {_length(seconds)} at the {'calibrated' if calibrated else 'given'} {expected}"
    if seconds >= LONG_S and not s.quick:
        short = expected_length_s(replace(s, quick=True, duration=None), target, calibrated)
        line += f"; --quick makes it {_length(short)}, --duration SECONDS about that long (neither compliant)"
    return line


def _length(seconds: float) -> str:
    if seconds < 1:
        return "under a second"
    return f"about {seconds:.0f} s" if seconds < 90 else f"about {seconds / 60:.0f} min"
