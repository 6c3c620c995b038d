"""Compare the threads observed during a run with its plan: run.json's placement record.

Which observed threads are inference threads, and whose:
- a thread named by affinity.worker_thread_name ("hw-2") serves that instance, wherever
  its mask points: the worker names itself, and every thread a library starts from it
  (ONNX Runtime, OpenVINO) inherits the name;
- an unnamed thread that someone pinned (its mask is narrower than the CPUs the process
  started with) and that may run on some instance's CPUs belongs to the instance whose
  CPUs contain its mask: ONNX Runtime's pool threads are created by the session before
  any worker runs, so they carry no instance name, and are pinned to its CPUs;
- every other thread (Python, LoadGen, queues, an engine thread nobody pinned) may run
  on any CPU the process may use, so its mask says nothing about an instance.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass

from harness.cpu.affinity import ThreadObservation, check_placement, instance_of_thread_name
from harness.cpu.placement import Instance

NOT_OBSERVED = "thread placement not verified: the run ended before its threads were observed"


@dataclass(frozen=True)
class ObservedThread:
    tid: int
    name: str
    allowed: tuple[int, ...]  # Cpus_allowed_list
    last_cpu: int
    cpu_time_s: float
    instance: int | None  # the instance it serves; None: not an inference thread as far as seen


@dataclass(frozen=True)
class PlacementCheck:
    observed: tuple[ObservedThread, ...] | None  # None: the run ended before an observation
    warnings: tuple[str, ...]

    def to_json(self) -> dict:
        observed = None if self.observed is None else [asdict(t) for t in self.observed]
        return {"observed": observed, "warnings": list(self.warnings)}


def check_observed_placement(
    instances: Sequence[Instance],
    observations: Sequence[ThreadObservation] | None,
    process_cpus: Collection[int],
) -> PlacementCheck:
    """Attribute observed threads to instances and warn where they differ from the plan.

    `process_cpus` is the mask the run's process started with (threads nobody pinned).
    """
    if observations is None:
        return PlacementCheck(None, (NOT_OBSERVED,))
    cpus_of = {instance.index: frozenset(instance.cpus) for instance in instances}
    unpinned = frozenset(process_cpus)
    owners = {
        t.tid: index
        for t in observations
        if (index := instance_of_thread_name(t.name)) is not None and index in cpus_of
    }
    inference = [
        t
        for t in observations
        if t.tid in owners
        or (frozenset(t.allowed) != unpinned and any(cpus & set(t.allowed) for cpus in cpus_of.values()))
    ]
    warnings = check_placement(cpus_of, inference, owners)
    attributed = {t.tid: owners.get(t.tid, _home(t, cpus_of)) for t in inference}
    observed = tuple(
        ObservedThread(t.tid, t.name, tuple(t.allowed), t.last_cpu, t.cpu_time_s, attributed.get(t.tid))
        for t in observations
    )
    return PlacementCheck(observed, tuple(warnings))


def placement_fields(instances: Sequence[dict], observations: Sequence[dict] | None,
                     process_cpus: Collection[int]) -> dict:
    """run.json's placement.observed and placement.warnings from run.json-shaped values."""
    check = check_observed_placement(
        [Instance(**instance) for instance in instances],
        None if observations is None else [ThreadObservation(**o) for o in observations],
        process_cpus,
    )
    return check.to_json()


def _home(thread: ThreadObservation, cpus_of: Mapping[int, frozenset[int]]) -> int | None:
    homes = [index for index, cpus in cpus_of.items() if frozenset(thread.allowed) <= cpus]
    return homes[0] if len(homes) == 1 else None
