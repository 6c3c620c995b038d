"""Precisions and execution providers: choice, quantization, proof, fidelity, known answers."""

import hashlib
import json
import platform
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.cli.main import main
from harness.config.modelspec import spec_from
from harness.cpu.placement import Instance
from harness.data.imagenet import read_dataset
from harness.data.preprocess import params_for
from harness.engine.choice import CPU, OPENVINO, ORT_NAMES, EngineChoice, choose_ep
from harness.engine.proof import precision_proof
from harness.engine.session import build_engines
from harness.errors import ConfigError
from harness.models.quantize import calibration_indices, fingerprint, quantize_int8

from conftest import colour_args
from tinymodels import COLOUR_SPEC

BOTH = [ORT_NAMES[CPU], ORT_NAMES[OPENVINO]]
# The OpenVINO EP is required where setup.py installs it: missing there, the tests below fail
# (and test_environment says what to install) rather than skip.
needs_openvino = pytest.mark.skipif(not (platform.machine() == "x86_64" and sys.platform == "linux"),
                                    reason="onnxruntime-openvino is a dependency on x86-64 Linux only")


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    return next((set(line.partition(":")[2].split()) for line in text.splitlines() if line.startswith("flags")),
                set())


HAS_BF16 = bool(cpu_flags() & {"amx_bf16", "avx512_bf16"})
needs_bf16 = pytest.mark.skipif(not HAS_BF16, reason="this CPU has neither AVX512-BF16 nor AMX-BF16")


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
    from harness.data.cache import open_cache

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


RUNNABLE = [("fp32", "cpu"), ("int8", "cpu"),
            pytest.param("fp32", "openvino", marks=needs_openvino),
            pytest.param("int8", "openvino", marks=needs_openvino),
            pytest.param("bf16", "openvino", marks=[needs_openvino, needs_bf16])]


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
def test_proof_reads_fp32_back_from_openvino_and_the_cpu_ep(colour_model):
    fp32 = precision_proof(str(colour_model), EngineChoice(OPENVINO, "fp32", ""))
    assert fp32["convolution_precisions"] == {"f32": 1} and fp32["reported"] == "fp32" and fp32["matches"]
    cpu = precision_proof(str(colour_model), EngineChoice(CPU, "int8", ""))
    assert cpu["reported"] == "fp32" and not cpu["matches"]  # an FP32 model is not INT8


@needs_openvino
@needs_bf16
def test_proof_reads_bf16_back_from_openvino(colour_model):
    bf16 = precision_proof(str(colour_model), EngineChoice(OPENVINO, "bf16", ""))
    assert bf16["convolution_precisions"] == {"bf16": 1} and bf16["reported"] == "bf16" and bf16["matches"]


@needs_openvino
@pytest.mark.skipif(HAS_BF16, reason="this CPU has BF16 instructions: OpenVINO computes a BF16 request in BF16")
def test_proof_catches_bf16_that_openvino_computes_in_fp32(colour_model):
    # Without BF16 instructions OpenVINO quietly runs the FP32 graph for a BF16 hint: the proof
    # must read back what it computed, not what it was asked.
    bf16 = precision_proof(str(colour_model), EngineChoice(OPENVINO, "bf16", ""))
    assert bf16["reported"] == "fp32" and not bf16["matches"]


def test_a_precision_the_engine_does_not_report_stops_the_run_before_measuring(
        colour_model, colour_data, tmp_path, monkeypatch, capsys):
    import harness.loadgen.benchmark

    # An INT8 step that hands the engine the FP32 model, as a quantizer that silently did nothing would.
    monkeypatch.setattr(harness.loadgen.benchmark, "_model_for_precision",
                        lambda cfg, artifact, dataset, samples: (str(artifact.path), None))
    args = colour_args(colour_model, colour_data, tmp_path, "--precision", "int8", "--ep", "cpu")
    assert main(args) == 3
    (run,) = tmp_path.iterdir()
    err = capsys.readouterr().err
    assert err == (f"harness: error: asked for int8 on the cpu EP but the engine reports fp32; nothing was "
                   f"measured ({run})\n")
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "FAILED" and record["failure"].startswith("asked for int8 on the cpu EP")
    assert record["precision"]["requested"] == "int8" and record["precision"]["reported"] == "fp32"
    assert "result" not in record
    assert sorted(p.name for p in run.iterdir()) == ["run.json"]  # LoadGen never started


def one_colour_batch(engine, n: int, channel: int) -> list[float]:
    """Labels the engine gives n images whose `channel` dominates."""
    engine.input[:n] = 0.0
    engine.input[:n, channel] = 100.0
    engine.run(n)
    labels = np.zeros(n, dtype=np.float32)
    engine.labels_into(n, labels)
    return labels.tolist()


@needs_openvino
def test_openvino_instances_share_one_session_per_numa_node(colour_model, monkeypatch):
    import harness.engine.session

    # ONNX Runtime does not report the OpenVINO EP's options back: record what each session was made with.
    made = []
    create = harness.engine.session.create_session

    def recorded(model_path, choice, threads, cpus, streams=1):
        made.append((threads, cpus, streams))
        return create(model_path, choice, threads, cpus, streams)

    monkeypatch.setattr(harness.engine.session, "create_session", recorded)
    # Three instances, two on node 0 and one on node 1: one compiled model per node, a stream per instance.
    spec = spec_from("embedded", COLOUR_SPEC)
    instances = (Instance(0, 0, (0,), 1, 4), Instance(1, 0, (1,), 2, 4), Instance(2, 1, (2,), 1, 4))
    engines = build_engines(str(colour_model), EngineChoice(OPENVINO, "fp32", ""), spec, instances, (3, 32, 32),
                            np.dtype(np.float32))
    node0, node0_again, node1 = (e.session for e in engines)
    assert node0 is node0_again and node1 is not node0
    assert node0.get_providers()[0] == node1.get_providers()[0] == ORT_NAMES[OPENVINO]
    # Threads: the node's instances' together; no CPU list (OpenVINO places its stream threads).
    assert made == [(3, (), 2), (1, (), 1)]
    # Instances sharing a session still answer from their own buffers.
    assert [one_colour_batch(e, 2, k) for k, e in enumerate(engines)] == [[0, 0], [1, 1], [2, 2]]
    made.clear()
    cpu_engines = build_engines(str(colour_model), EngineChoice(CPU, "fp32", ""), spec, instances, (3, 32, 32),
                                np.dtype(np.float32))
    assert len({id(e.session) for e in cpu_engines}) == 3  # the CPU EP: a session per instance, pinned
    assert made == [(1, (0,), 1), (2, (1,), 1), (1, (2,), 1)]
