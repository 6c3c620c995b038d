"""Property tests: whatever the bytes of an image or of a config file, the harness either
produces the right shape of result or raises its own one-line error, never anything else."""

import io
import json
import math
import struct
from datetime import date, datetime, time

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from harness.config.modelspec import PRESETS, spec_from
from harness.config.runconfig import RunConfig, load_config
from harness.cpu.sysinfo import this_machine
from harness.data import preprocess as pp
from harness.errors import ConfigError, DatasetError

# ---- images -------------------------------------------------------------------------------

MODES = ("1", "L", "P", "RGB", "RGBA", "LA", "CMYK", "I;16", "I", "F", "YCbCr")
FORMATS = ("PNG", "JPEG", "BMP", "TIFF", "GIF", "WEBP", "PPM", "TGA", "ICO", "PCX", "SGI", "DDS", "QOI")
# Found by this test: a DDS header with unknown pixel format flags made Pillow raise NotImplementedError.
DDS_UNKNOWN_FLAGS = (struct.pack("<4s7I44s", b"DDS ", 124, 0x1007, 1, 1, 0, 0, 0, bytes(44))
                     + struct.pack("<2I4s5I", 32, 0x2000, bytes(4), 8, 0xFF, 0xFF00, 0xFF0000, 0)
                     + struct.pack("<5I", 0x1000, 0, 0, 0, 0) + bytes(4))


@st.composite
def image_files(draw) -> bytes:
    """An image of any size and mode in any format Pillow writes it to, then maybe damaged."""
    h, w = draw(st.integers(1, 80)), draw(st.integers(1, 80))
    mode, fmt = draw(st.sampled_from(MODES)), draw(st.sampled_from(FORMATS))
    seed = draw(st.integers(0, 2**32 - 1))
    pixels = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    image = image.convert("L").convert(mode) if mode in ("I;16", "I", "F") else image.convert(mode)
    buf = io.BytesIO()
    try:
        image.save(buf, format=fmt)
    except (OSError, ValueError, KeyError):
        assume(False)  # Pillow cannot write this mode in this format
    data = buf.getvalue()
    damage = draw(st.sampled_from(("none", "truncate", "flip", "splice")))
    if damage == "truncate":
        data = data[:draw(st.integers(0, len(data)))]
    elif damage == "flip":
        flips = draw(st.lists(st.tuples(st.integers(0, len(data) - 1), st.integers(0, 255)), max_size=8))
        raw = bytearray(data)
        for at, value in flips:
            raw[at] = value
        data = bytes(raw)
    elif damage == "splice":
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(max_size=64)) + data[at:]
    return data


params = st.builds(
    lambda size, extra, interpolation, layout, dtype: pp.PreprocessParams(
        size=size, resize_shorter=size + extra, interpolation=interpolation, layout=layout, dtype=dtype,
        quant_scale=0.5, quant_zero_point=0),
    st.integers(1, 48), st.integers(0, 16), st.sampled_from(pp.INTERPOLATIONS), st.sampled_from(pp.LAYOUTS),
    st.sampled_from(pp.DTYPES))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.filter_too_much])
@given(data=st.one_of(image_files(), st.binary(max_size=200)), params=params)
@example(data=DDS_UNKNOWN_FLAGS, params=pp.PreprocessParams(size=1, resize_shorter=1))
def test_any_file_decodes_to_the_right_shape_or_raises_dataset_error(tmp_path, data, params):
    path = tmp_path / "image"
    path.write_bytes(data)
    try:
        rgb = pp.decode_image(path)
    except DatasetError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc)
        return
    assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3 and rgb.size > 0
    out = pp.preprocess_image(rgb, params)
    assert out.shape == params.output_shape and out.dtype == np.dtype(params.dtype)
    if params.dtype == "float32":
        assert np.isfinite(out).all()


# ---- configuration ------------------------------------------------------------------------

RUN_KEYS = tuple(k for k in RunConfig.__dataclass_fields__ if k not in ("default_batch_sizes", "system_profile"))
SPEC_KEYS = tuple(PRESETS["embedded"].to_json())

scalars = st.one_of(
    st.booleans(), st.integers(-2**63, 2**63 - 1), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.sampled_from(("Offline", "SingleStream", "accuracy", "int8", "cpu", "NHWC", "area")),
    st.dates(), st.datetimes(), st.times())
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                      max_leaves=6)


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, date | time):
        return v.isoformat()
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(k, ensure_ascii=False)} = {toml_value(x)}" for k, x in v.items()) + "}"
    return str(v)


tables = st.dictionaries(
    st.sampled_from(("run", "model_spec", "batch_size", "other")),
    st.dictionaries(st.one_of(st.sampled_from(RUN_KEYS + SPEC_KEYS + ("fp32", "int8")), st.text(max_size=8)),
                    values, max_size=4),
    max_size=3)


def toml_text(doc: dict) -> str:
    return "\n".join(f"[{name}]\n" + "".join(f"{json.dumps(k, ensure_ascii=False)} = {toml_value(v)}\n"
                                               for k, v in content.items())
                     for name, content in doc.items())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=st.one_of(tables.map(toml_text), st.text(max_size=80)), raw=st.binary(max_size=40))
def test_any_config_file_gives_a_run_config_or_config_error(tmp_path, doc, raw):
    path = tmp_path / "config.toml"
    path.write_bytes(doc.encode() if doc else raw)
    try:
        cfg = load_config(str(path), systems=tmp_path / "no-profiles", machine=this_machine())
        spec = spec_from(cfg.preset or "embedded", cfg.model_spec)
    except ConfigError as exc:
        assert "\n" not in str(exc)
        return
    assert isinstance(cfg, RunConfig) and spec.image_size >= 1
    for key in ("duration", "target_qps", "target_latency_ms"):
        value = getattr(cfg, key)
        assert value is None or (math.isfinite(value) and value > 0)


@pytest.mark.parametrize("text, message", [
    ("[run]\nduration = nan\n", "'duration' must be a finite positive number, got nan"),
    ("[run]\ntarget_qps = inf\n", "'target_qps' must be a finite positive number, got inf"),
    ("[model_spec]\nmean = [1, 2, 'x']\n", "'mean' must be 3 numbers"),
    ("[model_spec]\nimage_size = 'big'\n", "'image_size' must be int, got str 'big'"),
    ("run = 5\n", "'run' must be a table"),
    ('[run]\n"\\n" = 1\n', r"unknown key '\\n' in \[run\]"),
    ("[run]\nmodel = 'a\xff'\n".encode("latin-1"), "not UTF-8"),
])
def test_values_the_properties_found_are_one_line_errors(tmp_path, text, message):
    path = tmp_path / "c.toml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ConfigError, match=message):
        load_config(str(path), systems=tmp_path, machine=this_machine())
