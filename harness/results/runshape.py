"""The shape of run.json that readers rely on, checked before any of them takes a record.

A run.json that is valid JSON of another shape (a list, an object without a config, a
number where a string belongs) is refused naming the key, rather than crashing a reader
that takes many run directories at once.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from harness.terms import Scenario


class Number:
    """A finite int or float, not a bool: what a figure in run.json must be."""


NULL = type(None)
REQUIRED = ("config", "status", "config.scenario", "config.precision", "config.mode", "config.model")
# Lists whose every item must have these keys.
ITEM_KEYS = {"placement.instances": ("index", "node", "cpus", "threads", "batch_size")}
# What report, compare and audit take from run.json, by dotted key ("[]": each item of a list),
# and the type each must have where present.
SHAPE = {
    "config": dict, "status": str, "config.scenario": str, "config.precision": str, "config.mode": str,
    "config.model": str, "config.quick": bool, "config.ep": str, "config.system_profile": (str, NULL),
    "run_id": str, "started": str, "finished": str, "harness_version": str, "failure": str,
    "compliant_length": bool, "calibrated_target": (Number, NULL), "sut_class": (str, NULL),
    "providers": list, "providers[]": str, "notes": list, "notes[]": str,
    "result": (dict, NULL), "result.validity": (str, NULL), "result.metric": (str, NULL),
    "result.value": (Number, NULL), "result.samples": (int, NULL), "result.early_stopping_p90_ns": (Number, NULL),
    "result.top1": (Number, NULL),
    "model": dict, "model.name": str, "model.sha256": str, "model.synthetic_weights": bool, "model.spec": dict,
    "placement": dict, "placement.description": str, "placement.instances": list, "placement.instances[]": dict,
    "placement.instances[].index": int, "placement.instances[].node": int, "placement.instances[].cpus": list,
    "placement.instances[].cpus[]": int, "placement.instances[].threads": int,
    "placement.instances[].batch_size": int, "placement.warnings": list, "placement.warnings[]": str,
    "placement.source": str,
    # A cluster run: the nodes as they described themselves (harness.loadgen.node)
    "cluster": (dict, NULL), "cluster.address": str, "cluster.nodes": list, "cluster.nodes[]": dict,
    "cluster.nodes[].node": str, "cluster.nodes[].system": dict, "cluster.nodes[].placement": dict,
    "cluster.nodes[].engine": dict, "cluster.nodes[].precision": dict,
    "system": dict, "system.cpu_model": str, "system.hostname": str, "system.os": dict, "dataset": dict,
    "engine": (dict, NULL), "precision": (dict, NULL), "audit": (dict, NULL), "quantization": (dict, NULL),
    "fidelity": (dict, NULL), "process": (dict, NULL),
    "repeat": (dict, NULL), "repeat.group": str, "repeat.index": int, "repeat.of": int,
}
_NAMES = {Number: "a finite number", NULL: "null", dict: "an object", list: "a list", str: "a string",
          bool: "true or false", int: "an integer"}


def values_at(record, key: str) -> list:
    """Every value at dotted `key` that is present ("a.b[].c": c of each item of the list a.b)."""
    found = [record]
    for part in key.split("."):
        name = part.removesuffix("[]")
        found = [v[name] for v in found if isinstance(v, dict) and name in v]
        if part.endswith("[]"):
            found = [item for v in found if isinstance(v, list) for item in v]
    return found


def _is(value, kind) -> bool:
    if kind is Number:
        return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return isinstance(value, kind) and not (kind is int and isinstance(value, bool))


def shape_problem(record, path: Path) -> str | None:
    """What is wrong with the shape of the record read from `path`, in one line; None if nothing."""
    damaged = "the file is damaged or was not written by harness"
    if not isinstance(record, dict):
        return f"{path} is not a run's record: it holds a JSON {type(record).__name__}, not an object; {damaged}"
    for key, kinds in SHAPE.items():
        kinds = kinds if isinstance(kinds, tuple) else (kinds,)
        for value in values_at(record, key):
            if not any(_is(value, kind) for kind in kinds):
                return (f"{path}: {key!r} must be {' or '.join(_NAMES[k] for k in kinds)}, got "
                        f"{json.dumps(value)[:60]}; {damaged}")
    for key in REQUIRED:
        if not values_at(record, key):
            return f"{path} has no {key!r}: it is not a run's record as harness writes it"
    for key, names in ITEM_KEYS.items():
        for k, item in enumerate(item for items in values_at(record, key) for item in items):
            missing = [name for name in names if name not in item]
            if missing:
                return f"{path}: {key}[{k}] has no {missing[0]!r}; {damaged}"
    if record["config"]["scenario"] not in set(Scenario):
        return f"{path}: 'config.scenario' {record['config']['scenario']!r} is not one of {', '.join(Scenario)}; {damaged}"
    return None
