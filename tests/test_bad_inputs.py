"""Bad inputs: each is one line on stderr naming the file, key or value, and a non-zero exit,
or a documented conversion. The preprocessed cache is never half-written, stale or reused
across versions; two runs never share a directory."""

import errno
import json
import os
import shutil
import subprocess
import threading
from datetime import datetime
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from PIL import Image

import harness.data.cache as cache_module
import harness.loadgen.benchmark
from harness.cli.main import main
from harness.config.modelspec import spec_from
from harness.config.runconfig import load_config
from harness.cpu.sysinfo import this_machine
from harness.data.cache import open_cache
from harness.data.imagenet import read_dataset
from harness.data.preprocess import params_for, preprocess_image

from conftest import colour_args
from tinymodels import COLOUR_SPEC, colour_dataset

SPEC = spec_from("embedded", COLOUR_SPEC)
PARAMS = params_for(SPEC)


def error_line(capsys, code: int, expected: int = 2) -> str:
    """The one line a failed command printed; asserts it was exactly one, and the exit code."""
    err = capsys.readouterr().err
    assert code == expected, err
    assert err.count("\n") == 1 and err.startswith("harness: error: "), err
    return err.removeprefix("harness: error: ").rstrip("\n")


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "cache"
    monkeypatch.setenv("HARNESS_CACHE", str(path))
    return path


def leftovers(cache: Path) -> list[str]:
    """Everything of the preprocessed cache but its lock files: temporary builds, caches."""
    root = cache / "preprocessed"
    return sorted(p.name for p in root.iterdir() if not p.name.endswith(".lock")) if root.exists() else []


def run_json(out: Path) -> dict:
    (run,) = out.iterdir()
    return json.loads((run / "run.json").read_text())


# ---- images -------------------------------------------------------------------------------

def damaged(path: Path) -> None:
    path.write_bytes(os.urandom(2000))


def truncated(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:300])


def emptied(path: Path) -> None:
    path.write_bytes(b"")


@pytest.mark.parametrize("damage, reason", [
    (damaged, "cannot identify image file"),
    (truncated, "truncated"),
    (emptied, "the file is empty"),
])
def test_unusable_image_fails_the_cache_build_cleanly(colour_model, tmp_path, cache, capsys, damage, reason):
    data = colour_dataset(tmp_path / "data", 8)
    bad = data / "img_00005.jpg"
    damage(bad)
    line = error_line(capsys, main(colour_args(colour_model, data, tmp_path / "runs")))
    assert line.startswith(f"cannot decode image {bad}: ") and reason in line.lower()
    assert leftovers(cache) == []  # neither a temporary build nor a cache without image 5
    record = run_json(tmp_path / "runs")
    assert record["status"] == "FAILED" and record["failure"] == line


def test_missing_image_is_named_before_anything_runs(colour_model, tmp_path, cache, capsys):
    data = colour_dataset(tmp_path / "data", 8)
    (data / "img_00002.jpg").unlink()
    (data / "img_00006.jpg").unlink()
    line = error_line(capsys, main(colour_args(colour_model, data, tmp_path / "runs")))
    assert line == (f"{data / 'img_00002.jpg'} and 1 more listed in {data / 'val_map.txt'} not found; "
                    "restore the files or remove their lines (indices must not shift silently)")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("lines, message", [
    ("img_00000.jpg 0\nimg_00001.jpg 1\nimg_00000.jpg 2\n",
     "line 3: img_00000.jpg is listed twice (first on line 1); remove the duplicate"),
    ("img_00000.jpg 0\nimg_00001.jpg 3\n",
     "line 2: label 3 is outside 0..2 for this model; check the model's label offset (--label-offset)"),
    ("img_00000.jpg 0\nimg_00001.jpg -1\n", "line 2: label -1 is outside 0..2"),
    ("img_00000.jpg 0\nimg_00001.jpg one\n", "line 2: label 'one' is not an integer"),
    ("img_00000.jpg\n", "line 1: expected 'file label', got 'img_00000.jpg'"),
    (b"img_00000.jpg 0\nimg_\xff\xfe.jpg 1\n", "line 2 is not UTF-8; re-save the file as UTF-8"),
    ("\n\n", "lists no images"),
])
def test_bad_val_map_names_the_file_and_line(colour_model, tmp_path, capsys, lines, message):
    data = colour_dataset(tmp_path / "data", 3)
    val_map = data / "val_map.txt"
    val_map.write_bytes(lines if isinstance(lines, bytes) else lines.encode())
    line = error_line(capsys, main(colour_args(colour_model, data, tmp_path / "runs")))
    assert line.startswith(f"{val_map} ") and message in line


def test_greyscale_cmyk_and_16_bit_images_are_converted_to_rgb(tmp_path):
    """As decode_image documents: greyscale repeated into R, G, B; CMYK by Pillow's conversion;
    16-bit samples keep their high byte. The cache holds exactly the converted images' inputs."""
    data = colour_dataset(tmp_path / "data", 3)
    rng = np.random.default_rng(1)
    grey = rng.integers(0, 256, (50, 40), dtype=np.uint8)
    Image.fromarray(grey).save(data / "img_00000.jpg", quality=95)
    cmyk = Image.fromarray(rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)).convert("CMYK")
    cmyk.save(data / "img_00001.jpg", quality=95)
    deep = rng.integers(0, 65536, (45, 45), dtype=np.uint16)
    Image.fromarray(deep).save(data / "img_00002.png")
    (data / "val_map.txt").write_text("img_00000.jpg 0\nimg_00001.jpg 1\nimg_00002.png 2\n")

    with Image.open(data / "img_00000.jpg") as img:
        assert img.mode == "L"
        grey_rgb = np.repeat(np.asarray(img)[..., None], 3, axis=2)
    with Image.open(data / "img_00001.jpg") as img:
        assert img.mode == "CMYK"
        cmyk_rgb = np.asarray(img.convert("RGB"))
    deep_rgb = np.repeat((deep >> 8).astype(np.uint8)[..., None], 3, axis=2)

    samples = open_cache(read_dataset(data, 3), PARAMS, tmp_path / "cache", workers=1, progress=False)
    for row, rgb in zip(samples, (grey_rgb, cmyk_rgb, deep_rgb)):
        assert np.array_equal(row, preprocess_image(rgb, PARAMS))


# ---- models -------------------------------------------------------------------------------

def not_onnx(path: Path) -> None:
    path.write_text("this is a README, not a model\n" * 20)


def opset_99(path: Path) -> None:
    model = onnx.load(str(path))
    model.opset_import[0].version = 99
    onnx.save(model, str(path))


def vector_input(path: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["input"], ["logits"], axes=[1], keepdims=0)], "vector",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 10])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch"])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


@pytest.mark.parametrize("make, message", [
    (not_onnx, "{path} is not a readable ONNX model (DecodeError); export the model to ONNX first"),
    (opset_99, "ONNX Runtime {ort} cannot load {path} (opsets: ai.onnx 99): it supports ai.onnx up to "
               "opset"),
    (vector_input, "{path} input 'input' has shape ['batch', 10], not an NCHW image tensor with 3 channels"),
])
def test_bad_model_is_one_line_naming_the_file(colour_model, colour_data, tmp_path, capsys, make, message):
    import onnxruntime

    path = tmp_path / "model.onnx"
    path.write_bytes(colour_model.read_bytes())
    make(path)
    line = error_line(capsys, main(colour_args(path, colour_data, tmp_path / "runs")))
    assert line.startswith(message.format(path=path, ort=onnxruntime.__version__))
    assert not (tmp_path / "runs").exists()


# ---- configuration and placement ------------------------------------------------------------

@pytest.mark.parametrize("toml, message", [
    ("[run]\nscenari = 'Offline'\n", "unknown key 'scenari' in [run]; valid keys: scenario, mode, "),
    ("[run]\nduration = 'long'\n", "key 'duration' must be int or float, got str 'long'"),
    ("[run]\nsmt = 1\n", "key 'smt' must be bool, got int 1"),
    ("[run]\ninstances = 2.5\n", "key 'instances' must be int, got float 2.5"),
    ("[run]\nscenario = 'Batch'\n", "key 'scenario' = 'Batch' is not one of Offline, SingleStream, MultiStream, Server"),
    ("[model_spec]\nimage_size = '224'\n", "model_spec key 'image_size' must be int, got str '224'"),
    ("[model_spec]\nmean = [1, 2]\n", "model_spec key 'mean' must be 3 numbers (R, G, B), got [1, 2]"),
    ("[model_spec]\ncolour = true\n", "unknown model_spec key 'colour'; valid: input_name, "),
    ("[batch_size]\nfp16 = 8\n", "[batch_size] 'fp16' = 8: keys must be fp32, bf16, int8"),
    ("[runs]\nmode = 'accuracy'\n", "unknown table 'runs'; valid tables: [run], [model_spec], [batch_size]"),
    ("[run\n", "not valid TOML"),
])
def test_bad_config_file_names_the_key(colour_model, colour_data, tmp_path, capsys, toml, message):
    config = tmp_path / "bad.toml"
    config.write_text(toml)
    line = error_line(capsys, main(["--config", str(config), *colour_args(colour_model, colour_data, tmp_path)]))
    assert line.startswith(f"{config}: {message}")


def test_cpus_outside_the_allowed_set_are_refused(colour_model, colour_data, tmp_path, capsys):
    allowed = os.sched_getaffinity(0)
    line = error_line(capsys, main(colour_args(colour_model, colour_data, tmp_path, "--cpus", "0-999")))
    assert line.startswith(f"--cpus 0-999: CPUs {max(allowed) + 1}-999 cannot be used")
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("where", ["file", "proc"])
def test_unwritable_cache_directory(colour_model, colour_data, tmp_path, monkeypatch, capsys, where):
    # Tests run as root, whom permission bits do not stop: a path under a regular file, or
    # in /proc, cannot be created by anyone.
    if where == "file":
        (tmp_path / "a-file").write_text("")
        root, reason = tmp_path / "a-file" / "cache", "Not a directory"
    else:
        root, reason = Path("/proc/harness-cache"), "No such file or directory"
    monkeypatch.setenv("HARNESS_CACHE", str(root))
    line = error_line(capsys, main(colour_args(colour_model, colour_data, tmp_path / "runs")))
    assert line == f"cache directory {root} is not writable ({reason}); set HARNESS_CACHE to a writable directory"


# ---- a full disk ----------------------------------------------------------------------------

CACHE_BYTES = 8 * 3 * 32 * 32 * 4  # 8 images of the colour model's input


def assert_rebuilt_right(data: Path, cache: Path) -> None:
    """The next build succeeds, and holds every image: nothing of the failed one was used."""
    samples = open_cache(read_dataset(data, 3), PARAMS, cache, workers=1, progress=False)
    (name,) = leftovers(cache)
    assert (cache / "preprocessed" / name / "manifest.json").is_file()
    for i, row in enumerate(samples):
        with Image.open(data / f"img_{i:05d}.jpg") as img:
            assert np.array_equal(row, preprocess_image(np.asarray(img.convert("RGB")), PARAMS))


def test_disk_full_while_writing_the_cache(colour_model, tmp_path, cache, monkeypatch, capsys):
    data = colour_dataset(tmp_path / "data", 8)

    def full(*_args, **_kwargs):  # the samples are written; the manifest, last, finds no space
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(cache_module, "atomic_write_json", full)
    line = error_line(capsys, main(colour_args(colour_model, data, tmp_path / "runs")))
    assert line == (f"cannot write the preprocessed cache under {cache / 'preprocessed'} (No space left on "
                    "device); free disk space or set HARNESS_CACHE elsewhere")
    assert leftovers(cache) == []
    monkeypatch.undo()
    assert_rebuilt_right(data, cache)


@pytest.fixture
def small_tmpfs(tmp_path):
    """A tmpfs as large as the samples file: the manifest, written last, does not fit."""
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    pages = -(-(CACHE_BYTES + 128) // 4096)  # samples.npy with its header, in whole pages
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={pages * 4096}", "tmpfs", str(mount)],
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)


def test_really_full_tmpfs_while_writing_the_cache(colour_model, tmp_path, small_tmpfs, monkeypatch, capsys):
    data = colour_dataset(tmp_path / "data", 8)
    monkeypatch.setenv("HARNESS_CACHE", str(small_tmpfs))
    line = error_line(capsys, main(colour_args(colour_model, data, tmp_path / "runs")))
    assert line == (f"cannot write the preprocessed cache under {small_tmpfs / 'preprocessed'} (No space left "
                    "on device); free disk space or set HARNESS_CACHE elsewhere")
    assert leftovers(small_tmpfs) == []
    subprocess.run(["mount", "-o", "remount,size=1m", str(small_tmpfs)], check=True)
    assert_rebuilt_right(data, small_tmpfs)


def test_full_disk_under_the_run_directory(colour_model, colour_data, tmp_path, small_tmpfs, capsys):
    filler = small_tmpfs / "filler"
    with open(filler, "wb") as f:
        os.posix_fallocate(f.fileno(), 0, shutil.disk_usage(small_tmpfs).free)
    line = error_line(capsys, main(colour_args(colour_model, colour_data, small_tmpfs / "runs")))
    (run,) = (small_tmpfs / "runs").iterdir()
    assert line == (f"cannot write {run / 'run.json'} (No space left on device); free disk space or choose "
                    "another --output-dir")


def test_cache_larger_than_the_free_space_is_refused_before_writing(colour_model, tmp_path, small_tmpfs,
                                                                    monkeypatch, capsys):
    data = colour_dataset(tmp_path / "data", 9)  # one image more than the tmpfs holds
    monkeypatch.setenv("HARNESS_CACHE", str(small_tmpfs))
    line = error_line(capsys, main(colour_args(colour_model, data, tmp_path / "runs")))
    assert line.startswith(f"the preprocessed cache needs 0.11 MB but {small_tmpfs / 'preprocessed'} has 0.")
    assert leftovers(small_tmpfs) == []


# ---- stale caches ---------------------------------------------------------------------------

class CountedBuilds:
    def __init__(self, monkeypatch):
        self.count = 0
        fill = cache_module._fill

        def counted(*args):
            self.count += 1
            return fill(*args)

        monkeypatch.setattr(cache_module, "_fill", counted)  # workers=1 fills in this process


def test_cache_from_another_version_or_parameters_is_rebuilt(tmp_path, monkeypatch):
    data = colour_dataset(tmp_path / "data", 8)
    dataset, cache = read_dataset(data, 3), tmp_path / "cache"
    builds = CountedBuilds(monkeypatch)

    def samples(params=PARAMS):
        return open_cache(dataset, params, cache, workers=1, progress=False)

    first = np.array(samples())
    assert builds.count == 1
    assert np.array_equal(samples(), first) and builds.count == 1  # unchanged: reused
    (key,) = leftovers(cache)

    monkeypatch.setattr(cache_module, "__version__", "0.0.1-other")
    assert np.array_equal(samples(), first) and builds.count == 2
    monkeypatch.setattr(cache_module, "_code_fingerprint", lambda: "other preprocessing")
    assert np.array_equal(samples(), first) and builds.count == 3
    assert leftovers(cache) == [key]  # rebuilt in place: versions do not pile up

    nhwc = PARAMS.__class__(**{**PARAMS.__dict__, "layout": "NHWC"})
    assert np.array_equal(samples(nhwc), first.transpose(0, 2, 3, 1)) and builds.count == 4
    assert len(leftovers(cache)) == 2  # other parameters: a cache of their own


@pytest.mark.parametrize("damage", ["truncated samples", "no manifest", "foreign manifest"])
def test_damaged_cache_is_rebuilt_not_used(tmp_path, monkeypatch, damage):
    data = colour_dataset(tmp_path / "data", 8)
    dataset, cache = read_dataset(data, 3), tmp_path / "cache"
    builds = CountedBuilds(monkeypatch)
    first = np.array(open_cache(dataset, PARAMS, cache, workers=1, progress=False))
    (key,) = leftovers(cache)
    final = cache / "preprocessed" / key
    if damage == "truncated samples":
        with open(final / "samples.npy", "r+b") as f:
            f.truncate(CACHE_BYTES // 2)
    elif damage == "no manifest":
        (final / "manifest.json").unlink()
    else:
        (final / "manifest.json").write_text(json.dumps({"format": 0}))
    again = open_cache(dataset, PARAMS, cache, workers=1, progress=False)
    assert builds.count == 2 and np.array_equal(again, first)


# ---- run directories ------------------------------------------------------------------------

def test_runs_started_in_the_same_second_get_their_own_directories(tmp_path, monkeypatch):
    class OneSecond(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2026, 1, 2, 3, 4, 5, tzinfo=tz)

    monkeypatch.setattr(harness.loadgen.benchmark, "datetime", OneSecond)
    cfg = load_config(None, {"output_dir": str(tmp_path)}, systems=tmp_path, machine=this_machine())
    start = threading.Barrier(8)
    made: list[Path] = []

    def one_run() -> None:
        start.wait()
        made.append(harness.loadgen.benchmark.new_run_dir(cfg, "m"))

    threads = [threading.Thread(target=one_run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    base = "20260102-030405-m-fp32-Offline-performance"
    assert sorted(p.name for p in made) == sorted([base] + [f"{base}-{n}" for n in range(2, 9)])
    assert sorted(tmp_path.iterdir()) == sorted(made)
