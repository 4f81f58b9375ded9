"""Content hashes: an artifact's id is the hash of the spec that produced it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def hash_spec(spec: Any, length: int = 16) -> str:
    """sha256 of the canonical JSON of `spec`, shortened; same spec, same id."""
    text = json.dumps(spec, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def hash_bytes(data: bytes, length: int = 16) -> str:
    return hashlib.sha256(data).hexdigest()[:length]


def hash_path(path: Path) -> str:
    """sha256 of a file's bytes, or of a folder's files (relative names and bytes, in name
    order): what a dataset on disk holds, so editing it changes every key built on it."""
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        if file != path:
            digest.update(file.relative_to(path).as_posix().encode() + b"\0")
        with file.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()
