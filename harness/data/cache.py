"""The preprocessed sample cache: every image decoded and preprocessed once, on all cores.

Layout: <cache>/preprocessed/<key>/samples.npy (one row per dataset index) and
manifest.json, written last. The key covers the file list (names, sizes, mtimes),
the preprocessing parameters and the cache format, so a changed dataset or spec
builds a new cache instead of reusing a stale one. The manifest also names the code
that computed the samples: a cache from another harness or preprocessing version,
or with a damaged samples.npy, is rebuilt in place.

A build happens in a temporary directory renamed into place on success, under a
lock: a half-written cache is never used, and the temporary directory of a build
that was killed is removed by the next one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from harness import __version__
from harness._native import preprocess as _native_preprocess
from harness.data import preprocess as _preprocess
from harness.data.imagenet import Dataset
from harness.data.preprocess import PreprocessParams, decode_image, preprocess_image
from harness.errors import HarnessError
from harness.files import atomic_write_json, exclusive
from harness.lifetime import as_child_of, children_starting
from harness.progress import bar as progress_bar
from harness.progress import note

FORMAT_VERSION = 1
SAMPLES = "samples.npy"
MANIFEST = "manifest.json"
CHUNK = 64


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


def _code_fingerprint() -> str:
    """The preprocessing code's identity: changing it changes the samples."""
    h = hashlib.sha256()
    for module in (_preprocess, _native_preprocess):
        h.update(Path(module.__file__).read_bytes())
    return h.hexdigest()[:16]


def _manifest(dataset: Dataset, params: PreprocessParams) -> dict:
    manifest = {"format": FORMAT_VERSION, "harness_version": __version__, "code": _code_fingerprint(),
                "params": asdict(params), "root": str(dataset.root), "count": len(dataset),
                "first": dataset.files[0], "last": dataset.files[-1],
                "shape": [len(dataset), *params.output_shape], "dtype": params.dtype}
    return json.loads(json.dumps(manifest))  # as read back: tuples become lists


def _open_complete(final: Path, manifest: dict) -> np.ndarray | None:
    """The cache at `final` as a read-only memory map if it is complete and matches `manifest`."""
    try:
        if json.loads((final / MANIFEST).read_text()) != manifest:
            return None
        samples = np.load(final / SAMPLES, mmap_mode="r")
    except (OSError, ValueError):  # absent, unreadable or truncated: not a usable cache
        return None
    if samples.shape != tuple(manifest["shape"]) or samples.dtype != np.dtype(manifest["dtype"]):
        return None
    return samples


def open_cache(dataset: Dataset, params: PreprocessParams, cache_dir: Path,
               workers: int | None = None, progress: bool = True) -> np.ndarray:
    """The dataset's preprocessed samples as a read-only memory map, built if needed."""
    final = cache_dir / "preprocessed" / cache_key(dataset, params)
    manifest = _manifest(dataset, params)
    samples = _open_complete(final, manifest)
    if samples is not None:
        return samples
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        waiting = f"another harness process is preprocessing this dataset into {final}; waiting for it"
        with exclusive(final.parent / f".{final.name}.lock", lambda: note(waiting, progress)):
            samples = _open_complete(final, manifest)  # another process built it while we waited
            if samples is not None:
                note(f"using the preprocessed cache it built, {final}", progress)
            else:
                _build_in_place(final, dataset, params, manifest, workers, progress)
                samples = np.load(final / SAMPLES, mmap_mode="r")
    except OSError as exc:
        raise HarnessError(f"cannot write the preprocessed cache under {final.parent} "
                           f"({exc.strerror}); free disk space or set HARNESS_CACHE elsewhere") from None
    except BrokenProcessPool:
        raise HarnessError(f"a preprocessing process died while writing the cache under {final.parent} "
                           "(out of memory?); retry with fewer other processes running") from None
    return samples


def _build_in_place(final: Path, dataset: Dataset, params: PreprocessParams, manifest: dict,
                    workers: int | None, progress: bool) -> None:
    """Build into a temporary directory, then replace `final` with it. Call with the lock held."""
    for stale in final.parent.glob(f".{final.name}.build-*"):  # from a build that was killed
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.build-"))
    try:
        _build(dataset, params, tmp / SAMPLES, workers, progress)
        atomic_write_json(tmp / MANIFEST, manifest)  # last: only a complete cache has one
        if final.exists():  # out of date or damaged; readers that mapped it keep their copy
            shutil.rmtree(final)
        tmp.rename(final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _build(dataset: Dataset, params: PreprocessParams, path: Path, workers: int | None,
           progress: bool) -> None:
    dtype = np.dtype(params.dtype)
    shape = (len(dataset), *params.output_shape)
    needed = int(np.prod(shape)) * dtype.itemsize
    free = shutil.disk_usage(path.parent).free
    if needed > free:
        raise HarnessError(f"the preprocessed cache needs {_size(needed)} but {path.parent.parent} has "
                           f"{_size(free)} free; free space or set HARNESS_CACHE elsewhere")
    np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape).flush()
    with open(path, "r+b") as f:
        # Reserve the blocks now: a disk that fills up meanwhile is ENOSPC here, not a
        # SIGBUS in a worker writing to the sparse memory map.
        os.posix_fallocate(f.fileno(), 0, os.fstat(f.fileno()).st_size)
    chunks = [(i, list(dataset.files[i:i + CHUNK])) for i in range(0, len(dataset), CHUNK)]
    workers = workers or len(os.sched_getaffinity(0))
    note(f"preprocessing {len(dataset):,} images ({_size(needed)}) into the cache in {path.parent.parent} with "
         f"{workers} process{'es' if workers > 1 else ''}; once for this dataset and model spec", progress)
    started = time.monotonic()
    bar = progress_bar(progress, total=len(dataset), desc="preprocessing", unit="img")
    try:
        if workers == 1:
            for start, names in chunks:
                bar.update(_fill(str(path), str(dataset.root), names, start, params))
        else:
            _fill_in_pool(path, dataset, params, chunks, workers, bar)
    finally:
        bar.close()
    note(f"preprocessed {len(dataset):,} images in {time.monotonic() - started:.0f} s", progress)


def _fill_in_pool(path: Path, dataset: Dataset, params: PreprocessParams, chunks: list, workers: int,
                  bar) -> None:
    # spawn: workers must not inherit inference-runtime threads from the parent.
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=as_child_of,
                             initargs=(os.getpid(),)) as pool:
        with children_starting():  # submit() starts the workers
            futures = [pool.submit(_fill, str(path), str(dataset.root), names, start, params)
                       for start, names in chunks]
        try:
            for future in futures:
                bar.update(future.result())
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def _size(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e8 else f"{n / 1e6:.2f} MB"
