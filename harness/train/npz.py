"""Reading a user's .npz safely: every array's header is checked before its data is read.

numpy allocates an array from the shape its header declares before reading a byte of it,
so a corrupt or hostile header ("10^12 floats") would ask for terabytes. Here each
member's declared size is compared with what the zip holds and with the machine's
memory first, and every way a damaged file can fail becomes one DataError line.
"""

from __future__ import annotations

import math
import os
import tokenize
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from harness.errors import DataError

# Deflate cannot expand data more than about 1032:1; a member claiming more is corrupt.
MAX_DEFLATE_RATIO = 1100
# Errors numpy and zipfile raise on damaged files (checked by tests/test_npz_fuzz.py).
# (numpy parses a header with Python's tokenizer, hence TokenError and SyntaxError.)
READ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, KeyError,
               NotImplementedError, OverflowError, TypeError, UnicodeDecodeError,
               SyntaxError, tokenize.TokenError, RecursionError)  # fmt: skip


@dataclass(frozen=True)
class ArrayHeader:
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


def memory_limit() -> int:
    """The largest array worth trying to load: half the machine's physical memory."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")) // 2
    except (ValueError, OSError, AttributeError):
        return 8 * 1024**3


def _read_header(handle: IO[bytes]) -> tuple[tuple[int, ...], np.dtype]:
    version = np.lib.format.read_magic(handle)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(handle)
    elif version in ((2, 0), (3, 0)):
        shape, _, dtype = np.lib.format.read_array_header_2_0(handle)
    else:
        raise ValueError(f"unknown .npy format version {version}")
    return tuple(int(n) for n in shape), np.dtype(dtype)


def _check_member(path: Path, info: zipfile.ZipInfo, header: ArrayHeader, limit: int) -> None:
    name = header.name
    if header.dtype.hasobject:
        raise DataError(f"{path}: array '{name}' holds Python objects; save numeric arrays")
    if any(n < 0 for n in header.shape):
        raise DataError(f"{path}: array '{name}' declares a negative shape {header.shape}")
    if header.nbytes > info.file_size:
        raise DataError(
            f"{path}: array '{name}' declares shape {header.shape} ({header.nbytes:,} bytes) but "
            f"the file holds {info.file_size:,}; the file is truncated or corrupt"
        )
    if header.nbytes > limit:
        raise DataError(
            f"{path}: array '{name}' is {header.nbytes:,} bytes, more than half this machine's "
            "memory; use a smaller dataset"
        )
    if (
        info.compress_type != zipfile.ZIP_STORED
        and info.file_size > max(info.compress_size, 1) * MAX_DEFLATE_RATIO + 1024
    ):
        raise DataError(f"{path}: array '{name}' claims an impossible size; the file is corrupt")


def npz_headers(path: Path) -> dict[str, ArrayHeader]:
    """Each array's name, shape and dtype from its header, without reading its data."""
    limit = memory_limit()
    headers: dict[str, ArrayHeader] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                name = info.filename[: -len(".npy")]
                with archive.open(info) as handle:
                    shape, dtype = _read_header(handle)
                header = ArrayHeader(name, shape, dtype)
                _check_member(path, info, header, limit)
                headers[name] = header
    except DataError:
        raise
    except READ_ERRORS as exc:
        raise DataError(f"{path}: not a readable .npz file ({_why(exc)})") from None
    return headers


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of an .npz that must hold x and y (datasets, and `harness bench` data)."""
    if not path.exists():
        raise DataError(f"{path}: no such file; give the path of an .npz holding arrays x and y")
    if not path.is_file():
        raise DataError(f"{path}: not a regular file; give an .npz holding arrays x and y")
    headers = npz_headers(path)
    for required in ("x", "y"):
        if required not in headers:
            raise DataError(f"{path}: missing array '{required}'; found {sorted(headers)[:10]}")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in headers}
    except READ_ERRORS as exc:
        raise DataError(f"{path}: not a readable .npz file ({_why(exc)})") from None


def _why(exc: BaseException) -> str:
    text = (str(exc).splitlines() or [""])[0][:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
