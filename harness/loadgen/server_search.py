"""Server without --target-qps: the highest rate at which a run is VALID, found by bisection
over short runs.

Each step is a whole short run in its own LoadGen process, judged by LoadGen's own verdict
(p99 within the bound, early stopping, enough queries). LoadGen's FindPeakPerformance mode
does the same search inside one process, but judges a step by its p99 alone (neither early
stopping nor the minimum query count) and logs results for its last step only, so the
harness bisects itself and keeps every step.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path

from harness.config.runconfig import RunConfig
from harness.errors import RunFailed
from harness.files import new_dir

STEP_S = 5.0  # each step's minimum duration, or the run's own if shorter (a step issues 662+ queries)
CLOSE_ENOUGH = 1.1  # stop when the highest VALID and lowest INVALID rates are this close
MAX_STEPS = 12
# Below this rate a step's 662 queries take over two minutes: a system that slow is told so.
LOWEST_RATE = 5.0
# The run itself offers a little less than the highest VALID step: at the very edge, the
# noise between two runs alone would make every other one INVALID.
MARGIN = 0.9


@dataclass(frozen=True)
class Step:
    target_qps: float
    validity: str | None
    p99_ns: float | None
    completed_qps: float | None
    run_id: str


@dataclass(frozen=True)
class Search:
    highest_valid: float  # the highest rate a step found VALID
    capacity: float
    steps: tuple[Step, ...]
    directory: str

    def to_json(self) -> dict:
        return {"rate": self.rate, "highest_valid": self.highest_valid, "margin": MARGIN,
                "capacity": self.capacity, "directory": self.directory, "close_enough": CLOSE_ENOUGH,
                "steps": [asdict(s) for s in self.steps]}

    @property
    def rate(self) -> float:
        """The rate the run offers."""
        return MARGIN * self.highest_valid


def _step(record: dict) -> Step:
    result = record["result"]
    return Step(record["calibrated_target"], result.get("validity"), result.get("p99_latency_ns"),
                result.get("value"), record["run_id"])


def find_server_rate(cfg: RunConfig, run: Callable[[RunConfig], dict], echo) -> Search:
    """Bisect for the highest VALID rate; `run` runs one step and returns its run.json."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    directory = new_dir(Path(cfg.output_dir), f"{stamp}-server-search-{cfg.precision}", "search")
    step_s = min(STEP_S, cfg.duration or STEP_S)
    base = replace(cfg, quick=True, duration=step_s, output_dir=str(directory), progress=False)
    echo(f"Server: searching for the highest VALID rate in {step_s:g} s steps ({directory})")
    steps: list[Step] = []

    def measure(target: float | None) -> Step:
        record = run(replace(base, target_qps=target))
        steps.append(_step(record))
        s = steps[-1]
        p99 = f"p99 {s.p99_ns / 1e6:.2f} ms" if s.p99_ns else "no p99"
        echo(f"  step {len(steps)}: {s.target_qps:,.1f} samples/s offered: {s.validity} ({p99})")
        return record

    first = measure(None)  # the run measures the capacity and offers half of it
    batching = first["server_batching"]
    capacity, one_ms, bound_ms = batching["capacity"], batching["batch_ms"]["1"], first["result"]["latency_bound_ns"] / 1e6
    if one_ms >= bound_ms:  # no queueing, no batching: still too slow
        raise RunFailed(f"Server: one image takes {one_ms:.1f} ms here, over the {bound_ms:g} ms bound, so no rate "
                        f"can be VALID; run Offline, SingleStream or MultiStream (first step in {directory})")
    valid = [s.target_qps for s in steps if s.validity == "VALID"]
    invalid = [s.target_qps for s in steps if s.validity != "VALID"]
    while len(steps) < MAX_STEPS:
        low, high = max(valid, default=None), min(invalid, default=None)
        if low is not None and high is not None and high / low <= CLOSE_ENOUGH:
            break
        if low is None:
            # An overloaded step completes what the system sustains: offer a little less than that.
            sustained = min(s.completed_qps or high for s in steps)
            target = min(high / 4, 0.8 * sustained)
            if target < LOWEST_RATE:
                break
        elif high is None:
            target = low * 2
        else:
            target = math.sqrt(low * high)
        measure(target)
        (valid if steps[-1].validity == "VALID" else invalid).append(target)
    if not valid:
        lowest = min(steps, key=lambda s: s.target_qps)
        p99 = f"p99 {lowest.p99_ns / 1e6:.1f} ms" if lowest.p99_ns else "no p99"
        raise RunFailed(f"Server: no rate was VALID, down to {lowest.target_qps:.3g} samples/s ({p99}); this "
                        f"system cannot answer within the latency bound (steps in {directory})")
    return Search(max(valid), capacity, tuple(steps), str(directory))
