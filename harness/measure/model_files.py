"""A model on disk is its graph file plus any external data files beside it (ONNX's
external-data format keeps weights out of the protobuf). Size, content hash and the cached
copy all cover both, and the files are found relative to the graph, not the current folder.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import onnx

from harness.errors import ConfigError

__all__ = ["external_files", "load_onnx", "model_bytes", "model_digest", "self_contained"]


def _tensors(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    """Initializers and Constant-node tensors, subgraphs included."""
    yield from graph.initializer
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
            if attribute.HasField("g"):
                yield from _tensors(attribute.g)
            for sub in attribute.graphs:
                yield from _tensors(sub)


def external_files(path: Path) -> list[Path]:
    """The data files an .onnx file's tensors point to, resolved beside it; [] for others."""
    if path.suffix.lower() != ".onnx":
        return []
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # DecodeError and others for a file that is not ONNX
        raise ConfigError(f"{path.name}: not a valid ONNX model ({_first(exc)})") from None
    names = sorted(
        {
            entry.value
            for tensor in _tensors(model.graph)
            if tensor.data_location == onnx.TensorProto.EXTERNAL
            for entry in tensor.external_data
            if entry.key == "location"
        }
    )
    files = [path.parent / name for name in names]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise ConfigError(
            f"{path.name}: its weights are in {', '.join(missing)}, which is not beside it in "
            f"{path.parent}; keep the data file(s) next to the .onnx"
        )
    return files


def model_bytes(path: Path) -> bytes:
    """The whole model's bytes: the graph file, then each external data file."""
    return b"".join(p.read_bytes() for p in [path, *external_files(path)])


def model_digest(path: Path) -> str:
    """sha256 over the graph file and its data files (names included): the cache key."""
    digest = hashlib.sha256(path.read_bytes())
    for data in external_files(path):
        digest.update(data.name.encode())
        digest.update(data.read_bytes())
    return digest.hexdigest()


def load_onnx(path: Path) -> onnx.ModelProto:
    """The model with its external weights loaded from beside it; a one-line ConfigError."""
    if not path.is_file():
        raise ConfigError(f"{path}: no such model file")
    external_files(path)  # names a missing data file before onnx fails on it
    try:
        return onnx.load(str(path))
    except Exception as exc:  # onnx raises DecodeError, ValidationError, OSError ...
        raise ConfigError(f"{path.name}: not a valid ONNX model ({_first(exc)})") from None


def self_contained(path: Path) -> bytes:
    """One protobuf holding the graph and its weights, for the artifact cache."""
    if not external_files(path):
        return path.read_bytes()
    return load_onnx(path).SerializeToString()


def _first(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
