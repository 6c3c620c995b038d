"""Model conventions end to end: each preset, layout and output kind on a tiny model of that
convention, scored on known answers in accuracy mode. A wrong input name, layout, normalisation,
output choice or label offset stops the run or mislabels images; only the right one gives 100 %."""

import json
from pathlib import Path

from harness.cli.main import main
from harness.config.modelspec import PRESETS

from tinymodels import convention_model

# 60 images of 20 per colour; every run below must label all of them right.
IMAGES = 60


def accuracy_record(model: Path, data: Path, out: Path, *flags: str) -> dict:
    args = ["--model", str(model), "--dataset", str(data), "--output-dir", str(out), "--mode", "accuracy",
            "--quick", "--no-progress", *flags]
    assert main(args) == 0
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    assert (run / "accuracy.txt").read_text().startswith(f"accuracy=100.000%, good={IMAGES}, total={IMAGES}")
    return json.loads((run / "run.json").read_text())


def as_json(spec) -> dict:
    return json.loads(json.dumps(spec.to_json()))


def test_mlperf_preset_reads_the_resnet50_v1_format(colour_data, tmp_path):
    # As MLCommons' resnet50_v1.onnx: input_tensor:0 at 224x224, 1001 classes with the background
    # class at 0, and an int64 ArgMax:0 beside softmax_tensor:0. The softmax comes first here, so a
    # harness that took the first output rather than ArgMax:0 would read probabilities as labels.
    model = convention_model(tmp_path / "resnet50_v1_like.onnx", input_name="input_tensor:0", image_size=224,
                             num_classes=1001, label_offset=1,
                             outputs=(("softmax_tensor:0", "probabilities"), ("ArgMax:0", "argmax")))
    record = accuracy_record(model, colour_data, tmp_path / "runs", "--preset", "mlperf")
    assert record["result"]["top1"] == 100.0 and record["result"]["accuracy_total"] == IMAGES
    assert record["model"]["spec"] == as_json(PRESETS["mlperf"])


def test_torchvision_preset(colour_data, tmp_path):
    # Bilinear resize, pixels scaled to [0, 1] and ImageNet mean/std, the model's only output.
    model = convention_model(tmp_path / "torchvision_like.onnx", image_size=224, num_classes=1000,
                             outputs=(("output", "logits"),))
    record = accuracy_record(model, colour_data, tmp_path / "runs", "--preset", "torchvision")
    assert record["result"]["top1"] == 100.0
    assert record["model"]["spec"] == as_json(PRESETS["torchvision"])


def test_nhwc_input(colour_data, tmp_path):
    model = convention_model(tmp_path / "nhwc.onnx", layout="NHWC")
    record = accuracy_record(model, colour_data, tmp_path / "runs", "--preset", "embedded", "--layout", "NHWC",
                             "--image-size", "32", "--resize-shorter", "36", "--output-name", "logits",
                             "--num-classes", "3")
    assert record["result"]["top1"] == 100.0 and record["model"]["spec"]["layout"] == "NHWC"


def test_probabilities_output(colour_data, tmp_path):
    model = convention_model(tmp_path / "softmax.onnx", outputs=(("probabilities", "probabilities"),))
    record = accuracy_record(model, colour_data, tmp_path / "runs", "--preset", "embedded",
                             "--image-size", "32", "--resize-shorter", "36", "--output-name", "probabilities",
                             "--output-kind", "probabilities", "--num-classes", "3")
    assert record["result"]["top1"] == 100.0 and record["model"]["spec"]["output_kind"] == "probabilities"
