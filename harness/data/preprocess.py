"""Image preprocessing for classification models: decode, resize, centre crop, normalise.

The MLPerf reference (mlcommons/inference, vision/classification_and_detection/python/
dataset.py, ``pre_process_vgg``) resizes the uint8 RGB image with ``cv2.resize(INTER_AREA)``
so that its shorter side is 256, crops the centre 224x224, converts to float32, subtracts
the RGB means and transposes to CHW. ``preprocess_image`` does the same with the native
kernels of ``harness._native.preprocess``, which reproduce OpenCV's uint8 resize bit for
bit (the uint8 intermediate *is* the reference, so it is kept) and compute only the
cropped window of the resized image.

tests/reference_preprocess.py holds a plain-numpy implementation of the same arithmetic,
written independently of the kernels: tests hold the two against each other and against
cv2, and bench/preprocess.py times it as "the numpy path". OpenCV itself is not a
dependency of the harness.
"""

from __future__ import annotations

import operator
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from harness._native import preprocess as _native
from harness.config.modelspec import ModelSpec
from harness.errors import DatasetError

INTERPOLATIONS = ("area", "bilinear")
LAYOUTS = ("NCHW", "NHWC")
DTYPES = ("float32", "int8", "uint8")
QUANT_RANGE = {"int8": (-128, 127), "uint8": (0, 255)}


@dataclass(frozen=True)
class PreprocessParams:
    """How one decoded image becomes one model input (without the batch axis).

    Output = ((pixel / 255 if scale_to_unit) - mean) / std per channel, as float32, or for
    int8/uint8 inputs quantized directly: round_half_even(value / quant_scale) +
    quant_zero_point, saturated (ONNX QuantizeLinear).
    """

    size: int = 224
    resize_shorter: int = 256
    interpolation: str = "area"
    mean: tuple[float, ...] = (123.68, 116.78, 103.94)
    std: tuple[float, ...] = (1.0, 1.0, 1.0)
    scale_to_unit: bool = False
    layout: str = "NCHW"
    dtype: str = "float32"
    quant_scale: float = 1.0
    quant_zero_point: int = 0

    def __post_init__(self):
        # TOML and JSON give lists; tuples keep the dataclass hashable.
        object.__setattr__(self, "mean", tuple(float(m) for m in self.mean))
        object.__setattr__(self, "std", tuple(float(s) for s in self.std))
        for key, value, allowed in (("interpolation", self.interpolation, INTERPOLATIONS),
                                    ("layout", self.layout, LAYOUTS), ("dtype", self.dtype, DTYPES)):
            if value not in allowed:
                raise ValueError(f"PreprocessParams.{key} = {value!r} is not one of {', '.join(allowed)}")
        if not 1 <= self.size <= self.resize_shorter:
            raise ValueError(f"PreprocessParams needs 1 <= size <= resize_shorter, got size={self.size}, "
                             f"resize_shorter={self.resize_shorter}")
        if len(self.mean) != 3 or len(self.std) != 3:
            raise ValueError(f"PreprocessParams.mean and .std need 3 values (R, G, B), got "
                             f"mean={self.mean}, std={self.std}")
        if not all(np.isfinite(s) and s != 0 for s in self.std):
            raise ValueError(f"PreprocessParams.std = {self.std} must be finite and non-zero; "
                             "use 1.0 for no division")
        if not (np.isfinite(self.quant_scale) and self.quant_scale > 0):
            raise ValueError(f"PreprocessParams.quant_scale = {self.quant_scale} must be positive")
        if self.dtype in QUANT_RANGE:
            low, high = QUANT_RANGE[self.dtype]
            if not low <= self.quant_zero_point <= high:
                raise ValueError(f"PreprocessParams.quant_zero_point = {self.quant_zero_point} is "
                                 f"outside the {self.dtype} range {low}..{high}")

    @property
    def output_shape(self) -> tuple[int, int, int]:
        s = self.size
        return (3, s, s) if self.layout == "NCHW" else (s, s, 3)

    @property
    def divisor(self) -> float:
        return 255.0 if self.scale_to_unit else 1.0


def params_for(spec: ModelSpec, dtype: str = "float32") -> PreprocessParams:
    """What `spec`'s model expects, as preprocessing parameters."""
    return PreprocessParams(size=spec.image_size, resize_shorter=spec.resize_shorter,
                            interpolation=spec.interpolation, mean=spec.mean, std=spec.std,
                            scale_to_unit=spec.scale_to_unit, layout=spec.layout, dtype=dtype)


# ---- geometry (the reference's rounding) --------------------------------------------------

def resized_shape(height: int, width: int, shorter: int) -> tuple[int, int]:
    """(h, w) with the shorter side = `shorter`, the longer side truncated as the reference's
    resize_with_aspectratio does: int(shorter * long / short), in double precision."""
    if height > width:
        return int(shorter * height / width), shorter
    return shorter, int(shorter * width / height)


def crop_origin(height: int, width: int, size: int) -> tuple[int, int]:
    """(top, left) of the reference's center_crop: int((side - size) / 2)."""
    return int((height - size) / 2), int((width - size) / 2)


def center_crop(img: np.ndarray, size: int) -> np.ndarray:
    """The centre size x size region of an HWC image, as a view."""
    if not 1 <= size <= min(img.shape[:2]):
        raise ValueError(f"crop size must be between 1 and the image's shorter side "
                         f"{min(img.shape[:2])}, got {size}")
    top, left = crop_origin(img.shape[0], img.shape[1], size)
    return img[top:top + size, left:left + size]


# ---- validated kernels --------------------------------------------------------------------

def check_image(img, name: str = "image") -> np.ndarray:
    if not isinstance(img, np.ndarray):
        raise ValueError(f"{name} must be a numpy array of shape (H, W, C), got {type(img).__name__}")
    if img.dtype != np.uint8:
        raise ValueError(f"{name} must have dtype uint8, got {img.dtype}")
    if img.ndim != 3:
        hint = " (add a channel axis: img[..., None])" if img.ndim == 2 else ""
        raise ValueError(f"{name} must have shape (H, W, C), got shape {img.shape}{hint}")
    if img.shape[2] not in (1, 3):
        raise ValueError(f"{name} must have 1 or 3 channels, got {img.shape[2]} (shape {img.shape})")
    if img.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {img.shape}")
    return np.ascontiguousarray(img)


def _check_size(value, name: str) -> int:
    try:
        value = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return value


def _check_out(out, shape: tuple[int, ...], dtype) -> np.ndarray:
    dtype = np.dtype(dtype)
    if out is None:
        return np.empty(shape, dtype)
    if not isinstance(out, np.ndarray) or out.shape != shape or out.dtype != dtype:
        got = f"{out.dtype} {out.shape}" if isinstance(out, np.ndarray) else type(out).__name__
        raise ValueError(f"out must be a {dtype} array of shape {shape}, got {got}")
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError("out must be C-contiguous and writeable")
    return out


def _resize_window(img: np.ndarray, out_h: int, out_w: int, top: int, left: int,
                   height: int, width: int, interpolation: str) -> np.ndarray:
    window = np.empty((height, width, img.shape[2]), np.uint8)
    kernel = _native.resize_area_window if interpolation == "area" else _native.resize_bilinear_window
    kernel(img, out_h, out_w, top, left, window)
    return window


def resize_area(src: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """cv2.resize(src, (out_w, out_h), interpolation=cv2.INTER_AREA), bit for bit.

    Shrinking averages over the covered source area. Enlarging either axis uses OpenCV's
    INTER_AREA enlargement rule: a bilinear blend only across source pixel boundaries.
    """
    img = check_image(src, "src")
    out_h, out_w = _check_size(out_h, "out_h"), _check_size(out_w, "out_w")
    return _resize_window(img, out_h, out_w, 0, 0, out_h, out_w, "area")


def resize_bilinear(src: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """cv2.resize(src, (out_w, out_h), interpolation=cv2.INTER_LINEAR), bit for bit."""
    img = check_image(src, "src")
    out_h, out_w = _check_size(out_h, "out_h"), _check_size(out_w, "out_w")
    return _resize_window(img, out_h, out_w, 0, 0, out_h, out_w, "bilinear")


def _channel_params(img: np.ndarray, mean, std) -> tuple[np.ndarray, np.ndarray]:
    mean = np.ascontiguousarray(mean, np.float32).reshape(-1)
    std = np.ascontiguousarray(std, np.float32).reshape(-1)
    if mean.size != img.shape[2] or std.size != img.shape[2]:
        raise ValueError(f"mean and std need one value per channel ({img.shape[2]}), got "
                         f"{mean.size} and {std.size}")
    return mean, std


def _layout_shape(img: np.ndarray, layout: str) -> tuple[int, int, int]:
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    h, w, c = img.shape
    return (c, h, w) if layout == "NCHW" else (h, w, c)


def normalize(src: np.ndarray, mean, std, layout: str = "NCHW", divisor: float = 1.0,
              out: np.ndarray | None = None) -> np.ndarray:
    """float32 (src / divisor - mean) / std per channel, as CHW (NCHW) or HWC (NHWC)."""
    img = check_image(src, "src")
    mean, std = _channel_params(img, mean, std)
    out = _check_out(out, _layout_shape(img, layout), np.float32)
    kernel = _native.normalize_to_chw if layout == "NCHW" else _native.normalize_to_hwc
    kernel(img, mean, std, out, divisor)
    return out


def quantize(src: np.ndarray, mean, std, scale: float, zero_point: int, dtype: str = "int8",
             layout: str = "NCHW", divisor: float = 1.0, out: np.ndarray | None = None) -> np.ndarray:
    """int8/uint8 saturate(round_half_even((src / divisor - mean) / std / scale) + zero_point),
    computed in float32, as CHW (NCHW) or HWC (NHWC)."""
    img = check_image(src, "src")
    mean, std = _channel_params(img, mean, std)
    if dtype not in QUANT_RANGE:
        raise ValueError(f"dtype must be int8 or uint8, got {dtype!r}")
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be positive, got {scale}")
    out = _check_out(out, _layout_shape(img, layout), dtype)
    kernel = _native.quantize_to_chw if layout == "NCHW" else _native.quantize_to_hwc
    kernel(img, mean, std, scale, zero_point, out, divisor)
    return out


def preprocess_image(rgb: np.ndarray, params: PreprocessParams = PreprocessParams(),
                     out: np.ndarray | None = None) -> np.ndarray:
    """One decoded RGB uint8 HWC image -> one model input of shape params.output_shape.

    Greyscale (one channel) images are repeated into R, G and B. `out`, if given, receives
    the result (e.g. a row of the preprocessed cache) and is returned.
    """
    img = check_image(rgb, "rgb")
    h, w = resized_shape(img.shape[0], img.shape[1], params.resize_shorter)
    top, left = crop_origin(h, w, params.size)
    crop = _resize_window(img, h, w, top, left, params.size, params.size, params.interpolation)
    if crop.shape[2] == 1:
        crop = np.repeat(crop, 3, axis=2)
    if params.dtype == "float32":
        return normalize(crop, params.mean, params.std, params.layout, params.divisor, out)
    return quantize(crop, params.mean, params.std, params.quant_scale, params.quant_zero_point,
                    params.dtype, params.layout, params.divisor, out)


# ---- decoding -----------------------------------------------------------------------------

def decode_image(path: str | Path) -> np.ndarray:
    """The image at `path` as RGB uint8 HWC, decoded with Pillow.

    Like the reference's cv2.imread: EXIF orientation is applied; alpha (RGBA, LA, PA) is
    dropped, not composited; greyscale, palette, bilevel and CMYK images are converted to
    RGB by Pillow's rules; 16-bit samples keep their high byte (v >> 8, as OpenCV's PNG
    reader does). Raises DatasetError naming the file if it is missing, empty, truncated
    or undecodable.

    JPEGs are decoded at full size. Pillow's draft() (DCT-domain downscaling by 2/4/8 while
    decoding) would save 0.2-0.4 ms on a typical ImageNet image and about half the decode
    time of large ones, but it moved the preprocessed output (224x224, std 1) by up to 29
    uint8 levels on a real 512x600 photo (mean 0.57, 4.2% of values by more than 2) and by
    up to 33 over 200 synthetic ImageNet-sized JPEGs (mean 0.55, 8.4% by more than 2)
    (bench/preprocess.py) - far outside the 1-2 levels that would keep it reference-equivalent.

    An image over Pillow's decompression-bomb limit is decoded all the same (every dataset
    image counts), with one line on stderr naming it: Pillow's own warning names none.
    """
    path = Path(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", Image.DecompressionBombWarning)
        rgb = _decode(path)
    for w in caught:
        if issubclass(w.category, Image.DecompressionBombWarning):
            print(f"harness: warning: image {path}: {str(w.message).rstrip('.')}; decoding it anyway",
                  file=sys.stderr, flush=True)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return rgb


def _decode(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as img:
            ImageOps.exif_transpose(img, in_place=True)
            if img.mode.startswith("I;16") or img.mode == "I":
                high = np.asarray(img).astype(np.uint32) >> 8
                grey = np.minimum(high, 255).astype(np.uint8)
                return np.repeat(grey[:, :, None], 3, axis=2)
            if img.mode != "RGB":
                img = img.convert("RGB")
            return np.asarray(img)
    except FileNotFoundError:
        raise DatasetError(f"image {path} does not exist; check the dataset directory") from None
    except Exception as exc:  # Pillow's format plugins raise OSError, SyntaxError, NotImplementedError...
        empty = path.is_file() and path.stat().st_size == 0
        reason = "the file is empty" if empty else " ".join(str(exc).split()) or type(exc).__name__
        raise DatasetError(f"cannot decode image {path}: {reason}") from None
