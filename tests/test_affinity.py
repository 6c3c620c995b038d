import os
import threading
from pathlib import Path

import pytest

from harness.cpu.affinity import ThreadObservation, check_placement, observe_threads, pin_current_thread
from harness.cpu.topology import parse_cpulist
from harness.errors import PlacementError

TCK = os.sysconf("SC_CLK_TCK")


def run_in_thread(function):
    """Run `function` in a fresh thread (so the test process keeps its own mask)."""
    outcome = {}

    def target():
        try:
            outcome["value"] = function()
        except BaseException as exc:  # re-raised in the test's thread below
            outcome["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def allowed_of(tid):
    for line in Path(f"/proc/self/task/{tid}/status").read_text().splitlines():
        if line.startswith("Cpus_allowed_list:"):
            return parse_cpulist(line.partition(":")[2])
    raise AssertionError(f"no Cpus_allowed_list for thread {tid}")


def write_task(root, tid, name, comm, allowed, processor, ticks=(0, 0)):
    task = root / f"proc/4242/task/{tid}"
    task.mkdir(parents=True)
    (task / "status").write_text(
        f"Name:\t{name}\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t4242\nPid:\t{tid}\n"
        f"Cpus_allowed:\tf\nCpus_allowed_list:\t{allowed}\nMems_allowed_list:\t0\n"
    )
    # Fields 3..52 of proc(5): utime and stime (14, 15) and processor (39) after the comm.
    after = ["S"] + ["0"] * 10 + [str(ticks[0]), str(ticks[1])] + ["0"] * 23 + [str(processor)] + ["0"] * 13
    (task / "stat").write_text(f"{tid} ({comm}) " + " ".join(after) + "\n")


def test_observe_threads_parses_status_and_stat(tmp_path):
    write_task(tmp_path, 4242, "python", "python", "0-3", 2)
    # A comm with spaces and parentheses: only the last ")" closes it.
    write_task(tmp_path, 4250, "a) b (c", "a) b (c", "1,3", 3, ticks=(3 * TCK, TCK // 2))
    # A thread that exited between listing and reading leaves an empty directory.
    (tmp_path / "proc/4242/task/4251").mkdir()
    assert observe_threads(tmp_path, 4242) == [
        ThreadObservation(4242, "python", (0, 1, 2, 3), 2, 0.0),
        ThreadObservation(4250, "a) b (c", (1, 3), 3, 3.5),
    ]


def test_setaffinity_pins_only_the_calling_thread_and_children_inherit():
    mask = sorted(os.sched_getaffinity(0))
    if len(mask) < 2:
        pytest.skip("needs two allowed CPUs to tell a pinned thread from the others")
    target = mask[-1]
    pinned = threading.Event()
    release = threading.Event()
    ids = {}

    def child():
        ids["child"] = threading.get_native_id()
        release.wait()

    def worker():
        ids["worker"] = threading.get_native_id()
        pin_current_thread([target])
        spawned = threading.Thread(target=child)
        spawned.start()
        while "child" not in ids:
            release.wait(0.001)
        pinned.set()
        release.wait()
        spawned.join()

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        pinned.wait()
        main = threading.get_native_id()
        assert allowed_of(ids["worker"]) == [target]
        assert allowed_of(ids["child"]) == [target]
        assert allowed_of(main) == mask
        seen = {observation.tid: observation for observation in observe_threads()}
        assert seen[ids["worker"]].allowed == (target,)
        # A sleeping thread's last CPU is within its mask, so it is the pinned CPU.
        assert seen[ids["worker"]].last_cpu == target
        assert seen[main].allowed == tuple(mask)
    finally:
        release.set()
        thread.join()


def test_pin_to_cpus_the_kernel_cannot_give_is_an_error():
    message = r"^cannot pin a thread to CPU 100000 \(Invalid argument\); choose CPUs"
    with pytest.raises(PlacementError, match=message):
        run_in_thread(lambda: pin_current_thread([100000]))


def test_pin_verifies_the_kernel_kept_every_cpu():
    first = min(os.sched_getaffinity(0))
    # The kernel drops the CPU it does not have and keeps the rest without complaint.
    with pytest.raises(
        PlacementError,
        match=f"^asked to pin a thread to CPUs {first},100000 but the kernel allowed only {first};",
    ):
        run_in_thread(lambda: pin_current_thread([first, 100000]))
    with pytest.raises(PlacementError, match="^cannot pin a thread to an empty CPU list"):
        pin_current_thread([])


def observation(tid, allowed, cpu_time_s=1.0):
    return ThreadObservation(tid, f"worker{tid}", tuple(allowed), allowed[0], cpu_time_s)


def test_check_placement_accepts_a_clean_layout():
    plan = {0: (0, 1), 1: (2, 3)}
    threads = [observation(10, [0, 1]), observation(11, [0]), observation(12, [2, 3])]
    assert check_placement(plan, threads) == []


def test_check_placement_reports_each_problem():
    plan = {0: (0, 1), 1: (1, 2), 2: (4, 5)}
    threads = [observation(10, [0, 1]), observation(11, [0, 1, 2, 3]), observation(12, [6, 7])]
    assert check_placement(plan, threads) == [
        "instances 0 and 1 share CPU 1; each CPU should belong to one instance",
        "thread 11 (worker11) may run on CPUs 0-3, beyond the CPUs of instance(s) 0, 1; "
        "pin it within one instance's CPUs",
        "thread 12 (worker12) may run on CPUs 6-7, outside every instance's CPUs",
        "instance 1 (CPUs 1-2) has no thread pinned within its CPUs",
        "instance 2 (CPUs 4-5) has no thread pinned within its CPUs",
    ]


def test_check_placement_judges_coverage_by_the_threads_that_work():
    # As seen with OpenVINO, 1 instance x 2 threads: the caller on CPU 0 mostly waits
    # while both of OpenVINO's threads are pinned to CPU 1.
    plan = {0: (0, 1)}
    crowded = [observation(10, [0], 0.05), observation(11, [1], 2.0), observation(12, [1], 1.9)]
    assert check_placement(plan, crowded) == [
        "instance 0 (CPUs 0-1): the threads doing its work may run only on CPU 1, leaving CPU 0 idle"
    ]
    # ORT's caller computes as much as its pool thread does.
    shared = [observation(10, [0], 1.8), observation(11, [1], 2.0)]
    assert check_placement(plan, shared) == []
    # Too little CPU time to tell working threads from waiting ones: all of them count.
    early = [observation(10, [0], 0.0), observation(11, [1], 0.01)]
    assert check_placement(plan, early) == []
