"""What the sweep reports as it goes: the driver calls these; the CLI draws them (a bar or
log lines, harness.cli.progress); a library caller may pass QuietProgress."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def begin(self, total: int) -> None: ...
    def advance(self, label: str) -> None: ...
    def note(self, message: str) -> None: ...


class QuietProgress:
    def begin(self, total: int) -> None:
        pass

    def advance(self, label: str) -> None:
        pass

    def note(self, message: str) -> None:
        pass
