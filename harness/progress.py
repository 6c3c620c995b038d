"""What a user sees while something long happens: a bar on a terminal, plain lines elsewhere.

A progress bar redraws itself several times a second. On a terminal each frame replaces
the last; in a file or a pipe every frame stays, so there a long step says what it does
in one plain line instead. Everything here goes to stderr: stdout carries results.
"""

from __future__ import annotations

import sys

from tqdm import tqdm


def on_terminal() -> bool:
    stream = sys.stderr
    return stream is not None and hasattr(stream, "isatty") and stream.isatty()


def note(text: str, show: bool = True) -> None:
    """One plain line on stderr; `show` False (--no-progress) keeps quiet."""
    if show:
        print(text, file=sys.stderr, flush=True)


def bar(show: bool, **options) -> tqdm:
    """A tqdm bar when `show` and stderr is a terminal; otherwise one that draws nothing
    (its counts still work)."""
    return tqdm(disable=not (show and on_terminal()), leave=False, **options)
