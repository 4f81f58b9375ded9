"""Opening a results store safely: a file that is not a harness store, or a damaged one,
becomes one StoreError line naming the file and the fix, never a raw sqlite3 traceback."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from harness.errors import StoreError

# The tables each schema version holds (run_extras came with version 2; 3 added columns;
# 4 the latency rounds; 5 added columns).
# A version not listed (a migration added since) is checked against the newest entry.
TABLES_BY_VERSION: dict[int, frozenset[str]] = {
    1: frozenset({"runs", "candidates"}),
    2: frozenset({"runs", "candidates", "run_extras"}),
    3: frozenset({"runs", "candidates", "run_extras"}),
    4: frozenset({"runs", "candidates", "run_extras", "latency_rounds"}),
    5: frozenset({"runs", "candidates", "run_extras", "latency_rounds"}),
}
SQLITE_MAGIC = b"SQLite format 3\x00"


def damaged(path: Path, exc: BaseException) -> StoreError:
    """The error for a store SQLite cannot read (corrupt, truncated, not a database)."""
    return StoreError(
        f"{path}: the results store cannot be read ({exc}); restore it from a backup, "
        "or point --db at another file (a new one is created)"
    )


def check_file(path: Path) -> None:
    """Refuse, before SQLite touches it, a path that is a folder, a special file or a
    file that does not start like an SQLite database."""
    if path.is_dir():
        raise StoreError(f"{path}: is a folder; --db takes the path of a results file")
    if path.exists() and not path.is_file():
        raise StoreError(f"{path}: not a regular file; --db takes the path of a results file")
    if not path.is_file():
        return
    try:
        with path.open("rb") as handle:
            head = handle.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise StoreError(f"{path}: cannot read the results store ({exc.strerror})") from None
    if head and head != SQLITE_MAGIC:
        raise StoreError(
            f"{path}: not an SQLite results store (it starts with {head[:8]!r}); "
            "point --db at a results store or at a new file"
        )


def connect(path: Path) -> sqlite3.Connection:
    """An open connection in WAL mode with foreign keys on, or a StoreError."""
    check_file(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(
            f"{path.parent}: cannot create the store's folder ({exc.strerror}); "
            "choose a writable --db path"
        ) from None
    try:
        db = sqlite3.connect(path, timeout=30)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA foreign_keys=ON")
    except sqlite3.OperationalError as exc:
        raise StoreError(
            f"{path}: cannot open the results store ({exc}); choose a writable --db path"
        ) from None
    except sqlite3.DatabaseError as exc:
        raise damaged(path, exc) from None
    return db


def check_tables(db: sqlite3.Connection, path: Path, version: int) -> None:
    """A store at `version` must hold that version's tables; a version-0 file must be empty
    (a new store) rather than some other program's database."""
    try:
        names = {
            row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
    except sqlite3.DatabaseError as exc:
        raise damaged(path, exc) from None
    if version == 0:
        if names:
            shown = ", ".join(sorted(names)[:5])
            raise StoreError(
                f"{path}: an SQLite database of another program (tables: {shown}), not a "
                "harness results store; point --db at a results store or at a new file"
            )
        return
    missing = sorted(
        TABLES_BY_VERSION.get(version, TABLES_BY_VERSION[max(TABLES_BY_VERSION)]) - names
    )
    if missing:
        raise StoreError(
            f"{path}: the results store lacks table(s) {', '.join(missing)}; it is damaged: "
            "restore it from a backup, or point --db at a new file"
        )
