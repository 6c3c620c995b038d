"""Model specs: what a model expects as input and what its output means.

A spec is the contract between the dataset's preprocessing and the engine's output
decoding; presets name the conventions users meet in practice.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from harness.errors import ConfigError

LAYOUTS = ("NCHW", "NHWC")
OUTPUT_KINDS = ("logits", "probabilities", "argmax")
INTERPOLATIONS = ("area", "bilinear")


@dataclass(frozen=True)
class ModelSpec:
    input_name: str
    layout: str = "NCHW"
    image_size: int = 224
    resize_shorter: int = 256
    interpolation: str = "area"
    mean: tuple[float, float, float] = (123.68, 116.78, 103.94)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    scale_to_unit: bool = False  # divide pixels by 255 before mean/std (torchvision)
    output_name: str | None = None  # None: the model's first output
    output_kind: str = "logits"
    label_offset: int = 0  # subtracted from the model's class index (1 for 1001-class models)
    num_classes: int = 1000  # the dataset's classes; a scores output is num_classes + label_offset wide

    def __post_init__(self):
        for key, value, allowed in (("layout", self.layout, LAYOUTS),
                                    ("output_kind", self.output_kind, OUTPUT_KINDS),
                                    ("interpolation", self.interpolation, INTERPOLATIONS)):
            if value not in allowed:
                raise ConfigError(f"model spec key '{key}' = {value!r} is not one of {', '.join(allowed)}")
        if self.image_size < 1 or self.resize_shorter < self.image_size:
            raise ConfigError(
                f"model spec needs 1 <= image_size <= resize_shorter, got image_size={self.image_size}, "
                f"resize_shorter={self.resize_shorter}")
        if any(s == 0 for s in self.std):
            raise ConfigError(f"model spec key 'std' = {self.std} contains 0; use 1.0 for no division")

    def to_json(self) -> dict:
        return asdict(self)


PRESETS: dict[str, ModelSpec] = {
    # The embedded synthetic-weight ResNet-50 built by harness.models.resnet50.
    "embedded": ModelSpec(input_name="input", output_name="logits"),
    # MLCommons resnet50_v1.onnx: 1001 classes with background at 0, ArgMax output.
    "mlperf": ModelSpec(input_name="input_tensor:0", output_name="ArgMax:0", output_kind="argmax",
                        label_offset=1, num_classes=1000),
    # torchvision-exported classifiers: bilinear resize, [0,1] scaling, ImageNet mean/std.
    "torchvision": ModelSpec(input_name="input", interpolation="bilinear", scale_to_unit=True,
                             mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)),
}

SPEC_KEYS = tuple(ModelSpec.__dataclass_fields__)


def spec_from(preset: str, overrides: dict) -> ModelSpec:
    """A preset with individual keys replaced (from TOML or CLI flags)."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown model preset {preset!r}; choose one of {', '.join(PRESETS)}")
    unknown = sorted(set(overrides) - set(SPEC_KEYS))
    if unknown:
        raise ConfigError(f"unknown model spec key {unknown[0]!r}; valid keys: {', '.join(SPEC_KEYS)}")
    values = dict(overrides)
    for key in ("mean", "std"):
        if key in values:
            values[key] = tuple(float(v) for v in values[key])
            if len(values[key]) != 3:
                raise ConfigError(f"model spec key '{key}' needs 3 values (R, G, B), got {len(values[key])}")
    return replace(PRESETS[preset], **values)
