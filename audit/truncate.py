"""The accuracy log as a submission carries it: a hash of the whole log, and its two ends.

The official truncate_accuracy_log.py appends `hash=<sha256 of the full log>` to
accuracy.txt and keeps the first and last 4096 characters of a log of 10 KiB or
more, joined by a "..." line; smaller logs stay whole. Reviewers check the hash
against the full log, which the submitter keeps.
"""

from __future__ import annotations

from pathlib import Path

from audit.rules import MAX_ACCURACY_LOG_BYTES
from harness.files import atomic_write_bytes, sha256_file

VIEWABLE_BYTES = 4096
ELISION = b"\n\n...\n\n"


def truncate_accuracy_log(source: Path, dest: Path) -> str:
    """Write the truncated log to dest; return the sha256 of the full source log."""
    digest = sha256_file(source)
    data = Path(source).read_bytes()
    if len(data) >= MAX_ACCURACY_LOG_BYTES:
        data = data[:VIEWABLE_BYTES] + ELISION + data[-VIEWABLE_BYTES:]
    atomic_write_bytes(dest, data)
    return digest


def hash_line(digest: str) -> str:
    return f"hash={digest}\n"
