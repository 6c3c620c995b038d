import os
import threading

import numpy as np
import onnxruntime as ort
import pytest

from harness.cli.summary import summary_lines
from harness.cpu.affinity import (
    ThreadObservation,
    instance_of_thread_name,
    name_current_thread,
    observe_threads,
    pin_current_thread,
    worker_thread_name,
)
from harness.cpu.observed import NOT_OBSERVED, check_observed_placement, placement_fields
from harness.cpu.placement import Instance
from harness.engine.session import session_options

PROCESS = (0, 1, 2, 3)  # the mask threads start with on the fake machine below
TWO = (Instance(0, 0, (0, 1), 2, 16), Instance(1, 0, (2, 3), 2, 16))


def thread(tid, name, allowed, cpu_time_s=1.0):
    return ThreadObservation(tid, name, tuple(allowed), allowed[0], cpu_time_s)


def test_a_clean_run_attributes_workers_by_name_and_pool_threads_by_mask():
    threads = [thread(1, "python", PROCESS), thread(2, "python", (1,)), thread(3, "python", (3,)),
               thread(4, "hw-0", (0,)), thread(5, "hw-1", (2,)), thread(6, "python", PROCESS)]
    check = check_observed_placement(TWO, threads, PROCESS)
    assert check.warnings == ()
    assert [t.instance for t in check.observed] == [None, 0, 1, 0, 1, None]


def test_threads_crowded_onto_another_instance_are_warned_about():
    # As measured with OpenVINO's own pinning: both sessions' threads on one core.
    threads = [thread(1, "python", PROCESS), thread(4, "hw-0", (0, 1)), thread(5, "hw-1", (2,)),
               thread(7, "hw-1", (0,))]
    check = check_observed_placement(TWO, threads, PROCESS)
    assert check.warnings == (
        "thread 7 (hw-1) may run on CPU 0, beyond CPUs 2-3 of instance 1 it serves; "
        "pin it within that instance's CPUs",
        "instance 1 (CPUs 2-3): the threads doing its work may run only on CPU 2, leaving CPU 3 idle",
    )
    assert [t.instance for t in check.observed] == [None, 0, 1, 1]


def test_unpinned_engine_threads_leave_their_instance_short():
    # ORT pool threads created without intra_op_thread_affinities keep the process mask.
    threads = [thread(2, "python", PROCESS), thread(3, "python", PROCESS),
               thread(4, "hw-0", (0,)), thread(5, "hw-1", (2,))]
    assert check_observed_placement(TWO, threads, PROCESS).warnings == (
        "instance 0 (CPUs 0-1): the threads doing its work may run only on CPU 0, leaving CPU 1 idle",
        "instance 1 (CPUs 2-3): the threads doing its work may run only on CPU 2, leaving CPU 3 idle",
    )


def test_a_run_too_short_to_observe_says_so_and_the_summary_prints_warnings():
    fields = placement_fields([vars(i) for i in TWO], None, PROCESS)
    assert fields == {"observed": None, "warnings": [NOT_OBSERVED]}
    record = {"config": {"scenario": "Offline", "mode": "performance", "precision": "fp32"},
              "result": {}, "model": {"name": "m"}, "run_id": "r",
              "placement": {"description": "d", **fields}}
    assert f"  warning: {NOT_OBSERVED}" in summary_lines(record)


def test_placement_fields_reads_run_json_shapes():
    observed = [{"tid": 9, "name": "hw-1", "allowed": [2, 3], "last_cpu": 3, "cpu_time_s": 1.5}]
    fields = placement_fields([vars(i) for i in TWO], observed, PROCESS)
    assert fields["observed"] == [{"tid": 9, "name": "hw-1", "allowed": (2, 3), "last_cpu": 3,
                                   "cpu_time_s": 1.5, "instance": 1}]
    assert fields["warnings"] == ["instance 0 (CPUs 0-1) has no thread pinned within its CPUs"]


def test_worker_names_round_trip_and_fit_the_kernel_limit():
    assert instance_of_thread_name(worker_thread_name(12)) == 12
    assert instance_of_thread_name("python") is None
    assert instance_of_thread_name("hw-") is None
    with pytest.raises(ValueError, match="must be 1-15 bytes"):
        name_current_thread("harness-worker-0")


def test_pinned_session_threads_are_observed_on_their_instance(colour_model):
    """On this machine: a named, pinned worker and the ORT pool thread of its session."""
    cpus = tuple(sorted(os.sched_getaffinity(0)))
    if len(cpus) < 2:
        pytest.skip("needs two CPUs for one instance of two threads")
    instance = Instance(0, 0, cpus[:2], 2, 4)
    # Other tests' sessions may still have pinned threads in this process: leave them out.
    before = {t.tid for t in observe_threads()}
    session = ort.InferenceSession(str(colour_model), session_options(2, instance.cpus),
                                   providers=["CPUExecutionProvider"])
    seen = {}

    def worker():
        name_current_thread(worker_thread_name(0))
        pin_current_thread(instance.cpus[:1])
        session.run(None, {"input": np.zeros((4, 3, 32, 32), np.float32)})
        seen["tid"] = threading.get_native_id()
        seen["observed"] = [t for t in observe_threads() if t.tid not in before]

    runner = threading.Thread(target=worker)
    runner.start()
    runner.join()
    check = check_observed_placement([instance], seen["observed"], cpus)
    assert check.warnings == ()
    mine = [t for t in check.observed if t.instance == 0]
    by_tid = {t.tid: t for t in mine}
    assert by_tid[seen["tid"]].name == "hw-0" and by_tid[seen["tid"]].allowed == cpus[:1]
    # The session's pool thread: unnamed, pinned by ORT to the instance's second CPU.
    assert [t.allowed for t in mine if t.tid != seen["tid"]] == [cpus[1:2]]
