"""One benchmark run, end to end: prepare, run the LoadGen test in a child, record.

The parent prepares everything that can be prepared before timing (model file,
preprocessed cache, placement), then supervises the child that runs LoadGen: it
shows progress, and ends the test cleanly on a worker failure, a hang, SIGINT or
SIGTERM. Whatever happens, the run directory ends with a run.json that says so.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import shutil
import signal
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tqdm import tqdm

from harness import __version__
from harness.accuracy import top1
from harness.config import RunConfig
from harness.errors import HarnessError, RunFailed
from harness.files import atomic_write_json, atomic_write_text, sha256_file
from harness.fidelity import fidelity
from harness.inputs import preprocessed_samples, resolve_inputs
from harness.models.quantize import METHOD, quantized_model
from harness.precision import choose_ep
from harness.proof import precision_proof
from harness.models import SYNTHETIC_WEIGHTS_NOTE, ModelArtifact
from harness.placement import Plan, plan_instances
from harness.placement_check import placement_fields
from harness.results import read_detail_log, headline
from harness.runstats import write_run_stats
from harness.sysinfo import system_info
from harness.testprocess import TestJob, run_test
from harness.topology import parse_cpulist, read_topology
from harness.userconf import LoadGenSettings

STALL_TIMEOUT_S = 300.0  # no completed sample for this long after calibration: a hang


@dataclass
class RunRecord:
    """run.json, rewritten atomically as the run advances."""

    run_dir: Path
    data: dict = field(default_factory=dict)

    def update(self, **values) -> None:
        self.data.update(values)
        atomic_write_json(self.run_dir / "run.json", self.data)


def new_run_dir(cfg: RunConfig, model_name: str) -> Path:
    """runs/<timestamp>-<model>-<precision>-<scenario>-<mode>[-N]: never an existing one."""
    root = Path(cfg.output_dir)
    root.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = f"{stamp}-{model_name}-{cfg.precision}-{cfg.scenario}-{cfg.mode}"
    for n in range(1, 10_000):
        path = root / (base if n == 1 else f"{base}-{n}")
        try:
            path.mkdir()  # atomic: fails if another run took the name first
            return path
        except FileExistsError:
            continue
    raise HarnessError(f"cannot create a new run directory under {root}")


def _plan(cfg: RunConfig) -> Plan:
    topology = read_topology()
    cpus = parse_cpulist(cfg.cpus, "--cpus") if cfg.cpus else None
    instances, threads = cfg.instances, cfg.threads
    if cfg.scenario == "SingleStream" and instances is None:
        instances = 1  # one query at a time: a second instance would only sit idle
    return plan_instances(topology, instances, threads, cfg.effective_batch_size, smt=cfg.smt,
                          reserve_cores=cfg.reserve_cores, cpus=cpus), topology


def run_benchmark(cfg: RunConfig, stall_timeout_s: float = STALL_TIMEOUT_S, audit_config: Path | None = None,
                  sut_class: str = "harness.sut:SUT", echo=print) -> dict:
    """Run one test; return run.json's content. Raises RunFailed if it did not complete."""
    inputs = resolve_inputs(cfg)
    artifact, dataset, spec = inputs.artifact, inputs.dataset, inputs.artifact.spec
    plan, topology = _plan(cfg)
    run_dir = new_run_dir(cfg, artifact.name)
    if audit_config is not None:  # the run directory keeps exactly what LoadGen was given
        audit_config = Path(shutil.copyfile(audit_config, run_dir / "audit.config"))
    record = RunRecord(run_dir, {
        "harness_version": __version__, "status": "preparing", "run_id": run_dir.name,
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": cfg.to_json(), "model": artifact.to_json(), "dataset": dataset.to_json(),
        "placement": {"description": plan.description,
                      "instances": [vars(i) for i in plan.instances],
                      "reserved_cpus": list(plan.reserved_cpus)},
        "system": system_info(topology),
        "compliant_length": cfg.compliant_length,
        "sut_class": sut_class,
        "notes": [SYNTHETIC_WEIGHTS_NOTE] if artifact.synthetic_weights else [],
    })
    echo(f"run {run_dir}")
    echo(f"  {artifact.name} ({SYNTHETIC_WEIGHTS_NOTE})" if artifact.synthetic_weights else f"  {artifact.name}")
    echo(f"  {cfg.scenario} {cfg.mode}, {cfg.precision}, {plan.description}")
    samples = preprocessed_samples(inputs, cfg.progress)
    choice = choose_ep(cfg.ep, cfg.precision, record.data["system"]["isa"], ort.get_available_providers())
    model_path, quantization = _model_for_precision(cfg, artifact, dataset, samples)
    proof = precision_proof(model_path, choice)
    record.update(engine=choice.to_json(), precision=proof, quantization=quantization)
    echo(f"  {choice.ep} EP ({choice.reason}); engine reports {proof.get('reported', 'nothing')}")
    if not proof["matches"]:
        record.update(status="FAILED", failure=f"precision proof: {proof}")
        raise RunFailed(f"asked for {cfg.precision} on the {choice.ep} EP but the engine reports "
                        f"{proof.get('reported') or proof.get('error')}; nothing was measured ({run_dir})")
    job = TestJob(run_dir=run_dir, mode=cfg.mode, model_path=model_path, spec=spec, engine=choice,
                  samples_path=samples.filename, instances=plan.instances,
                  loadgen=LoadGenSettings(cfg.scenario, cfg.quick, cfg.duration, len(dataset)),
                  target=cfg.target_qps if cfg.scenario == "Offline" else cfg.target_latency_ms,
                  audit_config=audit_config, sut_class=sut_class)
    record.update(status="running")
    outcome = supervise(job, record, cfg, stall_timeout_s, echo)
    if outcome is not None:
        record.update(status="FAILED", failure=outcome,
                      finished=datetime.now(timezone.utc).isoformat(timespec="seconds"))
        raise RunFailed(f"run FAILED: {outcome.splitlines()[-1] if outcome else 'unknown'}; "
                        f"logs kept in {run_dir}")
    finish(run_dir, record, cfg, artifact, dataset.labels)
    if cfg.mode == "accuracy" and cfg.precision != "fp32":
        echo("  fidelity: comparing outputs with the FP32 model on the same samples")
        record.update(fidelity=fidelity(str(artifact.path), model_path, choice, spec, samples).to_json())
    return record.data


def _model_for_precision(cfg: RunConfig, artifact: ModelArtifact, dataset, samples) -> tuple[str, dict | None]:
    """The model file the engine runs: the source, or its INT8 quantization (cached)."""
    if cfg.precision != "int8":
        return str(artifact.path), None
    path, indices = quantized_model(artifact, dataset, samples, cfg.calibration_list)
    return str(path), {"source_sha256": artifact.sha256, "model_sha256": sha256_file(path),
                       "calibration_images": len(indices), "calibration_list": cfg.calibration_list,
                       "method": METHOD}


def supervise(job: TestJob, record: RunRecord, cfg: RunConfig, stall_timeout_s: float, echo) -> str | None:
    """Run the child to completion; return None, or the reason it was stopped."""
    ctx = mp.get_context("spawn")
    events = ctx.Queue()
    child = ctx.Process(target=run_test, args=(job, events), name="harness-loadgen", daemon=True)
    caught: list[str] = []
    previous = {s: signal.signal(s, lambda num, _f: caught.append(signal.Signals(num).name))
                for s in (signal.SIGINT, signal.SIGTERM)}
    bar = None
    failure = None
    last_progress, last_change = -1, time.monotonic()
    try:
        child.start()
        while True:
            if caught:
                failure = f"interrupted by {caught[0]}"
                break
            try:
                kind, value = events.get(timeout=0.2)
            except queue.Empty:
                if not child.is_alive():
                    if child.exitcode != 0 or not record.data.get("done"):
                        failure = failure or f"the LoadGen process exited with code {child.exitcode}"
                    break
                if bar is not None and time.monotonic() - last_change > stall_timeout_s:
                    failure = f"no sample completed in {stall_timeout_s:.0f} s: the run hung"
                    break
                continue
            if kind == "failed":
                failure = value
                break
            if kind == "providers":
                record.update(providers=value)
            elif kind == "calibrated":
                record.update(calibrated_target=value)
                bar = tqdm(desc=f"{cfg.scenario} {cfg.mode}", unit="sample", disable=not cfg.progress,
                           leave=False)
                last_change = time.monotonic()
            elif kind == "placement":
                record.update(observed_threads=value)
            elif kind == "progress":
                if value != last_progress:
                    last_progress, last_change = value, time.monotonic()
                    bar.update(value - bar.n)
            elif kind == "done":
                record.data["done"] = value
    finally:
        if bar is not None:
            bar.close()
        if child.is_alive():
            child.terminate()
            child.join(10)
            if child.is_alive():
                child.kill()
        child.join()
        for s, handler in previous.items():
            signal.signal(s, handler)
    return failure


def finish(run_dir: Path, record: RunRecord, cfg: RunConfig, artifact: ModelArtifact,
           labels: np.ndarray) -> None:
    log = read_detail_log(run_dir)
    result = {"validity": log.get("result_validity"), **headline(log, cfg.scenario),
              "loadgen_errors": list(log.errors), "seeds": log.seeds(),
              "min_duration_ms": log.get("effective_min_duration_ms"),
              "min_query_count": log.get("effective_min_query_count"),
              "performance_sample_count": log.get("effective_performance_sample_count"),
              "samples": record.data.pop("done", {}).get("samples")}
    if cfg.mode == "accuracy":
        acc = top1(run_dir, labels)
        note = f"  # {SYNTHETIC_WEIGHTS_NOTE}" if artifact.synthetic_weights else ""
        atomic_write_text(run_dir / "accuracy.txt", acc.line() + note + "\n")
        result.update(top1=acc.top1, accuracy_good=acc.good, accuracy_total=acc.total)
    placement = record.data["placement"]
    placement.update(placement_fields(placement["instances"], record.data.pop("observed_threads", None),
                                      record.data["system"]["allowed_cpus"]))
    result["stats"] = write_run_stats(run_dir).summary()
    record.update(status="completed", result=result,
                  finished=datetime.now(timezone.utc).isoformat(timespec="seconds"))
