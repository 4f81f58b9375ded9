"""SIGINT and SIGTERM stop a sweep cleanly: the signal becomes an exception in the main
thread, so every `finally` runs (workers are killed, the run is marked `interrupted`),
and the command exits 128 + the signal number (130, 143) with a hint how to resume."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(KeyboardInterrupt):
    """Raised by a stop signal; a KeyboardInterrupt, so `except Exception` lets it through."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.reported = False  # set once the sweep has said which run stopped

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block, the first stop signal raises Interrupted; later ones are ignored
    so the cleanup it starts (a few store writes) is not cut short."""
    seen: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        if not seen:
            seen.append(signum)
            raise Interrupted(signum)

    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
