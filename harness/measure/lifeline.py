"""No orphans: a worker process (training or measurement) dies with the sweep that
started it, even when that sweep is killed with SIGKILL and cannot clean up.

On Linux the kernel does it: PR_SET_PDEATHSIG delivers SIGKILL to the worker when its
parent exits. Elsewhere the parent's own cleanup (on SIGINT/SIGTERM) is what stops them.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing import resource_tracker

PARENT_ENV = "HARNESS_PARENT_PID"
PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    """Ask the kernel to kill this process when its parent exits; exit now if the parent
    is already gone (it may have died before this call could be made)."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):
            pass  # no prctl: the parent's cleanup still stops this process on SIGINT/SIGTERM
    if os.getppid() != parent_pid:
        os._exit(1)


def die_with_parent_from_env() -> None:
    """die_with_parent() for a subprocess started with PARENT_ENV set (the measure worker)."""
    value = os.environ.get(PARENT_ENV, "")
    if value.isdigit():
        die_with_parent(int(value))


def worker_env() -> dict[str, str]:
    """The environment of a worker subprocess: this one's, plus who its parent is."""
    return {**os.environ, PARENT_ENV: str(os.getpid())}


@contextmanager
def sigint_blocked() -> Iterator[None]:
    """Start workers inside this block: they begin life with SIGINT blocked (a signal mask
    survives fork and exec) and call ignore_sigint() once running, so Ctrl-C, which reaches
    the whole process group, cannot kill a worker still importing its libraries.

    Blocked, not ignored, here: a SIGINT arriving in the window stays pending and is
    handled when the block ends. Setting SIG_IGN here instead lost it whenever another
    thread of this process (a runtime's or a pool's) took the signal in the window."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    # multiprocessing starts its resource tracker on the first spawn and then UNBLOCKS
    # SIGINT whatever the mask was: start it first, so it cannot undo this block.
    resource_tracker.ensure_running()
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def ignore_sigint() -> None:
    """In a worker started under sigint_blocked(): ignore Ctrl-C from now on (its parent
    stops it) and drop one that arrived while it started."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
