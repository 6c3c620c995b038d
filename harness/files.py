"""Where harness keeps its files, and how it writes them without losing any."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from harness.errors import HarnessError


def cache_root() -> Path:
    """The cache directory: $HARNESS_CACHE, else ~/.cache/harness."""
    env = os.environ.get("HARNESS_CACHE")
    root = Path(env) if env else Path.home() / ".cache" / "harness"
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=root, prefix=".probe-")
        probe.close()
    except OSError as exc:
        raise HarnessError(
            f"cache directory {root} is not writable ({exc.strerror}); "
            "set HARNESS_CACHE to a writable directory") from None
    return root


def configs_dir() -> Path:
    """configs/: beside the package in a checkout, packaged as harness.configs in a wheel."""
    checkout = Path(__file__).resolve().parent.parent / "configs"
    if (checkout / "defaults.toml").is_file():
        return checkout
    from importlib import resources

    return Path(str(resources.files("harness.configs")))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write via a temporary file and rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)  # mkstemp's 0600 would hide results from other users
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: Path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def new_dir(root: Path, base: str, what: str) -> Path:
    """root/base, or root/base-N when that is taken: never a directory another run or sweep has,
    even when two start in the same second (mkdir is the atomic test)."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        for n in range(1, 10_000):
            path = root / (base if n == 1 else f"{base}-{n}")
            try:
                path.mkdir()
                return path
            except FileExistsError:
                continue
    except OSError as exc:  # a file in the way, a read-only mount, no permission, a full disk
        blocker = next((p for p in (root, *root.parents) if p.exists()), root)
        reason = f"{blocker} is not a directory" if not blocker.is_dir() else exc.strerror
        raise HarnessError(f"cannot create a {what} directory under {root} ({reason}); "
                           "choose another --output-dir") from None
    raise HarnessError(f"cannot create a new {what} directory under {root}")


@contextmanager
def exclusive(lock: Path, on_wait: Callable[[], None] | None = None):
    """Hold an exclusive lock on the file `lock`, created if absent: one build of a cached
    thing at a time. The kernel releases it if its holder dies. `on_wait` is called once
    when another process holds it, before waiting for it."""
    with open(lock, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(f, fcntl.LOCK_EX)
        yield
