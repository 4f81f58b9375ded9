"""Workers start with Ctrl-C blocked, not ignored in the sweep: a SIGINT that arrives while
a worker is being started must still stop the sweep (it was lost when another thread of
the sweep took it while SIGINT was set to SIG_IGN for the start)."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from multiprocessing import get_context
from multiprocessing.connection import Connection

import pytest

from harness.measure.lifeline import ignore_sigint, sigint_blocked

SIGINT_BIT = 1 << (signal.SIGINT - 1)


@pytest.fixture(autouse=True)
def sigint_handled() -> Iterator[None]:
    """SIGINT handled as in a sweep, whatever this test process inherited: a shell starts
    a background job (as CI may run the suite) with SIGINT ignored."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def _mask(field: str) -> int:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith(field + ":"))
    return int(line.split()[1], 16)


def _report(conn: Connection) -> None:
    before = (_mask("SigBlk") & SIGINT_BIT, _mask("SigIgn") & SIGINT_BIT)
    ignore_sigint()
    after = (_mask("SigBlk") & SIGINT_BIT, _mask("SigIgn") & SIGINT_BIT)
    conn.send((before, after))


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads Linux's /proc")
def test_a_worker_starts_with_sigint_blocked_then_ignores_it() -> None:
    ctx = get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    with sigint_blocked():
        process = ctx.Process(target=_report, args=(send,))
        process.start()
    assert _mask("SigBlk") & SIGINT_BIT == 0  # the sweep itself is back to normal
    before, after = receive.recv()
    process.join(30)
    assert before == (SIGINT_BIT, 0)  # blocked from exec: pending, not lost, not fatal
    assert after == (0, SIGINT_BIT)  # then ignored: its parent stops it


def test_a_sigint_during_a_worker_start_is_not_lost_while_other_threads_run() -> None:
    stop = threading.Event()
    busy = threading.Thread(target=lambda: [None for _ in iter(stop.is_set, True)], daemon=True)
    busy.start()  # a thread that does not block SIGINT, as runtimes' and pools' threads
    try:
        with pytest.raises(KeyboardInterrupt):
            with sigint_blocked():
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.2)
            time.sleep(2)  # handled by now at the latest
    finally:
        stop.set()
        busy.join(5)
