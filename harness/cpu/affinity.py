"""Pin threads to CPUs and check, from /proc, where threads may actually run.

On Linux, `os.sched_setaffinity(0, cpus)` changes only the calling thread: pid 0 is the
caller's thread id, not its process (tests/test_affinity.py checks this through
/proc/self/task/<tid>/status). Threads inherit their creator's mask when they start, so
an engine that pins a thread and then creates its ONNX Runtime session there gets the
session's pool threads on the same CPUs, unless the library sets masks of its own
(observe_threads and check_placement show which); existing threads keep their mask.
"""
from __future__ import annotations

import ctypes
import os
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from harness.cpu.topology import format_cpulist, name_cpus, parse_cpulist
from harness.errors import PlacementError

# Positions of proc(5) stat fields after the ") " that ends the comm field (field 2):
# utime (14) and stime (15) in clock ticks, processor (39).
_UTIME_AFTER_COMM, _STIME_AFTER_COMM = 14 - 3, 15 - 3
_PROCESSOR_AFTER_COMM = 39 - 3
# A thread with less CPU time than this share of its instance's busiest thread mostly
# waits (an OpenVINO caller blocked on its stream): where it may run says little. Judged
# only once the busiest thread has run long enough for 10 ms clock ticks to mean much.
BUSY_SHARE = 0.1
BUSY_EVIDENCE_S = 0.5
_PR_SET_NAME = 15  # prctl(2): name the calling thread
_COMM_BYTES = 15  # the kernel's thread name limit, without the terminating NUL
_WORKER_NAME = re.compile(r"hw-(\d+)")


@dataclass(frozen=True)
class ThreadObservation:
    tid: int
    name: str
    allowed: tuple[int, ...]  # Cpus_allowed_list
    last_cpu: int  # CPU the thread last ran on
    cpu_time_s: float  # user + system CPU time since the thread started


def pin_current_thread(cpus: Iterable[int]) -> None:
    """Restrict the calling thread (only it) to `cpus`, and verify the kernel did so.

    The kernel silently drops CPUs outside the cgroup cpuset or beyond the machine's CPU
    count as long as one remains, so the mask is read back rather than trusted.
    """
    wanted = frozenset(cpus)
    if not wanted:
        raise PlacementError("cannot pin a thread to an empty CPU list; give at least one CPU")
    try:
        os.sched_setaffinity(0, wanted)
    except OSError as exc:
        raise PlacementError(
            f"cannot pin a thread to {name_cpus(wanted)} ({exc.strerror}); choose "
            f"CPUs this process may use: {format_cpulist(os.sched_getaffinity(0))}"
        ) from exc
    got = frozenset(os.sched_getaffinity(0))
    if got != wanted:
        raise PlacementError(
            f"asked to pin a thread to {name_cpus(wanted)} but the kernel allowed only "
            f"{format_cpulist(got)}; choose CPUs that are online and in this process's cpuset"
        )


def worker_thread_name(instance: int) -> str:
    """The OS name of the threads that serve `instance`: "hw-3"."""
    return f"hw-{instance}"


def instance_of_thread_name(name: str) -> int | None:
    """The instance a thread named by worker_thread_name serves, else None."""
    match = _WORKER_NAME.fullmatch(name)
    return int(match[1]) if match else None


def name_current_thread(name: str) -> None:
    """Set the calling thread's OS name (its comm, shown in /proc and top).

    Python's thread names stay inside Python; this one is what observe_threads sees.
    Threads a library starts later from this thread inherit the name, so ONNX Runtime
    and OpenVINO threads spawned by an instance's worker carry the instance's name too.
    """
    encoded = name.encode()
    if not encoded or len(encoded) > _COMM_BYTES:
        raise ValueError(f"thread name {name!r} must be 1-{_COMM_BYTES} bytes")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_NAME, ctypes.c_char_p(encoded), 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"prctl(PR_SET_NAME, {name!r}): {os.strerror(errno)}")


def observe_threads(root: Path = Path("/"), pid: int | str = "self") -> list[ThreadObservation]:
    """Every thread of process `pid` with its allowed CPUs and last CPU, sorted by tid."""
    observations = []
    for task in (root / "proc" / str(pid) / "task").iterdir():
        try:
            status = (task / "status").read_text()
            stat = (task / "stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue  # the thread exited between listing and reading: nothing to observe
        fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
        allowed = parse_cpulist(fields["Cpus_allowed_list"], source=str(task / "status"))
        # comm may itself contain spaces and ")"; the last ")" is the one that closes it.
        after_comm = stat[stat.rindex(")") + 2 :].split()
        observations.append(
            ThreadObservation(
                tid=int(task.name),
                name=fields["Name"],
                allowed=tuple(allowed),
                last_cpu=int(after_comm[_PROCESSOR_AFTER_COMM]),
                cpu_time_s=(int(after_comm[_UTIME_AFTER_COMM]) + int(after_comm[_STIME_AFTER_COMM]))
                / os.sysconf("SC_CLK_TCK"),
            )
        )
    return sorted(observations, key=lambda observation: observation.tid)


def check_placement(
    plan_cpus_by_instance: Mapping[int, Collection[int]],
    observations: Iterable[ThreadObservation],
    owners: Mapping[int, int] | None = None,
) -> list[str]:
    """Warnings about a plan and the threads meant to run it; empty when all is well.

    Pass only the threads that should belong to instances (e.g. those that appeared
    while the sessions were created); a deliberately unpinned thread would be reported.
    `owners` maps the tid of a thread known to serve one instance (by its name) to that
    instance's index. It checks exactly four things:
    1. no CPU belongs to two instances;
    2. every thread's allowed CPUs lie within one instance's CPUs, its owner's if known;
    3. every instance has at least one thread whose allowed CPUs lie within its CPUs;
    4. together those of them that do its work (BUSY_SHARE, BUSY_EVIDENCE_S) may run on
       every CPU of the instance: threads crowded onto some of its cores leave the others idle
       (OpenVINO's own pinning does this).
    It does not look at last_cpu: the kernel never runs a thread outside its mask.
    """
    ordered = sorted(plan_cpus_by_instance.items())
    instance_cpus = {index: frozenset(cpus) for index, cpus in ordered}
    owners = owners or {}
    warnings = []
    indices = list(instance_cpus)
    for i, first in enumerate(indices):
        for second in indices[i + 1 :]:
            shared = instance_cpus[first] & instance_cpus[second]
            if shared:
                warnings.append(
                    f"instances {first} and {second} share {name_cpus(shared)}; "
                    "each CPU should belong to one instance"
                )
    homed: dict[int, list[ThreadObservation]] = {}  # instance -> threads within its CPUs
    for thread in observations:
        allowed = frozenset(thread.allowed)
        label = f"thread {thread.tid} ({thread.name}) may run on {name_cpus(allowed)}"
        owner = owners.get(thread.tid)
        if owner is not None:
            homes = [owner] if allowed <= instance_cpus[owner] else []
            if not homes:
                warnings.append(
                    f"{label}, beyond {name_cpus(instance_cpus[owner])} of instance {owner} "
                    "it serves; pin it within that instance's CPUs"
                )
        else:
            homes = [index for index, cpus in instance_cpus.items() if allowed <= cpus]
            overlapped = [index for index, cpus in instance_cpus.items() if allowed & cpus]
            if not homes and overlapped:
                warnings.append(
                    f"{label}, beyond the CPUs of instance(s) {', '.join(map(str, overlapped))}; "
                    "pin it within one instance's CPUs"
                )
            elif not homes:
                warnings.append(f"{label}, outside every instance's CPUs")
        for home in homes:
            homed.setdefault(home, []).append(thread)
    for index, cpus in instance_cpus.items():
        if index not in homed:
            warnings.append(
                f"instance {index} ({name_cpus(cpus)}) has no thread pinned within its CPUs"
            )
            continue
        busiest = max(thread.cpu_time_s for thread in homed[index])
        floor = BUSY_SHARE * busiest if busiest >= BUSY_EVIDENCE_S else 0.0
        reachable = {
            cpu for thread in homed[index] if thread.cpu_time_s >= floor for cpu in thread.allowed
        }
        if reachable != cpus:
            warnings.append(
                f"instance {index} ({name_cpus(cpus)}): the threads doing its work may run only "
                f"on {name_cpus(reachable)}, leaving {name_cpus(cpus - reachable)} idle"
            )
    return warnings
