"""The audit.config of each compliance test, and the log entries that prove LoadGen applied it.

LoadGen reads audit.config (`model.scenario.key = value`, `*` a wildcard) after
user.conf and lets it override the run's settings; mode 2 is PerformanceOnly.
Every key we set is echoed by LoadGen as `effective_<key>` in mlperf_log_detail.txt,
so a compliance run can be checked to really have been that test.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from audit.errors import AuditError
from harness.files import atomic_write_text


@dataclass(frozen=True)
class ComplianceTest:
    name: str
    purpose: str
    settings: tuple[tuple[str, int | bool], ...]  # LoadGen TestSettings key -> value

    def audit_config(self) -> str:
        lines = [f"# harness {self.name}: {self.purpose}",
                 "# mode 2 = PerformanceOnly; keys are model.scenario.key, * matches any",
                 "*.*.mode = 2"]
        lines += [f"*.*.{key} = {int(value)}" for key, value in self.settings]
        return "\n".join(lines) + "\n"

    def expected_log(self) -> dict:
        """mlperf_log_detail.txt entries a run of this test must show."""
        return {"effective_test_mode": "PerformanceOnly",
                **{f"effective_{key}": value for key, value in self.settings}}


# TEST05 (alternate seeds) is not here: it was retired in late 2024, and LoadGen 6.0 reads
# its switch and seeds only from the mlperf.conf compiled into it (an audit.config or
# user.conf setting `test05` or seeds is ignored), so no configuration file can run it.
TESTS: dict[str, ComplianceTest] = {t.name: t for t in (
    ComplianceTest("TEST01", "responses logged in performance mode must equal the accuracy run's",
                   (("accuracy_log_rng_seed", 720381539243781796), ("accuracy_log_sampling_target", 4096))),
    ComplianceTest("TEST04", "the same sample issued every time must not run faster (no caching)",
                   (("performance_issue_unique", False), ("performance_issue_same", True),
                    ("performance_issue_same_index", 3))),
)}


def compliance_test(name: str) -> ComplianceTest:
    if name not in TESTS:
        raise AuditError(f"unknown compliance test {name!r}; choose one of {', '.join(TESTS)}")
    return TESTS[name]


def write_audit_config(test: ComplianceTest, path: Path) -> Path:
    atomic_write_text(path, test.audit_config())
    return path
