"""The official SystemCheck on systems/<system>.json, and the scenarios its system_type requires.

Mirrors the official checker's messages: status and system_type from fixed lists, the
division and submitter of the directories, every required field present and the
meaningful ones non-empty (the number 0 counts as empty there, so a CPU system says
"0"), number_of_nodes and accelerators_per_node integers, no network mode outside the
network division. Fields the harness left TO_FILL are accepted by the official checker
when non-empty: this check warns while one is left.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from audit.rules import INCONSISTENT, REQUIRED_SCENARIOS, ROUND, STRICTER, SYSTEM_TYPES, Finding
from audit.sysdesc import (
    AVAILABILITIES,
    INTEGER_FIELDS,
    MEANINGFUL_FIELDS,
    NETWORK_FIELDS,
    SYSTEM_FIELDS,
    TO_FILL,
    recorded_round,
)

FIX_FIELD = "fill it in by hand (see the MLPerf system description fields)"


@dataclass(frozen=True)
class SystemDescription:
    data: dict | None  # None: missing or unreadable
    findings: tuple[Finding, ...]

    @property
    def system_type(self) -> str | None:
        return (self.data or {}).get("system_type")


def _int(value) -> bool:
    try:
        int(value)
    except (TypeError, ValueError):
        return False
    return not isinstance(value, bool)


def check_system(path: Path, where: str, division: str, submitter: str) -> SystemDescription:
    if not path.is_file():
        return SystemDescription(None, (Finding(where, "system json file not found",
                                                "rebuild the tree with `python -m audit package`"),))
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return SystemDescription(None, (Finding(where, f"not valid JSON ({exc})", "fix the file"),))
    if not isinstance(data, dict):
        return SystemDescription(None, (Finding(where, "not a JSON object", "fix the file"),))
    findings = []
    status = data.get("status")
    if not isinstance(status, str) or status.lower() not in AVAILABILITIES:
        findings.append(Finding(where, f"has invalid status ({status!r})", f"use one of {', '.join(AVAILABILITIES)}",
                                quick_waives=status == TO_FILL))
    system_type = data.get("system_type")
    if system_type not in SYSTEM_TYPES:
        findings.append(Finding(where, f"has invalid system type ({system_type!r})",
                                f"use one of {', '.join(SYSTEM_TYPES)} (exactly so spelled)",
                                quick_waives=system_type == TO_FILL))
    network = data.get("is_network")
    if network is not None and not isinstance(network, str):
        findings.append(Finding(where, f"is_network = {network!r} is not text", "leave is_network out"))
    elif division == "closed" and str(network).lower() == "true":
        findings.append(Finding(where, f"incorrect network mode (is_network = {network!r}) for division 'closed'",
                                "a cluster run belongs in the open (or network) division"))
    elif network:  # the checker then requires the network-mode fields, present (any value)
        findings.extend(Finding(where, f"field {key} is missing (is_network is set)", FIX_FIELD)
                        for key in NETWORK_FIELDS if key not in data)
    for key in SYSTEM_FIELDS:
        if key not in data:
            findings.append(Finding(where, f"field {key} is missing", FIX_FIELD))
        elif key in MEANINGFUL_FIELDS and not data[key]:
            hint = ' (write "0" as text: the number 0 counts as empty)' if data[key] == 0 else ""
            findings.append(Finding(where, f"field {key} requires a meaningful response but is empty{hint}",
                                    FIX_FIELD))
    for key in INTEGER_FIELDS:
        if data.get(key) and not _int(data[key]):
            findings.append(Finding(where, f"field {key} = {data[key]!r} is not an integer (the official checker "
                                           "crashes multiplying it)", "write a whole number such as \"1\""))
    unfilled = [k for k in (*SYSTEM_FIELDS, *NETWORK_FIELDS)
                if data.get(k) == TO_FILL and k not in ("status", "system_type")]
    if unfilled:
        findings.append(Finding(where, f"fields still {TO_FILL!r}: {', '.join(unfilled)} (the official checker "
                                       "accepts any text there)", "fill them in by hand", quick_waives=True,
                                kind=STRICTER))
    for key, expected in (("division", division), ("submitter", submitter)):
        if key in data and str(data[key]).lower() != expected.lower():
            findings.append(Finding(where, f"has {key} {data[key]!r}, directory has {expected!r}",
                                    f"set it to {expected!r}"))
    found = recorded_round(data)
    if found not in (None, ROUND):
        findings.append(Finding(where, f"sw_notes says MLPerf Inference {found}, but this is a round {ROUND} check "
                                       f"(the seeds of the installed LoadGen)",
                                "package the runs of that round's LoadGen into a tree of their own",
                                kind=INCONSISTENT))
    return SystemDescription(data, tuple(findings))


def scenario_findings(where: str, present: list[str], system_type: str | None) -> list[Finding]:
    """The closed division's required scenarios of resnet for this system type (case-insensitive)."""
    if system_type == "datacenter":
        return [Finding(where, f"resnet50 is no datacenter benchmark in round {ROUND} (the official checker "
                               "crashes on it)", "describe the system as edge or datacenter,edge")]
    required = REQUIRED_SCENARIOS.get(system_type)
    if required is None:
        return []  # an invalid system_type is reported by check_system
    names = {s.lower() for s in present}
    findings = []
    missing = [s.lower() for s in required if s.lower() not in names]
    if missing:
        findings.append(Finding(where, f"does not have all required scenarios of an {system_type} system, "
                                       f"missing {missing}", "run and package them (harness formal --scenario all)"))
    unknown = sorted(n for n in names if n not in {s.lower() for s in required})
    if unknown:
        findings.append(Finding(where, f"has scenarios unknown for an {system_type} system {unknown} (the official "
                                       "checker then fails every scenario)",
                                "remove them, or describe the system as datacenter,edge"))
    return findings
