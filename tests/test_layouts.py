"""Where a run's layout comes from: the default for its scenario and EP on the topology, a
system profile, or flags; run.json and the summary say which. And bench/anchors.py's reading
of benchmark_app's report."""

import json
import sys
from pathlib import Path

import onnxruntime as ort
import pytest

from harness.cli.main import main
from harness.config.profiles import LayoutKey, Machine, TunedLayout, write_layout
from harness.config.runconfig import load_config
from harness.cpu.placement import plan_instances
from harness.cpu.sysinfo import this_machine
from harness.cpu.topology import read_topology
from harness.engine.layouts import default_layout, run_layout
from harness.terms import Scenario

from conftest import colour_args
from sysfs_trees import make_tree

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from anchors import parse_benchmark_app, summary  # noqa: E402
from reference import score as reference_score  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """2 sockets x 24 cores, SMT 2: CPU i's sibling is i + 48."""
    return read_topology(make_tree(tmp_path_factory.mktemp("server"), sockets=2, cores_per_socket=24, smt=2))


def placed(topology, scenario, ep, smt=False):
    layout = default_layout(scenario, ep, topology, smt)
    plan = plan_instances(topology, layout.instances, layout.threads, 8, smt=smt)
    return [instance.cpus for instance in plan.instances], layout.source


def test_offline_on_openvino_takes_one_stream_per_physical_core(server):
    cpus, source = placed(server, Scenario.OFFLINE, "openvino")
    assert sorted(cpus) == [(cpu,) for cpu in range(48)]  # instances alternate over the two nodes
    assert source.startswith("default: throughput layout (OpenVINO EP: one stream per physical core")
    with_smt, _ = placed(server, Scenario.OFFLINE, "openvino", smt=True)
    assert sorted(with_smt) == [(cpu, cpu + 48) for cpu in range(48)]  # a core's two siblings share its instance


def test_offline_on_the_cpu_ep_takes_one_instance_per_numa_node(server):
    cpus, source = placed(server, Scenario.OFFLINE, "cpu")
    assert cpus == [tuple(range(24)), tuple(range(24, 48))]
    assert source.startswith("default: throughput layout (CPU EP")


@pytest.mark.parametrize("scenario", [Scenario.SINGLE_STREAM, Scenario.MULTI_STREAM])
@pytest.mark.parametrize("ep", ["cpu", "openvino"])
def test_one_query_at_a_time_takes_the_latency_layout(server, scenario, ep):
    cpus, source = placed(server, scenario, ep)
    assert cpus == [tuple(range(24))]
    assert source == "default: latency layout (one instance on all cores of a NUMA node)"


@pytest.mark.parametrize("ep", ["cpu", "openvino"])
def test_server_takes_one_instance_per_numa_node(tmp_path, ep):
    snc = read_topology(make_tree(tmp_path, sockets=2, cores_per_socket=8, nodes_per_socket=2))
    cpus, source = placed(snc, Scenario.SERVER, ep)
    assert cpus == [tuple(range(n, n + 4)) for n in (0, 4, 8, 12)]  # node by node, 4 cores each
    assert source.startswith("default: one instance per NUMA node (Server")


def _profile(directory: Path, machine: Machine, instances: int, threads: int) -> Path:
    key = LayoutKey("resnet50", Scenario.OFFLINE, "int8", "auto", "", False, 0)
    layout = TunedLayout(key, instances, threads, 16, "samples/s", 100.0, "2026-12-01T00:00:00+00:00", 5.0)
    return write_layout(machine, layout, directory)[0]


def test_a_system_profile_wins_over_the_default_and_flags_over_both(tmp_path, server):
    machine = Machine("Test CPU", 48, ("avx2",))
    path = _profile(tmp_path, machine, 2, 4)
    tuned = load_config(None, {"precision": "int8"}, systems=tmp_path, machine=machine)
    layout = run_layout(tuned, "openvino", server)
    assert (layout.instances, layout.threads) == (2, 4)
    assert layout.source == f"system profile {path.name} (harness tune)"
    flagged = load_config(None, {"precision": "int8", "instances": 4, "threads": 1}, systems=tmp_path,
                          machine=machine)
    assert flagged.system_profile == str(path)  # the profile still set the batch size
    layout = run_layout(flagged, "openvino", server)
    assert (layout.instances, layout.threads, layout.source) == (4, 1, "flags (--instances/--threads or --config)")
    untuned = load_config(None, {"precision": "int8"}, systems=tmp_path / "none", machine=machine)
    assert run_layout(untuned, "openvino", server).source.startswith("default: throughput layout (OpenVINO EP")
    # A profile tunes the machine it was measured on; on a cluster the nodes run the engines.
    clustered = load_config(None, {"precision": "int8", "cluster": "10.0.0.1:6379"}, systems=tmp_path,
                            machine=machine)
    assert (clustered.instances, clustered.threads, clustered.system_profile) == (None, None, None)


def test_threads_alone_keep_one_instance_for_one_query_at_a_time(server):
    cfg = load_config(None, {"scenario": "SingleStream", "threads": 4})
    layout = run_layout(cfg, "cpu", server)
    assert (layout.instances, layout.threads, layout.source) == (1, 4, "flags (--instances/--threads or --config)")


def _real_run(args: list[str], out: Path, capsys) -> tuple[dict, str]:
    assert main(args) == 0
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    return json.loads((run / "run.json").read_text()), capsys.readouterr().out


def test_a_run_records_its_default_layout_and_says_where_it_came_from(colour_model, colour_data, tmp_path, capsys):
    record, out = _real_run(colour_args(colour_model, colour_data, tmp_path, "--ep", "cpu"), tmp_path, capsys)
    cores = len(read_topology().usable_cores(record["placement"]["instances"][0]["node"]))
    assert [i["threads"] for i in record["placement"]["instances"]][:1] == [cores]
    source = record["placement"]["source"]
    assert source.startswith("default: throughput layout (CPU EP")
    assert f"  layout from: {source}\n" in out


@pytest.mark.skipif("OpenVINOExecutionProvider" not in ort.get_available_providers(),
                    reason="needs onnxruntime-openvino")
def test_an_openvino_run_takes_one_instance_per_core(colour_model, colour_data, tmp_path, capsys):
    record, out = _real_run(colour_args(colour_model, colour_data, tmp_path, "--ep", "openvino"), tmp_path, capsys)
    topology = read_topology()
    assert [i["cpus"] for i in record["placement"]["instances"]] == [
        [core.cpus[0]] for node in topology.nodes for core in topology.usable_cores(node.id)]
    assert record["placement"]["source"].startswith("default: throughput layout (OpenVINO EP")


def test_a_run_under_a_system_profile_says_so(colour_model, colour_data, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HARNESS_SYSTEMS_DIR", str(tmp_path / "systems"))
    key = LayoutKey("colour", Scenario.OFFLINE, "fp32", "auto", "", False, 0)
    tuned = TunedLayout(key, 1, 1, 4, "samples/s", 100.0, "2026-12-01T00:00:00+00:00", 5.0)
    path, _ = write_layout(this_machine(), tuned, tmp_path / "systems")
    out_dir = tmp_path / "runs"
    record, out = _real_run(colour_args(colour_model, colour_data, out_dir), out_dir, capsys)
    assert [(i["threads"], i["batch_size"]) for i in record["placement"]["instances"]] == [(1, 4)]
    assert record["placement"]["source"] == f"system profile {path.name} (harness tune)"
    assert f"  layout from: system profile {path.name} (harness tune)\n" in out


BENCHMARK_APP_LATENCY = """\
[Step 8/11] Querying optimal runtime parameters
[ INFO ] Model:
[ INFO ]   NETWORK_NAME: resnet50_v1.5_synthetic
[ INFO ]   OPTIMAL_NUMBER_OF_INFER_REQUESTS: 1
[ INFO ]   NUM_STREAMS: 1
[ INFO ]   INFERENCE_NUM_THREADS: 2
[ INFO ]   PERF_COUNT: NO
[ INFO ]   INFERENCE_PRECISION_HINT: <Type: 'float32'>
[ INFO ]   PERFORMANCE_HINT: LATENCY
[Step 11/11] Dumping statistics report
[ INFO ] Execution Devices:['CPU']
[ INFO ] Count:            29 iterations
[ INFO ] Duration:         3052.83 ms
[ INFO ] Latency:
[ INFO ]    90 percentile:     135.77 ms
[ INFO ]    Average:       105.03 ms
[ INFO ]    Min:           68.46 ms
[ INFO ]    Max:           153.78 ms
[ INFO ] Throughput:   9.50 FPS
"""


def test_anchors_reads_benchmark_app_throughput_percentile_and_streams():
    app = parse_benchmark_app(BENCHMARK_APP_LATENCY)
    assert (app.throughput, app.percentile, app.latency_ms, app.streams, app.threads) == (9.5, 90, 135.77, 1, 2)
    median = BENCHMARK_APP_LATENCY.replace("90 percentile:     135.77", "Median:        101.20")
    assert (parse_benchmark_app(median).percentile, parse_benchmark_app(median).latency_ms) == (50, 101.2)
    with pytest.raises(ValueError, match="no 'Throughput:' line"):
        parse_benchmark_app(BENCHMARK_APP_LATENCY.replace("Throughput:", "Rate:"))


def test_anchors_summarises_rounds_by_median_and_range():
    rows = [{"precision": "int8", "scenario": "Offline", "vs_bare": v, "vs_app": a}
            for v, a in ((0.979, 0.940), (1.015, 0.989), (0.938, 0.954))]
    rows.append({"precision": "fp32", "scenario": "Offline", "error": "benchmark_app exited 1"})
    assert summary(rows) == ["int8 Offline, 3 rounds: harness/bare median 0.979 (0.938-1.015); "
                             "harness/benchmark_app median 0.954 (0.940-0.989)"]


def test_reference_bench_reads_loadgen_summaries_as_loadgen_writes_them():
    offline = "Scenario : Offline\nMode     : PerformanceOnly\nSamples per second: 28.9721\nResult is : VALID\n"
    single = ("Scenario : SingleStream\n90.00 percentile latency (ns)   : 40369027\n"
              " * Early stopping 90.0th percentile estimate: 40682345\n")
    assert reference_score(offline, "Offline") == 28.9721
    assert reference_score(single, "SingleStream") == pytest.approx(40.369027)
    with pytest.raises(ValueError, match="no 90th percentile line"):
        reference_score(offline, "SingleStream")
