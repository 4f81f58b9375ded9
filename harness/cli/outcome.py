"""How a command ends: the exit status and the last lines a user (or a nightly job) reads.

0: everything asked for was done and every candidate was measured.
2: bad input (a config, data file, model file, store or path), one line saying what.
3: the sweep completed, but some candidates failed; the count and the first reasons.
130 / 143: stopped by SIGINT / SIGTERM; the run is marked interrupted and resumable.
"""

from __future__ import annotations

import shlex
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from harness.errors import HarnessError

EXIT_BAD_INPUT = 2
EXIT_FAILED_CANDIDATES = 3
# A flood of problems (400,000 unknown keys) is summarised, and a giant value cut short.
MAX_ERROR_LINES = 20
MAX_LINE_CHARS = 400
FIRST_REASONS = 3


def error_lines(message: str) -> list[str]:
    """A HarnessError's lines, at most MAX_ERROR_LINES of at most MAX_LINE_CHARS each."""
    lines = message.splitlines() or [""]
    shown = [_cut(line) for line in lines[:MAX_ERROR_LINES]]
    if len(lines) > MAX_ERROR_LINES:
        shown.append(f"... and {len(lines) - MAX_ERROR_LINES:,} more problems not shown")
    return shown


def _cut(line: str) -> str:
    if len(line) <= MAX_LINE_CHARS:
        return line
    return f"{line[:MAX_LINE_CHARS]}... ({len(line) - MAX_LINE_CHARS:,} more characters)"


def as_user_error(exc: BaseException) -> HarnessError | None:
    """Errors from the system that the user fixes (a path, a disk, a store), as one line;
    None for anything else (a bug, which keeps its traceback)."""
    if isinstance(exc, HarnessError):
        return exc
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        what = exc.strerror or str(exc)
        return HarnessError(f"{where}{what}; check the path, its permissions and free disk space")
    if isinstance(exc, sqlite3.DatabaseError):
        return HarnessError(
            f"the results store cannot be read or written ({exc}); check --db, free disk "
            "space, or restore the store from a backup"
        )
    if isinstance(exc, MemoryError):
        return HarnessError("ran out of memory; use smaller data, batches or models")
    return None


def resume_hint(command: str, options: dict[str, Any], defaults: dict[str, Any]) -> str:
    """The command line that resumes an interrupted sweep: the same command and options."""
    words = ["harness", command]
    if options.get("config") is not None:
        words.append(str(options["config"]))
    for name, value in options.items():
        if name != "config" and value is not None and value != defaults.get(name):
            words += [f"--{name.replace('_dir', '').replace('_', '-')}", str(value)]
    return " ".join(shlex.quote(w) for w in words)


def report_interrupt(
    signal_name: str, run_id: int | None, stored: int, total: int, hint: str
) -> None:
    where = (
        f"run {run_id} is marked interrupted with {stored} of {total} candidates stored"
        if run_id is not None
        else "no run was started"
    )
    click.echo(f"harness: interrupted by {signal_name}; {where}", err=True)
    click.echo(f"resume with: {hint}", err=True)


def failed_summary(records: Sequence[Any], site: Path | None = None) -> int:
    """Print how many candidates failed and the first reasons; the exit status to use."""
    failed = [r for r in records if r.status == "failed"]
    if not failed:
        return 0
    click.echo(f"{len(failed)} of {len(records)} candidates failed; first reasons:", err=True)
    for r in failed[:FIRST_REASONS]:
        label = f"{r.model} / {r.policy} / {r.compression} / {r.runtime}"
        click.echo(f"  {label}: {_cut(r.error or 'no reason recorded')}", err=True)
    more = f"; every reason is on {site / 'index.html'}" if site is not None else ""
    click.echo(f"exit status {EXIT_FAILED_CANDIDATES}: some candidates failed{more}", err=True)
    return EXIT_FAILED_CANDIDATES
