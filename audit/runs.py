"""What a run directory says about itself, and the settings that repeat it exactly.

Audits read run.json (the contract between runner, audit and report) and never
re-derive what a run did: the compliance runs repeat the audited run's config with
its calibrated target, so they run the same model, precision, placement, batch and
query size as the run they audit.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from audit.errors import AuditError
from harness.config.runconfig import RunConfig
from harness.results.runjson import RunRecord, read_run_json
from harness.results.runview import RunView


@dataclass(frozen=True)
class RunInfo(RunView):
    """A run as an audit sees it: harness's view of a run directory, and what audits add."""

    @property
    def config(self) -> dict:
        return self.record["config"]

    @property
    def test(self) -> str | None:
        """TEST01 or TEST04 for a compliance run, else None."""
        return (self.record.get("audit") or {}).get("test")

    @property
    def audited_run(self) -> str | None:
        return (self.record.get("audit") or {}).get("audited_run")

    def labels(self) -> np.ndarray:
        """The dataset's ground truth, index i for qsl_idx i."""
        from harness.data.imagenet import read_dataset

        data = self.record["dataset"]
        return read_dataset(Path(data["root"]), self.record["model"]["spec"]["num_classes"], data["count"],
                            synthetic=data.get("synthetic", False)).labels

    def annotate(self, **values) -> RunInfo:
        """Add keys to run.json (atomically) and return the updated view."""
        record = RunRecord(self.path, dict(self.record))
        record.update(**values)
        return RunInfo(self.path, record.data)


def read_run(path: Path) -> RunInfo:
    """A completed run, or one line saying why it cannot be audited."""
    path = Path(path)
    record = read_run_json(path)
    if record.get("status") != "completed":
        raise AuditError(f"{path} has status {record.get('status')!r}, not 'completed'; "
                         "audit a run that finished (rerun it)")
    return RunInfo(path, record)


def require_performance_run(run: RunInfo) -> RunInfo:
    """The run an audit audits: a plain performance run."""
    if run.mode != "performance" or run.test:
        raise AuditError(f"{run.path} is not a plain performance run (it is {run.kind}); audits are made "
                         "for the performance run being submitted")
    return run


def config_from_json(values: dict, **overrides) -> RunConfig:
    """A RunConfig from its JSON form (run.json, formal.json); keys a newer harness dropped are ignored."""
    known = {f.name for f in fields(RunConfig)}
    return RunConfig(**{**{k: v for k, v in values.items() if k in known}, **overrides})


def repeat_config(run: RunInfo, mode: str, output_dir: Path) -> RunConfig:
    """The audited run's config with its calibrated target fixed, in `mode`, writing to output_dir."""
    target = run.record.get("calibrated_target")
    if target is None:
        raise AuditError(f"{run.path / 'run.json'} has no calibrated_target; rerun the performance run")
    key = run.scenario.target_key
    return config_from_json(run.config, **{key: float(target)}, mode=mode, output_dir=str(output_dir))


def same_placement(a: RunInfo, b: RunInfo) -> bool:
    """Same instances on the same CPUs with the same threads and batch."""
    return a.record["placement"]["instances"] == b.record["placement"]["instances"]
