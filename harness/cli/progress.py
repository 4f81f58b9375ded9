"""The sweep's progress on stderr: a labelled bar on a terminal, dated lines elsewhere.

A nightly job logs to a file, where click's bar prints nothing; there every stage note and
every finished candidate (every 5% of them in a large sweep) is one line with the elapsed time.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any, TextIO

import click

LINES_PER_SWEEP = 20  # a large sweep prints a candidate line every total / 20 candidates
EVERY_CANDIDATE = 50  # up to this many candidates, each gets its own line


class BarProgress:
    """click's progress bar, its item text the current stage note or candidate."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.bar: Any = None
        self.current = ""

    def begin(self, total: int) -> None:
        self.bar = click.progressbar(
            length=total, label="sweep", file=self.stream, show_pos=True,
            item_show_func=lambda _: self.current,
        )  # fmt: skip
        self.bar.__enter__()

    def advance(self, label: str) -> None:
        self.current = label
        self.bar.update(1)

    def note(self, message: str) -> None:
        self.current = message
        if self.bar is not None:
            self.bar.render_progress()  # update(0) would not redraw: no step was made

    def end(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


class LineProgress:
    """One line per stage note and per finished candidate (or per 5% of a large sweep)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        self.total = 0
        self.done = 0
        self.every = 1

    def _line(self, text: str) -> None:
        elapsed = int(time.monotonic() - self.started)
        click.echo(f"[{elapsed // 60:02d}:{elapsed % 60:02d}] {text}", file=self.stream)

    def begin(self, total: int) -> None:
        self.total = total
        self.every = 1 if total <= EVERY_CANDIDATE else math.ceil(total / LINES_PER_SWEEP)
        self._line(f"sweep: {total} candidates to measure")

    def advance(self, label: str) -> None:
        self.done += 1
        if self.done % self.every == 0 or self.done == self.total:
            self._line(f"{self.done}/{self.total} {label}")

    def note(self, message: str) -> None:
        self._line(message)

    def end(self) -> None:
        pass


def make_progress(stream: TextIO | None = None) -> BarProgress | LineProgress:
    """A bar where a person watches a terminal, lines where a log file is written."""
    stream = stream or sys.stderr
    return BarProgress(stream) if stream.isatty() else LineProgress(stream)
