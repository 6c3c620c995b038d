"""A plain-numpy twin of harness.data.preprocess, written independently of the Cython kernels:
tests hold the kernels against it (and against cv2); bench/preprocess.py times it as "the numpy path".
"""

from __future__ import annotations

import numpy as np

from harness.data.preprocess import QUANT_RANGE, PreprocessParams, center_crop, check_image, resized_shape


def _ref_inverse_scale(src_size: int, dst_size: int) -> float:
    return 1.0 / (dst_size / src_size)


def _ref_area_taps(src_size: int, dst_size: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV's area weights as (dst, K) source indices and float32 weights, zero-padded."""
    fsx1 = np.arange(dst_size) * scale
    fsx2 = fsx1 + scale
    cell = np.minimum(scale, src_size - fsx1)
    sx2 = np.minimum(np.floor(fsx2).astype(np.int64), src_size - 1)
    sx1 = np.minimum(np.ceil(fsx1).astype(np.int64), sx2)
    has_left, has_right = sx1 - fsx1 > 1e-3, fsx2 - sx2 > 1e-3
    first = sx1 - has_left
    taps = int((has_left + (sx2 - sx1) + has_right).max())
    idx = first[:, None] + np.arange(taps)
    inner = (1.0 / cell).astype(np.float32)[:, None]
    left_w = ((sx1 - fsx1) / cell).astype(np.float32)[:, None]
    right_w = (np.minimum(np.minimum(fsx2 - sx2, 1.0), cell) / cell).astype(np.float32)[:, None]
    weights = np.where(idx < sx1[:, None], left_w,
                       np.where(idx < sx2[:, None], inner,
                                np.where((idx == sx2[:, None]) & has_right[:, None], right_w, 0)))
    return np.minimum(idx, src_size - 1), weights.astype(np.float32)


def _ref_area(img: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    xi, xw = _ref_area_taps(img.shape[1], out_w, _ref_inverse_scale(img.shape[1], out_w))
    yi, yw = _ref_area_taps(img.shape[0], out_h, _ref_inverse_scale(img.shape[0], out_h))
    # Float32 sums tap by tap, in OpenCV's order: columns of every row first, then rows.
    rows = np.zeros((img.shape[0], out_w, img.shape[2]), np.float32)
    for k in range(xw.shape[1]):
        rows = rows + img[:, xi[:, k]] * xw[:, k, None]
    acc = np.zeros((out_h, out_w, img.shape[2]), np.float32)
    for k in range(yw.shape[1]):
        acc = acc + rows[yi[:, k]] * yw[:, k, None, None]
    return np.clip(np.rint(acc), 0, 255).astype(np.uint8)


def _ref_block_mean(img: np.ndarray, out_h: int, out_w: int, fx: int, fy: int) -> np.ndarray:
    blocks = img[:out_h * fy, :out_w * fx].reshape(out_h, fy, out_w, fx, img.shape[2])
    total = blocks.sum(axis=(1, 3), dtype=np.int64)
    if fx == fy == 2:
        return ((total + 2) >> 2).astype(np.uint8)
    mean = total.astype(np.float32) * (np.float32(1) / np.float32(fx * fy))
    return np.clip(np.rint(mean), 0, 255).astype(np.uint8)


def _ref_linear_taps(src_size: int, dst_size: int, area_mode: bool, clamp_weight: bool):
    scale, inv_scale = _ref_inverse_scale(src_size, dst_size), dst_size / src_size
    d = np.arange(dst_size)
    if area_mode:
        s = np.floor(d * scale).astype(np.int64)
        f = ((d + 1) - (s + 1) * inv_scale).astype(np.float32)
        f = np.where(f <= 0, np.float32(0), f - np.floor(f))
    else:
        f = ((d + 0.5) * scale - 0.5).astype(np.float32)
        s = np.floor(f).astype(np.int64)
        f = f - s.astype(np.float32)
    if clamp_weight:
        edge = (s < 0) | (s >= src_size - 1)
        f = np.where(edge, np.float32(0), f)
        s = np.clip(s, 0, src_size - 1)
    w0 = np.rint((np.float32(1) - f) * np.float32(2048)).astype(np.int64)
    w1 = np.rint(f * np.float32(2048)).astype(np.int64)
    return np.clip(s, 0, src_size - 1), np.clip(s + 1, 0, src_size - 1), w0, w1


def _ref_linear(img: np.ndarray, out_h: int, out_w: int, area_mode: bool) -> np.ndarray:
    x0, x1, a0, a1 = _ref_linear_taps(img.shape[1], out_w, area_mode, True)
    y0, y1, b0, b1 = _ref_linear_taps(img.shape[0], out_h, area_mode, False)
    src = img.astype(np.int64)
    rows = src[:, x0] * a0[:, None] + src[:, x1] * a1[:, None]  # weights in 1/2048ths
    b0, b1 = b0[:, None, None], b1[:, None, None]
    value = (((b0 * (rows[y0] >> 4)) >> 16) + ((b1 * (rows[y1] >> 4)) >> 16) + 2) >> 2
    return np.clip(value, 0, 255).astype(np.uint8)


def _ref_integer_ratio(h: int, w: int, out_h: int, out_w: int) -> tuple[int, int] | None:
    sx, sy = _ref_inverse_scale(w, out_w), _ref_inverse_scale(h, out_h)
    ix, iy = round(sx), round(sy)
    eps = np.finfo(np.float64).eps
    return (ix, iy) if abs(sx - ix) < eps and abs(sy - iy) < eps else None


def reference_resize(src: np.ndarray, out_h: int, out_w: int, interpolation: str = "area") -> np.ndarray:
    """numpy twin of resize_area / resize_bilinear (OpenCV's uint8 arithmetic)."""
    img = check_image(src, "src")
    h, w = img.shape[:2]
    if (out_h, out_w) == (h, w):
        return img.copy()
    ratio = _ref_integer_ratio(h, w, out_h, out_w)
    if interpolation == "bilinear":
        if ratio == (2, 2):
            return _ref_block_mean(img, out_h, out_w, 2, 2)
        return _ref_linear(img, out_h, out_w, area_mode=False)
    if _ref_inverse_scale(w, out_w) < 1 or _ref_inverse_scale(h, out_h) < 1:
        return _ref_linear(img, out_h, out_w, area_mode=True)
    if ratio is not None:
        return _ref_block_mean(img, out_h, out_w, *ratio)
    return _ref_area(img, out_h, out_w)


def reference_preprocess_image(rgb: np.ndarray, params: PreprocessParams = PreprocessParams()) -> np.ndarray:
    """numpy twin of preprocess_image, step by step as the MLPerf reference: resize the
    whole image, crop, float32, (/ 255,) - mean, / std, transpose (, quantize)."""
    img = check_image(rgb, "rgb")
    h, w = resized_shape(img.shape[0], img.shape[1], params.resize_shorter)
    crop = center_crop(reference_resize(img, h, w, params.interpolation), params.size)
    value = np.broadcast_to(crop, crop.shape[:2] + (3,)).astype(np.float32)
    if params.scale_to_unit:
        value = value / np.float32(255)
    value = (value - np.float32(params.mean)) / np.float32(params.std)
    if params.dtype in QUANT_RANGE:
        low, high = QUANT_RANGE[params.dtype]
        q = np.rint(value / np.float32(params.quant_scale)) + params.quant_zero_point
        value = np.clip(q, low, high).astype(params.dtype)
    return np.ascontiguousarray(value.transpose(2, 0, 1) if params.layout == "NCHW" else value)
