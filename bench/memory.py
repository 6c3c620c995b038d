"""Peak memory of opening the preprocessed cache and loading the performance set.

    python bench/memory.py [--entries 10000] [--size 224] [--load 1024] [--dir DIR] [--keep] [--json]

Writes a synthetic cache of ENTRIES float32 3xSIZExSIZE rows directly as a .npy file
(10,000 x 224 x 224 is 6.0 GB; the full ImageNet validation set would be 50,000, 30 GB),
then, in a fresh process, memory-maps it as a run's LoadGen process does (np.load with
mmap_mode="r") and loads LOAD random samples through harness.loadgen.qsl.SampleStore, as LoadGen
asks for the performance set. It reports that process's peak RSS (VmHWM) over its RSS
before opening the cache, next to the sizes of the cache and of the loaded set: what a
run costs in memory should follow the set, whatever the size of the cache.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, uninstalled

CHUNK = 256  # rows written at a time: the writer's memory stays small too
MARGIN = 2e9  # bytes of disk left free after writing the cache


def write_cache(path: Path, entries: int, size: int) -> int:
    """A .npy of `entries` rows; row i is all i, so loaded rows can be checked. Returns its bytes."""
    shape = (entries, 3, size, size)
    needed = int(np.prod(shape)) * 4
    free = shutil.disk_usage(path.parent).free
    if needed + MARGIN > free:
        raise SystemExit(f"{entries} entries need {needed / 1e9:.1f} GB; {path.parent} has {free / 1e9:.1f} GB "
                         "free: pass fewer --entries or another --dir")
    chunk = np.empty((CHUNK, *shape[1:]), np.float32)
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": shape})
        for start in range(0, entries, CHUNK):
            n = min(CHUNK, entries - start)
            chunk[:n] = np.arange(start, start + n, dtype=np.float32)[:, None, None, None]
            chunk[:n].tofile(f)
        f.flush()
        os.fsync(f.fileno())
        # Out of the page cache: the measured process reads from disk, as a run after a reboot.
        os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
    return path.stat().st_size


def _status() -> dict[str, int]:
    """Bytes of VmHWM, VmRSS, RssAnon and RssFile from /proc/self/status."""
    values = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
            values[key] = int(rest.split()[0]) * 1024
    return values


def measure(path: Path, load: int, seed: int = 0) -> dict:
    """In this process: open the cache, load `load` random samples into one copy per NUMA
    node with usable CPUs, as a run on all of them does; RSS figures in bytes."""
    from harness.cpu.topology import read_topology
    from harness.loadgen.qsl import SampleStore

    topology = read_topology()
    nodes = {n.id: tuple(sorted(n.cpus & topology.usable_cpus)) for n in topology.nodes
             if n.cpus & topology.usable_cpus}
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS: imports do not count
    before = _status()
    cache = np.load(path, mmap_mode="r")
    opened = _status()
    store = SampleStore(cache, nodes)
    indices = np.random.default_rng(seed).choice(len(cache), load, replace=False)
    store.load(indices.tolist())
    loaded = _status()
    for node in nodes:  # the loaded rows are the asked-for samples
        for i in indices[:: max(1, load // 16)]:
            assert (store.rows_for(node)[store.slot_of[i]] == i).all()
    return {"cache_bytes": path.stat().st_size, "set_bytes": int(load * cache[0].nbytes), "copies": len(nodes),
            "open_growth": opened["VmHWM"] - before["VmRSS"], "load_growth": loaded["VmHWM"] - before["VmRSS"],
            "anon_growth": loaded["RssAnon"] - before["RssAnon"], "file_growth": loaded["RssFile"] - before["RssFile"]}


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--load", type=int, default=1024, help="performance set size (mlperf.conf: 1024)")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--keep", action="store_true", help="keep the cache file for another run")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # the fresh process
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.load)))
        return

    path = args.dir / f"harness-memory-{args.entries}x{args.size}.npy"
    try:
        if not path.exists():
            write_cache(path, args.entries, args.size)
        done = subprocess.run([sys.executable, __file__, "--measure", str(path), "--load", str(args.load)],
                              capture_output=True, text=True, check=True)
    finally:
        if not args.keep:
            path.unlink(missing_ok=True)
    figures = json.loads(done.stdout)
    if args.json:
        print(json.dumps(figures))
        return
    cache, loaded = figures["cache_bytes"], figures["load_growth"]
    print(f"cache: {args.entries:,} x 3x{args.size}x{args.size} float32 = {cache / 1e9:.2f} GB, memory-mapped")
    print(f"performance set: {args.load:,} samples = {_mb(figures['set_bytes'])}, "
          f"{figures['copies']} cop{'y' if figures['copies'] == 1 else 'ies'} (one per NUMA node)")
    print(f"peak RSS growth opening the cache: {_mb(figures['open_growth'])}")
    print(f"peak RSS growth loading the set:   {_mb(loaded)} = {loaded / figures['set_bytes']:.2f} x the set, "
          f"{loaded / cache:.3f} x the cache")
    print(f"  of which the loaded copy (anonymous) {_mb(figures['anon_growth'])}, "
          f"mapped cache pages read (file-backed, reclaimable) {_mb(figures['file_growth'])}")


if __name__ == "__main__":
    main()
