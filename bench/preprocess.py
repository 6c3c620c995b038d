"""Preprocessing throughput: native kernels vs the numpy path vs OpenCV, side by side.

    python bench/preprocess.py [--n 200] [--reps 5]

Every path turns the same pre-decoded synthetic RGB images (ImageNet-like sizes) into the
MLPerf ResNet-50 input (area resize to shorter side 256, centre crop 224, float32 minus
RGB means, CHW) and stores it into a preallocated batch, as the sample cache does. The
paths run in turn, repetition by repetition, in this one process; the table shows each
path's best repetition and its ratio to the others. OpenCV follows the reference code
(cv2.resize, slicing, np.asarray float32, -= mean, transpose) and runs with one thread and
with its default thread count; the other paths are single-threaded.

Then, for context: JPEG decode time per image with and without Pillow's draft() (DCT-domain
downscaling), and how far draft() moves the preprocessed output.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # run from a checkout; the numpy twin lives in tests/
from harness.data.preprocess import PreprocessParams, crop_origin, preprocess_image, resized_shape  # noqa: E402

from reference_preprocess import reference_preprocess_image  # noqa: E402

# (width, height, weight): the common ImageNet validation shapes and a tail of larger photos.
SIZES = [(500, 375, 40), (375, 500, 15), (500, 333, 15), (333, 500, 5), (500, 500, 8),
         (640, 480, 5), (800, 600, 4), (1024, 768, 3), (1600, 1200, 3), (300, 225, 2)]
LARGE = [(1024, 768), (1600, 1200), (2048, 1536), (3000, 2000)]


def natural_image(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """RGB noise with a 1/f amplitude spectrum, as natural photos have, so JPEG coding and
    DCT scaling behave as they would on photos rather than on white noise."""
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    amplitude = 1.0 / np.maximum(np.hypot(fx, fy), 1.0 / max(height, width))
    channels = []
    for _ in range(3):
        phase = rng.uniform(0, 2 * np.pi, amplitude.shape)
        field = np.fft.irfft2(amplitude * np.exp(1j * phase), s=(height, width))
        channels.append((field - field.mean()) / field.std())
    mix = rng.uniform(0.3, 1.0, (3, 3))  # correlated channels, like real colour
    # Summed by hand: a BLAS call would leave OpenBLAS threads spinning beside the timings.
    rgb = sum(field[..., None] * mix[i] for i, field in enumerate(channels))
    rgb = 128 + 45 * rgb / rgb.std()
    return np.clip(rgb, 0, 255).astype(np.uint8)


def make_images(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    weights = np.array([w for _, _, w in SIZES], float)
    picks = rng.choice(len(SIZES), size=n, p=weights / weights.sum())
    return [natural_image(rng, SIZES[i][1], SIZES[i][0]) for i in picks]


def opencv_reference(cv2, img: np.ndarray, params: PreprocessParams) -> np.ndarray:
    """pre_process_vgg of the MLPerf reference, minus the BGR->RGB swap (input is RGB)."""
    h, w = resized_shape(img.shape[0], img.shape[1], params.resize_shorter)
    img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
    top, left = crop_origin(h, w, params.size)
    img = img[top:top + params.size, left:left + params.size]
    img = np.asarray(img, dtype="float32")
    img -= np.array(params.mean, dtype=np.float32)
    return img.transpose([2, 0, 1])


def time_paths(paths: dict, images: list[np.ndarray], reps: int, params: PreprocessParams) -> dict:
    batch = np.empty((len(images), *params.output_shape), np.float32)
    best = {name: float("inf") for name in paths}
    for _ in range(reps):
        for name, (setup, run) in paths.items():
            setup()
            start = time.perf_counter()
            for i, img in enumerate(images):
                run(img, batch[i])
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: len(images) / seconds for name, seconds in best.items()}


def throughput(images: list[np.ndarray], reps: int) -> None:
    params = PreprocessParams()

    def native(img, row):
        preprocess_image(img, params, out=row)

    def numpy_path(img, row):
        row[...] = reference_preprocess_image(img, params)

    paths = {"cython kernels": (lambda: None, native), "numpy path": (lambda: None, numpy_path)}
    try:
        import cv2
    except ImportError:
        print("cv2 not installed: OpenCV rows skipped (pip install opencv-python-headless)")
    else:
        default_threads = cv2.getNumThreads()

        def opencv(img, row):
            row[...] = opencv_reference(cv2, img, params)

        paths["opencv, 1 thread"] = (lambda: cv2.setNumThreads(1), opencv)
        paths[f"opencv, {default_threads} threads (default)"] = (
            lambda: cv2.setNumThreads(default_threads), opencv)
        got, want = np.empty(params.output_shape, np.float32), np.empty(params.output_shape, np.float32)
        native(images[0], got)
        opencv(images[0], want)
        assert np.array_equal(got, want), "native output differs from OpenCV's"

    rates = time_paths(paths, images, reps, params)
    names = list(rates)
    width = max(map(len, names))
    versus = names[1:3]  # the numpy path and single-threaded OpenCV
    print(f"\n{len(images)} images, one thread each unless said, best of {reps} interleaved "
          "repetitions, decode excluded")
    print(f"{'path':<{width}}  {'images/s':>9}  " + "  ".join(f"{'vs ' + n:>{len(n) + 3}}" for n in versus))
    for name in names:
        ratios = "  ".join(f"{rates[name] / rates[other]:>{len(other) + 2}.2f}x" for other in versus)
        print(f"{name:<{width}}  {rates[name]:>9.0f}  {ratios}")


def jpeg(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def decode(data: bytes, draft_size: int | None) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as img:
        if draft_size:
            img.draft("RGB", (draft_size, draft_size))
        return np.asarray(img.convert("RGB"))


def draft_effect(groups: list[tuple[str, list[bytes]]], params: PreprocessParams, reps: int) -> None:
    print(f"\nJPEG decode per image (Pillow) without and with draft('RGB', ({params.resize_shorter}, "
          f"{params.resize_shorter})), and how far draft moves the preprocessed float output "
          "(in uint8 levels; std is 1)")
    print(f"{'images':<28} {'full ms':>8} {'draft ms':>9} {'max diff':>9} {'mean diff':>10} "
          f"{'>2 levels':>10}")
    for name, jpegs in groups:
        seconds = {None: 0.0, params.resize_shorter: 0.0}
        diffs = []
        for data in jpegs:
            decoded = {}
            for size in seconds:
                best = float("inf")
                for _ in range(reps):
                    start = time.perf_counter()
                    decoded[size] = decode(data, size)
                    best = min(best, time.perf_counter() - start)
                seconds[size] += best
            full, drafted = (preprocess_image(decoded[size], params) for size in seconds)
            diffs.append(np.abs(full - drafted).ravel())
        diff = np.concatenate(diffs)
        full_ms, draft_ms = (1e3 * s / len(jpegs) for s in seconds.values())
        print(f"{name:<28} {full_ms:>8.2f} {draft_ms:>9.2f} {diff.max():>9.1f} {diff.mean():>10.3f} "
              f"{100 * (diff > 2).mean():>9.2f}%")


def jpeg_groups(images: list[np.ndarray], seed: int) -> list[tuple[str, list[bytes]]]:
    """The benchmark images, a real photo if matplotlib ships one, and large synthetic ones
    (draft only scales JPEGs whose sides are at least twice the requested size)."""
    rng = np.random.default_rng(seed + 1)
    groups = [(f"the {len(images)} above (mean)", [jpeg(img) for img in images])]
    try:
        from matplotlib import cbook

        with cbook.get_sample_data("grace_hopper.jpg") as f:
            groups.append(("grace_hopper.jpg, 512x600", [f.read()]))
    except (ImportError, OSError, ValueError):
        pass
    groups += [(f"synthetic {w}x{h}", [jpeg(natural_image(rng, h, w))]) for w, h in LARGE]
    return groups


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200, help="images per repetition (default 200)")
    parser.add_argument("--reps", type=int, default=5, help="interleaved repetitions (default 5)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    images = make_images(args.n, args.seed)
    shapes = sorted({f"{i.shape[1]}x{i.shape[0]}" for i in images})
    print(f"synthetic RGB images, seed {args.seed}: {', '.join(shapes)}")
    throughput(images, args.reps)
    draft_effect(jpeg_groups(images, args.seed), PreprocessParams(), args.reps)


if __name__ == "__main__":
    main()
