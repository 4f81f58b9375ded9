"""Options that keep a command's files inside the test's own folder."""

from __future__ import annotations

from pathlib import Path


def folder_args(folder: Path) -> list[str]:
    """--db, --artifacts and --site inside `folder`."""
    return [
        "--db", str(folder / "r.db"),
        "--artifacts", str(folder / "art"),
        "--site", str(folder / "site"),
    ]  # fmt: skip
