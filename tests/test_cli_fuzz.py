"""The command line never answers with a traceback: generated argument combinations and
generated (damaged) run directories end in exit 0, 2 or 3, and a failure in one line.

Runs are stopped before measuring (the LoadGen child is replaced by a failure), so every
example is cheap: what is exercised is everything a run checks and prepares first.
"""

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.cli.main import main
from harness.loadgen import benchmark, events

from rundirs import single_stream_timeline, write_run
from tinymodels import COLOUR_SPEC, colour_dataset, dominant_colour_model

STOPPED = "stopped by the test before measuring"


def outcome(argv: list[str], capfd) -> tuple[int, str]:
    """The exit code of `harness ARGV` and its stderr; an exception other than argparse's exit
    propagates and fails the test with its traceback."""
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    return code, capfd.readouterr().err


def assert_clean(code: int, err: str, summary_on_stdout: bool = False) -> None:
    """Exit 0, 2 or 3, no traceback, and a failure in one line on stderr (a sweep reports the
    runs that failed in its summary on stdout instead)."""
    assert code in (0, 2, 3), err
    assert "Traceback" not in err, err
    if code == 3 and summary_on_stdout and not err:
        return
    if code != 0:
        lines = [line for line in err.splitlines() if not line.startswith("harness: warning: ")]
        assert len(lines) == 1 and lines[0].startswith("harness"), err


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("fuzz")
    (root / "a-file").write_text("not a directory\n")
    (root / "calibration.txt").write_text("img_00000.jpg\nimg_00001.jpg\n")
    (root / "config.toml").write_text("[run]\nmode = 'accuracy'\n[batch_size]\nfp32 = 4\n")
    return {"model": dominant_colour_model(root / "colour.onnx"), "data": colour_dataset(root / "data", 8),
            "root": root}


def choices(*values: str):
    return st.sampled_from(values)


NUMBERS = choices("0", "-1", "nan", "inf", "x", "1e300")
FLAGS = {
    "--scenario": choices("Offline", "SingleStream", "MultiStream", "Server", "Batch"),
    "--mode": choices("performance", "accuracy", "audit"),
    "--precision": choices("fp32", "int8", "bf16", "fp16"),
    "--ep": choices("auto", "cpu", "openvino", "gpu"),
    "--duration": st.one_of(choices("0.01", "0.05", "700"), NUMBERS),
    "--target-qps": st.one_of(choices("1e7", "100"), NUMBERS),
    "--target-latency-ms": st.one_of(choices("1", "0.001"), NUMBERS),
    "--batch-size": st.one_of(st.integers(-1, 200).map(str), choices("100000", "1000000000", "x")),
    "--instances": st.integers(-1, 4).map(str),
    "--threads": st.integers(-1, 4).map(str),
    "--count": st.integers(-1, 10).map(str),
    "--cpus": choices("0", "0-1", "1", "0-999", "5-3", "x", ""),
    "--reserve-cores": st.integers(-1, 3).map(str),
    "--image-size": choices("32", "16", "0", "-3", "64"),
    "--resize-shorter": choices("36", "32", "10", "0"),
    "--layout": choices("NCHW", "NHWC", "CHW"),
    "--interpolation": choices("area", "bilinear", "cubic"),
    "--mean": choices("1,2,3", "1,2", "a,b,c", "nan,0,0"),
    "--std": choices("1,1,1", "0,1,1", "1,2"),
    "--output-kind": choices("logits", "probabilities", "argmax", "x"),
    "--label-offset": choices("0", "1", "-1"),
    "--num-classes": choices("3", "10", "0", "-1"),
    "--input-name": choices("input", "image", ""),
    "--output-name": choices("logits", "prob"),
    "--preset": choices("embedded", "mlperf", "torchvision", "keras"),
    "--model": choices("colour", "missing.onnx", "a-file"),
    "--dataset": choices("data", "missing", "a-file"),
    "--output-dir": choices("runs", "a-file", "a-file/runs"),
    "--config": choices("config.toml", "missing.toml", "a-file"),
    "--calibration-list": choices("calibration.txt", "missing.txt"),
    "--smt": st.none(),
    "--bogus": st.none(),
}
PATHS = {"--model", "--dataset", "--output-dir", "--config", "--calibration-list"}


def argv_of(command: list[str], flags: dict, files: dict) -> list[str]:
    """The colour model's quick run (as conftest's colour_args), with the generated flags last,
    where argparse takes them over the defaults."""
    spec = [f"--{k.replace('_', '-')}={v}" for k, v in COLOUR_SPEC.items()]
    argv = [*command, "--model", str(files["model"]), "--preset", "embedded", *spec, "--dataset",
            str(files["data"]), "--output-dir", str(files["root"] / "runs"), "--quick", "--no-progress",
            "--duration", "0.05", "--target-qps", "1e7"]
    for flag, value in flags.items():
        if value is None:
            argv.append(flag)
        elif flag == "--model" and value == "colour":
            argv += [flag, str(files["model"])]
        else:
            argv += [flag, str(files["root"] / value) if flag in PATHS else value]
    return argv


@pytest.fixture
def stopped_before_measuring(monkeypatch):
    monkeypatch.setattr(benchmark, "supervise", lambda *args, **kwargs: events.TestOutcome(events.Failed(STOPPED)))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(command=st.sampled_from([[], ["run"], ["quantize"], ["sweep", "--precisions", "fp32", "--scenarios", "Offline"],
                                ["tune", "--dry-run"]]),
       flags=st.dictionaries(st.sampled_from(sorted(FLAGS)), st.none(), max_size=5).flatmap(
           lambda keys: st.fixed_dictionaries({k: FLAGS[k] for k in keys})))
def test_any_arguments_end_in_0_2_or_3_without_a_traceback(files, stopped_before_measuring, capfd, command, flags):
    sweep = command[:1] == ["sweep"]
    code, err = outcome(argv_of(command, flags, files), capfd)
    assert_clean(code, err, summary_on_stdout=sweep)
    if code == 3 and not sweep:
        assert STOPPED in err or "asked for" in err, err  # only the stop, or a precision the CPU lacks


# ---- generated run directories -------------------------------------------------------------------------

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(), st.text(max_size=10)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=6)
KEYS = ("config", "status", "result", "model", "placement", "system", "providers", "notes", "run_id",
        "compliant_length", "config.scenario", "config.precision", "config.mode", "config.model", "config.quick",
        "config.ep", "result.value", "result.validity", "result.metric", "result.samples",
        "result.early_stopping_p90_ns", "placement.description", "placement.instances",
        "placement.instances.0", "placement.instances.0.batch_size", "model.sha256", "model.name",
        "model.synthetic_weights", "system.cpu_model", "system.hostname", "system.os", "precision", "engine")
FILES = ("timeline.npy", "latencies.npy", "mlperf_log_detail.txt")


def mutated(record: dict, key: str, value, delete: bool) -> None:
    *parents, last = key.split(".")
    target = record
    for part in parents:
        if isinstance(target, list):
            # An earlier change may have put a list where a dict was: a name indexes nothing.
            target = target[int(part)] if part.isdigit() and int(part) < len(target) else None
        else:
            target = target.get(part)
        if not isinstance(target, dict | list):
            return  # an earlier change replaced what held this key
    if isinstance(target, list):
        if last.isdigit() and int(last) < len(target):
            target[int(last)] = value
    elif delete:
        target.pop(last, None)
    else:
        target[last] = value


changes = st.lists(st.tuples(st.sampled_from(KEYS), json_values, st.booleans()), min_size=1, max_size=3)


def damaged_pair(root: Path, name: str, changes, lost, whole=None) -> tuple[Path, Path]:
    """A good run directory and a copy named `name` with run.json changed (or replaced by
    `whole`) and the files in `lost` removed."""
    good = write_run(root / "good", "SingleStream", single_stream_timeline(range(10**6, 2 * 10**6, 10**4)))
    bad = root / name
    shutil.copytree(good, bad)
    record = json.loads((bad / "run.json").read_text())
    for key, value, delete in changes:
        mutated(record, key, value, delete)
    (bad / "run.json").write_text(json.dumps(record if whole is None else whole))
    for lost_file in lost:
        (bad / lost_file).unlink()
    return good, bad


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=changes, whole=st.one_of(st.none(), json_values), lost=st.sets(st.sampled_from(FILES), max_size=1),
       garbage=st.sampled_from(FILES + (None,)))
def test_any_run_directory_is_compared_or_refused_in_one_line(tmp_path_factory, capfd, changes, whole, lost,
                                                              garbage):
    root = tmp_path_factory.mktemp("rundirs")
    good, bad = damaged_pair(root, "bad", changes, lost, whole)
    if garbage is not None and garbage not in lost:
        (bad / garbage).write_bytes(b"\x93NUMPY garbage")
    for argv in (["compare", str(good), str(bad)], ["compare", str(bad), str(good), "--force"]):
        assert_clean(*outcome(argv, capfd))


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=changes, lost=st.sets(st.sampled_from(FILES), max_size=1))
def test_any_run_directory_among_others_is_reported_or_left_out(tmp_path_factory, capfd, changes, lost):
    """A report of many runs takes the readable ones, and names each it left out."""
    runs = tmp_path_factory.mktemp("runs")
    good, bad = damaged_pair(runs, "other", changes, lost)
    code, err = outcome(["report", str(runs)], capfd)
    assert_clean(code, err)
    assert code == 0, err  # the good run is always there to report
    left_out = [line for line in err.splitlines() if line.startswith("harness: warning: left out")]
    assert all(str(bad) in line for line in left_out), err
    assert good.name in (runs / "report.md").read_text()
