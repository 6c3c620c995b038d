"""Compliance tests, packaging and the checker, on quick runs of the tiny dominant-colour model.

Quick runs are held to the relaxed thresholds the verifier and checker apply to
them (a factor of 4 on performance, length rules waived); the faulty SUTs in
faulty_suts.py are gross enough to fail even those.
"""

import json
import shutil
from pathlib import Path

import pytest
from test_run import MLPERF_CONF_SEEDS

from audit.check import QUICK_NOTE, check_tree
from audit.cli import main as audit_main
from audit.configs import TESTS
from audit.errors import AuditError
from audit.package import package
from audit.runner import run_accuracy, run_compliance
from audit.runs import read_run
from audit.truncate import truncate_accuracy_log
from audit.verify import verify
from harness.cli.args import config_from_args
from harness.cli.main import build_parser
from harness.cli.main import main as harness_main
from harness.loadgen.benchmark import run_benchmark
from harness.results.logs import read_detail_log

from conftest import colour_args


def quiet(*_):
    pass


def performance_run(model, data, out: Path, sut_class: str, *extra: str):
    cfg = config_from_args(build_parser().parse_args(["run", *colour_args(model, data, out), *extra]))
    record = run_benchmark(cfg, sut_class=sut_class, echo=quiet)
    return read_run(out / record["run_id"])


def calibrated_args(model, data, out: Path, *extra: str) -> list[str]:
    """colour_args without its fixed target (a formal run calibrates; its audits reuse the target) and
    0.5-s runs: in shorter ones TEST01's 4,096 logged responses are a large share of all, and logging
    them slowed the tiny model's TEST01 run 4x."""
    args = colour_args(model, data, out, *extra, "--duration", "0.5")
    at = args.index("--target-qps")
    return args[:at] + args[at + 2:]


# ---------------------------------------------------------------- audit.config and truncation

def test_audit_configs_set_the_official_keys():
    text = TESTS["TEST01"].audit_config()
    assert "*.*.mode = 2" in text
    assert "*.*.accuracy_log_rng_seed = 720381539243781796" in text
    assert "*.*.accuracy_log_sampling_target = 4096" in text
    text = TESTS["TEST04"].audit_config()
    assert "*.*.performance_issue_same = 1" in text and "*.*.performance_issue_same_index = 3" in text
    assert TESTS["TEST04"].expected_log()["effective_performance_issue_same"] is True


def test_truncation_keeps_both_ends_and_hashes_the_whole_log(tmp_path):
    import hashlib

    big = tmp_path / "big.json"
    big.write_bytes(b"[\n" + b"".join(b'{"seq_id": %d, "qsl_idx": 1, "data": "0000803F"},\n' % i
                                      for i in range(2000)) + b"]\n")
    digest = truncate_accuracy_log(big, tmp_path / "out" / "big.json")
    data = (tmp_path / "out" / "big.json").read_bytes()
    assert digest == hashlib.sha256(big.read_bytes()).hexdigest()
    assert data == big.read_bytes()[:4096] + b"\n\n...\n\n" + big.read_bytes()[-4096:]
    small = tmp_path / "small.json"
    small.write_bytes(b"[]\n")
    truncate_accuracy_log(small, tmp_path / "out" / "small.json")
    assert (tmp_path / "out" / "small.json").read_bytes() == b"[]\n"


# ---------------------------------------------------------------- injected faults

def test_test01_catches_a_sut_that_answers_differently_when_timed(colour_model, colour_data, tmp_path):
    # 5,500 samples a run: this SUT's per-sample Python loop makes the default 550,000 slow.
    perf = performance_run(colour_model, colour_data, tmp_path, "faulty_suts:WrongWhenRepeatedSUT",
                           "--target-qps", "1e5")
    accuracy = run_accuracy(perf, tmp_path, echo=quiet)
    assert accuracy.record["result"]["top1"] == 100.0  # accuracy mode issues each sample once: no fault shows
    test01 = run_compliance("TEST01", perf, tmp_path, echo=quiet)
    assert (test01.path / "audit.config").read_text() == TESTS["TEST01"].audit_config()
    assert test01.record["sut_class"] == "faulty_suts:WrongWhenRepeatedSUT"  # the audit repeats the SUT too
    by_kind = {v.kind: v for v in verify("TEST01", perf, test01, accuracy)}
    verdict = by_kind["accuracy"]
    assert not verdict.passed
    assert "answers differently in performance mode" in verdict.reason
    text = verdict.text()
    assert "num_perf_log_data_mismatch = 0" not in text and "fallback: compliance accuracy" in text
    assert text.rstrip().splitlines()[-1].startswith("TEST FAIL")


def test_test04_catches_a_caching_sut_and_passes_the_same_sut_without_cache(colour_model, colour_data, tmp_path):
    # 2,200 samples (19 batches) a run: the faulty SUTs pay 50 ms per inferred batch of 116.
    extra = ("--target-qps", "2e4", "--duration", "0.1")
    verdicts = {}
    for sut in ("CachingSUT", "SlowSUT"):
        perf = performance_run(colour_model, colour_data, tmp_path / sut, f"faulty_suts:{sut}", *extra)
        test04 = run_compliance("TEST04", perf, tmp_path / sut, echo=quiet)
        log = read_detail_log(test04.path)
        assert log.get("effective_performance_issue_same") is True
        assert log.get("effective_performance_issue_same_index") == 3
        [verdicts[sut]] = verify("TEST04", perf, test04, None)
    assert not verdicts["CachingSUT"].passed
    assert "as when a SUT caches results" in verdicts["CachingSUT"].reason
    assert verdicts["SlowSUT"].passed, verdicts["SlowSUT"].text()
    assert "relaxed to a factor of 4" in verdicts["SlowSUT"].text()


# ---------------------------------------------------------------- formal runs, package, check

@pytest.fixture(scope="module")
def formal_runs(colour_model, colour_data, tmp_path_factory) -> dict[str, tuple[int, Path]]:
    """`harness --scenario S --formal --quick` for each scenario: {scenario: (exit code, formal directory)}."""
    root = tmp_path_factory.mktemp("formal")
    done = {}
    for scenario in ("Offline", "SingleStream"):
        directory = root / scenario
        rc = harness_main(calibrated_args(colour_model, colour_data, root / "runs", "--scenario", scenario,
                                          "--formal", "--formal-dir", str(directory),
                                          "--submitter", "tester", "--system", "tiny"))
        done[scenario] = (rc, directory)
    return done


def scenario_dir(formal_dir: Path, scenario: str) -> Path:
    return formal_dir / "submission" / "open" / "tester" / "results" / "tiny" / "resnet50" / scenario


def target_line(run_dir: Path) -> str:
    return next(line for line in (run_dir / "user.conf").read_text().splitlines() if ".target_" in line)


@pytest.mark.parametrize("scenario", ["Offline", "SingleStream"])
def test_quick_formal_run_passes_the_quick_check(formal_runs, scenario):
    rc, directory = formal_runs[scenario]
    report = (directory / "check.txt").read_text().splitlines()
    assert rc == 0, "\n".join(report)
    assert report[0] == QUICK_NOTE  # the relaxation is said first
    assert report[-1].startswith("check PASS (quick: relaxed rules)")
    state = json.loads((directory / "formal.json").read_text())
    assert set(state["steps"]) == {"performance", "accuracy", "TEST01", "TEST04", "package"}
    perf = read_run(Path(state["steps"]["performance"]["run"]))
    assert perf.record["calibrated_target"] and perf.config["target_qps"] is None  # measured, not given
    for step in ("accuracy", "TEST01", "TEST04"):
        run = read_run(Path(state["steps"][step]["run"]))
        assert run.audited_run == perf.run_id
        assert run.record["calibrated_target"] == perf.record["calibrated_target"]
        assert target_line(run.path) == target_line(perf.path)
        assert run.record["placement"]["instances"] == perf.record["placement"]["instances"]
    results = scenario_dir(directory, scenario)
    assert read_detail_log(results / "performance" / "run_1").seeds() == MLPERF_CONF_SEEDS
    accuracy_txt = (results / "accuracy" / "accuracy.txt").read_text().splitlines()
    assert accuracy_txt[0].startswith("accuracy=100.000%") and accuracy_txt[-1].startswith("hash=")
    for test in ("TEST01", "TEST04"):
        assert (results / test / "verify_performance.txt").read_text().rstrip().endswith("TEST PASS")
    assert (results / "TEST01" / "verify_accuracy.txt").read_text().rstrip().endswith("TEST PASS")


def test_the_full_check_rejects_a_quick_tree(formal_runs):
    _, directory = formal_runs["Offline"]
    report = check_tree(directory / "submission", quick=False)
    assert not report.passed
    lines = report.lines()
    assert QUICK_NOTE not in lines and not report.waived
    assert any("performance/run_1/mlperf_log_detail.txt: min_duration 500 ms < 600000 ms" in line for line in lines)
    assert any("systems/tiny.json: fields still 'TO BE FILLED BY SUBMITTER'" in line for line in lines)
    assert all(line.startswith(("FAIL ", "checked ", "check FAIL")) for line in lines)


@pytest.fixture
def tree(formal_runs, tmp_path) -> Path:
    """A copy of the Offline formal run's tree, to damage."""
    _, directory = formal_runs["Offline"]
    return Path(shutil.copytree(directory / "submission", tmp_path / "tree"))


def fail_lines(tree: Path, quick: bool = True) -> list[str]:
    report = check_tree(tree, quick=quick)
    assert not report.passed
    return [line for line in report.lines() if line.startswith("FAIL ")]


REQUIRED = ("results/tiny/resnet50/Offline/performance/run_1/mlperf_log_summary.txt",
            "results/tiny/resnet50/Offline/performance/run_1/mlperf_log_detail.txt",
            "results/tiny/resnet50/Offline/accuracy/accuracy.txt",
            "results/tiny/resnet50/Offline/accuracy/mlperf_log_accuracy.json",
            "results/tiny/resnet50/Offline/accuracy/mlperf_log_detail.txt",
            "results/tiny/resnet50/Offline/TEST01/verify_accuracy.txt",
            "results/tiny/resnet50/Offline/TEST01/verify_performance.txt",
            "results/tiny/resnet50/Offline/TEST01/accuracy/mlperf_log_accuracy.json",
            "results/tiny/resnet50/Offline/TEST01/performance/run_1/mlperf_log_detail.txt",
            "results/tiny/resnet50/Offline/TEST04/verify_performance.txt",
            "results/tiny/resnet50/Offline/TEST04/performance/run_1/mlperf_log_summary.txt",
            "measurements/tiny/resnet50/Offline/user.conf",
            "measurements/tiny/resnet50/Offline/README.md",
            "measurements/tiny/resnet50/Offline/tiny_harness_Offline.json",
            "systems/tiny.json")


def test_checker_reports_each_missing_file(tree):
    submitter = tree / "open" / "tester"
    for rel in REQUIRED:
        (submitter / rel).unlink()
    lines = fail_lines(tree)
    for rel in REQUIRED:
        assert sum(line.startswith(f"FAIL open/tester/{rel}: missing;") for line in lines) == 1, rel


def test_checker_reports_a_wrong_seed(tree):
    detail = tree / "open/tester/results/tiny/resnet50/Offline/performance/run_1/mlperf_log_detail.txt"
    seed = MLPERF_CONF_SEEDS["qsl_rng_seed"]
    text = detail.read_text()
    assert f'"effective_qsl_rng_seed", "value": {seed}' in text
    detail.write_text(text.replace(f'"effective_qsl_rng_seed", "value": {seed}',
                                   '"effective_qsl_rng_seed", "value": 12345'))
    [line] = fail_lines(tree)
    assert "performance/run_1/mlperf_log_detail.txt: qsl_rng_seed = 12345, mlperf.conf" in line
    assert f"has {seed}" in line


def test_checker_reports_failed_compliance_and_an_untruncated_log(tree):
    offline = tree / "open/tester/results/tiny/resnet50/Offline"
    verify_file = offline / "TEST04" / "verify_performance.txt"
    verify_file.write_text(verify_file.read_text().replace("TEST PASS", "TEST FAIL: injected"))
    (offline / "accuracy" / "mlperf_log_accuracy.json").write_text(" " * 20_000)
    accuracy_txt = offline / "accuracy" / "accuracy.txt"
    accuracy_txt.write_text(accuracy_txt.read_text().splitlines()[0] + "\n")
    lines = fail_lines(tree)
    assert any("TEST04/verify_performance.txt: TEST FAIL: injected" in line for line in lines)
    assert any("accuracy/mlperf_log_accuracy.json: 20000 bytes: not truncated" in line for line in lines)
    assert any("accuracy/accuracy.txt: no 'hash=<sha256>' line" in line for line in lines)
    assert len(lines) == 3


def test_resume_runs_only_the_unfinished_steps(formal_runs, tmp_path, capsys):
    _, original = formal_runs["Offline"]
    directory = tmp_path / "formal"
    shutil.copytree(original, directory, ignore=shutil.ignore_patterns("submission", "check.txt"))
    state = json.loads((directory / "formal.json").read_text())
    del state["steps"]["TEST04"], state["steps"]["package"]  # as if interrupted during TEST04
    (directory / "formal.json").write_text(json.dumps(state))
    assert harness_main(["--formal", "--resume", str(directory), "--no-progress"]) == 0
    out = capsys.readouterr().out
    for step in ("performance", "accuracy", "TEST01"):
        assert f"{step}: finished earlier ({state['steps'][step]['run']})" in out
    resumed = json.loads((directory / "formal.json").read_text())["steps"]
    assert Path(resumed["TEST04"]["run"]).parent == directory / "runs"  # run again, in this directory
    assert "  LoadGen: VALID" in out.split("[4/6] TEST04")[1]  # the rerun's result, as it ends
    assert "check PASS" in out


def test_resume_refuses_other_settings(formal_runs, capsys):
    _, directory = formal_runs["Offline"]
    assert harness_main(["--scenario", "SingleStream", "--formal", "--resume", str(directory)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "scenario = 'Offline' but this command sets 'SingleStream'" in err[0]


def test_audit_errors_are_one_line(tmp_path, capsys):
    assert audit_main(["check", str(tmp_path)]) == 2
    assert audit_main(["package", str(tmp_path), "--out", str(tmp_path / "t"), "--submitter", "a",
                       "--system", "b"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2
    assert "has no closed/ or open/ directory" in err[0]
    assert f"{tmp_path / 'run.json'} does not exist" in err[1]


def test_package_refuses_incomplete_run_sets(formal_runs, tmp_path):
    _, directory = formal_runs["Offline"]
    steps = json.loads((directory / "formal.json").read_text())["steps"]
    with pytest.raises(AuditError, match="no TEST04 run for Offline"):
        package([Path(steps[s]["run"]) for s in ("performance", "accuracy", "TEST01")], tmp_path, "a", "b")


def test_audits_are_made_for_performance_runs_only(formal_runs, tmp_path):
    _, directory = formal_runs["Offline"]
    accuracy = read_run(Path(json.loads((directory / "formal.json").read_text())["steps"]["accuracy"]["run"]))
    with pytest.raises(AuditError, match="is not a plain performance run \\(it is accuracy\\)"):
        run_compliance("TEST04", accuracy, tmp_path, echo=quiet)
    assert not any(tmp_path.iterdir())  # refused before anything ran
