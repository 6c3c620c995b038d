"""Preprocessing: native kernels vs OpenCV and vs the numpy reference, validation, decoding."""

import io

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from PIL import Image

from harness._native import preprocess as native
from harness.data import preprocess as pp
from harness.errors import DatasetError

import reference_preprocess as reference

MLPERF = pp.PreprocessParams()
TORCHVISION = pp.PreprocessParams(interpolation="bilinear", scale_to_unit=True,
                                  mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))


@pytest.fixture(scope="module")
def cv2():
    # OpenCV is in the test extra: without it these tests fail (test_environment says what to install).
    import cv2

    cv2.setNumThreads(1)
    return cv2


def random_image(shape, seed=0, smooth=False):
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, shape, dtype=np.uint8)
    if smooth:  # photo-like: neighbours correlated, so rounding ties and edges both occur
        img = ((img.astype(np.uint16) + np.roll(img, 1, axis=0) + np.roll(img, 1, axis=1)) // 3)
    return img.astype(np.uint8)


def cv2_resize(cv2, img, out_h, out_w, interpolation):
    flag = cv2.INTER_AREA if interpolation == "area" else cv2.INTER_LINEAR
    return cv2.resize(img, (out_w, out_h), interpolation=flag).reshape(out_h, out_w, img.shape[2])


def kernel_resize(img, out_h, out_w, interpolation):
    return (pp.resize_area if interpolation == "area" else pp.resize_bilinear)(img, out_h, out_w)


def mlperf_reference(cv2, img, params):
    """pre_process_vgg from mlcommons/inference's dataset.py, for an RGB input."""
    h, w = pp.resized_shape(img.shape[0], img.shape[1], params.resize_shorter)
    img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
    top, left = pp.crop_origin(h, w, params.size)
    img = np.asarray(img[top:top + params.size, left:left + params.size], dtype="float32")
    img -= np.array(params.mean, dtype=np.float32)
    return img.transpose([2, 0, 1])


# ---- resize vs OpenCV ---------------------------------------------------------------------

SHAPES = [(1, 1), (1, 9), (9, 1), (2, 3), (375, 500), (500, 375), (333, 500), (37, 1000),
          (1000, 37), (257, 300), (512, 512), (768, 512), (480, 640)]
OUT_SIZES = [(1, 1), (256, 341), (341, 256), (224, 224), (100, 37), (5, 3), (256, 256),
             (300, 400), (128, 128), (3, 700)]


@pytest.mark.parametrize("interpolation", pp.INTERPOLATIONS)
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("shape", SHAPES)
def test_resize_matches_opencv_bit_for_bit(cv2, shape, channels, interpolation):
    img = random_image((*shape, channels), seed=sum(shape), smooth=True)
    for out_h, out_w in OUT_SIZES:
        want = cv2_resize(cv2, img, out_h, out_w, interpolation)
        got = kernel_resize(img, out_h, out_w, interpolation)
        diff = np.abs(got.astype(int) - want).max()
        assert diff == 0, f"{shape}x{channels} -> {out_h}x{out_w}: max diff {diff} from cv2"


@pytest.mark.parametrize("interpolation", pp.INTERPOLATIONS)
def test_large_image_matches_opencv(cv2, interpolation):
    img = random_image((3000, 5000, 3), seed=1, smooth=True)
    want = cv2_resize(cv2, img, 256, 426, interpolation)
    assert np.array_equal(kernel_resize(img, 256, 426, interpolation), want)


@pytest.mark.parametrize("interpolation", pp.INTERPOLATIONS)
def test_window_is_the_crop_of_the_full_resize(cv2, interpolation):
    rng = np.random.default_rng(3)
    kernel = native.resize_area_window if interpolation == "area" else native.resize_bilinear_window
    for h, w, out_h, out_w in [(375, 500, 256, 341), (50, 40, 120, 90), (64, 64, 32, 32),
                               (100, 3, 7, 200)]:
        img = random_image((h, w, 3), seed=h)
        full = cv2_resize(cv2, img, out_h, out_w, interpolation)
        for _ in range(5):
            top, left = int(rng.integers(0, out_h)), int(rng.integers(0, out_w))
            win_h, win_w = int(rng.integers(1, out_h - top + 1)), int(rng.integers(1, out_w - left + 1))
            window = np.empty((win_h, win_w, 3), np.uint8)
            kernel(img, out_h, out_w, top, left, window)
            assert np.array_equal(window, full[top:top + win_h, left:left + win_w])


def test_window_outside_the_resized_image_is_refused():
    with pytest.raises(ValueError, match="outside"):
        native.resize_area_window(random_image((10, 10, 3)), 5, 5, 3, 0, np.empty((4, 4, 3), np.uint8))


# ---- the whole pipeline vs the MLPerf reference ------------------------------------------

@pytest.mark.parametrize("shape", [(375, 500), (500, 375), (333, 500), (256, 256), (257, 300),
                                   (1, 1), (3, 1), (1, 5), (3000, 5000), (768, 512)])
def test_pipeline_equals_the_mlperf_reference(cv2, shape):
    img = random_image((*shape, 3), seed=shape[0], smooth=True)
    out = pp.preprocess_image(img, MLPERF)
    assert out.shape == (3, 224, 224) and out.dtype == np.float32
    assert np.array_equal(out, mlperf_reference(cv2, img, MLPERF))


def test_resized_shape_and_crop_follow_the_reference_rounding():
    assert pp.resized_shape(375, 500, 256) == (256, 341)  # 341.33 truncated
    assert pp.resized_shape(500, 375, 256) == (341, 256)
    assert pp.resized_shape(333, 500, 256) == (256, 384)  # 384.38
    assert pp.resized_shape(256, 256, 256) == (256, 256)
    assert pp.resized_shape(1, 5, 256) == (256, 1280)
    assert pp.resized_shape(3, 7, 256) == (256, 597)  # 597.33
    assert pp.crop_origin(256, 341, 224) == (16, 58)  # int(58.5)
    assert pp.crop_origin(224, 224, 224) == (0, 0)
    img = random_image((256, 341, 3))
    crop = pp.center_crop(img, 224)
    assert crop.base is img and np.array_equal(crop, img[16:240, 58:282])


def test_greyscale_input_is_repeated_into_rgb():
    grey = random_image((300, 400, 1), seed=4)
    rgb = np.repeat(grey, 3, axis=2)
    assert np.array_equal(pp.preprocess_image(grey, MLPERF), pp.preprocess_image(rgb, MLPERF))


def test_out_receives_the_result():
    row = np.zeros((2, 3, 224, 224), np.float32)[1]
    img = random_image((375, 500, 3))
    assert pp.preprocess_image(img, MLPERF, out=row) is row
    assert np.array_equal(row, pp.preprocess_image(img, MLPERF))


# ---- numpy reference, normalise and quantize ----------------------------------------------

PARAMS = [
    MLPERF,
    TORCHVISION,
    pp.PreprocessParams(layout="NHWC"),
    pp.PreprocessParams(dtype="int8", quant_scale=0.9, quant_zero_point=-3),
    pp.PreprocessParams(dtype="uint8", layout="NHWC", quant_scale=1.0, quant_zero_point=128),
    pp.PreprocessParams(dtype="int8", interpolation="bilinear", scale_to_unit=True,
                        mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), quant_scale=0.0186,
                        quant_zero_point=-14),
    pp.PreprocessParams(size=200, resize_shorter=230, std=(58.4, 57.1, 57.4)),
]


@pytest.mark.parametrize("params", PARAMS, ids=lambda p: f"{p.interpolation}-{p.layout}-{p.dtype}")
@pytest.mark.parametrize("shape", [(375, 500, 3), (1, 1, 3), (40, 2000, 1), (511, 1024, 3)])
def test_pipeline_equals_numpy_reference(params, shape):
    img = random_image(shape, seed=shape[1])
    got = pp.preprocess_image(img, params)
    want = reference.reference_preprocess_image(img, params)
    assert got.shape == want.shape == params.output_shape
    assert got.dtype == want.dtype == np.dtype(params.dtype)
    assert np.array_equal(got, want)


def test_normalize_applies_divisor_mean_and_std_per_channel():
    img = np.array([[[0, 128, 255], [10, 20, 30]]], np.uint8)
    mean, std = (0.5, 0.25, 0.0), (0.5, 2.0, 1.0)
    hwc = pp.normalize(img, mean, std, layout="NHWC", divisor=255.0)
    want = (img.astype(np.float32) / np.float32(255) - np.float32(mean)) / np.float32(std)
    assert np.array_equal(hwc, want)
    assert np.array_equal(pp.normalize(img, mean, std, divisor=255.0), want.transpose(2, 0, 1))


def test_quantize_rounds_half_to_even_and_saturates():
    img = np.array([[[1], [3], [5], [0], [255]]], np.uint8)
    q = pp.quantize(img, [0.0], [1.0], scale=2.0, zero_point=0, dtype="int8", layout="NHWC")
    assert q[0, :, 0].tolist() == [0, 2, 2, 0, 127]  # 0.5->0, 1.5->2, 2.5->2; 127.5 saturates
    q = pp.quantize(img, [100.0], [1.0], scale=0.5, zero_point=10, dtype="uint8")
    assert q[0, 0].tolist() == [0, 0, 0, 0, 255]  # (x - 100) / 0.5 + 10: all out of range
    q = pp.quantize(img, [128.0], [1.0], scale=1.0, zero_point=0, dtype="int8")
    assert q[0, 0].tolist() == [-127, -125, -123, -128, 127]


# ---- properties ---------------------------------------------------------------------------

sizes = st.integers(1, 48)
images = st.builds(lambda h, w, c, seed: random_image((h, w, c), seed),
                   sizes, sizes, st.sampled_from([1, 3]), st.integers(0, 2**32 - 1))


@settings(max_examples=60, deadline=None)
@given(images, st.integers(1, 64), st.integers(1, 64), st.sampled_from(pp.INTERPOLATIONS))
def test_kernel_equals_numpy_reference_for_any_shape(img, out_h, out_w, interpolation):
    assert np.array_equal(kernel_resize(img, out_h, out_w, interpolation),
                          reference.reference_resize(img, out_h, out_w, interpolation))


@settings(max_examples=40, deadline=None)
@given(images, st.integers(1, 64), st.integers(1, 64), st.sampled_from(pp.INTERPOLATIONS))
def test_kernel_equals_opencv_for_any_shape(cv2, img, out_h, out_w, interpolation):
    assert np.array_equal(kernel_resize(img, out_h, out_w, interpolation),
                          cv2_resize(cv2, img, out_h, out_w, interpolation))


@settings(max_examples=60, deadline=None)
@given(sizes, sizes, st.integers(1, 64), st.integers(1, 64), st.integers(0, 255),
       st.sampled_from(pp.INTERPOLATIONS))
def test_resize_keeps_a_flat_image_flat(h, w, out_h, out_w, value, interpolation):
    img = np.full((h, w, 3), value, np.uint8)
    assert (kernel_resize(img, out_h, out_w, interpolation) == value).all()


@settings(max_examples=60, deadline=None)
@given(images, st.integers(1, 64), st.integers(1, 64), st.sampled_from(pp.INTERPOLATIONS))
def test_resize_stays_within_the_source_range(img, out_h, out_w, interpolation):
    out = kernel_resize(img, out_h, out_w, interpolation)
    for c in range(img.shape[2]):
        assert img[..., c].min() <= out[..., c].min() and out[..., c].max() <= img[..., c].max()


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 600), st.integers(1, 600), st.sampled_from(PARAMS))
def test_pipeline_handles_any_image_size(h, w, params):
    # The reference resizes the whole image: a 1x600 one would become 256x153600.
    assume(max(h, w) <= 20 * min(h, w))
    img = random_image((h, w, 3), seed=h * w)
    assert np.array_equal(pp.preprocess_image(img, params), reference.reference_preprocess_image(img, params))


# ---- validation ---------------------------------------------------------------------------

@pytest.mark.parametrize("bad, message", [
    (np.zeros((4, 4, 3), np.float32), "dtype uint8, got float32"),
    (np.zeros((4, 4, 3), np.int16), "dtype uint8, got int16"),
    (np.zeros((4, 4), np.uint8), r"shape \(H, W, C\), got shape \(4, 4\) \(add a channel axis"),
    (np.zeros((1, 4, 4, 3), np.uint8), r"shape \(H, W, C\), got shape \(1, 4, 4, 3\)"),
    (np.zeros((4, 4, 4), np.uint8), "1 or 3 channels, got 4"),
    (np.zeros((4, 4, 2), np.uint8), "1 or 3 channels, got 2"),
    (np.zeros((0, 4, 3), np.uint8), r"must not be empty, got shape \(0, 4, 3\)"),
    ([[1, 2, 3]], "numpy array of shape .* got list"),
])
def test_invalid_images_are_rejected_with_what_was_received(bad, message):
    for call in (lambda: pp.preprocess_image(bad, MLPERF), lambda: pp.resize_area(bad, 4, 4),
                 lambda: pp.resize_bilinear(bad, 4, 4), lambda: pp.normalize(bad, [0] * 3, [1] * 3)):
        with pytest.raises(ValueError, match=message):
            call()


@pytest.mark.parametrize("kwargs, message", [
    ({"size": 300}, "size <= resize_shorter, got size=300, resize_shorter=256"),
    ({"size": 0}, "size <= resize_shorter, got size=0"),
    ({"layout": "CHW"}, "layout = 'CHW' is not one of NCHW, NHWC"),
    ({"interpolation": "cubic"}, "interpolation = 'cubic' is not one of area, bilinear"),
    ({"dtype": "float16"}, "dtype = 'float16' is not one of float32, int8, uint8"),
    ({"std": (1.0, 0.0, 1.0)}, "must be finite and non-zero"),
    ({"mean": (1.0, 2.0)}, "need 3 values"),
    ({"quant_scale": 0.0}, "quant_scale = 0.0 must be positive"),
    ({"dtype": "uint8", "quant_zero_point": -1}, "outside the uint8 range 0..255"),
])
def test_invalid_params_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        pp.PreprocessParams(**kwargs)


def test_params_from_toml_lists_are_hashable_tuples():
    params = pp.PreprocessParams(mean=[1, 2, 3], std=[4, 5, 6])
    assert params.mean == (1.0, 2.0, 3.0) and hash(params) == hash(pp.PreprocessParams(mean=(1, 2, 3), std=(4, 5, 6)))


def test_invalid_sizes_and_buffers_are_rejected():
    img = random_image((8, 8, 3))
    with pytest.raises(ValueError, match="out_h must be at least 1, got 0"):
        pp.resize_area(img, 0, 4)
    with pytest.raises(ValueError, match="out_w must be an integer, got 2.5"):
        pp.resize_bilinear(img, 4, 2.5)
    with pytest.raises(ValueError, match=r"out must be a float32 array of shape \(3, 224, 224\), got float64"):
        pp.preprocess_image(img, MLPERF, out=np.zeros((3, 224, 224)))
    with pytest.raises(ValueError, match="C-contiguous"):
        pp.preprocess_image(img, MLPERF, out=np.zeros((224, 224, 3), np.float32).transpose(2, 0, 1))
    with pytest.raises(ValueError, match="one value per channel"):
        pp.normalize(img, [0.0], [1.0])
    with pytest.raises(ValueError, match="dtype must be int8 or uint8"):
        pp.quantize(img, [0.0] * 3, [1.0] * 3, 1.0, 0, dtype="int16")
    with pytest.raises(ValueError, match="scale must be positive, got 0.0"):
        pp.quantize(img, [0.0] * 3, [1.0] * 3, 0.0, 0)


def test_non_contiguous_input_is_accepted():
    img = random_image((300, 400, 3), seed=9)
    bgr_view = img[:, :, ::-1]
    assert np.array_equal(pp.preprocess_image(bgr_view, MLPERF),
                          pp.preprocess_image(np.ascontiguousarray(bgr_view), MLPERF))


# ---- decoding -----------------------------------------------------------------------------

def save(tmp_path, name, image, **kwargs):
    path = tmp_path / name
    image.save(path, **kwargs)
    return path


def test_decode_rgb_png_is_lossless(tmp_path):
    rgb = random_image((5, 7, 3))
    out = pp.decode_image(save(tmp_path, "a.png", Image.fromarray(rgb)))
    assert out.dtype == np.uint8 and np.array_equal(out, rgb)


@pytest.mark.parametrize("mode", ["L", "1", "P"])
def test_decode_greyscale_bilevel_and_palette_give_rgb(tmp_path, mode):
    rgb = random_image((6, 8, 3), seed=2)
    image = Image.fromarray(rgb).convert(mode)
    out = pp.decode_image(save(tmp_path, f"{mode}.png", image))
    assert out.shape == (6, 8, 3) and np.array_equal(out, np.asarray(image.convert("RGB")))


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_decode_drops_alpha(tmp_path, mode):
    rgba = random_image((4, 4, 4), seed=3)
    rgba[..., 3] = 0  # fully transparent: the colour survives anyway
    image = Image.fromarray(rgba).convert(mode)
    out = pp.decode_image(save(tmp_path, f"{mode}.png", image))
    assert np.array_equal(out, np.asarray(image.convert("RGB")))


def test_decode_palette_with_transparency(tmp_path):
    image = Image.fromarray(random_image((4, 4, 3), seed=5)).convert("P")
    path = save(tmp_path, "pt.png", image, transparency=0)
    assert np.array_equal(pp.decode_image(path), np.asarray(image.convert("RGB")))


def test_decode_cmyk_jpeg_gives_rgb(tmp_path):
    image = Image.fromarray(random_image((16, 16, 3), seed=6)).convert("CMYK")
    path = save(tmp_path, "cmyk.jpg", image, quality=95)
    with Image.open(path) as reread:
        assert reread.mode == "CMYK"
        want = np.asarray(reread.convert("RGB"))
    out = pp.decode_image(path)
    assert out.shape == (16, 16, 3) and np.array_equal(out, want)


def test_decode_16_bit_greyscale_keeps_the_high_byte(tmp_path):
    grey = np.linspace(0, 65535, 18).astype(np.uint16).reshape(3, 6)
    path = save(tmp_path, "g16.png", Image.fromarray(grey))
    out = pp.decode_image(path)
    assert out.shape == (*grey.shape, 3)
    assert np.array_equal(out, np.repeat((grey >> 8).astype(np.uint8)[..., None], 3, axis=2))


def test_decode_16_bit_rgb_keeps_the_high_byte(tmp_path, cv2):
    rgb16 = (np.arange(4 * 5 * 3).reshape(4, 5, 3) * 1000 + 37).astype(np.uint16)
    path = tmp_path / "rgb16.png"
    assert cv2.imwrite(str(path), rgb16[..., ::-1])  # cv2 writes BGR
    assert np.array_equal(pp.decode_image(path), (rgb16 >> 8).astype(np.uint8))


def test_decode_applies_exif_orientation(tmp_path):
    rgb = random_image((4, 6, 3), seed=7)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    path = save(tmp_path, "rot.png", Image.fromarray(rgb), exif=exif)
    assert np.array_equal(pp.decode_image(path), np.rot90(rgb, k=-1))


def jpeg_bytes():
    buf = io.BytesIO()
    Image.fromarray(random_image((64, 64, 3), seed=8)).save(buf, format="JPEG")
    return buf.getvalue()


@pytest.mark.parametrize("name, content, message", [
    ("empty.jpg", b"", "the file is empty"),
    ("truncated.jpg", jpeg_bytes()[:400], "truncated"),
    ("garbage.jpg", b"this is not an image" * 10, "cannot identify"),
    ("header_only.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 20, "cannot decode"),
])
def test_unusable_files_raise_dataset_error_naming_the_file(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DatasetError, match=message) as info:
        pp.decode_image(path)
    assert str(path) in str(info.value)


def test_missing_file_raises_dataset_error_naming_the_file(tmp_path):
    path = tmp_path / "val" / "ILSVRC2012_val_00000001.JPEG"
    with pytest.raises(DatasetError, match="does not exist") as info:
        pp.decode_image(path)
    assert str(path) in str(info.value)


def test_decoded_jpeg_feeds_the_pipeline(tmp_path):
    path = tmp_path / "photo.jpg"
    path.write_bytes(jpeg_bytes())
    out = pp.preprocess_image(pp.decode_image(path), MLPERF)
    assert out.shape == (3, 224, 224) and np.isfinite(out).all()
