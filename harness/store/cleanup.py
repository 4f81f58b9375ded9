"""What `harness gc` may delete, and how much disk the store and the cache take.

Garbage is what no stored run refers to: cached models no candidate row (or the model it
was made from) points at, temporary folders of harness processes that are gone, and
staging folders a killed `report` left beside the site. A folder that belongs to a live
process is never garbage: its name carries that process's id.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

# Temporary folders harness processes make in $TMPDIR: "harness-<what>-<pid>-<random>".
TEMP_PREFIXES = ("harness-eval-", "harness-measure-", "harness-bench-", "harness-aeq-",
                 "harness-ort-int8-")  # fmt: skip
_PID = re.compile(r"-(\d+)-[^-]*$")
_TMP_PID = re.compile(r"\.(\d+)\.tmp$")  # Artifacts' atomic writes: ".<name>.<pid>.tmp"


@dataclass(frozen=True)
class Garbage:
    path: Path
    size: int  # bytes
    why: str


def tree_size(path: Path) -> int:
    """Bytes of a file, or of every file under a folder (links not followed)."""
    if path.is_symlink() or path.is_file():
        return path.lstat().st_size
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += (Path(root) / name).lstat().st_size
            except OSError:
                pass  # removed while counting
    return total


def store_size(db: Path) -> int:
    """The store file plus its write-ahead log and shared-memory files."""
    return sum(p.stat().st_size for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")) if p.is_file())


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: alive
    return True


# A folder named without a process id (older versions) is left alone for this long.
UNOWNED_GRACE_SECONDS = 3600


def _owner_gone(path: Path) -> bool:
    match = _PID.search(path.name)
    if match is None:
        try:
            return time.time() - path.stat().st_mtime > UNOWNED_GRACE_SECONDS
        except OSError:
            return False
    return not pid_alive(int(match.group(1)))


def kept_artifacts(root: Path, referenced: Iterable[str]) -> set[Path]:
    """Every cache file a stored candidate needs: its model file, the compressed model a
    converted one came from, the trained model (and weights) behind that, and each one's
    metadata file."""
    root = root.resolve()
    keep: set[Path] = set()
    unlinked_compressed = False
    todo = [Path(p).resolve() for p in referenced]
    while todo:
        path = todo.pop()
        if root not in path.parents or path in keep:
            continue
        meta_path = path.with_suffix(".json")
        keep.update({path, meta_path})
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            continue
        kind = path.parent.name
        if kind == "tflite" and isinstance(meta.get("source"), str):
            todo.append(root / "compressed" / f"{meta['source']}.onnx")
        elif kind == "compressed":
            trained = meta.get("trained")
            if isinstance(trained, str):
                todo.append(root / "trained" / f"{trained}.onnx")
                todo.append(root / "state" / f"{trained}.pt")
            else:
                unlinked_compressed = True
    if unlinked_compressed:
        # Written before compressed models named their source: keep every trained model.
        for kind in ("trained", "state"):
            keep.update(p.resolve() for p in (root / kind).glob("*") if p.is_file())
    return keep


def artifact_garbage(root: Path, referenced: Iterable[str]) -> list[Garbage]:
    if not root.is_dir():
        return []
    keep = kept_artifacts(root, referenced)
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() or p.is_symlink()):
        if path.resolve() in keep:
            continue
        writer = _TMP_PID.search(path.name)
        if writer is not None and pid_alive(int(writer.group(1))):
            continue  # being written by a live process
        found.append(Garbage(path, tree_size(path), "cached model no stored run refers to"))
    return found


def temp_garbage(tmp_dir: Path) -> list[Garbage]:
    """Temporary folders of harness processes that are no longer running."""
    found = []
    for path in sorted(tmp_dir.glob("harness-*")):
        if path.is_dir() and path.name.startswith(TEMP_PREFIXES) and _owner_gone(path):
            found.append(Garbage(path, tree_size(path), "temporary folder of a finished process"))
    return found


def site_garbage(site_dir: Path) -> list[Garbage]:
    """Staging folders (`.site.new-*`, `.site.old-*`) a stopped `report` left behind."""
    found = []
    for kind in ("new", "old"):
        for path in sorted(site_dir.parent.glob(f".{site_dir.name}.{kind}-*")):
            if path.is_dir() and _owner_gone(path):
                found.append(Garbage(path, tree_size(path), "unfinished site build"))
    return found


def remove(garbage: Sequence[Garbage]) -> int:
    """Delete every item; the bytes freed."""
    freed = 0
    for item in garbage:
        if item.path.is_dir() and not item.path.is_symlink():
            shutil.rmtree(item.path, ignore_errors=True)
        else:
            item.path.unlink(missing_ok=True)
        freed += item.size
    return freed
