"""<division>/<submitter>/src: the harness source behind a submission's results, and how to rerun it.

MLPerf wants the code that produced the results in the submission. The tree gets the
source as installed when it is packaged: the packages harness and audit, the Cython
sources and the default configs they are built with, and a MANIFEST.sha256 of every
file whose own sha256 identifies the source. A git checkout adds its commit and
whether the copied files differ from it. Scenarios added to a tree later must come
from the same source.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import harness
from audit.errors import AuditError
from harness.files import atomic_write_bytes, atomic_write_text

SOURCE_DIRS = ("harness", "audit", "ext", "configs")
TOP_FILES = ("setup.py", "pyproject.toml", "README.md")
SUFFIXES = (".py", ".pyx", ".pxd", ".toml")
MANIFEST = "MANIFEST.sha256"


def source_root() -> Path:
    """The directory holding the harness package: the checkout of an editable install."""
    return Path(harness.__file__).resolve().parent.parent


def source_files(root: Path) -> list[Path]:
    """The files to copy, relative to root; no caches, hidden files or compiled objects."""
    found = []
    for top in SOURCE_DIRS:
        for path in sorted((root / top).rglob("*")):
            rel = path.relative_to(root)
            if (path.is_file() and path.suffix in SUFFIXES
                    and not any(part.startswith((".", "__pycache__")) for part in rel.parts)):
                found.append(rel)
    return found + [Path(f) for f in TOP_FILES if (root / f).is_file()]


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_state(root: Path) -> str:
    """One line: the commit the source is at, and whether the copied files differ from it."""
    if not (root / ".git").exists():
        return "not a git checkout"
    commit = _git(root, "rev-parse", "HEAD")
    if commit is None:
        return "git commit unknown (git could not read the checkout)"
    changes = _git(root, "status", "--porcelain", "--", *SOURCE_DIRS, *TOP_FILES)
    return f"git commit {commit}" + (", with uncommitted changes in the copied files" if changes else ", clean")


def _manifest(root: Path, files: list[Path]) -> str:
    return "".join(f"{hashlib.sha256((root / rel).read_bytes()).hexdigest()}  {rel.as_posix()}\n" for rel in files)


def source_hash(manifest: str) -> str:
    return hashlib.sha256(manifest.encode()).hexdigest()


def _readme(round_: str, digest: str, git: str, versions: dict, commands: list[str]) -> str:
    lines = ["# harness: the source behind these results", "",
             f"MLPerf Inference round {round_} (the seeds of the mlperf.conf compiled into "
             f"mlcommons-loadgen {versions.get('mlcommons-loadgen')}).", "",
             f"- harness {harness.__version__}; source sha256 {digest} (the sha256 of {MANIFEST}, "
             "which lists the sha256 of every file here)",
             f"- {git}",
             "- software: " + ", ".join(f"{name} {version}" for name, version in versions.items()), "",
             "## Rerun", "",
             "From this directory: `pip install -e .` (builds the Cython extension in ext/), then:", "",
             "```", *commands, "```", "",
             "Each results/<system>/resnet50/<Scenario>/README.md gives the exact command of its scenario."]
    return "\n".join(lines) + "\n"


def write_source(dest: Path, round_: str, versions: dict, commands: list[str], root: Path | None = None) -> str:
    """Copy the source to dest (once per tree); return its sha256. Another source already there is an error."""
    root = root or source_root()
    files = source_files(root)
    manifest = _manifest(root, files)
    digest = source_hash(manifest)
    existing = dest / MANIFEST
    if existing.is_file():
        found = source_hash(existing.read_text())
        if found != digest:
            raise AuditError(f"{dest} holds another harness source (sha256 {found[:12]}…, this one {digest[:12]}…); "
                             "results of one tree must come from one source: package into a new --out")
        return digest
    for rel in files:
        atomic_write_bytes(dest / rel, (root / rel).read_bytes())
    atomic_write_text(dest / MANIFEST, manifest)
    atomic_write_text(dest / "SOURCE.md", _readme(round_, digest, git_state(root), versions, commands))
    return digest
