"""Property tests of the two readers of user files: whatever the bytes, the config parser
returns a config or raises ConfigError, and the .npz reader returns data or raises
DataError (never another exception, never a giant allocation)."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.config.load import default_config_text, load_config
from harness.errors import ConfigError, DataError
from harness.train.datasets import Dataset, load

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DEFAULT = default_config_text().encode()


def _edit(data: bytes, edits: list[tuple[int, int, int]]) -> bytes:
    """Apply (kind, position, byte) edits: 0 flips a byte, 1 inserts one, 2 deletes one,
    3 truncates there."""
    out = bytearray(data)
    for kind, position, value in edits:
        if not out:
            break
        at = position % len(out)
        if kind == 0:
            out[at] ^= value or 1
        elif kind == 1:
            out.insert(at, value)
        elif kind == 2:
            del out[at]
        else:
            del out[at:]
    return bytes(out)


EDITS = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 2**31), st.integers(0, 255)), max_size=6
)


def _parse(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.toml"
        path.write_bytes(data)
        try:
            load_config(path)
        except ConfigError as exc:
            assert str(exc).strip()


@FUZZ
@given(st.binary(max_size=512))
def test_any_bytes_parse_or_raise_config_error(data: bytes) -> None:
    _parse(data)


@FUZZ
@given(EDITS)
def test_an_edited_default_config_parses_or_raises_config_error(edits: list) -> None:
    _parse(_edit(DEFAULT, edits))


def _npz_bytes(compressed: bool) -> bytes:
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    save = np.savez_compressed if compressed else np.savez
    save(buffer, x=rng.normal(size=(24, 3)).astype(np.float32), y=np.arange(24) % 3)
    return buffer.getvalue()


NPZ = {False: _npz_bytes(False), True: _npz_bytes(True)}


@FUZZ
@given(st.booleans(), EDITS)
def test_a_corrupted_npz_reads_or_raises_data_error(compressed: bool, edits: list) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.npz"
        path.write_bytes(_edit(NPZ[compressed], edits))
        try:
            dataset = load("npz", {"path": str(path)})
        except DataError as exc:
            assert str(exc).startswith(str(path)) or str(exc).startswith("d:")
            return
        assert isinstance(dataset, Dataset)
        assert len(dataset.x) == len(dataset.y) > 0 and dataset.n_classes >= 2


def _rezipped(edits: list, member: str) -> bytes:
    """The .npz with one member's bytes edited and zipped again with a valid checksum, so
    the edits reach numpy's header and data parsing instead of the zip's CRC check."""
    import zipfile

    source = zipfile.ZipFile(io.BytesIO(NPZ[False]))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name in source.namelist():
            data = source.read(name)
            archive.writestr(name, _edit(data, edits) if name == member else data)
    return out.getvalue()


@FUZZ
@given(st.sampled_from(["x.npy", "y.npy"]), EDITS)
def test_an_npz_with_a_corrupted_array_reads_or_raises_data_error(member: str, edits: list) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.npz"
        path.write_bytes(_rezipped(edits, member))
        try:
            dataset = load("npz", {"path": str(path)})
        except DataError:
            return
        assert len(dataset.x) == len(dataset.y) > 0 and dataset.n_classes >= 2


def test_the_unedited_npz_reads() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for compressed, data in NPZ.items():
            path = Path(tmp) / f"{compressed}.npz"
            path.write_bytes(data)
            dataset = load("npz", {"path": str(path)})
            assert dataset.x.shape == (24, 3) and dataset.classes == ("0", "1", "2")
