"""Signals held while children start, and what a child inherits."""

import multiprocessing
import os
import signal
import threading
import time

from harness.lifetime import as_child_of, children_starting


def _signal_masks(pid: int | str = "self") -> tuple[int, int]:
    """(blocked, ignored) signal bit masks of a process, from /proc."""
    fields = dict(line.split(":\t", 1) for line in open(f"/proc/{pid}/status").read().splitlines() if ":\t" in line)
    return int(fields["SigBlk"], 16), int(fields["SigIgn"], 16)


def _bit(signum: int) -> int:
    return 1 << (signum - 1)


def _report_masks(parent_pid: int, out) -> None:
    as_child_of(parent_pid)
    out.put(_signal_masks())


def test_a_signal_during_children_starting_arrives_after_it():
    seen = []
    previous = signal.signal(signal.SIGTERM, lambda signum, _frame: seen.append(signum))
    # Another thread that does not block the signal, as the harness has (tqdm's monitor, the
    # pool's manager): the kernel may hand it the signal, and Python still runs the handler
    # in the main thread.
    other_done = threading.Event()
    other = threading.Thread(target=other_done.wait)
    other.start()
    try:
        with children_starting():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.1)  # time for a handler to run, were it going to
            assert seen == []
        assert seen == [signal.SIGTERM]
    finally:
        other_done.set()
        other.join()
        signal.signal(signal.SIGTERM, previous)


def test_a_child_started_while_signals_are_held_takes_sigterm_and_leaves_sigint_to_the_parent():
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    with children_starting():
        child = ctx.Process(target=_report_masks, args=(os.getpid(), out))
        child.start()
    blocked, ignored = out.get(timeout=60)
    child.join(timeout=60)
    assert child.exitcode == 0
    assert blocked & (_bit(signal.SIGTERM) | _bit(signal.SIGINT)) == 0
    assert ignored & _bit(signal.SIGINT)
    assert _signal_masks()[0] & _bit(signal.SIGTERM) == 0  # the parent's mask is back too
