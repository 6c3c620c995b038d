# cython: initializedcheck=False
# -ffp-contract=off: a fused multiply-add rounds once where OpenCV and numpy round twice;
#   keeping them apart keeps results bit-identical to both even if CFLAGS enable FMA.
# -fno-guess-branch-probability: Cython inlines these loop nests into one large wrapper,
#   where GCC's guessed block frequencies mark the outer loops cold and skip vectorising
#   them (measured: 575 -> 337 us per 500x375 -> 224x224 window). Clang ignores the flag.
# distutils: extra_compile_args = -ffp-contract=off -fno-guess-branch-probability
"""Preprocessing kernels behind harness.preprocess, which validates inputs first.

The resize kernels redo OpenCV's own uint8 resize arithmetic (cv2.resize, INTER_AREA and
INTER_LINEAR) step for step: the same weight tables computed with the same double/float
expressions, the same float or fixed-point accumulation order and the same rounding, so
the result equals cv2's bit for bit. They produce only a window of the resized image, so a
centre crop costs nothing: rows and columns outside it are never computed.

Normalise and quantize go through a 256-entry table per channel built with exactly the
float32 operations of the numpy reference, so they equal it bit for bit too.
"""

import numpy as np

from libc.float cimport DBL_EPSILON
from libc.math cimport ceil, fabs, floor, nearbyint

ctypedef unsigned char u8
ctypedef signed char i8

ctypedef fused qint:
    i8
    u8

cdef enum:
    COEF_BITS = 11  # OpenCV INTER_RESIZE_COEF_BITS: linear weights in 1/2048ths
    COEF_SCALE = 1 << COEF_BITS
    LEVELS = 256


cdef inline u8 _round_u8(float v) noexcept nogil:
    # saturate_cast<uchar>(float): round half to even by adding and subtracting 1.5 * 2**23
    # (exact for |v| < 2**22), then clamp as an integer; loops over this vectorise.
    cdef float magic = 12582912.0
    cdef int r = <int>((v + magic) - magic)
    return <u8>min(max(r, 0), 255)


cdef double _inverse_scale(int src_size, int dst_size):
    # OpenCV stores dst/src and inverts it in double; src/dst can differ in the last bit,
    # which moves area-tab boundaries and the integer-ratio test.
    return 1.0 / (<double>dst_size / src_size)


cdef int _check_window(const u8[:, :, ::1] src, int out_h, int out_w, int top, int left,
                      u8[:, :, ::1] out) except -1:
    # Memory safety only; harness.preprocess gives the user-facing messages.
    if src.shape[0] < 1 or src.shape[1] < 1 or out.shape[0] < 1 or out.shape[1] < 1:
        raise ValueError("empty image or window")
    if out.shape[2] != src.shape[2] or not 1 <= src.shape[2] <= 4:
        raise ValueError("source and window channel counts differ or are not 1..4")
    if top < 0 or left < 0 or top + out.shape[0] > out_h or left + out.shape[1] > out_w:
        raise ValueError("window lies outside the resized image")
    return 0


# ---- INTER_AREA, downscale by a non-integer ratio: float area weights ---------------------

def _area_taps(int src_size, int dst_size, double scale, int first, int count):
    """Per output pixel first..first+count: first source index and its K float weights.

    Weights follow OpenCV's computeResizeAreaTab. Rows with fewer than K taps are padded
    with zero weights (before or after), which adds +0.0 and changes no float sum.
    """
    cdef int kmax = min(src_size, <int>ceil(scale) + 2)
    starts_arr = np.empty(count, np.int32)
    weights_arr = np.zeros((count, kmax), np.float32)
    cdef int[::1] starts = starts_arr
    cdef float[:, ::1] weights = weights_arr
    cdef int i, sx, sx1, sx2, n, k = 1
    cdef double fsx1, fsx2, cell
    for i in range(count):
        fsx1 = (first + i) * scale
        fsx2 = fsx1 + scale
        cell = min(scale, src_size - fsx1)
        sx2 = min(<int>floor(fsx2), src_size - 1)
        sx1 = min(<int>ceil(fsx1), sx2)
        n = 0
        starts[i] = sx1
        if sx1 - fsx1 > 1e-3:
            starts[i] = sx1 - 1
            weights[i, n] = <float>((sx1 - fsx1) / cell)
            n += 1
        for sx in range(sx1, sx2):
            weights[i, n] = <float>(1.0 / cell)
            n += 1
        if fsx2 - sx2 > 1e-3:
            weights[i, n] = <float>(min(min(fsx2 - sx2, 1.0), cell) / cell)
            n += 1
        k = max(k, n)
    # Near the far edge a K-wide window would run off the source: start it earlier and put
    # the zero padding in front instead.
    overrun = starts_arr + k - src_size
    for i in np.flatnonzero(overrun > 0):
        weights_arr[i, :k] = np.roll(weights_arr[i, :k], overrun[i])
        starts_arr[i] -= overrun[i]
    return starts_arr, np.ascontiguousarray(weights_arr[:, :k])


cdef void _area_hrow(const u8* S, int C, int first, int span, const int* xs, const float* xw,
                     int K, int n, float* buf, float* out) noexcept nogil:
    # Source pixels first..first+span become floats once per row, not once per tap.
    cdef Py_ssize_t j, k, c, i  # pointer-sized: no sign extension per index under -fwrapv
    cdef const u8* s = S + C * first
    cdef const float* q
    cdef const float* w
    cdef float wk, a0, a1, a2
    for i in range(C * span):
        buf[i] = s[i]
    if C == 3:
        for j in range(n):
            q = buf + 3 * (xs[j] - first)
            w = xw + j * K
            a0 = 0
            a1 = 0
            a2 = 0
            for k in range(K):
                wk = w[k]
                a0 = a0 + q[3 * k] * wk
                a1 = a1 + q[3 * k + 1] * wk
                a2 = a2 + q[3 * k + 2] * wk
            out[3 * j] = a0
            out[3 * j + 1] = a1
            out[3 * j + 2] = a2
    else:
        for j in range(n):
            q = buf + C * (xs[j] - first)
            w = xw + j * K
            for c in range(C):
                a0 = 0
                for k in range(K):
                    a0 = a0 + q[C * k + c] * w[k]
                out[C * j + c] = a0


cdef void _area_vsum(const float** rows, const float* w, int taps, int n, u8* out) noexcept nogil:
    # Weighted sum of resampled rows, tap by tap in OpenCV's order, rounded to uint8.
    # Two and three taps (every ratio below 2) get their own loops so they vectorise.
    cdef Py_ssize_t i, k
    cdef float a
    cdef const float* r0 = rows[0]
    cdef const float* r1
    cdef const float* r2
    if taps == 2:
        r1 = rows[1]
        for i in range(n):
            out[i] = _round_u8(w[0] * r0[i] + w[1] * r1[i])
    elif taps == 3:
        r1 = rows[1]
        r2 = rows[2]
        for i in range(n):
            out[i] = _round_u8((w[0] * r0[i] + w[1] * r1[i]) + w[2] * r2[i])
    else:
        for i in range(n):
            a = 0
            for k in range(taps):
                a = a + w[k] * rows[k][i]
            out[i] = _round_u8(a)


cdef void _area_generic(const u8[:, :, ::1] src, const int[::1] xs, const float[:, ::1] xw,
                        const int[::1] ys, const float[:, ::1] yw, float[:, ::1] rows,
                        int[::1] row_of_slot, float[::1] src_buf, const float** tap_rows,
                        float* tap_weights, u8[:, :, ::1] out) noexcept nogil:
    # Horizontal pass per source row, then a weighted sum of rows, as OpenCV does; a
    # source row shared by two output rows is resampled once and kept in a small ring.
    cdef int C = src.shape[2], cw = out.shape[1]
    cdef int KX = xw.shape[1], KY = yw.shape[1]
    cdef int first = xs[0], span = xs[cw - 1] + KX - xs[0]
    cdef int j, k, taps, sy, slot
    for j in range(out.shape[0]):
        taps = 0
        for k in range(KY):
            if yw[j, k] == 0:  # padding
                continue
            sy = ys[j] + k
            slot = sy % KY
            if row_of_slot[slot] != sy:
                _area_hrow(&src[sy, 0, 0], C, first, span, &xs[0], &xw[0, 0], KX, cw,
                           &src_buf[0], &rows[slot, 0])
                row_of_slot[slot] = sy
            tap_rows[taps] = &rows[slot, 0]
            tap_weights[taps] = yw[j, k]
            taps += 1
        _area_vsum(tap_rows, tap_weights, taps, cw * C, &out[j, 0, 0])


# ---- INTER_AREA, integer ratio in both axes: plain block mean -----------------------------

cdef void _area_integer(const u8[:, :, ::1] src, int fx, int fy, int top, int left,
                        u8[:, :, ::1] out) noexcept nogil:
    cdef int C = src.shape[2], j, i, c, y, x
    cdef long long total  # int overflows past 8.4M source pixels per output pixel
    cdef int area = fx * fy
    cdef float inv_area = <float>1.0 / area
    # OpenCV's 2x2 fast path rounds ties up in integers; every other block mean rounds a
    # float product, ties to even.
    cdef bint half_up = fx == 2 and fy == 2
    for j in range(out.shape[0]):
        for i in range(out.shape[1]):
            for c in range(C):
                total = 0
                for y in range((top + j) * fy, (top + j + 1) * fy):
                    for x in range((left + i) * fx, (left + i + 1) * fx):
                        total = total + src[y, x, c]
                if half_up:
                    out[j, i, c] = <u8>((total + 2) >> 2)
                else:
                    out[j, i, c] = _round_u8(<float>total * inv_area)


# ---- INTER_LINEAR, and INTER_AREA when either axis enlarges: 2-tap fixed point ------------

def _linear_taps(int src_size, int dst_size, double scale, double inv_scale, bint area_mode,
                 bint clamp_weight, int first, int count):
    """Per output pixel: two source indices and their weights in 1/2048ths.

    Linear samples at (d + 0.5) * scale - 0.5; OpenCV's INTER_AREA upscale rule instead
    blends only across the source pixel boundary inside the output cell. Columns zero the
    fraction at the edges (clamp_weight); rows keep it and repeat the edge row instead.
    """
    idx = np.empty((2, count), np.int32)
    wts = np.empty((2, count), np.int32)
    cdef int[:, ::1] ix = idx
    cdef int[:, ::1] wt = wts
    cdef int i, d, s
    cdef float f
    for i in range(count):
        d = first + i
        if area_mode:
            s = <int>floor(d * scale)
            f = <float>((d + 1) - (s + 1) * inv_scale)
            f = 0 if f <= 0 else f - <int>floor(f)
        else:
            f = <float>((d + 0.5) * scale - 0.5)
            s = <int>floor(f)
            f = f - s
        if clamp_weight:
            if s < 0:
                f = 0
                s = 0
            if s >= src_size - 1:
                f = 0
                s = src_size - 1
        ix[0, i] = min(max(s, 0), src_size - 1)
        ix[1, i] = min(max(s + 1, 0), src_size - 1)
        wt[0, i] = <int>nearbyint(<float>(1 - f) * COEF_SCALE)
        wt[1, i] = <int>nearbyint(f * COEF_SCALE)
    return idx, wts


cdef void _linear_hrow(const u8* S, int C, const int* x0, const int* x1, const int* a0,
                       const int* a1, Py_ssize_t n, int* out) noexcept nogil:
    cdef Py_ssize_t j, c
    cdef const u8* p0
    cdef const u8* p1
    cdef int w0, w1
    if C == 3:
        for j in range(n):
            p0 = S + 3 * x0[j]
            p1 = S + 3 * x1[j]
            w0 = a0[j]
            w1 = a1[j]
            out[3 * j] = p0[0] * w0 + p1[0] * w1
            out[3 * j + 1] = p0[1] * w0 + p1[1] * w1
            out[3 * j + 2] = p0[2] * w0 + p1[2] * w1
    else:
        for j in range(n):
            for c in range(C):
                out[C * j + c] = S[C * x0[j] + c] * a0[j] + S[C * x1[j] + c] * a1[j]


cdef void _linear(const u8[:, :, ::1] src, const int[:, ::1] xi, const int[:, ::1] xw,
                  const int[:, ::1] yi, const int[:, ::1] yw, int[:, ::1] rows,
                  int[::1] row_of_slot, u8[:, :, ::1] out) noexcept nogil:
    cdef int C = src.shape[2], cw = out.shape[1]
    cdef Py_ssize_t j, k, i, n = cw * C
    cdef int sy, slot, b0, b1, v
    cdef const int* r0
    cdef const int* r1
    cdef u8* o
    for j in range(out.shape[0]):
        for k in range(2):
            sy = yi[k, j]
            slot = sy & 1
            if row_of_slot[slot] != sy:
                _linear_hrow(&src[sy, 0, 0], C, &xi[0, 0], &xi[1, 0], &xw[0, 0], &xw[1, 0], cw,
                             &rows[slot, 0])
                row_of_slot[slot] = sy
        r0 = &rows[yi[0, j] & 1, 0]
        r1 = &rows[yi[1, j] & 1, 0]
        b0 = yw[0, j]
        b1 = yw[1, j]
        o = &out[j, 0, 0]
        for i in range(n):
            # OpenCV's VResizeLinear for 8u: drop 4 bits, multiply-high, round the last 2.
            v = (((b0 * (r0[i] >> 4)) >> 16) + ((b1 * (r1[i] >> 4)) >> 16) + 2) >> 2
            o[i] = <u8>min(max(v, 0), 255)


def _run_linear(const u8[:, :, ::1] src, int out_h, int out_w, int top, int left,
                u8[:, :, ::1] out, bint area_mode):
    cdef int H = src.shape[0], W = src.shape[1]
    cdef double sx = _inverse_scale(W, out_w), sy = _inverse_scale(H, out_h)
    xi, xw = _linear_taps(W, out_w, sx, <double>out_w / W, area_mode, True, left, out.shape[1])
    yi, yw = _linear_taps(H, out_h, sy, <double>out_h / H, area_mode, False, top, out.shape[0])
    rows = np.empty((2, out.shape[1] * src.shape[2]), np.int32)
    row_of_slot = np.full(2, -1, np.int32)
    cdef const int[:, ::1] xi_v = xi, xw_v = xw, yi_v = yi, yw_v = yw
    cdef int[:, ::1] rows_v = rows
    cdef int[::1] slot_v = row_of_slot
    with nogil:
        _linear(src, xi_v, xw_v, yi_v, yw_v, rows_v, slot_v, out)


def _copy_window(const u8[:, :, ::1] src, int top, int left, u8[:, :, ::1] out):
    np.asarray(out)[...] = np.asarray(src)[top:top + out.shape[0], left:left + out.shape[1]]


def _integer_ratio(int H, int W, int out_h, int out_w):
    """(fx, fy) when OpenCV treats the scale as an exact integer ratio in both axes, else None."""
    cdef double sx = _inverse_scale(W, out_w), sy = _inverse_scale(H, out_h)
    cdef int ix = <int>nearbyint(sx), iy = <int>nearbyint(sy)
    if fabs(sx - ix) < DBL_EPSILON and fabs(sy - iy) < DBL_EPSILON:
        return ix, iy
    return None


# ---- public kernels -----------------------------------------------------------------------

def resize_area_window(const u8[:, :, ::1] src, int out_h, int out_w, int top, int left,
                       u8[:, :, ::1] out):
    """Write rows top.. and columns left.. of cv2.resize(src, (out_w, out_h), INTER_AREA)
    into out (its shape gives the window size)."""
    _check_window(src, out_h, out_w, top, left, out)
    cdef int H = src.shape[0], W = src.shape[1]
    if out_h == H and out_w == W:
        _copy_window(src, top, left, out)
        return
    cdef double sx = _inverse_scale(W, out_w), sy = _inverse_scale(H, out_h)
    if sx < 1 or sy < 1:  # OpenCV emulates area enlargement with a bilinear variant
        _run_linear(src, out_h, out_w, top, left, out, True)
        return
    ratio = _integer_ratio(H, W, out_h, out_w)
    cdef int fx, fy
    if ratio is not None:
        fx, fy = ratio
        with nogil:
            _area_integer(src, fx, fy, top, left, out)
        return
    xs, xw = _area_taps(W, out_w, sx, left, out.shape[1])
    ys, yw = _area_taps(H, out_h, sy, top, out.shape[0])
    cdef int C = src.shape[2]
    rows = np.empty((yw.shape[1], out.shape[1] * C), np.float32)
    row_of_slot = np.full(yw.shape[1], -1, np.int32)
    src_row = np.empty((xs[len(xs) - 1] + xw.shape[1] - xs[0]) * C, np.float32)
    cdef const int[::1] xs_v = xs, ys_v = ys
    cdef const float[:, ::1] xw_v = xw, yw_v = yw
    cdef float[:, ::1] rows_v = rows
    cdef int[::1] slot_v = row_of_slot
    cdef float[::1] src_v = src_row
    cdef Py_ssize_t[::1] tap_rows = np.empty(yw.shape[1], np.intp)  # row pointers
    cdef float[::1] tap_weights = np.empty(yw.shape[1], np.float32)
    with nogil:
        _area_generic(src, xs_v, xw_v, ys_v, yw_v, rows_v, slot_v, src_v,
                      <const float**>&tap_rows[0], &tap_weights[0], out)


def resize_bilinear_window(const u8[:, :, ::1] src, int out_h, int out_w, int top, int left,
                           u8[:, :, ::1] out):
    """Write rows top.. and columns left.. of cv2.resize(src, (out_w, out_h), INTER_LINEAR)
    into out (its shape gives the window size)."""
    _check_window(src, out_h, out_w, top, left, out)
    cdef int H = src.shape[0], W = src.shape[1]
    if out_h == H and out_w == W:
        _copy_window(src, top, left, out)
        return
    if _integer_ratio(H, W, out_h, out_w) == (2, 2):  # OpenCV switches to its 2x2 area path
        with nogil:
            _area_integer(src, 2, 2, top, left, out)
        return
    _run_linear(src, out_h, out_w, top, left, out, False)


# ---- normalise and quantize ---------------------------------------------------------------

ctypedef fused level_t:  # what a table maps each uint8 level to
    float
    i8
    u8


cdef void _float_table(const float[::1] mean, const float[::1] std, float divisor,
                       float* table) noexcept nogil:
    # Same float32 steps, in the same order, as the numpy reference: x / divisor - mean, / std.
    cdef int c, x
    cdef float v
    for c in range(mean.shape[0]):
        for x in range(LEVELS):
            v = x
            v = v / divisor
            v = v - mean[c]
            table[c * LEVELS + x] = v / std[c]


cdef void _quant_table(const float[::1] mean, const float[::1] std, float divisor, float scale,
                       int zero_point, int qmin, int qmax, level_t* table) noexcept nogil:
    # Round half to even, as ONNX QuantizeLinear does, then saturate.
    cdef float real[4 * LEVELS]
    cdef int i
    _float_table(mean, std, divisor, real)
    for i in range(mean.shape[0] * LEVELS):
        table[i] = <level_t>min(max(<int>nearbyint(real[i] / scale) + zero_point, qmin), qmax)


cdef void _map_chw(const u8* src, Py_ssize_t pixels, int C, const level_t* table,
                   level_t* out) noexcept nogil:
    # HWC in, one output plane per channel; pixels are contiguous in both.
    cdef Py_ssize_t i, c
    cdef level_t* o1
    cdef level_t* o2
    if C == 3:
        o1 = out + pixels
        o2 = out + 2 * pixels
        for i in range(pixels):
            out[i] = table[src[3 * i]]
            o1[i] = table[LEVELS + src[3 * i + 1]]
            o2[i] = table[2 * LEVELS + src[3 * i + 2]]
    else:
        for c in range(C):
            for i in range(pixels):
                out[c * pixels + i] = table[c * LEVELS + src[C * i + c]]


cdef void _map_hwc(const u8* src, Py_ssize_t pixels, int C, const level_t* table,
                   level_t* out) noexcept nogil:
    cdef Py_ssize_t i, c
    for i in range(pixels):
        for c in range(C):
            out[C * i + c] = table[c * LEVELS + src[C * i + c]]


cdef int _check_channels(const u8[:, :, ::1] src, const float[::1] mean, const float[::1] std,
                         tuple out_shape, bint chw) except -1:
    cdef int H = src.shape[0], W = src.shape[1], C = src.shape[2]
    if not 1 <= C <= 4 or mean.shape[0] != C or std.shape[0] != C:
        raise ValueError("mean, std and the image must have the same number of channels (1..4)")
    expected = (C, H, W) if chw else (H, W, C)
    if out_shape != expected:
        raise ValueError(f"out has shape {out_shape}, expected {expected}")
    return 0


cdef int _normalize(const u8[:, :, ::1] src, const float[::1] mean, const float[::1] std,
                    float[:, :, ::1] out, float divisor, bint chw) except -1:
    _check_channels(src, mean, std, (out.shape[0], out.shape[1], out.shape[2]), chw)
    cdef float table[4 * LEVELS]
    cdef Py_ssize_t pixels = src.shape[0] * src.shape[1]
    cdef int C = src.shape[2]
    with nogil:
        _float_table(mean, std, divisor, table)
        if chw:
            _map_chw(&src[0, 0, 0], pixels, C, table, &out[0, 0, 0])
        else:
            _map_hwc(&src[0, 0, 0], pixels, C, table, &out[0, 0, 0])
    return 0


cdef int _quantize(const u8[:, :, ::1] src, const float[::1] mean, const float[::1] std,
                   float scale, int zero_point, qint[:, :, ::1] out, float divisor,
                   bint chw) except -1:
    _check_channels(src, mean, std, (out.shape[0], out.shape[1], out.shape[2]), chw)
    cdef qint table[4 * LEVELS]
    cdef Py_ssize_t pixels = src.shape[0] * src.shape[1]
    cdef int C = src.shape[2]
    cdef int qmin = -128 if qint is i8 else 0
    with nogil:
        _quant_table(mean, std, divisor, scale, zero_point, qmin, qmin + 255, table)
        if chw:
            _map_chw(&src[0, 0, 0], pixels, C, table, &out[0, 0, 0])
        else:
            _map_hwc(&src[0, 0, 0], pixels, C, table, &out[0, 0, 0])
    return 0


def normalize_to_chw(const u8[:, :, ::1] src, const float[::1] mean, const float[::1] std,
                     float[:, :, ::1] out, float divisor=1.0):
    """out[c, y, x] = (src[y, x, c] / divisor - mean[c]) / std[c] in float32."""
    _normalize(src, mean, std, out, divisor, True)


def normalize_to_hwc(const u8[:, :, ::1] src, const float[::1] mean, const float[::1] std,
                     float[:, :, ::1] out, float divisor=1.0):
    """out[y, x, c] = (src[y, x, c] / divisor - mean[c]) / std[c] in float32."""
    _normalize(src, mean, std, out, divisor, False)


def quantize_to_chw(const u8[:, :, ::1] src, const float[::1] mean, const float[::1] std,
                    float scale, int zero_point, qint[:, :, ::1] out, float divisor=1.0):
    """out[c, y, x] = saturate(round_half_even((src[y, x, c] / divisor - mean[c]) / std[c]
    / scale) + zero_point), int8 or uint8, computed in float32."""
    _quantize(src, mean, std, scale, zero_point, out, divisor, True)


def quantize_to_hwc(const u8[:, :, ::1] src, const float[::1] mean, const float[::1] std,
                    float scale, int zero_point, qint[:, :, ::1] out, float divisor=1.0):
    """out[y, x, c] = the same as quantize_to_chw, channels last."""
    _quantize(src, mean, std, scale, zero_point, out, divisor, False)
