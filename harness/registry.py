"""A name -> implementation registry, shared by passes, ops, runtimes, datasets and models.

Heavy implementations are registered as "module:attribute" strings so that listing
names never imports torch, onnxruntime or LiteRT.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


def nearest(name: str, choices: list[str]) -> str:
    """A ' (did you mean 'x'?)' suffix for an unknown name, or ''."""
    close = difflib.get_close_matches(name, choices, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


class Registry(Generic[T]):
    """Maps names to objects or to lazily imported "module:attr" paths."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T | str] = {}

    def register(self, name: str, entry: T | str) -> None:
        if name in self._entries:
            raise ValueError(f"{self.kind} '{name}' is already registered")
        self._entries[name] = entry

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def names(self) -> list[str]:
        return sorted(self._entries)

    def unknown_message(self, name: str) -> str:
        """One line naming the unknown entry, what is allowed, and the nearest match."""
        return (
            f"unknown {self.kind} '{name}'{nearest(name, self.names())}; "
            f"choose from: {', '.join(self.names())}"
        )

    def get(self, name: str) -> T:
        if name not in self._entries:
            raise KeyError(self.unknown_message(name))
        entry = self._entries[name]
        if isinstance(entry, str):
            module, _, attr = entry.partition(":")
            entry = getattr(importlib.import_module(module), attr)
            self._entries[name] = entry
        return entry

    def unregister(self, name: str) -> None:
        """Remove an entry (tests register temporary ones)."""
        self._entries.pop(name, None)
