"""Precisions and execution providers: choice, quantization, proof, fidelity, known answers."""

import hashlib
import json

import onnxruntime as ort
import pytest

from harness.cli.main import main
from harness.data.imagenet import read_dataset
from harness.data.preprocess import params_for
from harness.engine.choice import CPU, OPENVINO, ORT_NAMES, EngineChoice, choose_ep
from harness.engine.proof import precision_proof
from harness.errors import ConfigError
from harness.models.quantize import calibration_indices, fingerprint, quantize_int8

from conftest import colour_args

HAS_OPENVINO = ORT_NAMES[OPENVINO] in ort.get_available_providers()
BOTH = [ORT_NAMES[CPU], ORT_NAMES[OPENVINO]]
needs_openvino = pytest.mark.skipif(not HAS_OPENVINO, reason="onnxruntime-openvino is not installed")


def test_auto_prefers_openvino_for_int8_only_with_vnni_or_amx():
    assert choose_ep("auto", "int8", ["avx512_vnni"], BOTH).ep == OPENVINO
    assert choose_ep("auto", "int8", ["amx_int8"], BOTH).ep == OPENVINO
    no_vnni = choose_ep("auto", "int8", ["avx2"], BOTH)
    assert no_vnni.ep == CPU and "no VNNI" in no_vnni.reason
    assert choose_ep("auto", "int8", ["avx512_vnni"], [ORT_NAMES[CPU]]).ep == CPU
    assert choose_ep("auto", "fp32", ["amx_bf16"], BOTH).ep == CPU
    assert choose_ep("auto", "bf16", ["avx512_bf16"], BOTH).ep == OPENVINO


@pytest.mark.parametrize("ep, isa, available, message", [
    ("cpu", ["amx_bf16"], BOTH, "cannot run on --ep cpu"),
    ("auto", ["amx_bf16"], [ORT_NAMES[CPU]], "needs the OpenVINO EP"),
    ("auto", ["avx2"], BOTH, "neither AMX-BF16 nor AVX512-BF16"),
])
def test_bf16_where_it_cannot_run_is_one_clear_error(ep, isa, available, message):
    with pytest.raises(ConfigError, match=message):
        choose_ep(ep, "bf16", isa, available)


def test_openvino_requested_but_missing():
    with pytest.raises(ConfigError, match="pip install onnxruntime-openvino"):
        choose_ep("openvino", "fp32", [], [ORT_NAMES[CPU]])


def test_cli_error_for_bf16_on_cpu_ep(colour_model, colour_data, tmp_path, capsys):
    assert main(colour_args(colour_model, colour_data, tmp_path, "--precision", "bf16", "--ep", "cpu")) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--ep openvino" in err


def test_quantization_is_deterministic_and_cached(colour_model, colour_data, tmp_path, caplog):
    from harness.config.modelspec import spec_from
    from harness.data.cache import open_cache

    from tinymodels import COLOUR_SPEC

    spec = spec_from("embedded", COLOUR_SPEC)
    dataset = read_dataset(colour_data, 3)
    samples = open_cache(dataset, params_for(spec), tmp_path / "cache", progress=False)
    indices = calibration_indices(dataset, None)
    assert indices == calibration_indices(dataset, None) and len(indices) == len(dataset)
    sha = hashlib.sha256(colour_model.read_bytes()).hexdigest()
    a = quantize_int8(colour_model, sha, "input", dataset, samples, indices, tmp_path / "a")
    b = quantize_int8(colour_model, sha, "input", dataset, samples, indices, tmp_path / "b")
    assert a.read_bytes() == b.read_bytes()
    assert not [r for r in caplog.records if "pre-processing" in r.getMessage()]  # no misleading advice
    mtime = a.stat().st_mtime_ns
    assert quantize_int8(colour_model, sha, "input", dataset, samples, indices, tmp_path / "a") == a
    assert a.stat().st_mtime_ns == mtime  # reused, not rebuilt
    listed = tmp_path / "cal.txt"
    listed.write_text("".join(f"{dataset.files[i]}\n" for i in (0, 1, 2)))
    assert calibration_indices(dataset, str(listed)) == [0, 1, 2]
    assert fingerprint(sha, dataset, [0, 1, 2]) != fingerprint(sha, dataset, indices)
    method = json.loads(a.with_suffix(".json").read_text())
    assert method["method"]["format"] == "QDQ" and len(method["calibration_images"]) == len(indices)


def test_calibration_list_naming_unknown_images(colour_data, tmp_path):
    listed = tmp_path / "cal.txt"
    listed.write_text("not_there.jpg\n")
    from harness.errors import DatasetError
    with pytest.raises(DatasetError, match="not_there.jpg"):
        calibration_indices(read_dataset(colour_data, 3), str(listed))


RUNNABLE = [("fp32", "cpu"), ("int8", "cpu")]
if HAS_OPENVINO:
    RUNNABLE += [("fp32", "openvino"), ("int8", "openvino")]
    if any(f in open("/proc/cpuinfo").read() for f in ("amx_bf16", "avx512_bf16")):
        RUNNABLE += [("bf16", "openvino")]


@pytest.mark.parametrize("precision, ep", RUNNABLE)
def test_every_precision_gives_known_answers_and_proves_itself(colour_model, colour_data, tmp_path,
                                                               precision, ep):
    args = colour_args(colour_model, colour_data, tmp_path, "--mode", "accuracy", "--precision", precision,
                       "--ep", ep)
    assert main(args) == 0
    run = next(tmp_path.iterdir())
    record = json.loads((run / "run.json").read_text())
    assert record["result"]["top1"] == 100.0
    assert record["engine"]["ep"] == ep and record["precision"]["requested"] == precision
    assert record["precision"]["reported"] == precision and record["precision"]["matches"]
    assert record["providers"][0] == ORT_NAMES[ep]
    if precision != "fp32":
        assert record["fidelity"]["top1_agreement"] == 1.0
        assert record["fidelity"]["samples"] == 60
    if precision == "int8":
        assert record["quantization"]["method"]["format"] == "QDQ"


@needs_openvino
def test_proof_tells_bf16_from_fp32(colour_model):
    fp32 = precision_proof(str(colour_model), EngineChoice(OPENVINO, "fp32", ""))
    assert fp32["reported"] == "fp32" and fp32["convolution_precisions"] == {"f32": 1}
    cpu = precision_proof(str(colour_model), EngineChoice(CPU, "int8", ""))
    assert cpu["reported"] == "fp32" and not cpu["matches"]  # an FP32 model is not INT8
