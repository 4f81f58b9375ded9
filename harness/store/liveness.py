"""Is a run live? A sweep holds an exclusive lock, one per config, beside the store while
it runs; the kernel drops the lock when the process ends, however it ends (even kill -9).

So a second sweep of the same config is refused instead of measuring everything twice
at once, and a run still marked `running` whose lock is free is known to be interrupted.
"""

from __future__ import annotations

import fcntl
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from harness.errors import StoreError


def lock_path(db: Path, config_hash: str) -> Path:
    return db.with_name(f"{db.name}.locks") / f"{config_hash[:24]}.lock"


class RunLock:
    """The lock a live sweep of one config holds; `acquire` refuses a second holder."""

    def __init__(self, db: Path, config_hash: str) -> None:
        self.path = lock_path(db, config_hash)
        self._handle: IO[str] | None = None

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = self.path.open("a+")
        except OSError as exc:
            raise StoreError(
                f"{self.path.parent}: cannot write the run lock beside the store "
                f"({exc.strerror}); choose a writable --db path"
            ) from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise StoreError(
                f"a sweep of this config is already running on this store ({holder}); "
                "wait for it to finish or stop it, then run again to resume"
            ) from None
        handle.seek(0)
        handle.truncate()
        started = datetime.now(UTC).isoformat(timespec="seconds")
        handle.write(f"process {os.getpid()}, started {started}")
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


def is_live(db: Path, config_hash: str) -> bool:
    """True while some process holds the run lock of this config on this store."""
    path = lock_path(db, config_hash)
    try:
        with path.open("r") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle, fcntl.LOCK_UN)
    except OSError:
        return False
    return False


def shown_status(db: Path, status: str, config_hash: str) -> str:
    """A `running` run with nobody holding its lock was killed: show it as interrupted."""
    if status == "running" and not is_live(db, config_hash):
        return "interrupted"
    return status
