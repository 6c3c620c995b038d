"""harness.results.stats against distributions with known answers, and against LoadGen itself."""

import json
import math
import random
import re
import threading
import time

import mlperf_loadgen as lg
import numpy as np
import pytest
from scipy import stats as sps

from harness.results import comparison, stats, throughput


def ns(values) -> np.ndarray:
    return np.asarray(values, dtype=np.int64)


def shuffled(values, seed=0) -> np.ndarray:
    array = ns(values)
    np.random.default_rng(seed).shuffle(array)
    return array


def assert_plain_json(obj: dict) -> None:
    # allow_nan=False: stats.json must be strict JSON that any reader accepts.
    assert json.loads(json.dumps(obj, allow_nan=False)) == obj


# --- LoadGen percentile --------------------------------------------------------------


def test_loadgen_percentile_of_uniform_integers():
    latencies = shuffled(range(1, 1001))
    # sorted[floor(1000 * p)] of 1..1000 is floor(1000 * p) + 1.
    assert stats.loadgen_percentile(latencies, 0.50) == 501
    assert stats.loadgen_percentile(latencies, 0.90) == 901
    assert stats.loadgen_percentile(latencies, 0.999) == 1000
    assert stats.loadgen_percentile(latencies, 0.0) == 1


def test_loadgen_percentile_truncates_the_double_product_like_cpp():
    # 100 * 0.29 is 28.999999999999996 in double precision; LoadGen's size_t conversion
    # truncates it to 28, where rounding would give 29.
    assert stats.loadgen_percentile(ns(range(100)), 0.29) == 28
    # n = 10: p50..p99.9 land on indices 5, 9, 9, 9, 9, 9 (no interpolation).
    latencies = ns(range(10, 110, 10))
    assert [stats.loadgen_percentile(latencies, p) for p in stats.LOADGEN_PERCENTILES] == [60, 100, 100, 100, 100, 100]


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5])
def test_loadgen_percentile_rejects_percentiles_outside_loadgen_range(p):
    with pytest.raises(ValueError, match="percentile"):
        stats.loadgen_percentile(ns([1, 2, 3]), p)


def test_latency_inputs_are_validated():
    with pytest.raises(ValueError, match="at least 1"):
        stats.latency_stats(ns([]))
    with pytest.raises(ValueError, match="integer nanoseconds"):
        stats.latency_stats(np.array([1.5, 2.5]))
    with pytest.raises(ValueError, match="negative"):
        stats.latency_stats(ns([5, -1]))
    with pytest.raises(ValueError, match="1-D"):
        stats.latency_stats(ns([[1, 2], [3, 4]]))


# --- latency_stats ---------------------------------------------------------------------


def test_latency_stats_of_uniform_integers():
    result = stats.latency_stats(shuffled(range(1, 1001)))
    assert result.count == 1000
    assert result.min_ns == 1 and result.max_ns == 1000
    assert result.mean_ns == pytest.approx(500.5)
    # Variance of the discrete uniform 1..N with ddof=1 is N(N+1)/12.
    assert result.std_ns == pytest.approx(math.sqrt(1000 * 1001 / 12))
    assert [e.value_ns for e in result.percentiles] == [501, 901, 951, 971, 991, 1000]
    for estimate in result.percentiles[:-1]:
        assert estimate.ci_low_ns <= estimate.value_ns <= estimate.ci_high_ns
        assert estimate.ci_coverage >= 0.95
    low, high = result.mean_ci_ns
    assert low < 500.5 < high
    # 0.999^1000 = 0.37: a thousand latencies cannot bound p99.9 from above.
    assert result.percentile(0.999).ci_high_ns is None
    assert len(result.notes) == 1 and result.notes[0].startswith("p99.9: the 95 % interval has no upper bound")
    assert_plain_json(result.to_json())


def test_median_interval_matches_the_textbook_ranks():
    # Classic table value: for n = 100 the distribution-free 95 % interval of the median
    # runs from the 40th to the 61st order statistic, with coverage 0.9648.
    median = stats.latency_stats(shuffled(range(1, 101))).percentile(0.5)
    assert (median.ci_low_ns, median.ci_high_ns) == (40, 61)
    assert median.ci_coverage == pytest.approx(0.9648, abs=1e-4)


def test_percentile_intervals_cover_the_true_exponential_quantile():
    scale_ns = 1e6
    true_p90, true_p50 = scale_ns * math.log(10), scale_ns * math.log(2)
    rng = np.random.default_rng(1)
    covered_p90 = covered_p50 = 0
    repetitions = 200
    for _ in range(repetitions):
        result = stats.latency_stats(ns(rng.exponential(scale_ns, 300)))
        p90, p50 = result.percentile(0.9), result.percentile(0.5)
        covered_p90 += p90.ci_low_ns <= true_p90 <= p90.ci_high_ns
        covered_p50 += p50.ci_low_ns <= true_p50 <= p50.ci_high_ns
    assert covered_p90 >= 0.93 * repetitions
    assert covered_p50 >= 0.93 * repetitions


def test_mean_interval_covers_the_true_normal_mean():
    rng = np.random.default_rng(2)
    repetitions = 100
    covered = 0
    for _ in range(repetitions):
        low, high = stats.latency_stats(ns(rng.normal(5e6, 5e5, 200))).mean_ci_ns
        covered += low <= 5e6 <= high
    assert covered >= 0.89 * repetitions


def test_mean_interval_of_a_large_sample_has_the_normal_width():
    # Above BOOTSTRAP_MAX_SAMPLES the bootstrap runs on a subsample and is rescaled; the
    # result must still have the width sigma/sqrt(n) predicts for the full sample.
    n, sigma = 100_000, 5e5
    assert n > stats.BOOTSTRAP_MAX_SAMPLES
    latencies = ns(np.random.default_rng(3).normal(5e6, sigma, n))
    low, high = stats.latency_stats(latencies).mean_ci_ns
    expected_width = 2 * 1.959964 * sigma / math.sqrt(n)
    assert (high - low) == pytest.approx(expected_width, rel=0.1)
    assert low <= 5e6 <= high


def test_latency_stats_is_deterministic():
    latencies = ns(np.random.default_rng(4).exponential(1e6, 5000))
    assert stats.latency_stats(latencies) == stats.latency_stats(latencies)


def test_constant_latencies():
    result = stats.latency_stats(ns([7_000] * 500))
    assert result.std_ns == 0.0
    assert result.mean_ci_ns == (7_000.0, 7_000.0)
    assert [e.value_ns for e in result.percentiles] == [7_000] * 6
    # Every interval of 500 observations is bounded below; above, all but p99.9's
    # (0.999^500 = 0.61 > 0.025), and a bound of equal values is that value.
    assert [e.ci_low_ns for e in result.percentiles] == [7_000] * 6
    assert [e.ci_high_ns for e in result.percentiles] == [7_000] * 5 + [None]


def test_single_latency_has_no_spread_and_says_why():
    result = stats.latency_stats(ns([42]))
    assert (result.count, result.mean_ns, result.min_ns, result.max_ns) == (1, 42.0, 42, 42)
    assert result.std_ns is None and result.mean_ci_ns is None
    median = result.percentile(0.5)
    assert median.value_ns == 42
    assert median.ci_low_ns is None and median.ci_high_ns is None
    assert any("p50" in note and "no lower or upper bound" in note for note in result.notes)
    assert any("at least 2 latencies" in note for note in result.notes)
    assert_plain_json(result.to_json())


def test_two_latencies():
    result = stats.latency_stats(ns([10, 30]))
    assert result.mean_ns == 20.0
    assert result.std_ns == pytest.approx(math.sqrt(200))
    assert result.percentile(0.5).value_ns == 30  # sorted[int(2 * 0.5)]
    # With 2 observations, P(both above the median) = 0.25 > 0.025: no bound either side.
    assert result.percentile(0.5).ci_low_ns is None
    assert result.percentile(0.5).ci_high_ns is None
    low, high = result.mean_ci_ns
    assert 10 <= low <= high <= 30


def test_high_percentile_of_a_small_sample_has_no_upper_bound():
    # p99.9 of 100: P(all 100 below the true p99.9) = 0.999^100 = 0.90 > 0.025.
    estimate = stats.latency_stats(shuffled(range(1, 101))).percentile(0.999)
    assert estimate.ci_high_ns is None
    assert estimate.ci_low_ns is not None
    # Smallest n with 0.999^n <= 0.025 is 3688.
    assert any("p99.9" in note and "need at least 3688" in note for note in stats.latency_stats(ns(range(100))).notes)


# --- early stopping -------------------------------------------------------------------


def test_early_stopping_needs_64_queries_for_p90_by_hand():
    # At most 1 of h + 1 queries over the p90: P = 0.9^(h+1) + (h+1) * 0.1 * 0.9^h.
    def odds(h):
        return 0.9 ** (h + 1) + (h + 1) * 0.1 * 0.9**h

    assert odds(62) > 0.01 > odds(63)  # so h(1) = 63 and 64 queries are needed
    latencies = shuffled(range(1, 65))
    not_met = stats.early_stopping_p90(latencies[:63])
    assert (not_met.met, not_met.min_queries, not_met.estimate_ns) == (False, 64, None)
    met = stats.early_stopping_p90(latencies)
    # With 64 queries only one overlatency query is tolerated: the estimate is the maximum.
    assert (met.met, met.queries, met.discarded, met.estimate_ns) == (True, 64, 0, 64)
    assert_plain_json(met.to_json())


def test_early_stopping_p99_needs_662_queries():
    # LoadGen's summary says so for the 99th percentile ("at least 662 total queries").
    assert stats.early_stopping_p90(ns(range(10)), target_percentile=0.99).min_queries == 662


def loadgen_reference_early_stopping(sorted_latencies, p, c=0.99):
    """A line-by-line transcription of LoadGen's control flow (results.cc EarlyStopping,
    early_stopping.cc MinPassingQueriesFinder: cached bounds plus binary search), with
    odds from scipy's binomial CDF."""

    def odds(h, t):
        return sps.binom.cdf(t, h + t, 1 - p)

    def find_min_passing(min_h, max_h, t):
        count = max_h - min_h
        while count > 0:
            step = count // 2
            h = min_h + step
            if odds(h, t) < 1 - c:
                count = step
            else:
                min_h = h + 1
                count -= step + 1
        return min_h

    cache = {}

    def min_passing(t):
        if t in cache:
            return cache[t]
        smaller = sorted(k for k in cache if k < t)
        x0, y0, x1, y1 = -1, 0, 0, math.ceil(math.log(1 - c) / math.log(p))
        if smaller:
            x1, y1 = smaller[-1], cache[smaller[-1]]
        if len(smaller) >= 2:
            x0, y0 = smaller[-2], cache[smaller[-2]]
        min_slope = p / (1 - p)
        max_slope = (y1 - y0) * (x1 - x0)
        h = find_min_passing(int((t - x1) * min_slope + y1), int((t - x1) * max_slope + y1 + 1), t)
        cache[t] = h
        return h

    n = len(sorted_latencies)
    h_min = min_passing(1)
    if n < h_min + 1:
        return None, h_min + 1
    t = 1
    for i in range(2, n + 1):
        if n < min_passing(i) + i:
            t = i - 1
            break
    return sorted_latencies[n - t], h_min + 1


@pytest.mark.parametrize("n", [64, 65, 100, 137, 300, 661, 1000, 2500])
@pytest.mark.parametrize("p", [0.90, 0.99])
def test_early_stopping_matches_loadgen_control_flow(n, p):
    latencies = ns(np.random.default_rng(n).lognormal(14, 0.5, n))
    expected_estimate, expected_min = loadgen_reference_early_stopping(np.sort(latencies), p)
    result = stats.early_stopping_p90(latencies, target_percentile=p)
    assert result.min_queries == expected_min
    assert result.estimate_ns == expected_estimate


def test_early_stopping_estimate_is_conservative():
    latencies = ns(np.random.default_rng(5).exponential(1e6, 20_000))
    result = stats.early_stopping_p90(latencies)
    p90 = stats.loadgen_percentile(latencies, 0.9)
    assert result.met and result.estimate_ns >= p90
    # It is an order statistic n - t with t just below the expected overlatency count.
    assert 0 < result.discarded < 0.1 * latencies.size


def loadgen_singlestream_run(tmp_path, queries):
    """Run real LoadGen SingleStream; return (latencies from its trace, its summary text)."""
    delays = random.Random(queries)

    def issue(samples):
        def complete():
            time.sleep(delays.expovariate(1 / 0.0003))
            lg.QuerySamplesComplete([lg.QuerySampleResponse(s.id, 0, 0) for s in samples])

        threading.Thread(target=complete).start()

    sut = lg.ConstructSUT(issue, lambda: None)
    qsl = lg.ConstructQSL(16, 16, lambda _: None, lambda _: None)
    settings = lg.TestSettings()
    settings.scenario = lg.TestScenario.SingleStream
    settings.mode = lg.TestMode.PerformanceOnly
    settings.min_query_count = settings.max_query_count = queries
    settings.min_duration_ms = 0
    settings.single_stream_expected_latency_ns = 300_000
    log_settings = lg.LogSettings()
    log_settings.log_output.outdir = str(tmp_path)
    log_settings.enable_trace = True  # the trace is the only place LoadGen logs each latency
    lg.StartTestWithLogSettings(sut, qsl, settings, log_settings)
    lg.DestroyQSL(qsl)
    lg.DestroySUT(sut)

    trace = (tmp_path / "mlperf_log_trace.json").read_text()
    pairs = re.findall(r'"name":"Sample".*?"ph":"b".*?"issue_start_ns":(\d+),"complete_ns":(\d+)', trace)
    latencies = ns([int(done) - int(start) for start, done in pairs])
    assert latencies.size == queries
    return latencies, (tmp_path / "mlperf_log_summary.txt").read_text()


def test_percentiles_and_early_stopping_match_real_loadgen(tmp_path):
    latencies, summary = loadgen_singlestream_run(tmp_path, queries=700)
    reported = [int(v) for v in re.findall(r"\d\d\.\d\d percentile latency \(ns\)\s*: (\d+)", summary)]
    result = stats.latency_stats(latencies)
    assert [e.value_ns for e in result.percentiles] == reported
    assert f"90th percentile latency (ns) : {result.percentile(0.9).value_ns}" in summary.replace(".0th", "th")

    p90 = stats.early_stopping_p90(latencies)
    p99 = stats.early_stopping_p90(latencies, target_percentile=0.99)
    assert f"Would discard {p90.discarded} highest latency queries" in summary
    assert f"90.0th percentile estimate: {p90.estimate_ns}" in summary
    assert f"99.0th percentile estimate: {p99.estimate_ns}" in summary


# --- throughput over time -------------------------------------------------------------


def test_throughput_over_time_bins_by_completion_second():
    # 10 batches of 5 samples per second for 10.5 s: whole bins hold 50 samples each.
    complete_ns = ns(np.arange(105) * 100_000_000 + 50_000_000)
    samples = ns([5] * 105)
    series = throughput.throughput_over_time(shuffled(complete_ns, seed=1), shuffled(samples, seed=1))
    assert series.rates == (50.0,) * 10  # the partial 11th second is left out ...
    assert series.total_samples == 525  # ... but its samples are counted
    assert series.duration_s == pytest.approx(10.45)
    assert series.overall_rate == pytest.approx(525 / 10.45)
    assert_plain_json(series.to_json())


def test_throughput_bins_are_half_open_and_scale_with_bin_width():
    series = throughput.throughput_over_time(ns([0, 499_999_999, 500_000_000, 1_000_000_000]), ns([1, 1, 1, 1]), bin_s=0.5)
    assert series.rates == (4.0, 2.0)


def test_throughput_inputs_are_validated():
    with pytest.raises(ValueError, match="no completion events"):
        throughput.throughput_over_time(ns([]), ns([]))
    with pytest.raises(ValueError, match="equally long"):
        throughput.throughput_over_time(ns([1, 2]), ns([1]))
    with pytest.raises(ValueError, match="bin_s"):
        throughput.throughput_over_time(ns([1]), ns([1]), bin_s=0)
    with pytest.raises(ValueError, match="since the test started"):
        throughput.throughput_over_time(ns([0, 0]), ns([1, 1]))


def series_of(rates, bin_s=1.0):
    return throughput.ThroughputSeries(bin_s=bin_s, rates=tuple(float(r) for r in rates), total_samples=0, duration_s=1.0)


def test_steady_state_separates_warmup_and_cooldown():
    steady = 1000 + np.random.default_rng(6).normal(0, 10, 30)
    rates = [100, 400, 850, *steady, 500]
    result = throughput.steady_state(series_of(rates, bin_s=2.0))
    assert result.warmup_s == 6.0
    assert result.cooldown_s == 2.0
    assert result.steady_bins == 30
    assert result.mean_rate == pytest.approx(steady.mean())
    low, high = result.mean_rate_ci
    assert low < 1000 < high
    assert_plain_json(result.to_json())


def test_steady_state_keeps_a_dip_in_the_middle():
    result = throughput.steady_state(series_of([100, 100, 50, 100, 100]))
    assert (result.warmup_s, result.cooldown_s, result.steady_bins) == (0.0, 0.0, 5)
    assert result.mean_rate == 90.0


def test_steady_state_of_constant_and_single_bins():
    constant = throughput.steady_state(series_of([250] * 5))
    assert constant.mean_rate_ci == (250.0, 250.0) and constant.warmup_s == 0.0
    single = throughput.steady_state(series_of([250]))
    assert single.mean_rate == 250.0 and single.mean_rate_ci is None
    with pytest.raises(ValueError, match="smaller bin_s"):
        throughput.steady_state(series_of([]))


# --- comparisons ----------------------------------------------------------------------


def latency_sample(seed, n=2000, scale=1.0):
    return ns(np.random.default_rng(seed).lognormal(np.log(4e6), 0.3, n) * scale)


def test_compare_identical_distributions_finds_no_difference():
    result = comparison.compare_latencies(latency_sample(7), latency_sample(8))
    assert not result.significant
    assert result.verdict.startswith("no significant difference (p = ")
    assert result.ratio_ci[0] <= 1 <= result.ratio_ci[1]
    assert abs(result.rank_biserial) < 0.1
    assert_plain_json(result.to_json())


def test_compare_detects_faster_b():
    result = comparison.compare_latencies(latency_sample(9), latency_sample(10, scale=0.85))
    assert result.significant and result.p_value < 0.001
    assert result.ratio == pytest.approx(0.85, rel=0.04)
    assert result.ratio_ci[0] < result.ratio < result.ratio_ci[1] < 1
    assert result.prob_b_better > 0.6 and result.rank_biserial > 0.2
    assert re.fullmatch(
        r"B is 1\d\.\d % faster \(median latency [\d.]+ ms vs [\d.]+ ms\), p < 0\.001, the difference is real",
        result.verdict,
    )


def test_compare_detects_slower_b_on_p90():
    result = comparison.compare_latencies(latency_sample(11), latency_sample(12, scale=1.2), percentile=0.9)
    assert result.significant and result.statistic == "p90 latency"
    assert result.ratio > 1 and result.rank_biserial < 0
    assert result.verdict.startswith("B is ") and " % slower (p90 latency " in result.verdict


def test_bootstrap_of_an_order_statistic_matches_resampling():
    # The Beta shortcut must give the same bootstrap distribution as resampling the data.
    rng = np.random.default_rng(13)
    ordered = np.sort(ns(rng.exponential(1e6, 51)))
    shortcut = stats.bootstrap_order_statistic(ordered, 0.5, rng)
    resamples = rng.choice(ordered, size=(stats.BOOTSTRAP_RESAMPLES, ordered.size))
    brute = np.sort(resamples, axis=1)[:, int(ordered.size * 0.5)]
    assert sps.ks_2samp(shortcut, brute).pvalue > 0.01


def test_compare_rejects_too_short_inputs():
    with pytest.raises(ValueError, match="a_ns needs at least 2"):
        comparison.compare_latencies(ns([5]), ns([1, 2, 3]))
    with pytest.raises(ValueError, match="b_ns needs at least 2"):
        comparison.compare_latencies(ns([1, 2, 3]), ns([]))
    with pytest.raises(ValueError, match="b_rates needs a 1-D array of at least 2"):
        comparison.compare_throughput([100.0, 101.0], [99.0])


def test_compare_throughput():
    rng = np.random.default_rng(14)
    a = rng.normal(5000, 50, 300)
    same = comparison.compare_throughput(a, rng.normal(5000, 50, 300))
    assert not same.significant and same.verdict.startswith("no significant difference")
    faster = comparison.compare_throughput(a, rng.normal(5500, 50, 300))
    assert faster.significant and faster.prob_b_better > 0.99
    assert faster.ratio == pytest.approx(1.1, rel=0.01)
    assert 1 < faster.ratio_ci[0] < faster.ratio < faster.ratio_ci[1]
    assert re.fullmatch(
        r"B is (9\.\d|10\.\d) % faster \(mean throughput [\d,.]+ samples/s vs [\d,.]+ samples/s\), "
        r"p < 0\.001, the difference is real",
        faster.verdict,
    )
    with pytest.raises(ValueError, match="zero|meaningless"):
        comparison.compare_throughput([0.0, 0.0], [1.0, 2.0])
