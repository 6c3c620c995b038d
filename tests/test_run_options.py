"""Options that change what a run measures, from the command line to the run directory:
--count, --smt and --reserve-cores; and `harness quantize`, whose model INT8 runs then use."""

import json
from pathlib import Path

import pytest

import harness.loadgen.benchmark as benchmark
from harness.cli.args import config_from_args
from harness.cli.main import build_parser, main
from harness.cpu.topology import read_topology
from harness.files import sha256_file
from harness.results.logs import read_detail_log

from conftest import colour_args
from sysfs_trees import make_tree


def only_run(out: Path) -> Path:
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    return run


def test_smt_and_reserve_cores_flags_reach_the_placement(tmp_path, monkeypatch):
    # 2 sockets x 24 cores, SMT 2: CPU i's sibling is i + 48.
    server = read_topology(make_tree(tmp_path / "server", sockets=2, cores_per_socket=24, smt=2))
    monkeypatch.setattr(benchmark, "read_topology", lambda: server)

    def plan(*flags: str):
        args = build_parser().parse_args(["run", "--scenario", "Offline", "--output-dir", str(tmp_path), *flags])
        return benchmark._plan(config_from_args(args))[0]

    plain = plan()
    assert plain.reserved_cpus == ()
    assert [i.cpus for i in plain.instances] == [tuple(range(24)), tuple(range(24, 48))]
    both = plan("--smt", "--reserve-cores", "1")
    assert both.reserved_cpus == (0, 48)  # a whole core: the first of node 0, with its sibling
    assert [i.cpus for i in both.instances] == [(*range(1, 24), *range(49, 72)), (*range(24, 48), *range(72, 96))]
    assert "all SMT siblings used" in both.description and "reserved for LoadGen" in both.description


def test_count_smt_and_a_reserved_core_in_a_real_run(colour_model, colour_data, tmp_path):
    topology = read_topology()
    node = next(n.id for n in topology.nodes if topology.usable_cores(n.id))
    cores = topology.usable_cores(node, smt=True)
    if len(cores) < 2:
        pytest.skip("needs two usable cores in a NUMA node: one reserved, one for the instance")
    assert main(colour_args(colour_model, colour_data, tmp_path, "--count", "30", "--smt",
                            "--reserve-cores", "1")) == 0
    run = only_run(tmp_path)
    record = json.loads((run / "run.json").read_text())
    assert (record["config"]["count"], record["config"]["smt"], record["config"]["reserve_cores"]) == (30, True, 1)
    assert record["dataset"]["count"] == 30
    assert read_detail_log(run).get("effective_performance_sample_count") == 30  # LoadGen saw 30 samples
    reserved = record["placement"]["reserved_cpus"]
    assert reserved == list(cores[0].cpus)  # the node's first core, every sibling of it
    used = [cpu for instance in record["placement"]["instances"] for cpu in instance["cpus"]]
    # With --smt the instances take every usable CPU but the reserved core's, siblings included.
    assert sorted(used) == sorted(topology.usable_cpus - set(reserved))


def test_quantize_makes_the_model_int8_runs_use(colour_model, colour_data, tmp_path, capsys):
    assert main(["quantize", *colour_args(colour_model, colour_data, tmp_path / "runs")]) == 0
    lines = capsys.readouterr().out.splitlines()
    path = Path(lines[0].removeprefix("INT8 model: "))
    assert lines[1].startswith(f"  sha256 {sha256_file(path)}; calibrated on 60 images of ")
    method = json.loads(path.with_suffix(".json").read_text())
    assert method["method"]["format"] == "QDQ" and len(method["calibration_images"]) == 60
    built = path.stat().st_mtime_ns
    assert main(["quantize", *colour_args(colour_model, colour_data, tmp_path / "runs")]) == 0
    assert capsys.readouterr().out.splitlines()[0] == lines[0] and path.stat().st_mtime_ns == built  # reused

    assert main(colour_args(colour_model, colour_data, tmp_path / "int8", "--precision", "int8", "--ep", "cpu",
                            "--mode", "accuracy")) == 0
    record = json.loads((only_run(tmp_path / "int8") / "run.json").read_text())
    assert record["quantization"]["model_sha256"] == sha256_file(path)
    assert record["precision"]["reported"] == "int8" and record["result"]["top1"] == 100.0
