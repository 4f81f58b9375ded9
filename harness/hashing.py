"""Content hashes: an artifact's id is the hash of the spec that produced it."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def hash_spec(spec: Any, length: int = 16) -> str:
    """sha256 of the canonical JSON of `spec`, shortened; same spec, same id."""
    text = json.dumps(spec, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def hash_bytes(data: bytes, length: int = 16) -> str:
    return hashlib.sha256(data).hexdigest()[:length]
