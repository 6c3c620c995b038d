"""`audit check` agrees with MLCommons' official submission checker (round v6.1), rule by rule.

One quick formal run of the tiny model for a whole edge system (`--scenario all`, closed
division) makes a tree; a copy with the fields only a person knows filled in is checked
untouched (it fails only for what a quick run on a 60-image dataset must break), and each
test breaks one rule the official checker applies to resnet50 and asserts the check names
it. Rules the official checker does not apply are warnings that say so; figures edited
after packaging fail the cross-checks, naming both values. The official checker itself
runs in test_official_checker_agrees when MLPERF_INFERENCE_DIR names a checkout of
mlcommons/inference.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_audit import calibrated_args

from audit.check import check_tree
from audit.cli import main as audit_main
from audit.errors import AuditError
from audit.package import package
from audit.rules import ROUND, loadgen_round, performance_findings, round_of
from audit.source import MANIFEST, source_hash
from audit.sysdesc import TO_FILL
from harness.cli.main import main as harness_main
from harness.results.logs import DETAIL, SUMMARY, LoadGenLog
from harness.terms import ROUND_SEEDS, RUNNABLE_SCENARIOS, Scenario

EDGE = [s for s in RUNNABLE_SCENARIOS if s in (Scenario.SINGLE_STREAM, Scenario.MULTI_STREAM, Scenario.OFFLINE)]
PERSON_FIELDS = {"status": "available", "host_storage_capacity": "1 TB", "host_storage_type": "NVMe SSD",
                 "host_processor_frequency": "2.45 GHz", "host_processor_caches": "L3 256 MB",
                 "host_memory_configuration": "8x DDR4", "host_processor_interconnect": "N/A",
                 "host_network_card_count": "1", "cooling": "air", "system_type_detail": "N/A"}
SUBMITTER = Path("closed/tester")
SYSTEM_JSON = SUBMITTER / "systems" / "tiny.json"
BENCHMARK = SUBMITTER / "results" / "tiny" / "resnet50"
# What a quick run of a 60-image dataset breaks by design: the official checker reports exactly these,
# and Offline's samples per query when the calibrated rate times the 0.5-s duration is below 24,576.
QUICK_RULES = ("test duration less than 600 s", "performance_sample_count 60 < 1024",
               "accuracy run does not cover all the dataset")
SHORT_QUERY = "samples per query"


@pytest.fixture(scope="module")
def formal(colour_model, colour_data, tmp_path_factory) -> Path:
    """`harness --formal --quick --scenario all` for an edge system in the closed division."""
    root = tmp_path_factory.mktemp("system")
    directory = root / "formal"
    harness_main(calibrated_args(colour_model, colour_data, root / "runs", "--scenario", "all", "--formal",
                                 "--formal-dir", str(directory), "--division", "closed", "--system-type", "edge",
                                 "--submitter", "tester", "--system", "tiny"))
    assert (directory / "submission").is_dir(), (directory / "check.txt")
    return directory


def fill_person_fields(tree: Path) -> None:
    path = tree / SYSTEM_JSON
    data = json.loads(path.read_text())
    assert {k for k, v in data.items() if v == TO_FILL} == set(PERSON_FIELDS)  # nothing else is left to fill
    path.write_text(json.dumps({**data, **PERSON_FIELDS}, indent=2))


@pytest.fixture(scope="module")
def filled(formal, tmp_path_factory) -> Path:
    tree = Path(shutil.copytree(formal / "submission", tmp_path_factory.mktemp("filled") / "tree"))
    fill_person_fields(tree)
    return tree


@pytest.fixture(scope="module")
def baseline(filled, formal) -> list[str]:
    return check_tree(filled, runs=[formal / "runs"]).lines()[:-1]


@pytest.fixture
def tree(filled, tmp_path) -> Path:
    return Path(shutil.copytree(filled, tmp_path / "tree"))


def caused(tree: Path, baseline: list[str], runs: list[Path] = ()) -> list[str]:
    """The check's lines that the damage done to `tree` added."""
    return [line for line in check_tree(tree, runs=runs).lines()[:-1] if line not in baseline]


def failed(lines: list[str], *parts: str) -> bool:
    return any(line.startswith("FAIL ") and all(p in line for p in parts) for line in lines)


def warned(lines: list[str], *parts: str) -> bool:
    return any(line.startswith("WARN (stricter than the official checker) ") and all(p in line for p in parts)
               for line in lines)


def scenario(tree: Path, name: str = "Offline") -> Path:
    return tree / BENCHMARK / name


def edit_log(path: Path, key: str, value) -> None:
    """Set `key` in a LoadGen detail log, as an editor would."""
    lines = []
    for line in path.read_text().splitlines():
        if line.startswith(":::MLLOG") and f'"key": "{key}"' in line:
            record = json.loads(line[len(":::MLLOG"):])
            record["value"] = value
            line = ":::MLLOG " + json.dumps(record)
        lines.append(line)
    path.write_text("\n".join(lines) + "\n")


def log_value(path: Path, key: str):
    for line in path.read_text().splitlines():
        if f'"key": "{key}"' in line:
            return json.loads(line[len(":::MLLOG"):])["value"]
    raise KeyError(key)


def edit_json(path: Path, **values) -> None:
    path.write_text(json.dumps({**json.loads(path.read_text()), **values}))


# ---------------------------------------------------------------- the tree as packaged

def test_a_whole_system_in_one_tree_of_the_installed_loadgens_round(formal):
    assert loadgen_round() == ROUND == "v6.1"
    state = json.loads((formal / "formal.json").read_text())
    assert state["scenarios"] == EDGE and state["round"] == ROUND
    root = formal / "submission" / SUBMITTER
    assert sorted(p.name for p in (root / "results/tiny/resnet50").iterdir()) == sorted(EDGE)
    assert not (root / "measurements").exists()  # the v5.x layout is gone
    for name in EDGE:
        directory = root / "results/tiny/resnet50" / name
        for file in ("measurements.json", "user.conf", "README.md"):
            assert (directory / file).read_text().strip(), file
        assert f"MLPerf Inference {ROUND}" in (directory / "README.md").read_text()
        assert "harness --formal --scenario " + name in (directory / "README.md").read_text()
        assert json.loads((directory / "measurements.json").read_text())["retraining"] == "no"
    system = json.loads((root / "systems/tiny.json").read_text())
    assert system["accelerators_per_node"] == "0" and system["number_of_nodes"] == "1"
    assert system["system_type"] == "edge" and system["division"] == "closed"
    assert f"MLPerf Inference {ROUND}" in system["sw_notes"]
    source = (root / "src" / "SOURCE.md").read_text()
    manifest = (root / "src" / MANIFEST).read_text()
    assert f"round {ROUND}" in source and f"source sha256 {source_hash(manifest)}" in source
    assert "src/audit/check.py" not in manifest and "audit/check.py" in manifest
    assert (root / "src/audit/check.py").read_bytes() == (Path(__file__).parents[1] / "audit/check.py").read_bytes()
    assert not list((root / "src").rglob("__pycache__")) and not list((root / "src").rglob("*.so"))
    for key, step in state["steps"].items():
        if "run" in step:
            assert json.loads((Path(step["run"]) / "run.json").read_text())["round"] == ROUND, key


def test_the_quick_tree_fails_only_what_a_quick_run_must(baseline):
    fails = [line for line in baseline if line.startswith("FAIL ")]
    for rule in QUICK_RULES:
        assert any(rule in line for line in fails), rule
    # The compliance runs' speed is timing: on a loaded machine a verdict may fail, by its own numbers.
    timing = "compliance test performance check failed"
    unrunnable = ("does not have all required scenarios",) if len(EDGE) < 3 else ()  # MultiStream not yet runnable
    allowed = (*QUICK_RULES, SHORT_QUERY, timing, *unrunnable)
    assert [line for line in fails if not any(r in line for r in allowed)] == []
    assert not any("cross-check" in line for line in baseline)


def test_round_of_seeds():
    names = ("qsl_rng_seed", "sample_index_rng_seed", "schedule_rng_seed")
    for name, seeds in ROUND_SEEDS.items():
        assert round_of(dict(zip(names, seeds))) == name
    assert round_of(dict(zip(names, (1, 2, 3)))) is None


def test_packaging_for_another_round_is_an_error(formal, tmp_path, capsys):
    runs = [step["run"] for key, step in json.loads((formal / "formal.json").read_text())["steps"].items()
            if key.startswith("Offline ")]
    assert audit_main(["package", *runs, "--out", str(tmp_path / "t"), "--submitter", "a", "--system", "b",
                       "--round", "v6.0"]) == 2
    [err] = capsys.readouterr().err.strip().splitlines()
    assert "--round v6.0: the installed LoadGen 6.0.17's mlperf.conf carries the v6.1 seeds" in err
    assert not (tmp_path / "t").exists()


def test_runs_of_another_rounds_seeds_are_not_packaged(formal, tmp_path):
    steps = json.loads((formal / "formal.json").read_text())["steps"]
    runs = [Path(shutil.copytree(step["run"], tmp_path / Path(step["run"]).name))
            for key, step in steps.items() if key.startswith("Offline ")]
    detail = next(r for r in runs if json.loads((r / "run.json").read_text())["config"]["mode"] == "accuracy") / DETAIL
    edit_log(detail, "effective_qsl_rng_seed", ROUND_SEEDS["v6.0"][0])
    edit_log(detail, "effective_sample_index_rng_seed", ROUND_SEEDS["v6.0"][1])
    edit_log(detail, "effective_schedule_rng_seed", ROUND_SEEDS["v6.0"][2])
    with pytest.raises(AuditError, match=f"{re.escape(str(detail))} has the seeds of v6.0 .*not round v6.1's"):
        package(runs, tmp_path / "t", "a", "b")


def test_scenarios_are_added_to_one_tree_one_package_at_a_time(formal, tmp_path):
    steps = json.loads((formal / "formal.json").read_text())["steps"]
    by_scenario = {s: [step["run"] for key, step in steps.items() if key.startswith(f"{s} ")] for s in EDGE}
    out = tmp_path / "tree"
    for name in EDGE:
        package(by_scenario[name], out, "tester", "tiny", "closed", system_type="edge", echo=lambda *_: None)
    assert sorted(p.name for p in (out / BENCHMARK).iterdir()) == sorted(EDGE)
    with pytest.raises(AuditError, match="already exists; package into a new --out"):
        package(by_scenario[EDGE[0]], out, "tester", "tiny", "closed")
    system = out / SYSTEM_JSON
    system.write_text(system.read_text().replace(f"MLPerf Inference {ROUND}", "MLPerf Inference v6.0"))
    shutil.rmtree(out / BENCHMARK / EDGE[0])
    with pytest.raises(AuditError, match="says MLPerf Inference v6.0 .* of another round"):
        package(by_scenario[EDGE[0]], out, "tester", "tiny", "closed")


def test_a_formal_run_from_before_rounds_resumes(formal, tmp_path, capsys):
    """formal.json of one scenario, as written before formal runs held several: its steps are found."""
    state = json.loads((formal / "formal.json").read_text())
    old = {"config": {**state["config"], "scenario": "Offline"}, "created": state["created"],
           **{k: state[k] for k in ("submitter", "system", "division")},
           "steps": {k.removeprefix("Offline "): v for k, v in state["steps"].items()
                     if k.startswith("Offline ") or k == "package"}}
    directory = tmp_path / "old"
    directory.mkdir()
    (directory / "formal.json").write_text(json.dumps(old))
    shutil.copytree(formal / "submission", directory / "submission")
    harness_main(["--formal", "--resume", str(directory), "--no-progress"])
    out = capsys.readouterr().out
    assert f"formal run of Offline in {directory} (MLPerf Inference {ROUND})" in out
    assert f"[1/6] Offline performance: finished earlier ({old['steps']['performance']['run']})" in out
    assert "[5/6] package: finished earlier" in out and "[6/6] check --quick" in out


# ---------------------------------------------------------------- one test per official rule

def unlink(*parts):
    return lambda tree: (tree / Path(*parts)).unlink()


def rmtree(*parts):
    return lambda tree: shutil.rmtree(tree / Path(*parts))


def write(rel: str, text: str):
    return lambda tree: (tree / rel).write_text(text)


def set_log(rel: str, key: str, value):
    return lambda tree: edit_log(tree / rel, key, value)


def set_system(**values):
    return lambda tree: edit_json(tree / SYSTEM_JSON, **values)


def drop_system(key: str):
    def mutate(tree):
        data = json.loads((tree / SYSTEM_JSON).read_text())
        del data[key]
        (tree / SYSTEM_JSON).write_text(json.dumps(data))
    return mutate


def replace_line(rel: str, pattern: str, new: str):
    def mutate(tree):
        path = tree / rel
        path.write_text(re.sub(pattern, new, path.read_text(), flags=re.M))
    return mutate


OFF = BENCHMARK / "Offline"
SS = BENCHMARK / "SingleStream"
PERF = OFF / "performance/run_1" / DETAIL
ACC = OFF / "accuracy"
RULES = {
    # files and paths
    "performance log": (unlink(PERF), f"{PERF}: missing"),
    "accuracy log": (unlink(ACC / DETAIL), f"{ACC / DETAIL}: missing"),
    "accuracy.txt": (unlink(ACC / "accuracy.txt"), f"{ACC / 'accuracy.txt'}: missing"),
    "accuracy json": (unlink(ACC / "mlperf_log_accuracy.json"), f"{ACC / 'mlperf_log_accuracy.json'}: missing"),
    "measurements.json": (unlink(OFF / "measurements.json"), "measurements json file not found"),
    "user.conf": (unlink(OFF / "user.conf"), f"{OFF / 'user.conf'}: missing"),
    "README.md": (write(str(OFF / "README.md"), ""), f"{OFF / 'README.md'}: empty"),
    "src": (rmtree(SUBMITTER / "src"), f"{SUBMITTER / 'src'}: src directory does not exist"),
    "system json": (unlink(SYSTEM_JSON), f"{SYSTEM_JSON}: system json file not found"),
    "results": (rmtree(SUBMITTER / "results"), f"{SUBMITTER / 'results'}: missing"),
    "not a LoadGen log": (write(str(PERF), "garbage\n"), "not a LoadGen log: the first line is not a :::MLLOG"),
    "measurement field": (lambda t: edit_json(t / OFF / "measurements.json", retraining=""),
                          "field retraining is missing meaningful value"),
    # seeds
    "qsl seed": (set_log(str(PERF), "effective_qsl_rng_seed", 1), "qsl_rng_seed is wrong: 1, round v6.1 requires"),
    "sample index seed": (set_log(str(PERF), "effective_sample_index_rng_seed", 2), "sample_index_rng_seed is wrong"),
    "schedule seed": (set_log(str(PERF), "effective_schedule_rng_seed", 3), "schedule_rng_seed is wrong"),
    # durations and sample counts (the quick tree breaks duration, sample count and samples per query already)
    "Offline min query count": (set_log(str(PERF), "effective_min_query_count", 0), "min_query_count 0 < 1"),
    # early stopping
    "early stopping": (set_log(str(SS / "performance/run_1" / DETAIL), "early_stopping_met", False),
                       "early stopping condition was not met"),
    # accuracy target, coverage, truncated log and hash
    "accuracy target": (replace_line(str(ACC / "accuracy.txt"), r"^accuracy=100\.000%, good=60",
                                     "accuracy=50.000%, good=30"), "accuracy not met: expected=75.6954"),
    "accuracy line": (replace_line(str(ACC / "accuracy.txt"), r"^accuracy=.*$", ""), "no accuracy=N% line"),
    "hash line": (replace_line(str(ACC / "accuracy.txt"), r"^hash=.*$", ""), "no hash value"),
    "truncated": (write(str(ACC / "mlperf_log_accuracy.json"), " " * 20_000), "is not truncated: 20000 bytes"),
    "accuracy log error": (lambda t: (t / ACC / DETAIL).write_text(
        (t / ACC / DETAIL).read_text() + ':::MLLOG {"key": "error_runtime", "value": "boom", '
                                          '"time_ms": 1, "namespace": "mlperf::logging", "event_type": "POINT_IN_TIME", '
                                          '"metadata": {"is_error": true, "is_warning": false, "file": "x", '
                                          '"line_no": 1, "pid": 1, "tid": 1}}\n'), "contains LoadGen error"),
    # compliance directories and verdicts
    "TEST01 dir": (rmtree(OFF / "TEST01"), "missing TEST01 in the compliance directory"),
    "TEST04 dir": (rmtree(OFF / "TEST04"), "missing TEST04 in the compliance directory"),
    "TEST01 verify_accuracy": (unlink(OFF / "TEST01/verify_accuracy.txt"), "TEST01/verify_accuracy.txt: missing"),
    "TEST04 verify_performance": (unlink(OFF / "TEST04/verify_performance.txt"),
                                  "TEST04/verify_performance.txt: missing"),
    "TEST04 log": (unlink(OFF / "TEST04/performance/run_1" / DETAIL), f"TEST04/performance/run_1/{DETAIL}: missing"),
    "TEST01 accuracy verdict": (replace_line(str(OFF / "TEST01/verify_accuracy.txt"), "^TEST (PASS|FAIL.*)$",
                                             "TEST FAIL: x"), "compliance test accuracy check failed: TEST FAIL: x"),
    "TEST04 performance verdict": (replace_line(str(OFF / "TEST04/verify_performance.txt"), "^TEST (PASS|FAIL.*)$",
                                                "TEST FAIL: y"), "compliance test performance check failed: TEST FAIL: y"),
    "compliance file list": (write(str(OFF / "TEST04/performance/run_1/extra.txt"), "x"),
                             "file list mismatch (['extra.txt'])"),
    "compliance seeds": (set_log(str(OFF / "TEST04/performance/run_1" / DETAIL), "effective_qsl_rng_seed", 1),
                         "TEST04/performance/run_1/mlperf_log_detail.txt: qsl_rng_seed is wrong"),
    # system fields
    "status": (set_system(status="Available now"), "has invalid status ('Available now')"),
    "system type": (set_system(system_type="Edge"), "has invalid system type ('Edge')"),
    "accelerators 0": (set_system(accelerators_per_node=0),
                       "field accelerators_per_node requires a meaningful response but is empty"),
    "empty field": (set_system(cooling=""), "field cooling requires a meaningful response but is empty"),
    "missing field": (drop_system("hw_notes"), "field hw_notes is missing"),
    "integer field": (set_system(number_of_nodes="one"), "field number_of_nodes = 'one' is not an integer"),
    "submitter": (set_system(submitter="someone"), "has submitter 'someone', directory has 'tester'"),
    "division": (set_system(division="open"), "has division 'open', directory has 'closed'"),
    "network mode": (set_system(is_network="true"), "incorrect network mode"),
    # required scenarios per system type
    "missing scenario": (rmtree(OFF), "does not have all required scenarios of an edge system, missing ['offline']"),
    "datacenter,edge": (set_system(system_type="datacenter,edge"), "missing ['server']"),
    "datacenter": (set_system(system_type="datacenter"), "resnet50 is no datacenter benchmark in round v6.1"),
    "unknown scenario": (lambda t: shutil.copytree(t / OFF, t / BENCHMARK / "Server"),
                         "has scenarios unknown for an edge system ['server']"),
}


@pytest.mark.parametrize("rule", RULES)
def test_the_check_names_each_broken_official_rule(tree, baseline, rule):
    mutate, expected = RULES[rule]
    mutate(tree)
    lines = caused(tree, baseline)
    assert failed(lines, expected), "\n".join(lines)


def test_the_open_division_skips_what_the_official_checker_skips(tree, baseline):
    open_tree = tree / "open"
    open_tree.mkdir()
    shutil.move(tree / SUBMITTER, open_tree / "tester")
    shutil.rmtree(tree / "closed")
    edit_json(open_tree / "tester/systems/tiny.json", division="open")
    offline = open_tree / "tester/results/tiny/resnet50/Offline"
    shutil.rmtree(offline / "TEST04")
    accuracy = offline / "accuracy/accuracy.txt"
    accuracy.write_text(accuracy.read_text().replace("accuracy=100.000%, good=60", "accuracy=50.000%, good=30"))
    shutil.rmtree(open_tree / "tester/results/tiny/resnet50/SingleStream")
    run_1 = offline / "performance/run_1"  # a query short of the closed division's minimum, whatever the timing
    edit_log(run_1 / DETAIL, "effective_samples_per_query", 100)
    (run_1 / SUMMARY).write_text(re.sub(r"^samples_per_query : \d+$", "samples_per_query : 100",
                                        (run_1 / SUMMARY).read_text(), flags=re.M))
    report = check_tree(tree)
    lines = report.lines()
    fails = [line for line in lines if line.startswith("FAIL ")]
    # open: no required scenarios, no accuracy target, no samples-per-query minimum, no compliance
    assert not any("required scenarios" in line or "accuracy not met" in line or "samples per query" in line
                   or "TEST04" in line for line in fails), fails
    assert warned(lines, "Offline/TEST04", "missing TEST04 in the compliance directory")
    assert warned(lines, "samples per query")
    assert any(line.startswith("note ") and "accuracy not met" in line for line in lines)
    assert all(any(rule in line for rule in QUICK_RULES) for line in fails), fails


def test_rules_of_scenarios_the_tree_does_not_hold():
    """Server's latency bound and inferred results, on logs made in memory."""
    seeds = {f"effective_{k}": v for k, v in zip(("qsl_rng_seed", "sample_index_rng_seed", "schedule_rng_seed"),
                                                  ROUND_SEEDS["v6.1"])}
    server = LoadGenLog({**seeds, "effective_scenario": "Server", "effective_min_duration_ms": 600000,
                         "effective_performance_sample_count": 1024, "early_stopping_met": True,
                         "effective_target_latency_ns": 20_000_000, "result_completed_samples_per_sec": 10.0,
                         "result_validity": "VALID"}, (), ())
    [f] = performance_findings(server, Scenario.SERVER, "x", "closed", "datacenter,edge")
    assert f.fails and "latency constraint not met: target latency 20000000 ns > 15000000 ns" in f.problem
    single = LoadGenLog({**dict(server.values), "effective_scenario": "SingleStream",
                         "early_stopping_latency_ss": 1000}, (), ())
    [f] = performance_findings(single, Scenario.MULTI_STREAM, "x", "closed", "edge")
    assert f.kind == "stricter" and "an inferred result" in f.problem  # the official checker accepts it on edge
    [f] = performance_findings(single, Scenario.MULTI_STREAM, "x", "closed", "datacenter")
    assert f.fails and "result can not be inferred for system type 'datacenter'" in f.problem
    [f] = performance_findings(LoadGenLog({**dict(server.values), "effective_scenario": "Offline",
                                           "effective_min_query_count": 1, "effective_samples_per_query": 24576,
                                           "result_samples_per_second": 5.0}, (), ()),
                               Scenario.SERVER, "x", "closed", "datacenter,edge")
    assert f.fails and "result for scenario Server can not be inferred from Offline" in f.problem


# ---------------------------------------------------------------- stricter: warnings that say so

def test_stricter_rules_warn_and_do_not_fail(tree, baseline):
    edit_log(tree / PERF, "result_validity", "INVALID")
    (tree / OFF / "performance/run_1" / SUMMARY).write_text(
        (tree / OFF / "performance/run_1" / SUMMARY).read_text().replace("Result is : VALID", "Result is : INVALID"))
    (tree / SS / "accuracy" / SUMMARY).unlink()
    lines = caused(tree, baseline)
    assert warned(lines, str(PERF), "LoadGen result")
    assert warned(lines, str(SS / "accuracy" / SUMMARY), "missing (the official checker reads the detail log only")
    assert not any(line.startswith("FAIL ") for line in lines), lines


# ---------------------------------------------------------------- cross-checks: tampered figures fail

def test_a_summary_headline_divided_by_ten_fails(tree, baseline):
    summary = tree / SS / "performance/run_1" / SUMMARY
    text = summary.read_text()
    value = int(re.search(r"^90\.0th percentile latency \(ns\) : (\d+)$", text, re.M).group(1))
    summary.write_text(text.replace(f"90.0th percentile latency (ns) : {value}",
                                    f"90.0th percentile latency (ns) : {value // 10}"))
    lines = caused(tree, baseline)
    assert failed(lines, "cross-check", f"90.0th percentile latency (ns) = {value // 10} in {SUMMARY}",
                  f"result_90.00_percentile_latency_ns = {value}")


def test_a_detail_headline_divided_by_ten_fails(tree, baseline):
    detail = tree / SS / "performance/run_1" / DETAIL
    value = log_value(detail, "result_90.00_percentile_latency_ns")
    edit_log(detail, "result_90.00_percentile_latency_ns", value // 10)
    lines = caused(tree, baseline)
    assert failed(lines, "cross-check", f"= {value} in {SUMMARY}", f"result_90.00_percentile_latency_ns = {value // 10}")


def test_both_logs_edited_alike_fail_against_the_runs_own(tree, baseline, formal):
    run_1 = tree / SS / "performance/run_1"
    value = log_value(run_1 / DETAIL, "result_90.00_percentile_latency_ns")
    edit_log(run_1 / DETAIL, "result_90.00_percentile_latency_ns", value // 10)
    summary = run_1 / SUMMARY
    summary.write_text(re.sub(rf"(percentile latency \(ns\)\s*:) {value}$", rf"\1 {value // 10}", summary.read_text(),
                              flags=re.M))
    assert not failed(caused(tree, baseline), "cross-check")  # the two agree with each other now
    lines = caused(tree, baseline, runs=[formal / "runs"])
    assert failed(lines, "cross-check", f"result_90.00_percentile_latency_ns = {value // 10}, but the run's own log",
                  f"has {value}")
    assert failed(lines, "cross-check", f"{SUMMARY}: differs from the run's own")


def test_a_made_up_accuracy_fails_with_or_without_the_full_log(tree, baseline, formal):
    accuracy = tree / ACC / "accuracy.txt"
    accuracy.write_text(accuracy.read_text().replace("accuracy=100.000%", "accuracy=80.000%"))
    lines = caused(tree, baseline)
    assert failed(lines, "cross-check", "accuracy=80.000% but good=60 of total=60 is 100.000%")
    # The whole line made up, consistently: only the full log tells, and it is at hand in runs/.
    accuracy.write_text(accuracy.read_text().replace("accuracy=80.000%, good=60", "accuracy=50.000%, good=30"))
    assert not failed(caused(tree, baseline), "cross-check")
    assert any(line.startswith("note ") and "not recomputed" in line for line in check_tree(tree).lines())
    lines = caused(tree, baseline, runs=[formal / "runs"])
    assert failed(lines, "cross-check", "accuracy=50.000%, but the full log", "gives accuracy=100.000%, good=60")


def test_a_hash_line_that_names_no_log_fails(tree, baseline, formal):
    accuracy = tree / ACC / "accuracy.txt"
    accuracy.write_text(re.sub(r"^hash=\w+$", "hash=" + "0" * 64, accuracy.read_text(), flags=re.M))
    lines = caused(tree, baseline, runs=[formal / "runs"])
    assert failed(lines, "cross-check", f"hash={'0' * 64}, but", "hashes to")


def test_compliance_verdicts_are_recomputed(tree, baseline, formal):
    verify_file = tree / OFF / "TEST04/verify_performance.txt"
    text = verify_file.read_text()
    score = re.search(r"^test score = (\S+)$", text, re.M).group(1)
    verify_file.write_text(text.replace(f"test score = {score}", "test score = 1.0"))
    lines = caused(tree, baseline)
    assert failed(lines, "cross-check", "test score = 1.0, but TEST04/performance/run_1", f"= {score}")
    # A TEST04 run 100x as fast as the performance run (a cache), its verdict edited to pass.
    run_1 = tree / OFF / "TEST04/performance/run_1"
    speed = log_value(run_1 / DETAIL, "result_samples_per_second")
    edit_log(run_1 / DETAIL, "result_samples_per_second", speed * 100)
    verify_file.write_text(re.sub(r"^TEST FAIL.*$", "TEST PASS", text, flags=re.M))
    lines = caused(tree, baseline)
    assert failed(lines, "cross-check", "says TEST PASS, but the logs in the tree give", "as when a SUT caches")
    verify_accuracy = tree / OFF / "TEST01/verify_accuracy.txt"
    text = verify_accuracy.read_text()
    verify_accuracy.write_text(re.sub(r"^num_perf_log_data_mismatch = \d+$", "num_perf_log_data_mismatch = 7",
                                      text, flags=re.M))
    lines = caused(tree, baseline, runs=[formal / "runs"])
    assert failed(lines, "cross-check", "num_perf_log_data_mismatch = 7.0, but", "gives 0")


# ---------------------------------------------------------------- the official checker, where at hand

OFFICIAL = os.environ.get("MLPERF_INFERENCE_DIR")


@pytest.mark.skipif(not OFFICIAL, reason="set MLPERF_INFERENCE_DIR to a checkout of mlcommons/inference to run "
                                         "its submission checker")
def test_official_checker_agrees(filled, baseline, tmp_path):
    done = subprocess.run([sys.executable, "-m", "submission_checker.main", "--input", str(filled),
                           "--version", "v6.1", "--csv", str(tmp_path / "summary.csv")],
                          cwd=Path(OFFICIAL) / "tools/submission", capture_output=True, text=True, timeout=600)
    output = done.stdout + done.stderr
    errors = [line for line in output.splitlines() if " ERROR] " in line or " WARNING] " in line]
    official = {"Test duration less than 600s": "test duration less than 600 s",
                "performance_sample_count, found": "performance_sample_count 60 < 1024",
                "samples per query not met": "samples per query",
                "does not cover all dataset": "accuracy run does not cover all the dataset",
                "Compliance test performance check": "compliance test performance check failed"}
    ours = [line for line in baseline if line.startswith("FAIL ")]
    for theirs, mine in official.items():
        assert any(theirs in line for line in errors) == any(mine in line for line in ours), (theirs, output)
    unexplained = [line for line in errors if not any(t in line for t in official)
                   and not re.search(r"(Some .* failed for|NoResults|SUMMARY|Execution of check .* skipped)", line)]
    assert unexplained == [], "\n".join(unexplained)
