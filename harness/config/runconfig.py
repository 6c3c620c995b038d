"""RunConfig: configs/defaults.toml < this machine's system profile < --config FILE < CLI flags,
validated once."""

from __future__ import annotations

import math
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from harness.config.modelspec import SPEC_KEYS, ModelSpec
from harness.config.profiles import LayoutKey, Machine, find_layout, systems_dir
from harness.errors import ConfigError
from harness.files import configs_dir
from harness.terms import EPS, MIN_DURATION_S, MODES, PRECISIONS, RUNNABLE_SCENARIOS, Scenario


@dataclass(frozen=True)
class RunConfig:
    scenario: Scenario = Scenario.OFFLINE
    mode: str = "performance"
    precision: str = "fp32"
    ep: str = "auto"
    model: str = "resnet50"
    preset: str | None = None  # None: "embedded" for the embedded model, else "mlperf"
    model_spec: dict = field(default_factory=dict)  # individual spec keys over the preset
    dataset: str | None = None  # None: the synthetic dataset
    count: int | None = None  # use the first `count` images of the dataset
    instances: int | None = None
    threads: int | None = None
    # None: [batch_size] for the precision (Offline), 1 (SingleStream), the query's samples shared
    # by the instances (MultiStream), the most a batch may collect, 8 (Server)
    batch_size: int | None = None
    calibration_list: str | None = None  # INT8 calibration image names; None: a seeded 500
    cpus: str | None = None  # restrict to these CPUs, e.g. "0-23"
    smt: bool = False
    reserve_cores: int = 0
    cluster: str | None = None  # a Ray address: the nodes run the engines, this machine LoadGen
    quick: bool = False
    duration: float | None = None  # minimum duration in seconds; None: 600 (formal) or quick's
    target_qps: float | None = None  # Offline expected / Server offered rate; None: measured / searched
    target_latency_ms: float | None = None  # SingleStream, MultiStream expected latency; None: measured
    output_dir: str = "runs"
    progress: bool = True
    default_batch_sizes: dict = field(default_factory=dict)
    system_profile: str | None = None  # the profile that set instances and threads, or batch_size

    def __post_init__(self):
        # run.json and formal.json hold the scenario as its name; the type is the enum.
        object.__setattr__(self, "scenario", Scenario(self.scenario))

    @property
    def effective_batch_size(self) -> int:
        if self.scenario.one_sample_per_query:
            return 1
        return self.batch_size or self.default_batch_sizes.get(self.precision, 1)

    @property
    def compliant_length(self) -> bool:
        """Whether LoadGen is held to MLPerf's minimum duration and query count."""
        return not self.quick and (self.duration is None or self.duration >= MIN_DURATION_S)

    def to_json(self) -> dict:
        return asdict(self)


_TYPES = {f.name: f.type for f in fields(RunConfig)}
_CHOICES = {"scenario": RUNNABLE_SCENARIOS, "mode": MODES, "precision": PRECISIONS, "ep": EPS}
_TOML_TYPES = {"str": (str,), "Scenario": (str,), "str | None": (str,), "int | None": (int,), "int": (int,),
               "float | None": (int, float), "bool": (bool,), "dict": (dict,)}
_INTERNAL = {"default_batch_sizes", "system_profile"}
_SPEC_TYPES = {f.name: f.type for f in fields(ModelSpec)}
_RGB = "tuple[float, float, float]"
_ZERO_ALLOWED = {"reserve_cores", "label_offset"}


def _check_value(key: str, value, kind: str, where: str, name: str) -> None:
    """`value` has the TOML type for `kind`; numbers are finite and positive (or >= 0)."""
    if kind == _RGB:
        if not (isinstance(value, list | tuple) and len(value) == 3 and all(
                isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in value)):
            raise ConfigError(f"{where}: {name} must be 3 numbers (R, G, B), got {value!r}")
        return
    expected = _TOML_TYPES[kind]
    if isinstance(value, bool) and bool not in expected or not isinstance(value, expected):
        names = " or ".join(t.__name__ for t in expected)
        raise ConfigError(f"{where}: {name} must be {names}, got {type(value).__name__} {value!r}")
    if isinstance(value, str) and "\0" in value:
        raise ConfigError(f"{where}: {name} contains a NUL character: {value!r}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        low_ok = value >= 0 if key in _ZERO_ALLOWED else value > 0
        if not (math.isfinite(value) and low_ok):
            bound = "zero or positive" if key in _ZERO_ALLOWED else "positive"
            raise ConfigError(f"{where}: {name} must be a finite {bound} number, got {value}")


def _check_spec(spec: dict, where: str) -> dict:
    for key, value in spec.items():
        if key not in SPEC_KEYS:
            raise ConfigError(f"{where}: unknown model_spec key {key!r}; valid: {', '.join(SPEC_KEYS)}")
        _check_value(key, value, _SPEC_TYPES[key], where, f"model_spec key '{key}'")
    return spec


def _check(key: str, value, where: str):
    _check_value(key, value, _TYPES[key], where, f"key '{key}'")
    if key in _CHOICES and value not in _CHOICES[key]:
        raise ConfigError(f"{where}: key '{key}' = {value!r} is not one of {', '.join(_CHOICES[key])}")
    if key == "model_spec":
        _check_spec(value, where)
    if key == "scenario":
        return Scenario(value)
    return float(value) if _TYPES[key] == "float | None" else value


def _read_toml(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 (byte {exc.start}); save it as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None


def _merge_file(values: dict, batch_sizes: dict, data: dict, where: str) -> None:
    for table, content in data.items():
        if table in ("run", "model_spec", "batch_size") and not isinstance(content, dict):
            raise ConfigError(f"{where}: '{table}' must be a table ([{table}]), got {type(content).__name__}")
        if table == "run":
            for key, value in content.items():
                if key not in _TYPES or key in _INTERNAL:
                    raise ConfigError(f"{where}: unknown key {key!r} in [run]; valid keys: "
                                      f"{', '.join(k for k in _TYPES if k not in _INTERNAL)}")
                values[key] = _check(key, value, where)
        elif table == "model_spec":
            values["model_spec"] = {**values.get("model_spec", {}), **_check_spec(content, where)}
        elif table == "batch_size":
            for precision, size in content.items():
                if precision not in PRECISIONS or not isinstance(size, int) or isinstance(size, bool) or size < 1:
                    raise ConfigError(f"{where}: [batch_size] {precision!r} = {size!r}: keys must be "
                                      f"{', '.join(PRECISIONS)} with positive integer values")
                batch_sizes[precision] = size
        else:
            raise ConfigError(f"{where}: unknown table {table!r}; valid tables: [run], [model_spec], [batch_size]")


def load_config(config_file: str | None = None, overrides: dict | None = None,
                systems: Path | None = None, machine: Machine | None = None) -> RunConfig:
    """Defaults, the tuned layout of `machine` (None, or a cluster run: no profile), the user's TOML file, then
    CLI overrides (None means not given). `systems`: where system profiles live
    (profiles.systems_dir())."""
    values: dict = {}
    batch_sizes: dict = {}
    _merge_file(values, batch_sizes, _read_toml(configs_dir() / "defaults.toml"), "defaults.toml")
    chosen: set[str] = set()  # keys the user set, which a system profile must not change
    user_batch_sizes: set[str] = set()
    if config_file:
        data = _read_toml(Path(config_file))
        _merge_file(values, batch_sizes, data, config_file)
        chosen |= set(data.get("run", {}))
        user_batch_sizes = set(data.get("batch_size", {}))
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        chosen.add(key)
        if key == "model_spec":
            for name, item in value.items():
                _check_spec({name: item}, f"--{name.replace('_', '-')}")
            values["model_spec"] = {**values.get("model_spec", {}), **value}
        else:
            values[key] = _check(key, value, f"--{key.replace('_', '-')}")
    cfg = RunConfig(**values, default_batch_sizes=batch_sizes)
    _check_quick(cfg)
    if cfg.precision in user_batch_sizes:
        chosen.add("batch_size")
    if machine is None or cfg.cluster:  # a profile tunes its machine; a cluster's nodes run the engines
        return cfg
    return _with_tuned_layout(cfg, chosen, systems or systems_dir(), machine)


def _check_quick(cfg: RunConfig) -> None:
    """--quick is a short smoke run: with a formal run's --duration it would run as long as one
    and still count for nothing."""
    if cfg.quick and cfg.duration is not None and cfg.duration >= MIN_DURATION_S:
        raise ConfigError(f"--quick with --duration {cfg.duration:g}: a quick run is a short smoke test, but "
                          f"{cfg.duration:g} s is a formal run's length ({MIN_DURATION_S:g} s or more) and would "
                          f"still be marked non-compliant; drop --quick for a run of compliant length, or give "
                          f"a --duration under {MIN_DURATION_S:g}")


def check_batch_size(cfg: RunConfig) -> None:
    """A batch size the user chose for a scenario that runs one sample per query would be
    silently ignored: refuse it instead."""
    if cfg.scenario.one_sample_per_query and cfg.batch_size not in (None, 1):
        raise ConfigError(f"--batch-size {cfg.batch_size} cannot apply to {cfg.scenario}: it issues one sample "
                          "per query and always runs batch 1; drop --batch-size (or batch_size in [run])")


def layout_key(cfg: RunConfig) -> LayoutKey:
    """What a tuned layout must have been tuned for to apply to `cfg`."""
    model = cfg.model if cfg.model == "resnet50" else Path(cfg.model).stem
    return LayoutKey(model, cfg.scenario, cfg.precision, cfg.ep, cfg.cpus or "", cfg.smt, cfg.reserve_cores)


def _with_tuned_layout(cfg: RunConfig, chosen: set[str], systems: Path, machine: Machine) -> RunConfig:
    """Fill what the user left open from the profile: its instances and threads only as a
    pair (half a tuned layout is an untested one), its batch size on its own."""
    found = find_layout(machine, layout_key(cfg), systems)
    if found is None:
        return cfg
    layout, path = found
    changes: dict = {}
    if not {"instances", "threads"} & chosen:
        changes.update(instances=layout.instances, threads=layout.threads)
    if "batch_size" not in chosen and not cfg.scenario.one_sample_per_query:
        changes["batch_size"] = layout.batch_size
    return replace(cfg, **changes, system_profile=str(path)) if changes else cfg
