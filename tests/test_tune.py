import json
import os
import re

import pytest

from harness.cli.main import main
from harness.cli.tune import batch_candidates, candidate_layouts
from harness.config.profiles import LayoutKey, Machine, TunedLayout, find_layout, read_profile, write_layout
from harness.config.runconfig import load_config
from harness.cpu.sysinfo import this_machine
from harness.cpu.topology import read_topology
from harness.errors import ConfigError

from sysfs_trees import make_tree
from tinymodels import COLOUR_SPEC


def pairs(layouts):
    return [(layout.instances, layout.threads) for layout in layouts]


@pytest.fixture(scope="module")
def xeon(tmp_path_factory):
    """2 sockets x 24 cores, SMT 2."""
    return read_topology(make_tree(tmp_path_factory.mktemp("xeon"), sockets=2, cores_per_socket=24, smt=2))


def test_candidates_on_a_two_socket_server(xeon):
    assert pairs(candidate_layouts(xeon, "Offline")) == [(2, 24), (6, 8), (12, 4), (24, 2), (48, 1)]
    assert pairs(candidate_layouts(xeon, "Offline", smt=True)) == [
        (2, 48), (6, 16), (12, 8), (24, 4), (48, 2), (96, 1)]
    assert pairs(candidate_layouts(xeon, "SingleStream")) == [
        (1, 24), (1, 16), (1, 8), (1, 4), (1, 2), (1, 1)]


def test_candidates_on_sub_numa_clusters(tmp_path):
    snc4 = read_topology(make_tree(tmp_path, sockets=2, cores_per_socket=24, smt=2, nodes_per_socket=4))
    # 6 cores per node: 4, 8 and 16 would leave cores idle.
    assert pairs(candidate_layouts(snc4, "Offline")) == [(8, 6), (24, 2), (48, 1)]


def test_candidates_on_this_machines_shape_and_on_unequal_nodes(tmp_path):
    small = read_topology(make_tree(tmp_path / "small", cores_per_socket=2))
    assert pairs(candidate_layouts(small, "Offline")) == [(1, 2), (2, 1)]
    assert pairs(candidate_layouts(small, "SingleStream")) == [(1, 2), (1, 1)]
    # A cpuset granting 24 cores of node 0 and 12 of node 1.
    allowed = [*range(24), *range(24, 36)]
    uneven = read_topology(make_tree(tmp_path / "uneven", sockets=2, cores_per_socket=24, allowed=allowed))
    layouts = candidate_layouts(uneven, "Offline")
    assert pairs(layouts) == [(2, None), (9, 4), (18, 2), (36, 1)]
    assert layouts[0].label() == "2×node"


def test_batch_candidates_include_the_precisions_default():
    assert batch_candidates("Offline", 116) == [1, 16, 32, 64, 116]
    assert batch_candidates("Offline", 32) == [1, 16, 32, 64]
    assert batch_candidates("SingleStream", 116) == [1]


KEY = LayoutKey("resnet50", "Offline", "int8", "auto", "", False, 0)


def tuned(key=KEY, instances=2, threads=1, batch=64, value=300.0):
    return TunedLayout(key, instances, threads, batch, "samples/s", value, "2026-11-28T12:00:00+00:00", 5.0)


AVX2 = ("avx2", "fma")
VNNI = ("avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni")


def test_profile_file_is_named_by_cpu_model_cores_and_instruction_sets():
    spr = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")
    assert Machine("Intel(R) Xeon(R) Platinum 8480+", 112, spr).file_name == "intel-xeon-platinum-8480-112c-amx.toml"
    assert Machine("AMD EPYC", 2, AVX2).file_name == "amd-epyc-2c-avx2.toml"
    # One VM model name over two hosts: the faster one's layout is not the slower one's.
    assert Machine("AMD EPYC", 2, VNNI).file_name == "amd-epyc-2c-avx512vnni.toml"
    assert Machine("QEMU Virtual CPU", 2, ()).file_name == "qemu-virtual-cpu-2c-baseline.toml"


def test_profile_round_trip_replaces_its_own_entry_and_keeps_a_backup(tmp_path):
    machine = Machine("AMD EPYC", 2, AVX2)
    path, backup = write_layout(machine, tuned(), tmp_path)
    assert path == tmp_path / "amd-epyc-2c-avx2.toml" and backup is None
    other_key = LayoutKey("resnet50", "SingleStream", "int8", "auto", "", False, 0)
    write_layout(machine, tuned(other_key, 1, None, 1, 4.5), tmp_path)
    path, backup = write_layout(machine, tuned(batch=116, value=320.0), tmp_path)
    assert backup == tmp_path / "amd-epyc-2c-avx2.toml.bak"
    assert read_profile(backup)[1] == [tuned(), tuned(other_key, 1, None, 1, 4.5)]
    assert read_profile(path) == (machine, [tuned(other_key, 1, None, 1, 4.5), tuned(batch=116, value=320.0)])
    assert find_layout(machine, KEY, tmp_path) == (tuned(batch=116, value=320.0), path)
    assert find_layout(machine, LayoutKey("resnet50", "Offline", "fp32", "auto", "", False, 0), tmp_path) is None
    assert find_layout(Machine("AMD EPYC", 4, AVX2), KEY, tmp_path) is None
    assert find_layout(Machine("AMD EPYC", 2, VNNI), KEY, tmp_path) is None


def test_another_machines_profile_is_never_overwritten(tmp_path):
    # Two CPU names that slug alike share a file name; the file says whose it is.
    write_layout(Machine("AMD EPYC", 2, AVX2), tuned(), tmp_path)
    before = (tmp_path / "amd-epyc-2c-avx2.toml").read_text()
    with pytest.raises(ConfigError, match=r"amd-epyc-2c-avx2.toml belongs to another machine \(AMD EPYC, 2 cores, avx2 fma\)"):
        write_layout(Machine("AMD-EPYC", 2, AVX2), tuned(), tmp_path)
    assert (tmp_path / "amd-epyc-2c-avx2.toml").read_text() == before
    assert find_layout(Machine("AMD-EPYC", 2, AVX2), KEY, tmp_path) is None
    # Same name and cores, other instruction sets of the same tier: the file says so too.
    with pytest.raises(ConfigError, match=r"belongs to another machine \(AMD EPYC, 2 cores, avx2 fma\)"):
        write_layout(Machine("AMD EPYC", 2, ("avx2",)), tuned(), tmp_path)


def test_later_runs_take_the_tuned_layout_unless_the_user_chose(tmp_path):
    write_layout(this_machine(), tuned(instances=3, threads=4, batch=64), tmp_path)
    cfg = load_config(None, {"precision": "int8"}, systems=tmp_path, machine=this_machine())
    assert (cfg.instances, cfg.threads, cfg.effective_batch_size) == (3, 4, 64)
    assert cfg.system_profile == str(tmp_path / this_machine().file_name)
    # A flag wins; half a layout from the user keeps the profile's out of the pair.
    cfg = load_config(None, {"precision": "int8", "instances": 1}, systems=tmp_path, machine=this_machine())
    assert (cfg.instances, cfg.threads, cfg.effective_batch_size) == (1, None, 64)
    config = tmp_path / "mine.toml"
    config.write_text("[batch_size]\nint8 = 8\n")
    cfg = load_config(str(config), {"precision": "int8"}, systems=tmp_path, machine=this_machine())
    assert (cfg.instances, cfg.effective_batch_size) == (3, 8)
    # Another precision, or another CPU restriction, was not tuned.
    for other in ({"precision": "fp32"}, {"precision": "int8", "cpus": "0"}):
        cfg = load_config(None, other, systems=tmp_path, machine=this_machine())
        assert (cfg.instances, cfg.threads, cfg.system_profile) == (None, None, None)


def colour_tune_args(model, dataset, out, *extra):
    spec = [f"--{k.replace('_', '-')}={v}" for k, v in COLOUR_SPEC.items()]
    return ["--model", str(model), "--preset", "embedded", *spec, "--dataset", str(dataset),
            "--output-dir", str(out), "--no-progress", *extra]


def test_dry_run_lists_candidates_and_sweeping_flags_are_refused(colour_model, colour_data, tmp_path, capsys):
    args = colour_tune_args(colour_model, colour_data, tmp_path, "--scenario", "Offline", "--dry-run")
    assert main(["tune", *args, "--layouts", "1x1"]) == 0
    out = capsys.readouterr().out
    assert "1 instance × 1 thread on NUMA node" in out
    assert "batch size 116 on every layout, then 1, 16, 32, 64 on the best one" in out
    assert "5 runs of at least 5 s each" in out
    assert not tmp_path.exists() or not any(tmp_path.iterdir())
    assert main(["tune", *args, "--batch-size", "8"]) == 2
    assert "harness tune chooses --batch-size itself" in capsys.readouterr().err


def test_tune_measures_layouts_writes_the_profile_and_runs_use_it(
        colour_model, colour_data, tmp_path, monkeypatch, capsys):
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two CPUs for the 1x2 and 2x1 layouts")
    monkeypatch.setenv("HARNESS_SYSTEMS_DIR", str(tmp_path / "systems"))
    args = colour_tune_args(colour_model, colour_data, tmp_path / "runs", "--scenario", "Offline",
                            "--duration", "0.2", "--layouts", "1x2,2x1", "--batch-sizes", "8,16")
    assert main(["tune", *args]) == 0
    out = capsys.readouterr().out
    table = out[out.index("  instances"):].splitlines()
    assert re.split(r"\s+", table[0].strip()) == [
        "instances", "threads", "batch", "samples/s", "LoadGen", "placement", "run"]
    rows = [re.split(r"\s+", line.strip()) for line in table[1:4]]
    # Both layouts at the largest batch, then the other batch on the better layout.
    assert [row[:3] for row in rows[:2]] == [["1", "2", "16"], ["2", "1", "16"]]
    assert rows[2][2] == "8" and rows[2][:2] in (["1", "2"], ["2", "1"])
    # Each row is its run: the rate and LoadGen's verdict as that run's run.json has them.
    tune_dir = next((tmp_path / "runs" / "tune").iterdir())
    runs = {p.name: json.loads((p / "run.json").read_text()) for p in tune_dir.iterdir() if p.is_dir()}
    assert len(runs) == 3
    for row in rows:
        (run_id,) = [cell for cell in row if cell in runs]
        result = runs[run_id]["result"]
        assert row[3] == f"{result['value']:.1f}" and row[4] == result["validity"]
        instances = runs[run_id]["placement"]["instances"]
        assert [str(len(instances)), str(instances[0]["threads"]), str(instances[0]["batch_size"])] == row[:3]
    best = [row for row in rows if row[-1] == "best"]
    assert len(best) == 1 and max(float(row[3]) for row in rows) == float(best[0][3])

    machine = this_machine()
    path = tmp_path / "systems" / machine.file_name
    assert f"wrote {path}" in out
    owner, layouts = read_profile(path)
    assert owner == machine and len(layouts) == 1
    layout = layouts[0]
    assert layout.key == LayoutKey("colour", "Offline", "fp32", "auto", "", False, 0)
    assert [str(layout.instances), str(layout.threads), str(layout.batch_size)] == best[0][:3]
    assert layout.value == pytest.approx(float(best[0][3]), abs=0.1)
    record = json.loads((tune_dir / "tune.json").read_text())
    assert len(record["measurements"]) == 3 and record["profile"] == str(path)

    # A later run of the same model, scenario and precision takes the tuned layout.
    run_args = colour_tune_args(colour_model, colour_data, tmp_path / "later", "--quick",
                                "--duration", "0.05", "--target-qps", "1e7")
    assert main(run_args) == 0
    run = json.loads(next((tmp_path / "later").glob("*/run.json")).read_text())
    assert run["config"]["system_profile"] == str(path)
    instances = run["placement"]["instances"]
    assert (len(instances), instances[0]["threads"], instances[0]["batch_size"]) == (
        layout.instances, layout.threads, layout.batch_size)
    assert f"(defaults from system profile {path.name})" in capsys.readouterr().out


def test_an_interrupted_run_stops_the_sweep_and_writes_no_profile(
        colour_model, colour_data, tmp_path, monkeypatch, capsys):
    import signal

    import harness.loadgen.benchmark
    from harness.errors import RunInterrupted

    calls = []

    def interrupted(cfg, **_):
        calls.append(cfg)
        raise RunInterrupted("run FAILED: interrupted by SIGINT", signal.SIGINT)

    monkeypatch.setattr(harness.loadgen.benchmark, "run_benchmark", interrupted)
    monkeypatch.setenv("HARNESS_SYSTEMS_DIR", str(tmp_path / "systems"))
    args = colour_tune_args(colour_model, colour_data, tmp_path / "runs", "--layouts", "1x1,1x1")
    assert main(["tune", *args, "--batch-sizes", "4,8"]) == 130
    assert len(calls) == 1 and not (tmp_path / "systems").exists()
    assert "interrupted by SIGINT" in capsys.readouterr().err
