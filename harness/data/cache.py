"""The preprocessed sample cache: every image decoded and preprocessed once, on all cores.

Layout: <cache>/preprocessed/<key>/samples.npy (one row per dataset index) and
manifest.json, written last. The key covers the file list (names, sizes, mtimes),
the preprocessing parameters and the cache format, so a changed dataset or spec
builds a new cache instead of reusing a stale one. A build happens in a temporary
directory renamed into place on success: a half-written cache is never used.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from tqdm import tqdm

from harness.data.imagenet import Dataset
from harness.errors import HarnessError
from harness.files import atomic_write_json
from harness.preprocess import PreprocessParams, decode_image, preprocess_image

FORMAT_VERSION = 1
SAMPLES = "samples.npy"
MANIFEST = "manifest.json"
CHUNK = 64


def sample_shape(params: PreprocessParams) -> tuple[int, int, int]:
    s = params.size
    return (3, s, s) if params.layout == "NCHW" else (s, s, 3)


def cache_key(dataset: Dataset, params: PreprocessParams) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({"format": FORMAT_VERSION, "params": asdict(params),
                         "root": str(dataset.root.resolve())}, sort_keys=True).encode())
    for name in dataset.files:
        st = (dataset.root / name).stat()
        h.update(f"{name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:24]


def _fill(path: str, root: str, names: list[str], start: int, params: PreprocessParams) -> int:
    rows = np.load(path, mmap_mode="r+")
    for offset, name in enumerate(names):
        rows[start + offset] = preprocess_image(decode_image(Path(root) / name), params)
    rows.flush()
    return len(names)


def open_cache(dataset: Dataset, params: PreprocessParams, cache_dir: Path,
               workers: int | None = None, progress: bool = True) -> np.ndarray:
    """The dataset's preprocessed samples as a read-only memory map, built if needed."""
    final = cache_dir / "preprocessed" / cache_key(dataset, params)
    if (final / MANIFEST).is_file():
        return np.load(final / SAMPLES, mmap_mode="r")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}."))
    try:
        _build(dataset, params, tmp / SAMPLES, workers, progress)
        atomic_write_json(tmp / MANIFEST, {
            "format": FORMAT_VERSION, "params": asdict(params), "root": str(dataset.root),
            "count": len(dataset), "first": dataset.files[0], "last": dataset.files[-1]})
        try:
            tmp.rename(final)
        except OSError:  # another process finished the same cache first
            if not (final / MANIFEST).is_file():
                raise
    except OSError as exc:
        raise HarnessError(f"cannot write the preprocessed cache under {final.parent} "
                           f"({exc.strerror}); free disk space or set HARNESS_CACHE elsewhere") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return np.load(final / SAMPLES, mmap_mode="r")


def _build(dataset: Dataset, params: PreprocessParams, path: Path, workers: int | None,
           progress: bool) -> None:
    dtype = np.dtype(params.dtype)
    shape = (len(dataset), *sample_shape(params))
    needed = int(np.prod(shape)) * dtype.itemsize
    free = shutil.disk_usage(path.parent).free
    if needed > free:
        raise HarnessError(f"the preprocessed cache needs {needed / 1e9:.1f} GB but {path.parent} has "
                           f"{free / 1e9:.1f} GB free; free space or set HARNESS_CACHE elsewhere")
    np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape).flush()
    chunks = [(i, list(dataset.files[i:i + CHUNK])) for i in range(0, len(dataset), CHUNK)]
    workers = workers or len(os.sched_getaffinity(0))
    bar = tqdm(total=len(dataset), desc="preprocessing", unit="img", disable=not progress,
               leave=False)
    try:
        if workers == 1:
            for start, names in chunks:
                bar.update(_fill(str(path), str(dataset.root), names, start, params))
            return
        # spawn: workers must not inherit inference-runtime threads from the parent.
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            futures = [pool.submit(_fill, str(path), str(dataset.root), names, start, params)
                       for start, names in chunks]
            try:
                for future in futures:
                    bar.update(future.result())
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
    finally:
        bar.close()
