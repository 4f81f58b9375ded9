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
