"""Child processes end with the harness process that started them.

A harness killed outright (SIGKILL, the out-of-memory killer) runs no cleanup: without
this, its LoadGen child would go on running a test nobody records for up to its full
duration, and idle preprocessing workers would wait forever for work.
"""

from __future__ import annotations

import ctypes
import os
import signal

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(parent_pid: int) -> None:
    """Have the kernel SIGKILL this process when `parent_pid`, its parent, exits.

    Call first thing in a child started from the parent's main thread: the kernel
    watches the thread that created the child, not the whole parent process.
    """
    if ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent_pid:  # the parent was gone before the request took effect
        os._exit(1)
