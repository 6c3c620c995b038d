"""Audit errors: one line naming the file, key or value and what to do (see harness.errors)."""

from harness.errors import HarnessError


class AuditError(HarnessError):
    """A run directory, submission tree or formal run cannot be audited as asked."""
