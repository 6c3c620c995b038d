"""Faults during a run: a failing worker, a hang, a crash, SIGINT and SIGTERM, an interrupted
cache build. Each must end the process within a bound, exit non-zero with one line, and
leave a run directory that says FAILED and why, with what LoadGen had logged."""

import errno
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from PIL import Image

import harness.loadgen.benchmark
import harness.results.runjson
from harness.cli.main import main
from harness.config.modelspec import spec_from
from harness.data.cache import open_cache
from harness.data.imagenet import read_dataset
from harness.data.preprocess import params_for
from harness.errors import RunFailed

from conftest import colour_args
from tinymodels import COLOUR_SPEC

# A run that is not stopped lasts five minutes (a --quick run may not ask for a formal run's
# ten): any of these bounds failing means it was not. The target latency keeps LoadGen's
# schedule to 30,000 queries: from the tiny model's calibrated 10 us it would generate 30
# million before starting.
LONG = ("--scenario", "SingleStream", "--duration", "300", "--target-latency-ms", "10")
END_BOUND_S = 30.0  # from the fault (or the signal) to the process's exit
START_BOUND_S = 120.0  # for the run to get going on a loaded 2-core machine


def only_run(out: Path) -> Path:
    runs = [p for p in out.iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


def run_json(run: Path) -> dict:
    return json.loads((run / "run.json").read_text())


def cli_with_sut(monkeypatch, capsys, sut_class: str, args: list[str]) -> tuple[int, str, float]:
    """`harness run ...` in this process with the SUT replaced: (exit code, stderr, seconds)."""
    monkeypatch.setattr(harness.loadgen.benchmark, "run_benchmark",
                        functools.partial(harness.loadgen.benchmark.run_benchmark, sut_class=sut_class))
    start = time.monotonic()
    code = main(args)
    return code, capsys.readouterr().err, time.monotonic() - start


def test_worker_exception_ends_the_run_and_keeps_the_logs(colour_model, colour_data, tmp_path, monkeypatch,
                                                           capsys):
    code, err, took = cli_with_sut(monkeypatch, capsys, "faulty_suts:FailingSUT",
                                   colour_args(colour_model, colour_data, tmp_path, *LONG))
    assert took < END_BOUND_S + START_BOUND_S
    run = only_run(tmp_path)
    assert code == RunFailed.exit_code == 3
    assert err.count("\n") == 1 and err.startswith("harness: error: run FAILED: harness-worker-0 failed: "
                                                   "RuntimeError: injected session failure on batch 3")
    assert str(run) in err
    record = run_json(run)
    assert record["status"] == "FAILED" and "result" not in record
    assert record["failure"] == "harness-worker-0 failed: RuntimeError: injected session failure on batch 3"
    assert "faulty_suts.py" in record["failure_detail"]  # where it failed, for whoever debugs it
    assert "Starting performance mode" in (run / "mlperf_log_detail.txt").read_text()
    assert (run / "user.conf").is_file()


def test_run_json_that_cannot_be_written_does_not_hide_the_cause(colour_model, colour_data, tmp_path,
                                                                 monkeypatch, capsys):
    write = harness.results.runjson.atomic_write_json

    def full_disk_when_failing(path, data):
        if data.get("status") == "FAILED":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        write(path, data)

    monkeypatch.setattr(harness.results.runjson, "atomic_write_json", full_disk_when_failing)
    code, err, _ = cli_with_sut(monkeypatch, capsys, "faulty_suts:FailingSUT",
                                colour_args(colour_model, colour_data, tmp_path, *LONG))
    assert code == 3 and err.count("\n") == 1 and "injected session failure on batch 3" in err


def test_hang_is_ended_by_the_stall_watchdog(colour_model, colour_data, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HARNESS_STALL_TIMEOUT", "2")
    code, err, took = cli_with_sut(monkeypatch, capsys, "faulty_suts:SilentSUT",
                                   colour_args(colour_model, colour_data, tmp_path, *LONG))
    assert took < END_BOUND_S + START_BOUND_S
    assert code == 3 and err.count("\n") == 1
    assert "run FAILED: no sample completed in 2 s: the run hung" in err
    record = run_json(only_run(tmp_path))
    assert record["status"] == "FAILED" and record["failure"] == "no sample completed in 2 s: the run hung"


def test_crashed_loadgen_process_fails_the_run(colour_model, colour_data, tmp_path, monkeypatch, capsys):
    code, err, _ = cli_with_sut(monkeypatch, capsys, "faulty_suts:CrashingSUT",
                                colour_args(colour_model, colour_data, tmp_path, *LONG))
    assert code == 3 and err.count("\n") == 1
    assert run_json(only_run(tmp_path))["failure"] == "the LoadGen process was killed by SIGKILL"


def test_stall_timeout_must_be_a_positive_number(colour_model, colour_data, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HARNESS_STALL_TIMEOUT", "soon")
    assert main(colour_args(colour_model, colour_data, tmp_path)) == 2
    assert capsys.readouterr().err == ("harness: error: HARNESS_STALL_TIMEOUT='soon' is not a positive "
                                       "number of seconds\n")


# ---- signals, to a harness process as a user's shell or a scheduler sends them -------------

# `python -m harness` with the SUT replaced: the tiny model answers a query in microseconds,
# SlowSUT in INFERENCE_COST_S, so that a run lasts as long as its --duration says.
WITH_SUT = ("import functools, sys; import harness.loadgen.benchmark as r; "
            "r.run_benchmark = functools.partial(r.run_benchmark, sut_class=sys.argv.pop(1)); "
            "from harness.cli.main import main; sys.exit(main())")


def start_harness(args: list[str], marker: str, sut_class: str | None = None, **env: str) -> subprocess.Popen:
    here = Path(__file__).parent
    env = {**os.environ, **env, "HARNESS_TEST_MARKER": marker,
           "PYTHONPATH": os.pathsep.join([str(here.parent), str(here), os.environ.get("PYTHONPATH", "")])}
    command = ["-c", WITH_SUT, sut_class] if sut_class else ["-m", "harness"]
    return subprocess.Popen([sys.executable, *command, *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for(condition, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + START_BOUND_S
    while not condition():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate(timeout=END_BOUND_S)
            pytest.fail(f"never saw {what} (exit {proc.returncode}): {out}{err}")
        time.sleep(0.1)


def stop(proc: subprocess.Popen, signum: int) -> tuple[int, str, float]:
    """Send signum; (exit code, stderr, seconds until the process ended)."""
    proc.send_signal(signum)
    start = time.monotonic()
    try:
        _, err = proc.communicate(timeout=END_BOUND_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"still running {END_BOUND_S} s after {signal.Signals(signum).name}")
    return proc.returncode, err, time.monotonic() - start


def processes_with(marker: str) -> list[int]:
    """Processes still alive that inherited this test's environment marker (LoadGen child, pool workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and f"HARNESS_TEST_MARKER={marker}".encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def assert_nothing_left(marker: str) -> None:
    deadline = time.monotonic() + 10  # an orphan may take a moment to notice its parent is gone
    while processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_with(marker) == []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_during_the_test_ends_it_and_keeps_the_logs(colour_model, colour_data, tmp_path, signum):
    marker = uuid.uuid4().hex
    proc = start_harness(colour_args(colour_model, colour_data, tmp_path, *LONG), marker, "faulty_suts:SlowSUT")

    def answering() -> bool:  # LoadGen has started the timed test: it issues queries, the SUT answers
        logs = list(tmp_path.glob("*/mlperf_log_detail.txt"))
        return bool(logs) and "Starting performance mode" in logs[0].read_text()

    wait_for(answering, proc, "the SUT answering queries")
    run = only_run(tmp_path)
    logged = (run / "mlperf_log_detail.txt").stat().st_size
    code, err, took = stop(proc, signum)
    name = signal.Signals(signum).name
    assert took < END_BOUND_S
    assert code == 128 + signum  # as a shell reports a command its signal ended
    assert err == f"harness: error: run FAILED: interrupted by {name}; logs kept in {run}\n"
    record = run_json(run)
    assert record["status"] == "FAILED" and record["failure"] == f"interrupted by {name}"
    assert logged > 0 and (run / "mlperf_log_detail.txt").stat().st_size >= logged
    assert (run / "user.conf").is_file()
    assert_nothing_left(marker)


BIG_COUNT = 64  # 6-megapixel JPEGs: a build of several seconds


def big_image_dataset(root: Path, count: int) -> Path:
    """`count` copies of one 6-megapixel JPEG: slow enough to decode to interrupt the cache build."""
    root.mkdir()
    first = root / "img_00000.jpg"
    Image.radial_gradient("L").resize((3000, 2000)).convert("RGB").save(first, quality=90)
    for i in range(1, count):
        shutil.copyfile(first, root / f"img_{i:05d}.jpg")
    (root / "val_map.txt").write_text("".join(f"img_{i:05d}.jpg {i % 3}\n" for i in range(count)))
    return root


@pytest.fixture(scope="module")
def big_data(tmp_path_factory) -> Path:
    return big_image_dataset(tmp_path_factory.mktemp("big") / "data", BIG_COUNT)


def builds_in(cache: Path) -> list[Path]:
    return list((cache / "preprocessed").glob(".*.build-*"))


def test_sigterm_during_the_cache_build_leaves_no_half_cache(colour_model, big_data, tmp_path):
    cache = tmp_path / "cache"
    marker = uuid.uuid4().hex
    proc = start_harness(colour_args(colour_model, big_data, tmp_path / "runs"), marker, HARNESS_CACHE=str(cache))
    wait_for(lambda: builds_in(cache), proc, "the cache build start")
    code, err, took = stop(proc, signal.SIGTERM)
    assert took < END_BOUND_S and code == 128 + signal.SIGTERM
    run = only_run(tmp_path / "runs")
    assert err == f"harness: error: run FAILED: interrupted by SIGTERM; logs kept in {run}\n"
    assert run_json(run)["failure"] == "interrupted by SIGTERM"
    assert builds_in(cache) == [] and list((cache / "preprocessed").glob("*/manifest.json")) == []
    assert_nothing_left(marker)


def test_killed_cache_build_is_cleaned_up_and_redone(colour_model, big_data, tmp_path):
    cache = tmp_path / "cache"
    marker = uuid.uuid4().hex
    proc = start_harness(colour_args(colour_model, big_data, tmp_path / "runs"), marker, HARNESS_CACHE=str(cache))
    wait_for(lambda: builds_in(cache), proc, "the cache build start")
    proc.kill()  # no cleanup at all: the temporary directory stays behind
    proc.communicate(timeout=END_BOUND_S)  # returns once no orphan holds its stdout open
    assert_nothing_left(marker)
    assert builds_in(cache)
    spec = spec_from("embedded", COLOUR_SPEC)
    dataset = read_dataset(big_data, spec.num_classes)
    samples = open_cache(dataset, params_for(spec), cache, workers=1, progress=False)
    assert samples.shape == (BIG_COUNT, 3, 32, 32)
    assert builds_in(cache) == []
    assert len(list((cache / "preprocessed").glob("*/manifest.json"))) == 1


def test_sigkill_leaves_no_loadgen_process_running(colour_model, colour_data, tmp_path):
    marker = uuid.uuid4().hex
    proc = start_harness(colour_args(colour_model, colour_data, tmp_path, *LONG), marker, "faulty_suts:SlowSUT")
    wait_for(lambda: list(tmp_path.glob("*/mlperf_log_detail.txt")), proc, "LoadGen starting")
    proc.kill()  # nothing of the harness runs: the kernel must end its children
    proc.communicate(timeout=END_BOUND_S)
    assert_nothing_left(marker)
