"""System profiles: the best layout `harness tune` measured on a machine, for later runs.

One TOML file per kind of machine, <systems dir>/<cpu-model-slug>-<N>c-<isa>.toml, keyed by
CPU model, physical core count and instruction sets: virtual machines show one model name
("AMD EPYC") over hosts with and without AVX512-VNNI, and a layout tuned at 224 samples/s on
one was applied on the other, which ran 29. Each [[tuned]] entry holds the best instances,
threads and batch size for one model, scenario, precision and execution provider under the
CPU choices it was measured with (cpus, smt, reserve_cores); a run uses an entry only when
all of these match its own, since a layout tuned for 48 cores says nothing about 8.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tomllib
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from harness.errors import ConfigError
from harness.files import atomic_write_text, configs_dir

SYSTEMS_DIR_ENV = "HARNESS_SYSTEMS_DIR"
_HEADER = """\
# System profile written by `harness tune`: the best layout measured on this machine.
# Runs on a machine with this CPU model, core count and instruction sets use the [[tuned]]
# entry whose model, scenario, precision, ep, cpus, smt and reserve_cores match theirs;
# --config and flags override it. Re-tuning replaces the matching entry; the previous file
# is kept beside this one as .bak.
"""


# The instruction set that sets a machine's inference speed, best first: the file name's tag.
ISA_TIERS = (("amx_int8", "amx"), ("avx512_bf16", "avx512bf16"), ("avx512_vnni", "avx512vnni"),
             ("avx512f", "avx512"), ("avx_vnni", "avxvnni"), ("avx2", "avx2"))


@dataclass(frozen=True)
class Machine:
    cpu_model: str
    cores: int  # physical cores with an online CPU
    isa: tuple[str, ...]  # the instruction-set flags harness.cpu.sysinfo reads, in its order

    @property
    def file_name(self) -> str:
        """E.g. "Intel(R) Xeon(R) Platinum 8480+", 112 cores, AMX -> intel-xeon-platinum-8480-112c-amx.toml."""
        text = re.sub(r"\((r|tm)\)", "", self.cpu_model.lower())
        slug = re.sub(r"[^a-z0-9]+", "-", text).strip("-") or "unknown-cpu"
        tier = next((tag for flag, tag in ISA_TIERS if flag in self.isa), "baseline")
        return f"{slug}-{self.cores}c-{tier}.toml"

    def describe(self) -> str:
        return f"{self.cpu_model}, {self.cores} cores, {' '.join(self.isa) or 'no listed instruction sets'}"


def systems_dir() -> Path:
    """$HARNESS_SYSTEMS_DIR, else configs/systems (read-only inside an installed wheel)."""
    env = os.environ.get(SYSTEMS_DIR_ENV)
    return Path(env) if env else configs_dir() / "systems"


@dataclass(frozen=True)
class LayoutKey:
    """What a tuned layout is good for; a run uses it only if its own key is equal."""

    model: str  # "resnet50", or the file name of a user model without .onnx
    scenario: str
    precision: str
    ep: str
    cpus: str  # the --cpus restriction, "" for all usable CPUs
    smt: bool
    reserve_cores: int


@dataclass(frozen=True)
class TunedLayout:
    key: LayoutKey
    instances: int
    threads: int | None  # None: each NUMA node's CPUs split evenly among its instances
    batch_size: int | None  # None: MultiStream's query shared by the instances
    metric: str  # "samples/s" (Offline) or "p90 ms" (SingleStream)
    value: float
    tuned_at: str  # ISO 8601, UTC
    duration_s: float  # how long each measured run lasted at least


def read_profile(path: Path) -> tuple[Machine, list[TunedLayout]]:
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
        system = data["system"]
        machine = Machine(system["cpu_model"], system["cores"], tuple(system["isa"]))
        layouts = [_layout(entry) for entry in data.get("tuned", [])]
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"system profile {path}: not valid TOML ({exc}); re-run harness tune "
                          "or delete it") from None
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"system profile {path}: missing or malformed {exc}; re-run harness "
                          "tune or delete it") from None
    return machine, layouts


def find_layout(machine: Machine, key: LayoutKey, directory: Path) -> tuple[TunedLayout, Path] | None:
    """The tuned layout for `key` in this machine's profile, and the profile's path."""
    path = directory / machine.file_name
    if not path.is_file():
        return None
    owner, layouts = read_profile(path)
    if owner != machine:  # names that slug alike, or other instruction sets: not this machine's profile
        return None
    return next(((layout, path) for layout in layouts if layout.key == key), None)


def write_layout(machine: Machine, layout: TunedLayout, directory: Path) -> tuple[Path, Path | None]:
    """Record `layout` in this machine's profile, replacing the entry with its key.

    Returns the profile's path and the backup of its previous content, if there was one.
    Refuses to touch a file that belongs to another machine.
    """
    path = directory / machine.file_name
    layouts: list[TunedLayout] = []
    backup = None
    if path.exists():
        owner, layouts = read_profile(path)
        if owner != machine:
            raise ConfigError(
                f"system profile {path} belongs to another machine ({owner.describe()}); "
                f"move it away or set {SYSTEMS_DIR_ENV} to another directory")
        backup = path.with_name(path.name + ".bak")
        try:
            shutil.copyfile(path, backup)
        except OSError as exc:
            raise ConfigError(f"cannot keep the previous profile as {backup} ({exc.strerror}); "
                              f"set {SYSTEMS_DIR_ENV} to a writable directory") from None
    kept = [entry for entry in layouts if entry.key != layout.key]
    try:
        atomic_write_text(path, _render(machine, [*kept, layout]))
    except OSError as exc:
        raise ConfigError(f"cannot write system profile {path} ({exc.strerror}); "
                          f"set {SYSTEMS_DIR_ENV} to a writable directory") from None
    return path, backup


def _layout(entry: dict) -> TunedLayout:
    key = LayoutKey(**{f.name: entry[f.name] for f in fields(LayoutKey)})
    return TunedLayout(key, entry["instances"], entry.get("threads"), entry.get("batch_size"),
                       entry["metric"], entry["value"], entry["tuned_at"], entry["duration_s"])


def _render(machine: Machine, layouts: list[TunedLayout]) -> str:
    lines = [_HEADER, "[system]", *_pairs(asdict(machine))]
    for layout in layouts:
        values = {**asdict(layout.key), **asdict(layout)}
        del values["key"]
        lines += ["", "[[tuned]]", *_pairs(values)]
    return "\n".join(lines) + "\n"


def _pairs(values: dict) -> list[str]:
    # TOML has no null: a None (threads split evenly) is simply left out.
    return [f"{key} = {_toml(value)}" for key, value in values.items() if value is not None]


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(value)  # a JSON string with ASCII escapes is a TOML basic string
