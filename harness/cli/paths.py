"""Output folders checked before a sweep starts: a sweep of an hour must not end in
"cannot write the site" when that was knowable at the first second."""

from __future__ import annotations

import os
from pathlib import Path

from harness.errors import HarnessError


def check_writable(folder: Path, option: str) -> None:
    """`folder` exists (made if needed) and this process may write in it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HarnessError(
            f"{option} {folder}: cannot create it ({exc.strerror or exc}); choose a writable folder"
        ) from None
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise HarnessError(f"{option} {folder}: not a writable folder; choose another")


def check_site_target(site_dir: Path) -> None:
    """The site is written beside `site_dir` and swapped in: its parent must be writable,
    and an existing folder must be one harness wrote."""
    from harness.report.site import check_replaceable

    check_writable(site_dir.resolve().parent, "--site")
    check_replaceable(site_dir)
