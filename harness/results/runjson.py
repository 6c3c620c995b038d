"""run.json: the one writer, and the reader that also takes older run directories.

Schema history (the `schema` field):
  1  no `schema` field; `sut_class` named the harness's SUT "harness.sut:SUT"
  2  `schema` field; the harness's SUT is "harness.loadgen.sut:SUT"
The reader upgrades what it reads to the current schema in memory and never rewrites the
file, so report, compare and audit take every version as it is. Optional keys added since
need no new schema: `repeat` ({"group", "index", "of"}) marks one of `--repeat N` runs.

A run records the process that writes its run.json (`process`: pid, its start time in
clock ticks since boot, the boot and the host). A run killed by SIGKILL, or whose machine
went down, cannot record its end: its status stays "preparing" or "running". The reader
calls such a run "abandoned" when that process is gone, or when the pid now belongs to
another process (another start time), so a report never shows it as live.
"""

from __future__ import annotations

import json
import os
import platform
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from harness.errors import HarnessError
from harness.files import atomic_write_json
from harness.results.runshape import shape_problem

RUN_JSON = "run.json"
UNFINISHED = ("preparing", "running")  # statuses a run holds while its process is working
ABANDONED = "abandoned"  # a reader's word for an unfinished run whose process is gone
SCHEMA = 2
HARNESS_SUT = "harness.loadgen.sut:SUT"  # how run.json names the harness's own SUT
_OLD_SUT_NAMES = {"harness.sut:SUT": HARNESS_SUT}


class RunJsonError(HarnessError):
    """A run.json that is missing, unreadable or not a run's record."""


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class RunRecord:
    """run.json, rewritten atomically as the run advances."""

    run_dir: Path
    data: dict = field(default_factory=dict)

    @classmethod
    def create(cls, run_dir: Path, **fields) -> RunRecord:
        record = cls(run_dir, {"schema": SCHEMA, "process": this_process()})
        record.update(**fields)
        return record

    def update(self, **values) -> None:
        self.data.update(values)
        path = self.run_dir / RUN_JSON
        try:
            atomic_write_json(path, self.data)
        except OSError as exc:
            raise HarnessError(f"cannot write {path} ({exc.strerror}); free disk space or choose "
                               "another --output-dir") from None

    def fail(self, cause: str, detail: str | None = None) -> None:
        """status FAILED, `failure` the one-line cause, `failure_detail` a traceback if any."""
        try:
            self.update(status="FAILED", failure=cause, **({"failure_detail": detail} if detail else {}),
                        finished=now())
        except HarnessError:  # a full disk: the cause, not this, is what the user must see
            pass


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def _start_ticks(pid: int) -> int | None:
    """When process `pid` started, in clock ticks since boot; None if there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22, counted after the command name, which may itself hold spaces and parentheses.
    return int(stat.rsplit(")", 1)[1].split()[19])


def this_process() -> dict:
    """Enough about the running process to tell later whether it is still the one running."""
    pid = os.getpid()
    return {"pid": pid, "start_ticks": _start_ticks(pid), "boot_id": _boot_id(), "host": platform.node()}


def process_gone(process) -> bool | None:
    """Whether the process recorded by `this_process` has ended: True, False, or None when
    this machine cannot tell (another host, nothing recorded, no /proc)."""
    if not isinstance(process, dict) or process.get("host") != platform.node():
        return None
    pid, ticks, boot = process.get("pid"), process.get("start_ticks"), process.get("boot_id")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0 or not isinstance(ticks, int):
        return None
    if boot and _boot_id() and boot != _boot_id():
        return True  # the machine restarted since
    return _start_ticks(pid) != ticks


def _abandoned(record: dict) -> dict:
    """`record` with status "abandoned" and why, if it is unfinished and its process is gone."""
    if record.get("status") not in UNFINISHED or not process_gone(record.get("process")):
        return record
    process = record["process"]
    return {**record, "status": ABANDONED, "abandoned_while": record["status"],
            "failure": f"its process {process['pid']} on {process['host']} ended while the run was "
                       f"{record['status']}, without recording why (killed by SIGKILL, or the machine went down)"}


def read_run_json(run_dir: Path) -> dict:
    """run.json of `run_dir` in the current schema, or one line saying why it cannot be read."""
    path = Path(run_dir) / RUN_JSON
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        raise RunJsonError(f"{path} does not exist; pass a run directory written by harness") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RunJsonError(f"{path}: cannot read it ({exc}); it must be intact") from None
    except json.JSONDecodeError as exc:
        raise RunJsonError(f"{path} is not valid JSON ({exc.msg}, line {exc.lineno})") from None
    schema = record.get("schema", 1) if isinstance(record, dict) else 1
    if not isinstance(schema, int) or schema > SCHEMA:
        raise RunJsonError(f"{path} has schema {schema!r}, newer than this harness reads ({SCHEMA}); "
                           "upgrade harness")
    problem = shape_problem(record, path)  # after the schema: a newer one may have another shape
    if problem:
        raise RunJsonError(problem)
    if schema == 1:
        record = {**record, "schema": SCHEMA,
                  "sut_class": _OLD_SUT_NAMES.get(record.get("sut_class"), record.get("sut_class"))}
    return _abandoned(record)
