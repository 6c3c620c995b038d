"""run.json: the one writer, and the reader that also takes older run directories.

Schema history (the `schema` field):
  1  no `schema` field; `sut_class` named the harness's SUT "harness.sut:SUT"
  2  `schema` field; the harness's SUT is "harness.loadgen.sut:SUT"
The reader upgrades what it reads to the current schema in memory and never rewrites the
file, so report, compare and audit take every version as it is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from harness.errors import HarnessError
from harness.files import atomic_write_json

RUN_JSON = "run.json"
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
        record = cls(run_dir, {"schema": SCHEMA})
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
    if not isinstance(record, dict) or not isinstance(record.get("config"), dict):
        raise RunJsonError(f"{path} is not a run's record (no config object); it was not written by harness")
    schema = record.get("schema", 1)
    if not isinstance(schema, int) or schema > SCHEMA:
        raise RunJsonError(f"{path} has schema {schema!r}, newer than this harness reads ({SCHEMA}); "
                           "upgrade harness")
    if schema == 1:
        record = {**record, "schema": SCHEMA,
                  "sut_class": _OLD_SUT_NAMES.get(record.get("sut_class"), record.get("sut_class"))}
    return record
