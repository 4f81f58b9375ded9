"""Cache keys of the files the sweep makes: a file's key is everything that made it, so a
changed setting, pass code, converter code or quantizer library never hits an old file.

The trained model's key and the candidate's key come with the plan (harness.sweep.plan);
these extend a compression job's key with the code and library versions that apply.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from importlib.metadata import PackageNotFoundError, version

from harness.compress import PASSES_VERSION
from harness.hashing import hash_spec
from harness.sweep.plan import CompressJob

# Bump when the ONNX -> .tflite converter writes a different file for the same model.
CONVERTER_VERSION = "1"


def compressed_key(job: CompressJob) -> str:
    """The cache key of a compressed model: the job's settings, the passes' code version and
    the versions of the libraries a pass delegates to (`libraries`, e.g. onnxruntime's
    quantizer); chains of the harness's own passes keep the key they always had."""
    key = f"{job.key}-p{PASSES_VERSION}"
    libraries = [lib for p in job.compression.passes for lib in getattr(p, "libraries", ())]
    return f"{key}-{hash_spec(library_versions(libraries), 8)}" if libraries else key


def converted_key(job: CompressJob, quantize: str) -> str:
    """The cache key of a .tflite: its ONNX source, the converter's code version, LiteRT's
    quantization mode and, when it quantizes, the quantizer's library versions."""
    from harness.convert.litert_quant import QUANTIZER_LIBRARIES

    key = f"{compressed_key(job)}-c{CONVERTER_VERSION}-{quantize}"
    if quantize == "none":
        return key
    return f"{key}-{hash_spec(library_versions(QUANTIZER_LIBRARIES), 8)}"


def library_versions(names: Iterable[str]) -> dict[str, str]:
    return {name: library_version(name) for name in sorted(set(names))}


@cache  # reading package metadata takes milliseconds; a sweep asks for every candidate
def library_version(name: str) -> str:
    """The installed version, from package metadata (nothing is imported)."""
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"
