"""MultiStream and Server beside Offline and SingleStream: quick runs VALID with LoadGen's own
sample counts, queries of mlperf.conf's size, and the Server rate search."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from harness.cli.args import config_from_args
from harness.cli.main import build_parser, main
from harness.cli.tune import batch_candidates, candidate_layouts
from harness.cpu.topology import read_topology
from harness.loadgen import benchmark
from harness.loadgen.prepare import server_batching
from harness.loadgen.settings import mlperf_conf
from harness.results.logs import read_detail_log
from harness.results.runstats import latencies_of
from harness.terms import Scenario

import faulty_suts
from conftest import colour_args
from sysfs_trees import make_tree


def only_run(out: Path, scenario: str) -> Path:
    (run,) = [p for p in out.iterdir() if p.name.endswith(f"-{scenario}-performance")]
    return run


@pytest.fixture(scope="module")
def quick_runs(colour_model, colour_data, tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("scenarios")
    runs = {}
    for scenario in ("Offline", "SingleStream", "MultiStream"):
        assert main(colour_args(colour_model, colour_data, out / scenario, "--scenario", scenario,
                                "--duration", "0.3")) == 0
        runs[scenario] = only_run(out / scenario, scenario)
    # Server at a rate this SUT serves on a loaded 2-core machine; the search has its own test.
    assert main(colour_args(colour_model, colour_data, out / "Server", "--scenario", "Server",
                            "--duration", "0.3", "--target-qps", "200")) == 0
    runs["Server"] = only_run(out / "Server", "Server")
    return runs


@pytest.mark.parametrize("scenario", ["Offline", "SingleStream", "MultiStream", "Server"])
def test_a_quick_run_of_each_scenario_is_valid_with_loadgens_counts(quick_runs, scenario):
    run = quick_runs[scenario]
    record = json.loads((run / "run.json").read_text())
    log = read_detail_log(run)
    assert record["status"] == "completed" and record["result"]["validity"] == "VALID" == log.get("result_validity")
    assert log.get("effective_scenario") == scenario
    timeline = np.load(run / "timeline.npy")
    # Every sample LoadGen issued was answered, and the harness counted the same.
    assert record["result"]["samples"] == int(timeline[:, 2].sum()) == log.get("result_query_count") * (
        log.get("effective_samples_per_query") if scenario in ("Offline", "MultiStream") else 1)
    assert log.get("effective_min_query_count") == {"Offline": 1, "SingleStream": 64, "MultiStream": 662,
                                                    "Server": 662}[scenario]


def test_multistream_queries_hold_mlperf_confs_samples(quick_runs):
    run = quick_runs["MultiStream"]
    per_query = mlperf_conf(Scenario.MULTI_STREAM)["multi_stream_samples_per_query"]
    assert per_query == 8 and read_detail_log(run).get("effective_samples_per_query") == per_query
    timeline = np.load(run / "timeline.npy")
    issued, counts = np.unique(timeline[:, 0], return_counts=True)
    sizes = np.bincount(np.unique(timeline[:, 0], return_inverse=True)[1], weights=timeline[:, 2])
    assert set(sizes.astype(int)) == {per_query}  # every query answered whole
    result = json.loads((run / "run.json").read_text())["result"]
    assert result["metric"] == "p99_latency_ns" and result["value"] > 0 and result["early_stopping_met"] is True
    assert len(latencies_of(timeline, "MultiStream")) == len(issued) == read_detail_log(run).get("result_query_count")


def test_multistream_split_across_instances_answers_each_query_whole(colour_model, colour_data, tmp_path):
    assert main(colour_args(colour_model, colour_data, tmp_path, "--scenario", "MultiStream", "--duration", "0.2",
                            "--instances", "2", "--threads", "1")) == 0
    run = only_run(tmp_path, "MultiStream")
    timeline = np.load(run / "timeline.npy")
    assert set(timeline[:, 2]) == {4}  # 8 samples as two batches of 4, one per instance
    groups = np.bincount(np.unique(timeline[:, 0], return_inverse=True)[1], weights=timeline[:, 2])
    assert set(groups.astype(int)) == {8}
    assert json.loads((run / "run.json").read_text())["result"]["validity"] == "VALID"


def test_server_records_rates_and_latency_over_time(quick_runs):
    run = quick_runs["Server"]
    record = json.loads((run / "run.json").read_text())
    result, batching = record["result"], record["server_batching"]
    assert result["metric"] == "completed_samples_per_second" and result["target_qps"] == 200
    assert result["p99_latency_ns"] <= result["latency_bound_ns"] == 15_000_000
    assert 1 <= batching["batch"] <= 8 and 0 <= batching["collect_ms"] <= batching["batch_ms"][str(batching["batch"])]
    stats = json.loads((run / "stats.json").read_text())
    server = stats["server"]
    assert server["scheduled_qps"] == pytest.approx(result["scheduled_samples_per_second"])
    assert sum(row["queries"] for row in server["latency_over_time"]) == len(np.load(run / "timeline.npy"))
    assert stats["early_stopping"]["target_percentile"] == 0.99


def test_server_batching_fits_the_bound():
    # 1 ms per sample: batches of 4 (4 ms) leave 2 x 4 ms within half of 15 ms, 8 (8 ms) do not.
    chosen = server_batching({1: 0.001, 2: 0.002, 4: 0.004, 8: 0.008}, instances=2, bound_s=0.015)
    assert (chosen.batch, chosen.capacity) == (2, pytest.approx(2 * 2 / 0.002))
    chosen = server_batching({1: 0.0005, 4: 0.0015, 8: 0.003}, instances=1, bound_s=0.015)
    assert chosen.batch == 8 and chosen.collect_ms == pytest.approx(1.5)  # 7.5 ms - 2 x 3 ms
    chosen = server_batching({1: 0.0005, 8: 0.001}, instances=1, bound_s=0.015)
    assert chosen.batch == 8 and chosen.collect_ms == pytest.approx(1.0)  # never longer than a batch
    assert server_batching({1: 0.02, 8: 0.1}, instances=1, bound_s=0.015).batch == 1  # nothing fits: batch 1


def test_server_search_finds_a_valid_rate_and_130_percent_of_it_is_invalid(colour_model, colour_data, tmp_path):
    args = colour_args(colour_model, colour_data, tmp_path, "--scenario", "Server", "--duration", "1",
                       "--instances", "1", "--threads", "1")
    args = [a for a in args if a not in ("--target-qps", "1e7")]
    run = lambda cfg: benchmark.run_benchmark(cfg, sut_class="faulty_suts:DelayedSUT", echo=lambda *_: None)
    cfg = config_from_args(build_parser().parse_args(["run", *args]))
    found = run(cfg)
    search = found["server_search"]
    steps = search["steps"]
    valid = [s["target_qps"] for s in steps if s["validity"] == "VALID"]
    # The search found a VALID rate (a whole run at it was VALID), and the run that followed
    # offered 90 % of it; whether that run is VALID too is up to the noise of the machine.
    assert search["highest_valid"] == max(valid) and found["config"]["target_qps"] == search["rate"]
    assert search["rate"] == pytest.approx(0.9 * max(valid)) and found["result"]["validity"] in ("VALID", "INVALID")
    assert len(steps) >= 3 and any(s["validity"] == "INVALID" and s["target_qps"] < 1.1 * max(valid) for s in steps)
    # Each batch costs at least BATCH_COST_S: one instance cannot serve more than 8 per batch time.
    assert search["highest_valid"] < 8 / faulty_suts.BATCH_COST_S
    higher = run(replace(cfg, target_qps=1.3 * search["highest_valid"]))
    assert higher["result"]["validity"] == "INVALID"


def test_tune_tries_multistream_whole_and_split_and_server_batches(tmp_path):
    xeon = read_topology(make_tree(tmp_path, sockets=2, cores_per_socket=24, smt=2))
    layouts = [(layout.instances, layout.threads) for layout in candidate_layouts(xeon, "MultiStream")]
    # One instance of a node's 24 threads down to 1, then the splits of 8 samples over 2 nodes.
    assert layouts == [(1, 24), (1, 16), (1, 8), (1, 4), (1, 2), (1, 1), (2, 24)]
    assert batch_candidates("MultiStream", 116) == [None] and batch_candidates("Server", 116) == [1, 4, 8, 16]


def test_compare_judges_multistream_on_its_p99(quick_runs, capsys):
    run = quick_runs["MultiStream"]
    assert main(["compare", str(run), str(run), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [c["statistic"] for c in result["comparisons"]] == ["p99 latency", "median latency"]
    assert result["verdict"].startswith("no significant difference")


def test_a_short_duration_without_quick_lasts_about_that_long(colour_model, colour_data, tmp_path):
    quick = ("--quick", "--duration", "0.05", "--target-qps", "1e7")  # calibrated, as a user's run is
    args = [a for a in colour_args(colour_model, colour_data, tmp_path) if a not in quick] + ["--duration", "0.3"]
    assert main(args) == 0
    run = only_run(tmp_path, "Offline")
    log = read_detail_log(run)
    # mlperf.conf's 24,576-sample minimum no longer holds the run: the query holds 0.3 s of work at
    # the measured rate (the calibrated target over its 1.25 margin); LoadGen's 10 % slack and the
    # margin come off min_duration: 300 ms / 1.375.
    assert log.get("effective_min_query_count") == 1 and log.get("effective_min_duration_ms") == 218
    record = json.loads((run / "run.json").read_text())
    measured_rate = record["calibrated_target"] / 1.25
    assert log.get("effective_samples_per_query") == pytest.approx(0.3 * measured_rate, rel=0.005)  # ms rounding
    assert record["compliant_length"] is False and record["result"]["validity"] == "VALID"
