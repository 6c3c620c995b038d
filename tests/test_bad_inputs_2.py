"""Bad inputs that used to pass as right (issue 14): a model whose shapes cannot take the
run, a warm-up that fails, flags that cannot work, an output directory that cannot be
written, run.json files of the wrong shape, a byte-order mark in val_map.txt. Each is one
line and exit 2 (3 for a run that started), never a traceback or a wrong result with exit 0."""

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from harness.cli.main import main
from harness.config.modelspec import spec_from
from harness.cpu.placement import Instance
from harness.data.imagenet import read_dataset
from harness.errors import PlacementError, RunFailed
from harness.loadgen.prepare import pinned
from harness.models.artifact import check_layout, resolve_model

from conftest import colour_args
from rundirs import single_stream_timeline, write_run
from tinymodels import COLOUR_SPEC, colour_dataset

COLOUR_INPUT = 3 * 32 * 32 * 4  # bytes of one sample of the colour model's input


def error_line(capfd, code: int, expected: int = 2) -> str:
    """The one line a failed command printed, from this process and its children alike
    (a LoadGen child's thread traceback would show here); asserts the exit code."""
    err = capfd.readouterr().err
    assert code == expected, err
    assert err.count("\n") == 1 and err.startswith("harness: error: "), err
    return err.removeprefix("harness: error: ").rstrip("\n")


def with_flags(args: list[str], **flags) -> list[str]:
    """colour_args with some `--key=value` spec flags replaced."""
    names = {f"--{k.replace('_', '-')}" for k in flags}
    kept = [a for a in args if a.split("=")[0] not in names]
    return kept + [f"--{k.replace('_', '-')}={v}" for k, v in flags.items()]


def save(model: onnx.ModelProto, path: Path) -> Path:
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def colour_graph(nodes, inputs, output_dims, name="colour") -> onnx.ModelProto:
    """The dominant-colour model's convolution, with `nodes` after it producing 'logits'."""
    w = numpy_helper.from_array(np.eye(3, dtype=np.float32).reshape(3, 3, 1, 1), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["input", "w"], ["conv"], kernel_shape=[1, 1]),
         helper.make_node("GlobalAveragePool", ["conv"], ["gap"]), *nodes],
        name, inputs, [helper.make_tensor_value_info("logits", TensorProto.FLOAT, output_dims)], [w])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def image_input(batch="batch"):
    return helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 3, 32, 32])


def fixed_batch_model(path: Path, size: int) -> Path:
    """As the issue made one from the embedded model: input and output dimension 0 set to `size`."""
    flatten = helper.make_node("Flatten", ["gap"], ["logits"], axis=1)
    return save(colour_graph([flatten], [image_input(size)], [size, 3]), path)


def two_input_model(path: Path) -> Path:
    nodes = [helper.make_node("Flatten", ["gap"], ["flat"], axis=1),
             helper.make_node("Add", ["flat", "bias"], ["logits"])]
    bias = helper.make_tensor_value_info("bias", TensorProto.FLOAT, ["batch", 3])
    return save(colour_graph(nodes, [image_input(), bias], ["batch", 3]), path)


def batch_one_inside_model(path: Path) -> Path:
    """Declares a dynamic batch, but reshapes to a batch of 1 inside: only running it shows that."""
    shape = numpy_helper.from_array(np.array([1, 3], dtype=np.int64), "shape")
    model = colour_graph([helper.make_node("Reshape", ["gap", "shape"], ["logits"])], [image_input()],
                         ["batch", 3])
    model.graph.initializer.append(shape)
    return save(model, path)


# ---- models whose shapes cannot take the run -------------------------------------------------------

def test_a_model_fixed_to_batch_1_is_refused_at_the_offline_batch(colour_data, tmp_path, capfd):
    model = fixed_batch_model(tmp_path / "fixed1.onnx", 1)
    line = error_line(capfd, main(colour_args(model, colour_data, tmp_path / "runs")))
    assert line == (f"{model} takes batch size 1 only (its batch dimension is fixed to 1) but this run asks "
                    "for batch 116; pass --batch-size 1, or re-export the model with a dynamic batch dimension")
    assert not (tmp_path / "runs").exists()


def test_a_model_fixed_to_batch_1_runs_singlestream(colour_data, tmp_path, capfd):
    model = fixed_batch_model(tmp_path / "fixed1.onnx", 1)
    assert main(colour_args(model, colour_data, tmp_path / "runs", "--scenario", "SingleStream")) == 0
    (run,) = (tmp_path / "runs").iterdir()
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "completed" and record["result"]["validity"] == "VALID"
    assert "Traceback" not in capfd.readouterr().err


def test_a_model_fixed_to_a_larger_batch_is_refused(colour_data, tmp_path, capfd):
    model = fixed_batch_model(tmp_path / "fixed8.onnx", 8)
    line = error_line(capfd, main(colour_args(model, colour_data, tmp_path / "runs", "--batch-size", "8")))
    assert line == (f"{model} has a fixed batch dimension of 8; the harness runs batches of 1 to the batch "
                    "size, so re-export the model with a dynamic batch dimension")


def test_a_warm_up_failure_fails_the_run_in_one_line(colour_data, tmp_path, capfd):
    """The issue's run went on with a target of 0 and reported 30.9 samples/s, exit 0."""
    model = batch_one_inside_model(tmp_path / "inside1.onnx")
    line = error_line(capfd, main(colour_args(model, colour_data, tmp_path / "runs", "--batch-size", "8")), 3)
    (run,) = (tmp_path / "runs").iterdir()
    # ONNX Runtime's words for it: "RuntimeError: Error in execution: Got invalid dimensions for output: logits"
    assert line.startswith("run FAILED: warm-up failed before measuring: RuntimeError: ") and "logits" in line
    assert line.endswith(f"; logs kept in {run}")
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "FAILED" and record["failure"].startswith("warm-up failed before measuring: ")
    assert "calibrated_target" not in record and "result" not in record


def test_a_failed_calibration_thread_raises_where_it_is_joined():
    def broken():
        raise ValueError("no samples")

    with pytest.raises(RunFailed, match=r"^calibration failed before measuring: ValueError: no samples$"):
        pinned((), broken).join()


def test_a_model_with_two_inputs_is_refused_at_load(colour_data, tmp_path, capfd):
    model = two_input_model(tmp_path / "two.onnx")
    line = error_line(capfd, main(colour_args(model, colour_data, tmp_path / "runs")))
    assert line == (f"{model} has 2 inputs (input ['batch', 3, 32, 32]; bias ['batch', 3]); the harness feeds "
                    "one image tensor, so export the model with 'input' as its only input")


@pytest.mark.parametrize("flags, expected", [
    ({"num_classes": 1000}, "has 3 classes (shape ['batch', 3]) but the spec expects 1000 (1000 classes + "
                            "label offset 0); set --num-classes and --label-offset to the model's"),
    ({"label_offset": 1}, "has 3 classes (shape ['batch', 3]) but the spec expects 4 (3 classes + label offset 1); "
                          "set --num-classes and --label-offset to the model's"),
    ({"output_kind": "argmax"}, "has shape ['batch', 3], 3 values a sample, not one class index; "
                                "set --output-kind logits (or probabilities)"),
])
def test_an_output_that_does_not_match_the_spec_is_refused(colour_model, colour_data, tmp_path, capfd, flags,
                                                           expected):
    args = with_flags(colour_args(colour_model, colour_data, tmp_path / "runs"), **flags)
    line = error_line(capfd, main(args))
    assert line == f"{colour_model} output 'logits' {expected}"


# ---- flags that cannot work ---------------------------------------------------------------------------

@pytest.mark.parametrize("extra, expected", [
    (["--duration", "700"], "--quick with --duration 700: a quick run is a short smoke test, but 700 s is a "
                            "formal run's length (600 s or more) and would still be marked non-compliant; drop "
                            "--quick for a run of compliant length, or give a --duration under 600"),
    (["--scenario", "SingleStream", "--batch-size", "8"],
     "--batch-size 8 cannot apply to SingleStream: it issues one sample per query and always runs batch 1; "
     "drop --batch-size (or batch_size in [run])"),
])
def test_flags_that_cannot_work_are_refused(colour_model, colour_data, tmp_path, capfd, extra, expected):
    line = error_line(capfd, main(colour_args(colour_model, colour_data, tmp_path / "runs", *extra)))
    assert line == expected
    assert not (tmp_path / "runs").exists()


def test_a_batch_larger_than_memory_is_refused_before_starting(colour_model, colour_data, tmp_path, capfd):
    # 10^9 samples of 24 KiB: 22 TiB, more than any machine this runs on.
    args = colour_args(colour_model, colour_data, tmp_path / "runs", "--batch-size", "1000000000",
                       "--instances", "1")
    line = error_line(capfd, main(args))
    assert re.fullmatch(r"batch 1000000000 on 1 instance needs at least 22\.4 TiB of memory \(24\.0 KiB a "
                        r"sample: input, output and the largest layer\), but this machine has [\d.]+ [KMGT]iB "
                        r"available; use --batch-size \d+ or less", line), line
    assert not (tmp_path / "runs").exists()


def test_the_memory_a_layout_needs_is_held_to_what_is_available(colour_model, tmp_path):
    artifact = resolve_model(str(colour_model), spec_from("embedded", COLOUR_SPEC))
    # Input and output buffers (12288 + 12 bytes) and the largest layer, the pooling: its
    # 3x32x32 input and 3 outputs (12288 + 12 bytes).
    assert artifact.sample_bytes == 2 * (COLOUR_INPUT + 12) == 24_600
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc" / "meminfo").write_text("MemTotal: 4000 kB\nMemAvailable: 1000 kB\n")
    check_layout(artifact, [Instance(0, 0, (0,), 1, 41)], tmp_path)  # 41 x 24,600 bytes fit in 1,024,000
    with pytest.raises(PlacementError) as refused:
        check_layout(artifact, [Instance(k, 0, (k,), 1, 116) for k in range(2)], tmp_path)
    assert str(refused.value) == ("batch 116 on 2 instances needs at least 5.4 MiB of memory (24.0 KiB a sample: "
                                  "input, output and the largest layer), but this machine has 1000.0 KiB "
                                  "available; use --batch-size 20 or less")


# ---- output directories ---------------------------------------------------------------------------------

@pytest.fixture
def read_only_mount(tmp_path):
    mount = tmp_path / "ro"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)


@pytest.mark.parametrize("where", ["a file", "under a file", "read-only"])
def test_an_output_dir_that_cannot_be_created_is_one_line(colour_model, colour_data, tmp_path, capfd, request,
                                                          where):
    (tmp_path / "a-file").write_text("")
    if where == "read-only":
        root, reason = request.getfixturevalue("read_only_mount") / "runs", "Read-only file system"
    else:
        root = tmp_path / "a-file" if where == "a file" else tmp_path / "a-file" / "runs"
        reason = f"{tmp_path / 'a-file'} is not a directory"
    line = error_line(capfd, main(colour_args(colour_model, colour_data, root)))
    assert line == f"cannot create a run directory under {root} ({reason}); choose another --output-dir"


def test_a_report_output_that_cannot_be_written_is_one_line(tmp_path, capfd):
    run = good_run(tmp_path / "run")
    (tmp_path / "a-file").write_text("")
    output = tmp_path / "a-file" / "report"
    line = error_line(capfd, main(["report", str(run), "--output", str(output)]))
    assert line == f"cannot write the report under {output} (Not a directory); pass --output DIR to write it elsewhere"


# ---- run.json of the wrong shape ------------------------------------------------------------------------

def good_run(path: Path) -> Path:
    return write_run(path, "SingleStream", single_stream_timeline(range(10**6, 2 * 10**6, 10**4)))


def damaged_run(path: Path, content) -> Path:
    """A good run whose run.json is replaced by `content`, or changed by it (a function)."""
    good_run(path)
    if callable(content):
        record = json.loads((path / "run.json").read_text())
        content(record)
        content = json.dumps(record)
    (path / "run.json").write_text(content)
    return path


BAD = {
    "list": ("[1, 2]", "is not a run's record: it holds a JSON list, not an object; the file is damaged or was "
                       "not written by harness"),
    "status only": ('{"status": "completed"}', "has no 'config': it is not a run's record as harness writes it"),
    "no scenario": (lambda r: r["config"].pop("scenario"),
                    "has no 'config.scenario': it is not a run's record as harness writes it"),
    "text value": (lambda r: r["result"].update(value="fast"),
                   ": 'result.value' must be a finite number or null, got \"fast\"; the file is damaged or "
                   "was not written by harness"),
    "bad scenario": (lambda r: r["config"].update(scenario="Batch"),
                     ": 'config.scenario' 'Batch' is not one of Offline, SingleStream, MultiStream, Server; the "
                     "file is damaged or was not written by harness"),
}


def make_bad(path: Path, name: str) -> tuple[Path, str]:
    content, says = BAD[name]
    return damaged_run(path, content), says


def test_a_report_of_many_runs_leaves_out_the_damaged_ones_with_a_warning(tmp_path, capfd):
    runs = tmp_path / "runs"
    good = good_run(runs / "0-good")
    bad = {name: make_bad(runs / f"{k + 1}-bad", name) for k, name in enumerate(BAD)}
    assert main(["report", str(runs)]) == 0
    err = capfd.readouterr().err.splitlines()
    assert err == [f"harness: warning: left out of the report: {path / 'run.json'}{' ' if says[0] != ':' else ''}"
                   f"{says}" for path, says in bad.values()]
    markdown = (runs / "report.md").read_text()
    assert good.name in markdown and not any(path.name in markdown for path, _ in bad.values())


@pytest.mark.parametrize("name", list(BAD))
def test_a_damaged_run_json_alone_is_one_line(tmp_path, capfd, name):
    path, says = make_bad(tmp_path / "runs" / "bad", name)
    json_path = path / "run.json"
    sep = "" if says[0] == ":" else " "
    line = error_line(capfd, main(["report", str(path)]))
    assert line == f"{json_path}{sep}{says}"
    line = error_line(capfd, main(["compare", str(good_run(tmp_path / "good")), str(path)]))
    assert line == f"{json_path}{sep}{says}"


def test_a_directory_of_only_damaged_runs_is_one_line(tmp_path, capfd):
    runs = tmp_path / "runs"
    damaged_run(runs / "a", "[1, 2]")
    damaged_run(runs / "b", '{"status": "completed"}')
    line = error_line(capfd, main(["report", str(runs)]))
    assert line == (f"no run directory under {runs} can be read: {runs / 'a' / 'run.json'} is not a run's record: "
                    "it holds a JSON list, not an object; the file is damaged or was not written by harness (and 1 "
                    "more unreadable)")


# ---- val_map.txt ----------------------------------------------------------------------------------------

def test_a_byte_order_mark_in_val_map_is_not_part_of_the_first_name(tmp_path):
    data = colour_dataset(tmp_path / "data", 3)
    val_map = data / "val_map.txt"
    val_map.write_bytes(b"\xef\xbb\xbf" + val_map.read_bytes())  # as Windows editors save UTF-8
    dataset = read_dataset(data, 3)
    assert dataset.files == ("img_00000.jpg", "img_00001.jpg", "img_00002.jpg")
    assert dataset.labels.tolist() == [0, 1, 2]


def test_an_invisible_character_in_a_missing_name_is_shown(colour_model, tmp_path, capfd):
    data = colour_dataset(tmp_path / "data", 3)
    (data / "val_map.txt").write_text("img_00000.jpg 0\nimg_00001.jpg\u200b 1\n")
    line = error_line(capfd, main(colour_args(colour_model, data, tmp_path / "runs")))
    assert line.startswith(repr(str(data / "img_00001.jpg\u200b")) + f" listed in {data / 'val_map.txt'} not found")
