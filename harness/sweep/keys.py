"""Cache keys of the files the sweep makes: a file's key is everything that made it, so a
changed setting, pass code, converter code or quantizer library never hits an old file.

The trained model's key and the candidate's key come with the plan (harness.sweep.plan);
these extend a compression job's key with the code and library versions that apply.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from harness.compress import PASSES_VERSION
from harness.hashing import hash_spec
from harness.sweep.plan import CompressJob

# Bump when the ONNX -> .tflite converter writes a different file for the same model.
CONVERTER_VERSION = "1"


def compressed_key(job: CompressJob, passes: Sequence[Any] | None = None) -> str:
    """The cache key of a compressed model: the job's settings, the passes' code version,
    the versions of the libraries a pass delegates to (`libraries`, e.g. onnxruntime's
    quantizer) and, when `passes` (the job's passes resolved for a CPU) differ from the
    config's, their resolved settings: an int8 model made for a VNNI CPU is not the one made
    for AVX2. Chains of the harness's own passes keep the key they always had."""
    key = f"{job.key}-p{PASSES_VERSION}"
    libraries = [lib for p in job.compression.passes for lib in getattr(p, "libraries", ())]
    if libraries:
        key = f"{key}-{hash_spec(library_versions(libraries), 8)}"
    resolved = [p.spec() for p in passes] if passes is not None else None
    if resolved is None or resolved == [p.spec() for p in job.compression.passes]:
        return key
    return f"{key}-{hash_spec(resolved, length=8)}"


def converted_key(job: CompressJob, quantize: str, passes: Sequence[Any] | None = None) -> str:
    """The cache key of a .tflite: its ONNX source (compressed_key, CPU choices included),
    the converter's code version, LiteRT's quantization mode and, when it quantizes, the
    quantizer's library versions."""
    from harness.convert.litert_quant import QUANTIZER_LIBRARIES

    key = f"{compressed_key(job, passes)}-c{CONVERTER_VERSION}-{quantize}"
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


def finetuned_key(job: CompressJob) -> str:
    """The cache key of a chain's fine-tuned PyTorch weights: the trained model, the
    structural passes mirrored in PyTorch, the fine-tuning epochs and rate. Chains that
    share these (prune 30% + fine-tune, and the same + int4) share one fine-tuning."""
    structural = []
    for p in job.compression.passes:
        if type(p).name not in ("prune", "svd"):
            break
        structural.append(p.spec())
    spec = {
        "trained": job.train.key,
        "mirrored": structural,
        "epochs": job.compression.finetune_epochs,
        "lr": job.compression.finetune_lr,
    }
    return f"{hash_spec(spec)}-p{PASSES_VERSION}"
