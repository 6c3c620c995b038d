"""A deterministic synthetic dataset in ImageNet validation layout.

Images vary in size, aspect ratio and content (gradients, shapes, noise) so the
preprocessing path does the same work it does on real photos. Labels are seeded
random classes: they exercise the accuracy path, not the model's knowledge.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from harness.data.imagenet import VAL_MAP
from harness.files import exclusive
from harness.progress import bar, note

SIZES = ((500, 375), (375, 500), (500, 333), (640, 480), (333, 500), (256, 256), (800, 600), (300, 200))
FORMAT_VERSION = 1


def _image(rng: np.random.Generator) -> Image.Image:
    w, h = SIZES[rng.integers(len(SIZES))]
    scale = rng.uniform(0.8, 1.25)
    w, h = max(32, int(w * scale)), max(32, int(h * scale))
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    t = (x / w * rng.uniform(-1, 1) + y / h * rng.uniform(-1, 1)) % 1.0
    pixels = c0 + (c1 - c0) * t[..., None] + rng.normal(0, 12, (h, w, 3))
    img = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(rng.integers(2, 8)):
        box = sorted(rng.integers(0, w, 2)) + sorted(rng.integers(0, h, 2))
        color = tuple(int(v) for v in rng.integers(0, 256, 3))
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape((box[0], box[2], box[1], box[3]), fill=color)
    return img


def make_synthetic_dataset(root: Path, count: int = 1024, seed: int = 0, num_classes: int = 1000,
                           progress: bool = True) -> Path:
    """Generate `count` JPEGs and val_map.txt under root, unless already complete.

    Built in a temporary sibling directory and renamed into place, so an interrupted
    build never leaves a half dataset that looks complete. Under a lock: two runs started
    together build it once. Both would write the same images, but with other mtimes, which
    key the preprocessed cache, so each would then preprocess its own copy.
    """
    root = Path(root)
    if (root / VAL_MAP).is_file():
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    waiting = f"another harness process is generating the synthetic dataset {root}; waiting for it"
    with exclusive(root.parent / f".{root.name}.lock", lambda: note(waiting, progress)):
        if (root / VAL_MAP).is_file():
            return root
        for stale in root.parent.glob(f".{root.name}.build-*"):  # from a build that was killed
            shutil.rmtree(stale, ignore_errors=True)
        note(f"generating the synthetic dataset: {count:,} JPEGs into {root}; once per cache", progress)
        _generate(root, count, seed, num_classes, progress)
    return root


def _generate(root: Path, count: int, seed: int, num_classes: int, progress: bool) -> None:
    tmp = Path(tempfile.mkdtemp(dir=root.parent, prefix=f".{root.name}.build-"))
    try:
        rng = np.random.default_rng(seed)
        lines = []
        for i in bar(progress, iterable=range(count), desc="generating", unit="img"):
            name = f"SYNTH_{i:08d}.JPEG"
            _image(rng).save(tmp / name, quality=int(rng.integers(75, 96)))
            lines.append(f"{name} {int(rng.integers(num_classes))}\n")
        (tmp / VAL_MAP).write_text("".join(lines))
        if root.exists():
            shutil.rmtree(root)
        tmp.rename(root)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def synthetic_dataset_dir(cache: Path, count: int, seed: int = 0) -> Path:
    return cache / "datasets" / f"synthetic-v{FORMAT_VERSION}-seed{seed}-n{count}"
