"""End-to-end runs through the CLI with real LoadGen and real ONNX Runtime sessions."""

import json
from pathlib import Path

import numpy as np
import pytest

from harness.cli.main import main
from harness.results.logs import read_detail_log

from conftest import colour_args
from tinymodels import colour_dataset

# The seeds in the mlperf.conf compiled into mlcommons-loadgen 6.0 (mlperf.conf, "*.*.*_rng_seed").
MLPERF_CONF_SEEDS = {"qsl_rng_seed": 2085463073848966840, "sample_index_rng_seed": 2747215439041700203,
                     "schedule_rng_seed": 16159082839903944936}


def only_run(out: Path) -> Path:
    runs = sorted(out.iterdir())
    assert len(runs) == 1, runs
    return runs[0]


@pytest.mark.parametrize("scenario", ["Offline", "SingleStream"])
def test_quick_performance_run_on_tiny_model(colour_model, colour_data, tmp_path, scenario, capsys):
    assert main(colour_args(colour_model, colour_data, tmp_path, "--scenario", scenario)) == 0
    run = only_run(tmp_path)
    for name in ("run.json", "user.conf", "mlperf_log_summary.txt", "mlperf_log_detail.txt",
                 "mlperf_log_accuracy.json", "latencies.npy", "timeline.npy"):
        assert (run / name).is_file(), name
    log = read_detail_log(run)
    assert log.valid and not log.errors
    assert log.get("effective_scenario") == scenario
    assert log.seeds() == MLPERF_CONF_SEEDS
    assert log.get("effective_performance_sample_count") == 60
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "completed"
    assert record["compliant_length"] is False
    assert record["result"]["validity"] == "VALID"
    timeline = np.load(run / "timeline.npy")
    assert timeline[:, 2].sum() == record["result"]["samples"] > 0
    if scenario == "Offline":
        assert record["result"]["samples"] == log.get("generated_samples_per_query")
        assert record["result"]["value"] == pytest.approx(log.get("result_samples_per_second"))
    else:
        assert log.get("result_query_count") == len(timeline) >= 64
        assert set(timeline[:, 2]) == {1}
    user_conf = (run / "user.conf").read_text()
    assert all(line.startswith(("#", f"resnet50.{scenario}.")) for line in user_conf.splitlines())
    out = capsys.readouterr().out
    assert "NOT compliant" in out and "VALID" in out


def test_accuracy_is_exact_on_known_answers(colour_model, tmp_path, capsys):
    data = colour_dataset(tmp_path / "data", 45, wrong=7)
    assert main(colour_args(colour_model, data, tmp_path / "runs", "--mode", "accuracy")) == 0
    # The summary leads with the accuracy; accuracy mode has no VALID/INVALID to report.
    assert " accuracy fp32: top-1 84.444%\n  LoadGen: accuracy mode, " in capsys.readouterr().out
    run = only_run(tmp_path / "runs")
    assert (run / "accuracy.txt").read_text().startswith("accuracy=84.444%, good=38, total=45")
    data_ok = colour_dataset(tmp_path / "data_ok", 45)
    assert main(colour_args(colour_model, data_ok, tmp_path / "runs_ok", "--mode", "accuracy")) == 0
    record = json.loads((only_run(tmp_path / "runs_ok") / "run.json").read_text())
    assert record["result"]["top1"] == 100.0 and record["result"]["accuracy_total"] == 45


@pytest.mark.resnet
@pytest.mark.parametrize("scenario", ["Offline", "SingleStream"])
def test_quick_run_on_resnet50(tmp_path, scenario):
    # Offline: 110 samples, VALID unless the machine runs over 110 samples/s (2 cores: 30-60).
    args = ["--scenario", scenario, "--quick", "--duration", "1", "--target-qps", "100", "--no-progress",
            "--output-dir", str(tmp_path)]
    assert main(args) == 0
    run = only_run(tmp_path)
    log = read_detail_log(run)
    record = json.loads((run / "run.json").read_text())
    assert log.valid and log.seeds() == MLPERF_CONF_SEEDS
    # The model key resnet50 makes mlperf.conf's performance_sample_count_override apply.
    assert log.get("effective_performance_sample_count") == 1024
    assert record["model"]["synthetic_weights"] is True
    assert "synthetic weights" in " ".join(record["notes"])
    assert record["result"]["value"] > 0
