"""Datasets in the ImageNet validation layout: image files plus val_map.txt ("file label")."""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.errors import DatasetError

VAL_MAP = "val_map.txt"


@dataclass(frozen=True)
class Dataset:
    root: Path
    files: tuple[str, ...]  # relative to root, in val_map order: index i is qsl_idx i
    labels: np.ndarray  # int32, one per file
    synthetic: bool

    def __len__(self) -> int:
        return len(self.files)

    def to_json(self) -> dict:
        return {"root": str(self.root), "count": len(self), "synthetic": self.synthetic}


def read_dataset(root: Path, num_classes: int, count: int | None = None,
                 synthetic: bool = False) -> Dataset:
    """Read val_map.txt; every listed file must exist, every label must be a class index."""
    root = Path(root)
    val_map = root / VAL_MAP
    if not root.is_dir():
        raise DatasetError(f"dataset directory {root} does not exist; pass --dataset DIR in ImageNet "
                           f"validation layout (images plus {VAL_MAP})")
    if not val_map.is_file():
        raise DatasetError(f"{val_map} is missing; a dataset needs a {VAL_MAP} with lines 'file label'")
    # Windows editors save UTF-8 with a byte-order mark; left in, it would become part of
    # the first file's name, invisibly.
    data = val_map.read_bytes().removeprefix(codecs.BOM_UTF8)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise DatasetError(f"{val_map} line {line} is not UTF-8; re-save the file as UTF-8") from None
    files: list[str] = []
    labels: list[int] = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2:
            raise DatasetError(f"{val_map} line {lineno}: expected 'file label', got {line.strip()!r}")
        name, label_text = parts
        try:
            label = int(label_text)
        except ValueError:
            raise DatasetError(f"{val_map} line {lineno}: label {label_text!r} is not an integer") from None
        if not 0 <= label < num_classes:
            raise DatasetError(f"{val_map} line {lineno}: label {label} is outside 0..{num_classes - 1} "
                               "for this model; check the model's label offset (--label-offset)")
        if name in seen:
            raise DatasetError(f"{val_map} line {lineno}: {name} is listed twice (first on line "
                               f"{seen[name]}); remove the duplicate")
        seen[name] = lineno
        files.append(name)
        labels.append(label)
        if count is not None and len(files) == count:
            break
    if not files:
        raise DatasetError(f"{val_map} lists no images")
    if count is not None and len(files) < count:
        raise DatasetError(f"--count {count} asks for more images than {val_map} lists ({len(files)})")
    missing = [f for f in files if not (root / f).is_file()]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        first = str(root / missing[0])
        shown = first if first.isprintable() else repr(first)  # an invisible character, made visible
        raise DatasetError(f"{shown}{more} listed in {val_map} not found; "
                           "restore the files or remove their lines (indices must not shift silently)")
    return Dataset(root=root, files=tuple(files), labels=np.asarray(labels, dtype=np.int32),
                   synthetic=synthetic)
