"""Errors the CLI turns into one line and a non-zero exit.

Each message names the offending file, key or value and says what to do.
"""


class HarnessError(Exception):
    """A user-facing failure: bad input, impossible request, broken environment."""

    exit_code = 2


class ConfigError(HarnessError):
    """A configuration file, key, value or flag is wrong."""


class ModelError(HarnessError):
    """A model file is missing, unreadable or does not match its spec."""


class DatasetError(HarnessError):
    """A dataset directory, val_map.txt or image is missing or unusable."""


class PlacementError(HarnessError):
    """A requested instance layout cannot be placed on this machine's CPUs."""


class RunFailed(HarnessError):
    """A benchmark run started but did not complete (worker failure, signal)."""

    exit_code = 3


class RunInterrupted(RunFailed):
    """SIGINT or SIGTERM stopped a run; the exit code is 128 + the signal number, as a shell's."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.exit_code = 128 + signum


def one_line(exc: BaseException) -> str:
    """A user-facing error's message, or any other exception's type and first line."""
    text = str(exc) if isinstance(exc, HarnessError) else f"{type(exc).__name__}: {exc}"
    return next((line for line in text.splitlines() if line.strip()), type(exc).__name__)
