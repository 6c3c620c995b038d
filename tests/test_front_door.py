"""What a new user meets first: a mistyped command, a long run that says how long before it
starts, progress that suits where stderr goes, builds that say what they do and happen
once when two runs start together, and images and directories named in what is printed."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from harness import progress
from harness.cli.main import main
from harness.config.modelspec import spec_from
from harness.data import cache as cache_module
from harness.data import synthetic
from harness.data.cache import open_cache
from harness.data.imagenet import read_dataset
from harness.data.preprocess import decode_image, params_for
from harness.files import exclusive
from harness.loadgen.length import expected_length_s, length_line
from harness.loadgen.settings import LoadGenSettings, render_user_conf
from harness.terms import Scenario

from conftest import colour_args
from rundirs import offline_timeline, write_run
from tinymodels import COLOUR_SPEC

# ---- commands ---------------------------------------------------------------------------

@pytest.mark.parametrize("word, hint", [("reprot", "did you mean 'report'?"), ("swep", "did you mean 'sweep'?"),
                                        ("benchmark", "the commands are cluster, compare, ")])
def test_a_mistyped_command_is_one_line_with_a_suggestion(word, hint, capsys):
    assert main([word, "runs/x"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"harness: error: {word!r} is not a harness command; {hint}")
    assert err.endswith(" (see harness --help)\n")


def test_report_of_a_formal_directory_reports_its_runs(tmp_path, capsys):
    # As `harness --formal` leaves it: formal.json, and every run under runs/.
    formal = tmp_path / "formal-20260101-000000-Offline"
    write_run(formal / "runs" / "1-perf", "Offline", offline_timeline(10_000_000, 200, 100), quick=False)
    write_run(formal / "runs" / "2-acc", "Offline", offline_timeline(10_000_000, 20, 100), quick=False,
              mode="accuracy")
    (formal / "formal.json").write_text(json.dumps({"created": "2026-01-01T00:00:00+00:00", "steps": {}}))
    assert main(["report", str(formal)]) == 0
    md = (formal / "report.md").read_text()
    assert "formal run formal-20260101-000000-Offline · 2026-01-01T00:00:00+00:00" in md
    assert "| FP32 | 10,000 | 100 |" in md and "### FP32 · Offline · batch 100 · accuracy" in md


# ---- how long a run takes, said before it starts ----------------------------------------

def test_a_formal_offline_run_says_its_length_and_how_to_make_it_short():
    formal = LoadGenSettings(Scenario.OFFLINE, quick=False, duration=None, dataset_size=1024)
    # Calibrated at 50 samples/s (1.25 x the 40/s measured): 1.1 x 600 s x 50/s = 33,000 samples at 40/s.
    assert expected_length_s(formal, 50.0, calibrated=True) == pytest.approx(825.0)
    assert length_line(formal, 50.0, calibrated=True) == (
        "  LoadGen test: about 14 min at the calibrated 50.0 samples/s; --quick makes it about 5 s, "
        "--duration SECONDS about that long (neither compliant)")
    # A --duration under 600 s lowers mlperf.conf's 24,576-sample minimum, and its query holds
    # 10 s at the measured 40/s: min_duration is 10 s / (1.1 x 1.25), the slack and the margin.
    short = LoadGenSettings(Scenario.OFFLINE, quick=False, duration=10.0, dataset_size=1024)
    assert expected_length_s(short, 50.0, calibrated=True) == pytest.approx(10.0)
    assert "min_duration = 7272\n" in render_user_conf(short, 50.0, calibrated=True)
    assert "min_duration = 9090\n" in render_user_conf(short, 40.0, calibrated=False)  # a given rate: no margin
    # A formal run keeps mlperf.conf's 600 s, and a --duration of 600 s or more is taken as given.
    assert "min_duration" not in render_user_conf(formal, 50.0, calibrated=True)
    long = LoadGenSettings(Scenario.OFFLINE, quick=False, duration=900.0, dataset_size=1024)
    assert "min_duration = 900000\n" in render_user_conf(long, 50.0, calibrated=True)


def test_a_singlestream_run_lasts_its_minimum_duration_or_its_queries():
    formal = LoadGenSettings(Scenario.SINGLE_STREAM, quick=False, duration=None, dataset_size=1024)
    assert expected_length_s(formal, 20.0, calibrated=True) == 600.0
    quick = LoadGenSettings(Scenario.SINGLE_STREAM, quick=True, duration=None, dataset_size=1024)
    assert length_line(quick, 200.0, calibrated=False) == "  LoadGen test: about 13 s at the given 200 ms per query"


def test_a_run_off_a_terminal_prints_plain_lines_and_no_bars(colour_model, colour_data, tmp_path, monkeypatch,
                                                             capsys):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))  # a first run: it preprocesses
    args = [a for a in colour_args(colour_model, colour_data, tmp_path / "runs", "--scenario", "SingleStream",
                                   "--target-latency-ms", "0.05") if a != "--no-progress"]
    assert main(args) == 0
    captured = capsys.readouterr()  # stderr captured: not a terminal
    assert "\r" not in captured.err and "it/s" not in captured.err and "img/s" not in captured.err
    lines = captured.err.splitlines()
    assert lines[0].startswith("preprocessing 60 images (") and "into the cache in " in lines[0]
    assert lines[1].startswith("preprocessed 60 images in ") and len(lines) == 2
    out = captured.out.splitlines()
    assert out[2].endswith(", quick (not compliant)")
    length = next(line for line in out if line.startswith("  LoadGen test: "))
    assert length == "  LoadGen test: under a second at the given 0.05 ms per query"
    assert out.index(length) < next(i for i, line in enumerate(out) if line.startswith("SingleStream performance"))
    (run,) = (tmp_path / "runs").iterdir()  # and the run names the process that ran it
    assert json.loads((run / "run.json").read_text())["process"]["pid"] == os.getpid()


def test_a_bar_is_drawn_on_a_terminal_only(monkeypatch, capsys):
    for terminal in (True, False):
        monkeypatch.setattr(progress, "on_terminal", lambda terminal=terminal: terminal)
        with progress.bar(True, total=3, desc="preprocessing", unit="img") as bar:
            bar.update(3)
        assert ("preprocessing" in capsys.readouterr().err) is terminal
    with progress.bar(False, total=3) as bar:  # --no-progress: none, even on a terminal
        bar.update(3)
    assert capsys.readouterr().err == ""


# ---- builds -------------------------------------------------------------------------------

BUILD_DATASET = """
import sys
from pathlib import Path
from harness.data.synthetic import make_synthetic_dataset
make_synthetic_dataset(Path(sys.argv[1]), count=4, num_classes=10)
"""


def test_two_first_runs_generate_the_synthetic_dataset_once(tmp_path):
    root = tmp_path / "datasets" / "synthetic"
    root.parent.mkdir()
    with exclusive(root.parent / f".{root.name}.lock"):  # a first run is generating it
        second = subprocess.Popen([sys.executable, "-c", BUILD_DATASET, str(root)], stderr=subprocess.PIPE, text=True)
        assert second.stderr.readline() == (f"another harness process is generating the synthetic dataset {root}; "
                                            "waiting for it\n")
        synthetic._generate(root, 4, 0, 10, False)
        made = {p.name: p.stat().st_mtime_ns for p in root.iterdir()}
    assert second.wait(60) == 0 and second.stderr.read() == ""  # it used the first run's dataset
    assert {p.name: p.stat().st_mtime_ns for p in root.iterdir()} == made
    assert [p.name for p in root.parent.iterdir() if p.is_dir()] == ["synthetic"]


def test_a_synthetic_dataset_build_says_what_it_does(tmp_path):
    root = tmp_path / "synthetic"
    done = subprocess.run([sys.executable, "-c", BUILD_DATASET, str(root)], capture_output=True, text=True)
    assert done.stderr == f"generating the synthetic dataset: 4 JPEGs into {root}; once per cache\n"
    assert len(list(root.glob("*.JPEG"))) == 4


BUILD_MODEL = """
from harness.models.artifact import embedded_model_path
print(embedded_model_path())
"""


def test_two_first_runs_build_the_embedded_model_once(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    env = {**os.environ, "HARNESS_CACHE": str(tmp_path)}
    with exclusive(models / ".resnet50-v1.5-synthetic-v2-seed0.onnx.lock"):  # a first run is building it
        second = subprocess.Popen([sys.executable, "-c", BUILD_MODEL], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=env)
        assert second.stderr.readline() == ("another harness process is building the embedded ResNet-50 "
                                            f"{models / 'resnet50-v1.5-synthetic-v2-seed0.onnx'}; waiting for it\n")
        (models / "resnet50-v1.5-synthetic-v2-seed0.onnx").write_bytes(b"built by the first run")
    assert second.wait(60) == 0 and second.stderr.read() == ""  # it took the first run's model
    assert second.stdout.read() == f"{models / 'resnet50-v1.5-synthetic-v2-seed0.onnx'}\n"
    assert (models / "resnet50-v1.5-synthetic-v2-seed0.onnx").read_bytes() == b"built by the first run"


BUILD_CACHE = """
import sys
from pathlib import Path
from harness.config.modelspec import spec_from
from harness.data.cache import open_cache
from harness.data.imagenet import read_dataset
from harness.data.preprocess import params_for
from tinymodels import COLOUR_SPEC
open_cache(read_dataset(Path(sys.argv[1]), 3), params_for(spec_from("embedded", COLOUR_SPEC)), Path(sys.argv[2]),
           workers=1)
"""


def test_two_first_runs_preprocess_the_dataset_once(colour_data, tmp_path):
    cache = tmp_path / "cache"
    dataset, params = read_dataset(colour_data, 3), params_for(spec_from("embedded", COLOUR_SPEC))
    final = cache / "preprocessed" / cache_module.cache_key(dataset, params)
    final.parent.mkdir(parents=True)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    with exclusive(final.parent / f".{final.name}.lock"):  # a first run is preprocessing it
        second = subprocess.Popen([sys.executable, "-c", BUILD_CACHE, str(colour_data), str(cache)],
                                  stderr=subprocess.PIPE, text=True, env=env)
        assert second.stderr.readline() == (f"another harness process is preprocessing this dataset into {final}; "
                                            "waiting for it\n")
        cache_module._build_in_place(final, dataset, params, cache_module._manifest(dataset, params), 1, False)
    assert second.wait(60) == 0
    assert second.stderr.read() == f"using the preprocessed cache it built, {final}\n"
    assert [p.name for p in (cache / "preprocessed").iterdir() if p.is_dir()] == [final.name]
    assert np.array_equal(open_cache(dataset, params, cache, progress=False), np.load(final / "samples.npy"))


# ---- images --------------------------------------------------------------------------------

def test_a_decompression_bomb_warning_names_the_image(tmp_path, monkeypatch, capsys):
    path = tmp_path / "huge.png"
    Image.new("RGB", (32, 32), (200, 10, 10)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 600)  # 1,024 pixels: over it, under twice it
    rgb = decode_image(path)
    assert rgb.shape == (32, 32, 3) and (rgb[0, 0] == (200, 10, 10)).all()
    assert capsys.readouterr().err == (f"harness: warning: image {path}: Image size (1024 pixels) exceeds limit of "
                                       "600 pixels, could be decompression bomb DOS attack; decoding it anyway\n")
