"""stats.json: harness.results.stats applied to a run directory, checked against LoadGen on real runs."""

import json
from pathlib import Path

import numpy as np
import pytest

from harness.cli.main import main
from harness.results.logs import read_detail_log, summary_value
from harness.results.runstats import RunDataError, bin_width, compute_run_stats, latencies_of, write_run_stats
from harness.results.stats import loadgen_percentile

from conftest import colour_args
from rundirs import offline_timeline, single_stream_timeline, write_run


def only_run(out: Path) -> Path:
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    return run


# The harness's latencies and LoadGen's are the same queries timed at slightly different
# points (AGREEMENT_MEANING); how far apart the two clocks read depends on the machine's load,
# so the tests below assert only what holds under any load, and bench/agreement.py measures
# the offsets themselves.
PERCENTILES = (("p50", 0.50), ("p90", 0.90), ("p95", 0.95), ("p99", 0.99))


@pytest.fixture(scope="module")
def single_stream_run(colour_model, colour_data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ss")
    assert main(colour_args(colour_model, colour_data, out, "--scenario", "SingleStream", "--duration", "0.5")) == 0
    return only_run(out)


@pytest.fixture(scope="module")
def offline_run(colour_model, colour_data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("offline")
    # 55,000 samples: about a second at this model's rate, and VALID below 1.1 M samples/s.
    assert main(colour_args(colour_model, colour_data, out, "--scenario", "Offline", "--target-qps", "1e6")) == 0
    return only_run(out)


def test_single_stream_stats_are_the_runs_latencies_and_loadgens_queries(single_stream_run):
    stats = json.loads((single_stream_run / "stats.json").read_text())
    latencies = np.load(single_stream_run / "latencies.npy")
    log = read_detail_log(single_stream_run)
    for name, p in PERCENTILES:  # stats.json is the latencies.npy it claims
        assert stats["latency"]["percentiles"][name]["value_ns"] == loadgen_percentile(latencies, p)
    # Same queries on both sides, and each agreement entry is harness minus what LoadGen logged.
    assert stats["latency"]["count"] == len(latencies) == log.get("result_query_count")
    theirs = int(summary_value(single_stream_run, "90.00 percentile latency (ns)"))
    assert theirs == int(summary_value(single_stream_run, "90.0th percentile latency (ns)"))
    ours = stats["latency"]["percentiles"]["p90"]["value_ns"]
    assert stats["agreement"]["p90_ns"] == {"harness": ours, "loadgen": theirs, "difference": ours - theirs,
                                            "relative": (ours - theirs) / theirs}
    # How many of the slowest queries early stopping sets aside depends on the query count alone,
    # so it is LoadGen's number exactly; the estimate is the order statistic just below them.
    early = stats["early_stopping"]
    assert early["met"] and early["queries"] == len(latencies)
    summary = (single_stream_run / "mlperf_log_summary.txt").read_text()
    assert f"Would discard {early['discarded']} highest latency queries" in summary
    assert early["estimate_ns"] == np.sort(latencies)[len(latencies) - 1 - early["discarded"]]
    assert stats["agreement"]["early_stopping_p90_ns"]["loadgen"] == log.get("early_stopping_latency_ss")


def test_run_json_carries_the_stats_summary(single_stream_run):
    record = json.loads((single_stream_run / "run.json").read_text())
    stats = json.loads((single_stream_run / "stats.json").read_text())
    summary = record["result"]["stats"]
    assert summary["file"] == "stats.json"
    assert summary["p90_ns"] == stats["latency"]["percentiles"]["p90"]["value_ns"]
    low, high = summary["p90_ci_ns"]
    assert low <= summary["p90_ns"] <= high
    assert summary["minus_loadgen"]["p90_ns"] == stats["agreement"]["p90_ns"]["difference"]
    json.dumps(stats, allow_nan=False)  # strict JSON


def test_offline_latencies_are_per_sample(offline_run):
    stats = json.loads((offline_run / "stats.json").read_text())
    log = read_detail_log(offline_run)
    timeline = np.load(offline_run / "timeline.npy")
    samples = timeline[:, 2].sum()
    assert stats["latency"]["count"] == samples == log.get("generated_samples_per_query")
    # Every sample of a batch has its batch's latency.
    per_sample = np.repeat(timeline[:, 1] - timeline[:, 0], timeline[:, 2])
    for name, p in PERCENTILES:
        assert stats["latency"]["percentiles"][name]["value_ns"] == loadgen_percentile(per_sample, p)
    assert (stats["latency"]["min_ns"], stats["latency"]["max_ns"]) == (per_sample.min(), per_sample.max())
    assert stats["overall_rate"] == pytest.approx(samples / ((timeline[:, 1].max() - timeline[:, 0].min()) / 1e9))
    agreement = stats["agreement"]
    for name, key in (("p90_ns", "result_90.00_percentile_latency_ns"), ("min_ns", "result_min_latency_ns"),
                      ("max_ns", "result_max_latency_ns"), ("samples_per_second", "result_samples_per_second")):
        assert agreement[name]["loadgen"] == log.get(key)
        assert agreement[name]["difference"] == pytest.approx(agreement[name]["harness"] - log.get(key))
    series = stats["throughput"]
    assert series["total_samples"] == samples
    assert sum(series["rates"]) * series["bin_s"] <= samples  # whole bins only: a partial last one is left out
    assert stats["steady_state"]["steady_bins"] >= 1
    assert stats["early_stopping"] is None


def test_stats_of_known_latencies(tmp_path):
    latencies = np.arange(1, 1001, dtype=np.int64) * 1000  # 1..1000 µs, shuffled
    np.random.default_rng(1).shuffle(latencies)
    run = write_run(tmp_path / "ss", "SingleStream", single_stream_timeline(latencies))
    result = write_run_stats(run)
    assert result.latency.percentile(0.90).value_ns == 901_000
    assert result.latency.count == 1000 and result.latency.min_ns == 1000
    assert result.early_stopping.met
    assert all(a.difference == 0 for a in result.agreement if a.name.startswith("p"))
    assert json.loads((run / "stats.json").read_text())["latency"]["percentiles"]["p90"]["value_ns"] == 901_000


def test_offline_rates_of_known_batches(tmp_path):
    # 200 batches of 100 samples, one every 10 ms from 10 ms on: 10,000 samples/s, flat.
    run = write_run(tmp_path / "off", "Offline", offline_timeline(10_000_000, 200, 100))
    result = compute_run_stats(run)
    assert result.overall_rate == pytest.approx(10_000)
    rates = result.throughput.rates
    assert result.throughput.bin_s == 0.1 and rates[0] == 9000 and set(rates[1:]) == {10_000.0}
    assert result.steady.warmup_s == 0 and result.steady.mean_rate == pytest.approx(9950)  # (9000 + 19 × 10,000) / 20
    assert result.latency.count == 20_000
    assert np.array_equal(latencies_of(offline_timeline(10, 3, 2), "Offline"), [10, 10, 20, 20, 30, 30])


def test_too_few_completions_give_no_series_and_say_why(tmp_path):
    run = write_run(tmp_path / "off", "Offline", offline_timeline(2 * 10**9, 3, 116))
    result = compute_run_stats(run)
    assert result.throughput is None and result.steady is None
    assert any("too few" in n for n in result.notes)
    assert result.to_json()["throughput"] is None


def test_bin_width_keeps_bins_full_and_numerous():
    assert bin_width(600, 120_000) == 1.0  # formal SingleStream: per second
    assert bin_width(5.5, 5000) == 0.2  # a quick run still shows 20+ bins
    assert bin_width(600, 180) == 20.0  # big batches: 5+ completions per bin
    assert bin_width(7.0, 3) is None


def test_a_directory_without_logs_is_one_clear_error(tmp_path):
    with pytest.raises(RunDataError, match="mlperf_log_detail.txt"):
        compute_run_stats(tmp_path)
