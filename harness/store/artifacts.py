"""Content-addressed model files: a file's name is the hash of what produced it,
so a rerun finds its trained and compressed models without any bookkeeping."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Artifacts:
    root: Path

    def path(self, kind: str, key: str, suffix: str) -> Path:
        return self.root / kind / f"{key}.{suffix}"

    def get(self, kind: str, key: str, suffix: str) -> tuple[Path, dict[str, Any]] | None:
        """The cached file and its metadata, if both were written completely."""
        path = self.path(kind, key, suffix)
        meta = path.with_suffix(".json")
        if path.is_file() and meta.is_file():
            return path, json.loads(meta.read_text())
        return None

    def put(self, kind: str, key: str, suffix: str, data: bytes, meta: dict[str, Any]) -> Path:
        """Write file then metadata, each atomically: a crash never leaves a half cache entry."""
        path = self.path(kind, key, suffix)
        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(path, data)
        _atomic_write(path.with_suffix(".json"), json.dumps(meta, sort_keys=True).encode())
        return path


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
