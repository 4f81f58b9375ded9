"""Progress reaches a log file as dated lines, and a terminal as a labelled bar."""

from __future__ import annotations

import io
import re

from harness.cli.progress import BarProgress, LineProgress, make_progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_file_gets_a_line_per_note_and_candidate() -> None:
    out = io.StringIO()
    progress = make_progress(out)
    assert isinstance(progress, LineProgress)
    progress.begin(3)
    progress.note("training cnn under policy none")
    for label in ("a", "b", "c"):
        progress.advance(label)
    lines = out.getvalue().splitlines()
    assert [re.sub(r"^\[\d\d:\d\d\] ", "", line) for line in lines] == [
        "sweep: 3 candidates to measure",
        "training cnn under policy none",
        "1/3 a",
        "2/3 b",
        "3/3 c",
    ]
    assert all(re.match(r"^\[00:0\d\] ", line) for line in lines)


def test_a_large_sweep_logs_every_twentieth_and_the_last() -> None:
    out = io.StringIO()
    progress = LineProgress(out)
    progress.begin(101)  # every ceil(101 / 20) = 6 candidates, and the 101st
    for n in range(101):
        progress.advance(f"c{n}")
    counted = [line.split()[1] for line in out.getvalue().splitlines()[1:]]
    assert counted == [f"{k}/101" for k in range(6, 101, 6)] + ["101/101"]


def test_a_terminal_gets_a_bar_that_shows_the_stage_note() -> None:
    out = Terminal()
    progress = make_progress(out)
    assert isinstance(progress, BarProgress)
    progress.begin(4)
    progress.note("training 2 models, 2 at a time")
    assert "training 2 models, 2 at a time" in out.getvalue()
    assert "sweep" in out.getvalue() and "0/4" in out.getvalue()
    progress.advance("cnn · none · fp32 · litert")
    progress.end()
    assert "1/4" in out.getvalue()
