"""Compliance verdicts at MLPerf's limits: a score just inside each limit passes, just outside fails.

The limits are written out here as the rules state them, not imported, so a changed
threshold in audit.verify fails this file. TEST01: performance with accuracy logging within
10 % of the audited run's (20 % for SingleStream latencies of at most 200 µs). TEST04: the
same-sample run at most 1.10x as fast (Offline) or 1.20x (SingleStream). Quick runs: a
factor of 4 either way.
"""

import pytest

from audit.verify import compare_scores
from harness.results.logs import LoadGenLog
from harness.terms import Scenario

OFFLINE, SINGLE_STREAM = Scenario.OFFLINE, Scenario.SINGLE_STREAM


def log_with_score(scenario: Scenario, value: float) -> LoadGenLog:
    """A detail log holding only the score the verifiers compare."""
    key = "result_samples_per_second" if scenario is OFFLINE else "early_stopping_latency_ss"
    return LoadGenLog({key: value}, (), ())


def verdict(test: str, scenario: Scenario, reference: float, measured: float, quick: bool = False) -> str:
    """The reason the comparison fails, "" when it passes."""
    _, reason = compare_scores(test, scenario, log_with_score(scenario, reference),
                               log_with_score(scenario, measured), quick)
    return reason


CASES = [
    # test, scenario, audited run's score, compliance run's score, passes
    ("TEST01", OFFLINE, 1000.0, 1099.0, True),  # samples/s: ratio 1.099
    ("TEST01", OFFLINE, 1000.0, 1101.0, False),
    ("TEST01", OFFLINE, 1000.0, 901.0, True),
    ("TEST01", OFFLINE, 1000.0, 899.0, False),
    ("TEST01", SINGLE_STREAM, 1_000_000, 1_099_000, True),  # early-stopping p90 in ns
    ("TEST01", SINGLE_STREAM, 1_000_000, 1_101_000, False),
    ("TEST01", SINGLE_STREAM, 1_000_000, 901_000, True),
    ("TEST01", SINGLE_STREAM, 1_000_000, 899_000, False),
    # At most 200 µs the allowance is 20 %; above it, 10 % again.
    ("TEST01", SINGLE_STREAM, 200_000, 239_000, True),
    ("TEST01", SINGLE_STREAM, 200_000, 241_000, False),
    ("TEST01", SINGLE_STREAM, 200_000, 161_000, True),
    ("TEST01", SINGLE_STREAM, 200_000, 159_000, False),
    ("TEST01", SINGLE_STREAM, 200_001, 230_000, False),
    ("TEST01", SINGLE_STREAM, 200_001, 219_000, True),
    # TEST04: only a faster same-sample run fails (a cache); a slower one is no fault.
    ("TEST04", OFFLINE, 1000.0, 1099.0, True),
    ("TEST04", OFFLINE, 1000.0, 1101.0, False),
    ("TEST04", OFFLINE, 1000.0, 500.0, True),
    ("TEST04", SINGLE_STREAM, 1_210_000, 1_010_000, True),  # 1.198x as fast
    ("TEST04", SINGLE_STREAM, 1_210_000, 1_000_000, False),  # 1.21x
    ("TEST04", SINGLE_STREAM, 1_210_000, 2_000_000, True),
]


@pytest.mark.parametrize("test, scenario, reference, measured, passes", CASES)
def test_compliance_limits(test, scenario, reference, measured, passes):
    assert (verdict(test, scenario, reference, measured) == "") is passes


def test_the_reasons_name_the_ratio():
    assert verdict("TEST01", OFFLINE, 1000.0, 1200.0) == "the TEST01 run's score is 1.20x the performance run's"
    assert verdict("TEST04", OFFLINE, 1000.0, 1500.0) == (
        "the same-sample run is 1.50x as fast as the performance run, as when a SUT caches results")
    assert verdict("TEST04", SINGLE_STREAM, 1_000_000, 0) == "a score is missing from mlperf_log_detail.txt"


QUICK_CASES = [
    ("TEST01", OFFLINE, 1000.0, 3990.0, True),
    ("TEST01", OFFLINE, 1000.0, 4010.0, False),
    ("TEST01", OFFLINE, 1000.0, 251.0, True),
    ("TEST01", OFFLINE, 1000.0, 249.0, False),
    ("TEST01", SINGLE_STREAM, 1_000_000, 3_990_000, True),
    ("TEST01", SINGLE_STREAM, 1_000_000, 4_010_000, False),
    ("TEST04", OFFLINE, 1000.0, 3990.0, True),
    ("TEST04", OFFLINE, 1000.0, 4010.0, False),
    ("TEST04", SINGLE_STREAM, 1_000_000, 251_000, True),
    ("TEST04", SINGLE_STREAM, 1_000_000, 249_000, False),
]


@pytest.mark.parametrize("test, scenario, reference, measured, passes", QUICK_CASES)
def test_quick_runs_allow_a_factor_of_4_and_say_so(test, scenario, reference, measured, passes):
    assert (verdict(test, scenario, reference, measured, quick=True) == "") is passes
    lines, _ = compare_scores(test, scenario, log_with_score(scenario, reference), log_with_score(scenario, measured),
                              quick=True)
    assert any("relaxed to a factor of 4" in line for line in lines)
