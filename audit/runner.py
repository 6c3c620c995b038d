"""The runs an audit adds to a performance run: its accuracy run and each compliance test.

Each is a full harness run (its own LoadGen process, so LoadGen's one FromConfig per
process holds) repeating the audited run's settings: config, calibrated target and
SUT class. The run's run.json gains an "audit" entry linking it to the run it audits.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from audit.configs import compliance_test, write_audit_config
from audit.runs import RunInfo, read_run, repeat_config, require_performance_run
from harness.loadgen.benchmark import run_benchmark
from harness.results.runjson import HARNESS_SUT


def _repeat(audited: RunInfo, mode: str, output_dir: Path, test: str | None, echo) -> RunInfo:
    cfg = repeat_config(require_performance_run(audited), mode, output_dir)
    sut_class = audited.record.get("sut_class")  # the audit repeats an injected SUT too
    if sut_class == HARNESS_SUT:
        sut_class = None
    with tempfile.TemporaryDirectory(prefix="harness-audit-") as tmp:
        audit_config = write_audit_config(compliance_test(test), Path(tmp) / "audit.config") if test else None
        record = run_benchmark(cfg, audit_config=audit_config, sut_class=sut_class, echo=echo,
                               target_calibrated=audited.config.get(audited.scenario.target_key) is None)
    link = {"audited_run": audited.run_id, "audited_run_dir": str(audited.path)}
    # Read back rather than reuse `record`: run.json is what every later reader sees.
    return read_run(Path(cfg.output_dir) / record["run_id"]).annotate(audit={**link, "test": test} if test else link)


def run_accuracy(audited: RunInfo, output_dir: Path, echo=print) -> RunInfo:
    """The accuracy-mode run with the audited run's settings (TEST01 compares against its responses)."""
    return _repeat(audited, "accuracy", output_dir, None, echo)


def run_compliance(test: str, audited: RunInfo, output_dir: Path, echo=print) -> RunInfo:
    """One compliance test (TEST01, TEST04) with the audited run's settings."""
    return _repeat(audited, "performance", output_dir, test, echo)
