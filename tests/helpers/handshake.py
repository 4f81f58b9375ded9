"""Jobs that see each other through files, to show which ran at the same time as which
without timing anything: one waits for a file another job writes."""

from __future__ import annotations

import time
from pathlib import Path


def touch(path: str) -> str:
    Path(path).write_text("done")
    return path


def wait_for(path: str, patience: float = 60.0) -> str:
    """ "saw it" once `path` exists; "gave up" after `patience` s (the writer never ran
    while this job did): a failing test then ends instead of hanging."""
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        if Path(path).exists():
            return "saw it"
        time.sleep(0.01)
    return "gave up"
