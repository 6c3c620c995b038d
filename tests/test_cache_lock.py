"""Processes that need the same preprocessed cache at once build it once, under its lock.

The build is held until every process has looked for the cache and not found it, so each
of them would build it without the lock: no timing decides whether they overlap.
"""

import multiprocessing
import time
from pathlib import Path

import numpy as np

from harness.config.modelspec import spec_from
from harness.data import cache
from harness.data.imagenet import read_dataset
from harness.data.preprocess import params_for

from tinymodels import COLOUR_SPEC

PROCESSES = 3
PARAMS = params_for(spec_from("embedded", COLOUR_SPEC))
STUCK_S = 60  # only a harness that no longer looks before locking keeps a build waiting this long


def open_together(dataset: str, cache_dir: str, missed, builds, out: str) -> None:
    """In a process of its own: open the cache, counting the first miss and every build."""
    look, build = cache._open_complete, cache._build_in_place
    first_look = [True]

    def counted_look(final, manifest):
        samples = look(final, manifest)
        if first_look[0] and samples is None:
            with missed.get_lock():
                missed.value += 1
        first_look[0] = False
        return samples

    def held_build(*args, **kwargs):
        with builds.get_lock():
            builds.value += 1
        deadline = time.monotonic() + STUCK_S
        while missed.value < PROCESSES and time.monotonic() < deadline:
            time.sleep(0.01)
        return build(*args, **kwargs)

    cache._open_complete, cache._build_in_place = counted_look, held_build
    samples = cache.open_cache(read_dataset(Path(dataset), 3), PARAMS, Path(cache_dir), workers=1, progress=False)
    np.save(out, np.asarray(samples))


def test_concurrent_builds_build_once(colour_data, tmp_path):
    spawn = multiprocessing.get_context("spawn")  # as the harness starts its own processes
    missed, builds = spawn.Value("i", 0), spawn.Value("i", 0)
    outs = [tmp_path / f"samples{i}.npy" for i in range(PROCESSES)]
    processes = [spawn.Process(target=open_together,
                               args=(str(colour_data), str(tmp_path / "cache"), missed, builds, str(out)))
                 for out in outs]
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout=300)
    assert [p.exitcode for p in processes] == [0] * PROCESSES
    assert missed.value == PROCESSES  # every process found no cache ...
    assert builds.value == 1  # ... and one built it while the others waited for the lock
    first = np.load(outs[0])
    assert first.shape == (60, 3, 32, 32) and all(np.array_equal(np.load(out), first) for out in outs[1:])
    built = [p.name for p in (tmp_path / "cache" / "preprocessed").iterdir()]
    assert len([name for name in built if not name.startswith(".")]) == 1
    assert not [name for name in built if ".build-" in name]  # no half-built directory left behind
