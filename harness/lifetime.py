"""Child processes end with the harness process that started them.

A harness killed outright (SIGKILL, the out-of-memory killer) runs no cleanup: without
this, its LoadGen child would go on running a test nobody records for up to its full
duration, and idle preprocessing workers would wait forever for work. And a Ctrl-C or
SIGTERM that lands while a child is starting must neither kill it half-started nor reach it
before the parent has decided how the run ends.
"""

from __future__ import annotations

import ctypes
import os
import signal
import threading
from contextlib import contextmanager

_PR_SET_PDEATHSIG = 1  # linux/prctl.h
_HELD = {signal.SIGINT, signal.SIGTERM}


@contextmanager
def children_starting():
    """Hold SIGINT and SIGTERM while child processes are started.

    multiprocessing's spawn writes a child's start data down a pipe after the child exists.
    A signal handler that raises in the middle of that write leaves the child reading a
    half-written pipe, and it dies printing a traceback onto the user's terminal. So the
    main thread's handlers only note a signal here, and it is raised again on the way out.
    Blocking the signals as well means the children, which inherit this thread's mask,
    take none before as_child_of has decided what they do with them.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # Python runs signal handlers in the main thread only: nothing to hold here
        return
    received = []
    previous = {s: signal.signal(s, lambda signum, _frame: received.append(signum)) for s in _HELD}
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        for s, handler in previous.items():
            signal.signal(s, handler)
        if received:
            signal.raise_signal(received[0])  # now the handler that was in place takes it


def die_with_parent(parent_pid: int) -> None:
    """Have the kernel SIGKILL this process when `parent_pid`, its parent, exits.

    Call first thing in a child started from the parent's main thread: the kernel
    watches the thread that created the child, not the whole parent process.
    """
    if ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent_pid:  # the parent was gone before the request took effect
        os._exit(1)


def as_child_of(parent_pid: int) -> None:
    """First thing in every child: leave Ctrl-C to the parent, which decides how a run ends;
    die with the parent; then take the signals children_starting held."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(parent_pid)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _HELD)
