"""Memory: the preprocessed cache is memory-mapped, never read whole, and loading the
performance set costs memory in proportion to the set, not to the cache."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from harness.config.modelspec import spec_from
from harness.data.cache import open_cache
from harness.data.imagenet import read_dataset
from harness.data.preprocess import params_for

from tinymodels import COLOUR_SPEC, colour_dataset

BENCH = Path(__file__).resolve().parents[1] / "bench" / "memory.py"


def test_open_cache_maps_the_samples_read_only(tmp_path):
    spec = spec_from("embedded", COLOUR_SPEC)
    dataset = read_dataset(colour_dataset(tmp_path / "data", 4), spec.num_classes)
    samples = open_cache(dataset, params_for(spec), tmp_path / "cache", workers=1, progress=False)
    assert isinstance(samples, np.memmap) and samples.mode == "r"


def test_loading_the_performance_set_costs_the_set_not_the_cache(tmp_path):
    # 8,000 cached samples, 128 loaded: the ratio of ImageNet's 50,000 to LoadGen's 1,024.
    done = subprocess.run([sys.executable, str(BENCH), "--entries", "8000", "--size", "64", "--load", "128",
                           "--dir", str(tmp_path), "--json"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    m = json.loads(done.stdout)
    assert m["cache_bytes"] > 390e6 and m["set_bytes"] == 128 * 3 * 64 * 64 * 4
    assert m["open_growth"] < 1e6  # mapping reads nothing
    # The loaded copies are the set; pages of the map read on the way are file-backed
    # and reclaimable. All of it together stays a small fraction of the cache.
    assert m["anon_growth"] < 1.25 * m["copies"] * m["set_bytes"] + 4e6
    assert m["load_growth"] < m["cache_bytes"] / 4
    assert list(tmp_path.iterdir()) == []  # the bench removes its cache
