"""One benchmark run, end to end: prepare, run the LoadGen test in a child, record.

The parent prepares everything that can be prepared before timing (model file,
preprocessed cache, placement), then supervises the child that runs LoadGen: it
shows progress, and ends the test cleanly on a worker failure, a hang, SIGINT or
SIGTERM. Whatever happens, the run directory ends with a run.json that says so.
"""

from __future__ import annotations

import shutil
import signal
import traceback
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import numpy as np
import onnxruntime as ort

from harness import __version__
from harness.config.runconfig import RunConfig
from harness.cpu.observed import placement_fields
from harness.cpu.placement import Plan, plan_instances
from harness.cpu.sysinfo import cpu_info, system_info
from harness.cpu.topology import parse_cpulist, read_topology
from harness.engine.choice import CPU, EngineChoice, choose_ep
from harness.engine.fidelity import fidelity
from harness.engine.layouts import run_layout
from harness.engine.proof import precision_proof
from harness.errors import ConfigError, HarnessError, RunFailed, RunInterrupted, one_line
from harness.files import atomic_write_text, new_dir, sha256_file
from harness.loadgen.cluster import check_reachable, is_loopback, require_ray
from harness.loadgen.events import TestOutcome
from harness.loadgen.inputs import preprocessed_samples, resolve_inputs
from harness.loadgen.job import ClusterJob, NodeLayout, TestJob
from harness.loadgen.length import length_line
from harness.loadgen.server_search import find_server_rate
from harness.loadgen.settings import LoadGenSettings, mlperf_conf
from harness.loadgen.supervisor import stall_timeout, supervise
from harness.models.artifact import ModelArtifact, check_layout
from harness.models.quantize import METHOD, quantized_model
from harness.results.accuracy import top1
from harness.results.logs import headline, read_detail_log
from harness.results.runjson import HARNESS_SUT, RunRecord, now
from harness.results.runstats import write_run_stats
from harness.terms import MIN_DURATION_S, SYNTHETIC_WEIGHTS_NOTE, Scenario

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# Server: the largest batch the SUT may collect across queries; it measures which size fits
# the latency bound (Intel's CPU harness batches up to 4).
SERVER_MAX_BATCH = 8


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


def new_run_dir(cfg: RunConfig, model_name: str) -> Path:
    """runs/<timestamp>-<model>-<precision>-<scenario>-<mode>[-N]: never an existing one."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return new_dir(Path(cfg.output_dir), f"{stamp}-{model_name}-{cfg.precision}-{cfg.scenario}-{cfg.mode}", "run")


def _plan(cfg: RunConfig) -> Plan:
    """The instances of the run: its layout (harness.engine.layouts) placed on this topology."""
    topology = read_topology()
    cpus = parse_cpulist(cfg.cpus, "--cpus") if cfg.cpus else None
    layout = run_layout(cfg, _layout_ep(cfg), topology, cpus)
    plan = plan_instances(topology, layout.instances, layout.threads, _batch_size(cfg, layout.instances),
                          smt=cfg.smt, reserve_cores=cfg.reserve_cores, cpus=cpus)
    return replace(plan, source=layout.source), topology


def _layout_ep(cfg: RunConfig) -> str:
    """The EP the default layout is for; a precision no EP here runs fails later, at the
    precision proof, with its run directory (the layout is then the CPU EP's)."""
    try:
        return choose_ep(cfg.ep, cfg.precision, cpu_info()["isa"], ort.get_available_providers()).ep
    except ConfigError:
        return CPU


def _batch_size(cfg: RunConfig, instances: int | None) -> int:
    """MultiStream: the query's samples shared among the instances; Server: the largest batch
    the SUT may collect (it measures which size fits the latency bound); else the config's."""
    if cfg.batch_size is None and cfg.scenario is Scenario.MULTI_STREAM:
        return -(-mlperf_conf(cfg.scenario)["multi_stream_samples_per_query"] // (instances or 1))
    if cfg.batch_size is None and cfg.scenario is Scenario.SERVER:
        return SERVER_MAX_BATCH
    return cfg.effective_batch_size


def _loadgen_settings(cfg: RunConfig, dataset_size: int) -> LoadGenSettings:
    """What the child gives LoadGen; mlperf.conf is read (in a child process) only where the
    scenario needs one of its values."""
    scenario = cfg.scenario
    bound = mlperf_conf(scenario)["server_target_latency_ns"] / 1e6 if scenario is Scenario.SERVER else None
    per_query = mlperf_conf(scenario)["multi_stream_samples_per_query"] if scenario is Scenario.MULTI_STREAM else 1
    return LoadGenSettings(scenario, cfg.quick, cfg.duration, dataset_size, latency_bound_ms=bound,
                           samples_per_query=per_query)


def run_benchmark(cfg: RunConfig, stall_timeout_s: float | None = None, audit_config: Path | None = None,
                  sut_class: str | None = None, echo=print, target_calibrated: bool = False) -> dict:
    """Run one test; return run.json's content. Raises RunFailed if it did not complete,
    RunInterrupted on SIGINT or SIGTERM. `stall_timeout_s` None: stall_timeout().
    `sut_class` "module:Class" replaces the harness's SUT (tests inject faulty ones).
    `target_calibrated`: cfg's target is another run's calibrated one (an audit repeating that
    run), so that a short Offline run gets the same min_duration as the run it repeats.

    A Server performance run without a target rate first searches for the highest VALID
    rate in short runs (harness.loadgen.server_search), then runs at it."""
    stall_timeout_s = stall_timeout_s or stall_timeout()
    with _stop_on_signals():
        if cfg.scenario.batches_across_queries and cfg.target_qps is None and cfg.mode == "performance":
            search = find_server_rate(
                cfg, lambda step: _run(step, stall_timeout_s, None, sut_class, lambda *_: None, {}), echo)
            cfg = replace(cfg, target_qps=search.rate)
            return _run(cfg, stall_timeout_s, audit_config, sut_class, echo, {"server_search": search.to_json()})
        return _run(cfg, stall_timeout_s, audit_config, sut_class, echo, {}, target_calibrated)


def _run(cfg: RunConfig, stall_timeout_s: float, audit_config: Path | None, sut_class: str | None,
         echo, extra: dict, target_calibrated: bool = False) -> dict:
    inputs = resolve_inputs(cfg)
    artifact, dataset, spec = inputs.artifact, inputs.dataset, inputs.artifact.spec
    if cfg.cluster is None:
        plan, topology = _plan(cfg)
        check_layout(artifact, plan.instances)
        placement = {"description": plan.description, "source": plan.source,
                     "instances": [vars(i) for i in plan.instances], "reserved_cpus": list(plan.reserved_cpus)}
        cluster = {}
    else:  # each node places its own instances and reports them (run.json cluster.nodes)
        if cfg.cpus:
            raise ConfigError(f"--cpus {cfg.cpus} names this machine's CPUs, but with --cluster the nodes run "
                              "the engines and each places itself: use --instances and --threads")
        require_ray()
        check_reachable(cfg.cluster)
        plan, topology = None, read_topology()
        placement = {"description": "on the cluster's nodes (cluster.nodes)",
                     "source": "each node's own (cluster.nodes[].placement.source)",
                     "instances": [], "reserved_cpus": []}
        cluster = {"cluster": {"address": cfg.cluster,
                               "interconnect": "loopback" if is_loopback(cfg.cluster) else "TCP/IP (Ray)"}}
    run_dir = new_run_dir(cfg, artifact.name)
    record = RunRecord.create(
        run_dir, harness_version=__version__, status="preparing", run_id=run_dir.name, started=now(),
        config=cfg.to_json(), model=artifact.to_json(), dataset=dataset.to_json(), placement=placement,
        system=system_info(topology), compliant_length=cfg.compliant_length, sut_class=sut_class or HARNESS_SUT,
        notes=[SYNTHETIC_WEIGHTS_NOTE] if artifact.synthetic_weights else [], **cluster, **extra)
    try:  # from here on, whatever stops the run, run.json says FAILED and why
        if audit_config is not None:  # the run directory keeps exactly what LoadGen was given
            audit_config = Path(shutil.copyfile(audit_config, run_dir / "audit.config"))
        echo(f"run {run_dir}")
        echo(f"  {artifact.name} ({SYNTHETIC_WEIGHTS_NOTE})" if artifact.synthetic_weights else f"  {artifact.name}")
        echo(f"  {cfg.scenario} {cfg.mode}, {cfg.precision}, {placement['description']}, {_length_words(cfg)}")
        samples = preprocessed_samples(inputs, cfg.progress)
        model_path, quantization = _model_for_precision(cfg, artifact, dataset, samples)
        record.update(quantization=quantization)
        choice = None if cfg.cluster else _prove_precision(cfg, record, model_path, echo)
        target = getattr(cfg, cfg.scenario.target_key)
        job = TestJob(run_dir=run_dir, mode=cfg.mode, model_path=model_path, spec=spec, engine=choice,
                      samples_path=samples.filename, instances=plan.instances if plan else (),
                      loadgen=_loadgen_settings(cfg, len(dataset)), target=target,
                      calibrated=target is None or target_calibrated, audit_config=audit_config, sut_class=sut_class,
                      cluster=_cluster_job(cfg, stall_timeout_s) if cfg.cluster else None)
        record.update(status="running")
        outcome = supervise(job, record, stall_timeout_s, cfg.progress, f"{cfg.scenario} {cfg.mode}",
                            lambda target: echo(length_line(job.loadgen, target, job.calibrated)))
        if outcome.failure is not None:
            record.fail(outcome.failure.cause, outcome.failure.detail)
            raise RunFailed(f"run FAILED: {outcome.failure.cause}; logs kept in {run_dir}")
        finish(record, cfg, artifact, dataset.labels, outcome)
        if cfg.mode == "accuracy" and cfg.precision != "fp32":
            echo("  fidelity: comparing outputs with the FP32 model on the same samples")
            here = choice or choose_ep(cfg.ep, cfg.precision, record.data["system"]["isa"],
                                       ort.get_available_providers())  # a cluster run compares on this machine
            record.update(fidelity=fidelity(str(artifact.path), model_path, here, spec, samples).to_json())
    except _Stop as exc:
        record.fail(f"interrupted by {exc}")
        raise RunInterrupted(f"run FAILED: interrupted by {exc}; logs kept in {run_dir}", exc.signum) from None
    except BaseException as exc:
        if record.data["status"] != "FAILED":
            record.fail(one_line(exc), None if isinstance(exc, HarnessError) else traceback.format_exc())
        raise
    return record.data


def _prove_precision(cfg: RunConfig, record: RunRecord, model_path: str, echo) -> EngineChoice:
    """This machine's EP for the precision, and the engine's own word on what it computes in;
    a mismatch fails the run before anything is measured."""
    choice = choose_ep(cfg.ep, cfg.precision, record.data["system"]["isa"], ort.get_available_providers())
    proof = precision_proof(model_path, choice)
    record.update(engine=choice.to_json(), precision=proof)
    echo(f"  {choice.ep} EP ({choice.reason}); engine reports {proof.get('reported', 'nothing')}")
    if not proof["matches"]:
        cause = (f"asked for {cfg.precision} on the {choice.ep} EP but the engine reports "
                 f"{proof.get('reported') or proof.get('error')}")
        record.fail(cause)
        raise RunFailed(f"{cause}; nothing was measured ({record.run_dir})")
    return choice


def _cluster_job(cfg: RunConfig, node_timeout_s: float) -> ClusterJob:
    """The run's layout flags, for every node to apply to its own topology."""
    layout = NodeLayout(cfg.instances, cfg.threads, _batch_size(cfg, cfg.instances), cfg.smt, cfg.reserve_cores)
    return ClusterJob(cfg.cluster, cfg.ep, cfg.precision, layout, node_timeout_s)


def _length_words(cfg: RunConfig) -> str:
    """The run's length as the user chose it, before anything is measured."""
    if cfg.compliant_length:
        return f"formal length (at least {MIN_DURATION_S / 60:.0f} min; --quick for a smoke test of seconds)"
    return "quick (not compliant)" if cfg.quick else f"--duration {cfg.duration:g} s (not compliant)"


def _model_for_precision(cfg: RunConfig, artifact: ModelArtifact, dataset, samples) -> tuple[str, dict | None]:
    """The model file the engine runs: the source, or its INT8 quantization (cached)."""
    if cfg.precision != "int8":
        return str(artifact.path), None
    path, indices = quantized_model(artifact, dataset, samples, cfg.calibration_list)
    return str(path), {"source_sha256": artifact.sha256, "model_sha256": sha256_file(path),
                       "calibration_images": len(indices), "calibration_list": cfg.calibration_list,
                       "method": METHOD}


def finish(record: RunRecord, cfg: RunConfig, artifact: ModelArtifact, labels: np.ndarray,
           outcome: TestOutcome) -> None:
    run_dir = record.run_dir
    log = read_detail_log(run_dir)
    result = {"validity": log.get("result_validity"), **headline(log, cfg.scenario),
              "loadgen_errors": list(log.errors), "seeds": log.seeds(),
              "min_duration_ms": log.get("effective_min_duration_ms"),
              "min_query_count": log.get("effective_min_query_count"),
              "performance_sample_count": log.get("effective_performance_sample_count"),
              "samples": outcome.samples}
    if cfg.mode == "accuracy":
        acc = top1(run_dir, labels)
        note = f"  # {SYNTHETIC_WEIGHTS_NOTE}" if artifact.synthetic_weights else ""
        atomic_write_text(run_dir / "accuracy.txt", acc.line() + note + "\n")
        result.update(top1=acc.top1, accuracy_good=acc.good, accuracy_total=acc.total)
    if cfg.cluster is None:
        placement = record.data["placement"]
        observed = None if outcome.threads is None else list(outcome.threads)
        placement.update(placement_fields(placement["instances"], observed, record.data["system"]["allowed_cpus"]))
    result["stats"] = write_run_stats(run_dir).summary()
    record.update(status="completed", result=result, finished=now())
