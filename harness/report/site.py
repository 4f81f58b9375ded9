"""Write a rendered site to disk all at once: a failed write leaves the previous site as it was."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.errors import HarnessError

PLOTLY_JS = "assets/plotly.min.js"
# Written into every site; only a folder holding it (or an empty one) is ever replaced.
MARKER = ".harness-site"


def plotly_js_path() -> Path:
    """The plotly.js bundle that ships inside the plotly Python package."""
    from importlib.resources import files

    path = Path(str(files("plotly") / "package_data" / "plotly.min.js"))
    if not path.is_file():
        raise HarnessError(f"plotly.js not found at {path}; reinstall plotly")
    return path


SiteFile = str | bytes | Path  # text, bytes, or a file to copy (model files can be large)


def write_site(files: dict[str, SiteFile], out_dir: Path) -> Path:
    """Write `files` (relative path -> content) plus plotly.js into a fresh folder beside
    out_dir, then swap it in for out_dir. Returns out_dir."""
    with staged_site(Path(out_dir)) as staging:
        write_files(files, staging)
    return Path(out_dir)


@contextmanager
def staged_site(out_dir: Path) -> Iterator[Path]:
    """A fresh folder beside out_dir to write a site into; when the block ends, plotly.js
    and the marker are added and the folder is swapped in for out_dir. An error (or a
    signal) in the block removes it and leaves out_dir as it was."""
    out_dir = Path(out_dir)
    check_replaceable(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(
        tempfile.mkdtemp(prefix=f".{out_dir.name}.new-{os.getpid()}-", dir=out_dir.parent)
    )
    try:
        yield staging
        (staging / PLOTLY_JS).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(plotly_js_path(), staging / PLOTLY_JS)
        (staging / MARKER).write_text("written by harness report; replaced on every build\n")
        os.chmod(staging, 0o755)  # mkdtemp makes it private; a site is meant to be read
        _swap(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def write_files(files: dict[str, SiteFile], staging: Path) -> None:
    """Write `files` (relative path -> content) under `staging`, never outside it."""
    folders: set[Path] = set()
    for rel, content in sorted(files.items()):
        if Path(rel).is_absolute() or ".." in Path(rel).parts:
            raise HarnessError(f"refusing to write {rel!r} outside the site folder")
        target = staging / rel
        if target.parent not in folders:
            target.parent.mkdir(parents=True, exist_ok=True)
            folders.add(target.parent)
        if isinstance(content, Path):
            shutil.copyfile(content, target)
        else:
            target.write_bytes(content if isinstance(content, bytes) else content.encode())


def check_replaceable(out_dir: Path) -> None:
    """Only a folder harness wrote (or an empty one) is ever replaced by a new site."""
    if out_dir.exists() and not _replaceable(out_dir):
        raise HarnessError(
            f"{out_dir} exists and was not written by harness; choose another --site folder "
            "or remove it"
        )


def _replaceable(out_dir: Path) -> bool:
    return out_dir.is_dir() and ((out_dir / MARKER).is_file() or not any(out_dir.iterdir()))


def _swap(staging: Path, out_dir: Path) -> None:
    """Rename the old site away, the new one in, then delete the old one."""
    if not out_dir.exists():
        staging.rename(out_dir)
        return
    old = staging.with_name(staging.name.replace(".new-", ".old-", 1))
    out_dir.rename(old)
    try:
        staging.rename(out_dir)
    except BaseException:
        old.rename(out_dir)
        raise
    shutil.rmtree(old, ignore_errors=True)
