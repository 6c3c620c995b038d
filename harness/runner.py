"""One benchmark run, end to end: prepare, run the LoadGen test in a child, record.

The parent prepares everything that can be prepared before timing (model file,
preprocessed cache, placement), then supervises the child that runs LoadGen: it
shows progress, and ends the test cleanly on a worker failure, a hang, SIGINT or
SIGTERM. Whatever happens, the run directory ends with a run.json that says so.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import queue
import shutil
import signal
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tqdm import tqdm

from harness import __version__
from harness.accuracy import top1
from harness.config import RunConfig
from harness.errors import ConfigError, HarnessError, RunFailed, RunInterrupted, one_line
from harness.files import atomic_write_json, atomic_write_text, new_dir, sha256_file
from harness.fidelity import fidelity
from harness.inputs import preprocessed_samples, resolve_inputs
from harness.lifetime import children_starting
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
STALL_TIMEOUT_ENV = "HARNESS_STALL_TIMEOUT"  # seconds, over STALL_TIMEOUT_S; tests shorten it
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@dataclass
class RunRecord:
    """run.json, rewritten atomically as the run advances."""

    run_dir: Path
    data: dict = field(default_factory=dict)

    def update(self, **values) -> None:
        self.data.update(values)
        path = self.run_dir / "run.json"
        try:
            atomic_write_json(path, self.data)
        except OSError as exc:
            raise HarnessError(f"cannot write {path} ({exc.strerror}); free disk space or choose "
                               "another --output-dir") from None

    def fail(self, cause: str, detail: str | None = None) -> None:
        """status FAILED, `failure` the one-line cause, `failure_detail` a traceback if any."""
        try:
            self.update(status="FAILED", failure=cause, **({"failure_detail": detail} if detail else {}),
                        finished=datetime.now(timezone.utc).isoformat(timespec="seconds"))
        except HarnessError:  # a full disk: the cause, not this, is what the user must see
            pass


class _Stop(BaseException):
    """SIGINT or SIGTERM, raised in the main thread. Not an Exception: the `except Exception`
    of whatever code it interrupts must not mistake it for a failure of its own."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextmanager
def _stop_on_signals():
    """SIGINT and SIGTERM unwind the run like an exception, so every `finally` on the way
    (temporary cache removed, LoadGen child ended, run.json marked FAILED) runs before exit."""
    def stop(signum, _frame):
        for s in STOP_SIGNALS:  # the cleanup is bounded; a second Ctrl-C must not cut it short
            signal.signal(s, signal.SIG_IGN)
        raise _Stop(signum)

    previous = {s: signal.signal(s, stop) for s in STOP_SIGNALS}
    try:
        yield
    except _Stop as exc:
        raise RunInterrupted(f"interrupted by {exc} before the run started", exc.signum) from None
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def stall_timeout() -> float:
    """STALL_TIMEOUT_S, or $HARNESS_STALL_TIMEOUT seconds."""
    text = os.environ.get(STALL_TIMEOUT_ENV)
    if not text:
        return STALL_TIMEOUT_S
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{STALL_TIMEOUT_ENV}={text!r} is not a positive number of seconds")
    return value


def new_run_dir(cfg: RunConfig, model_name: str) -> Path:
    """runs/<timestamp>-<model>-<precision>-<scenario>-<mode>[-N]: never an existing one."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return new_dir(Path(cfg.output_dir), f"{stamp}-{model_name}-{cfg.precision}-{cfg.scenario}-{cfg.mode}", "run")


def _plan(cfg: RunConfig) -> Plan:
    topology = read_topology()
    cpus = parse_cpulist(cfg.cpus, "--cpus") if cfg.cpus else None
    instances, threads = cfg.instances, cfg.threads
    if cfg.scenario == "SingleStream" and instances is None:
        instances = 1  # one query at a time: a second instance would only sit idle
    return plan_instances(topology, instances, threads, cfg.effective_batch_size, smt=cfg.smt,
                          reserve_cores=cfg.reserve_cores, cpus=cpus), topology


def run_benchmark(cfg: RunConfig, stall_timeout_s: float | None = None, audit_config: Path | None = None,
                  sut_class: str = "harness.sut:SUT", echo=print) -> dict:
    """Run one test; return run.json's content. Raises RunFailed if it did not complete,
    RunInterrupted on SIGINT or SIGTERM. `stall_timeout_s` None: stall_timeout()."""
    stall_timeout_s = stall_timeout_s or stall_timeout()
    with _stop_on_signals():
        return _run(cfg, stall_timeout_s, audit_config, sut_class, echo)


def _run(cfg: RunConfig, stall_timeout_s: float, audit_config: Path | None, sut_class: str, echo) -> dict:
    inputs = resolve_inputs(cfg)
    artifact, dataset, spec = inputs.artifact, inputs.dataset, inputs.artifact.spec
    plan, topology = _plan(cfg)
    run_dir = new_run_dir(cfg, artifact.name)
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
    try:  # from here on, whatever stops the run, run.json says FAILED and why
        if audit_config is not None:  # the run directory keeps exactly what LoadGen was given
            audit_config = Path(shutil.copyfile(audit_config, run_dir / "audit.config"))
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
            cause = (f"asked for {cfg.precision} on the {choice.ep} EP but the engine reports "
                     f"{proof.get('reported') or proof.get('error')}")
            record.fail(cause)
            raise RunFailed(f"{cause}; nothing was measured ({run_dir})")
        job = TestJob(run_dir=run_dir, mode=cfg.mode, model_path=model_path, spec=spec, engine=choice,
                      samples_path=samples.filename, instances=plan.instances,
                      loadgen=LoadGenSettings(cfg.scenario, cfg.quick, cfg.duration, len(dataset)),
                      target=cfg.target_qps if cfg.scenario == "Offline" else cfg.target_latency_ms,
                      audit_config=audit_config, sut_class=sut_class)
        record.update(status="running")
        outcome = supervise(job, record, cfg, stall_timeout_s, echo)
        if outcome is not None:
            record.fail(*outcome)
            raise RunFailed(f"run FAILED: {outcome[0]}; logs kept in {run_dir}")
        finish(run_dir, record, cfg, artifact, dataset.labels)
        if cfg.mode == "accuracy" and cfg.precision != "fp32":
            echo("  fidelity: comparing outputs with the FP32 model on the same samples")
            record.update(fidelity=fidelity(str(artifact.path), model_path, choice, spec, samples).to_json())
    except _Stop as exc:
        record.fail(f"interrupted by {exc}")
        raise RunInterrupted(f"run FAILED: interrupted by {exc}; logs kept in {run_dir}", exc.signum) from None
    except BaseException as exc:
        if record.data["status"] != "FAILED":
            record.fail(one_line(exc), None if isinstance(exc, HarnessError) else traceback.format_exc())
        raise
    return record.data


def _model_for_precision(cfg: RunConfig, artifact: ModelArtifact, dataset, samples) -> tuple[str, dict | None]:
    """The model file the engine runs: the source, or its INT8 quantization (cached)."""
    if cfg.precision != "int8":
        return str(artifact.path), None
    path, indices = quantized_model(artifact, dataset, samples, cfg.calibration_list)
    return str(path), {"source_sha256": artifact.sha256, "model_sha256": sha256_file(path),
                       "calibration_images": len(indices), "calibration_list": cfg.calibration_list,
                       "method": METHOD}


def supervise(job: TestJob, record: RunRecord, cfg: RunConfig, stall_timeout_s: float,
              echo) -> tuple[str, str | None] | None:
    """Run the child to completion; return None, or why it was stopped: (cause, detail).

    The child is ended on the way out whatever happened, SIGINT and SIGTERM (raised here
    as _Stop) included: LoadGen cannot be aborted, but what it has logged stays on disk.
    """
    ctx = mp.get_context("spawn")
    events = ctx.Queue()
    child = ctx.Process(target=run_test, args=(job, events), name="harness-loadgen", daemon=True)
    bar = None
    last_progress, last_change = -1, time.monotonic()
    try:
        with children_starting():
            child.start()
        while True:
            if bar is not None and time.monotonic() - last_change > stall_timeout_s:
                return f"no sample completed in {stall_timeout_s:g} s: the run hung", None
            try:
                kind, value = events.get(timeout=0.2)
            except queue.Empty:
                if child.is_alive():
                    continue
                if child.exitcode != 0 or not record.data.get("done"):
                    return _exit_cause(child.exitcode), None
                return None
            if kind == "failed":
                return value
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
        if child.pid is not None:  # a signal can arrive before the child started
            child.join()


def _exit_cause(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        return f"the LoadGen process was killed by {signal.Signals(-exitcode).name}"
    return f"the LoadGen process exited with code {exitcode} before the test completed"


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
