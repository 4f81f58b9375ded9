"""The arithmetic a candidate's runtime actually ran, so no one compares int8 kernels with
simulated int8 unknowingly (pure: from the stored compression spec and runtime settings).

The same compressed file computes differently per runtime: ONNX Runtime fuses an
ort_int8 model's QuantizeLinear/DequantizeLinear pairs into int8 kernels, while the
.tflite made from it keeps them as QUANTIZE/DEQUANTIZE around float kernels; weights stored
as int8/int4 behind DequantizeLinear are turned back into float32 on every call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["ARITHMETIC", "Arithmetic", "arithmetic"]

FP32 = "fp32"
INT8 = "int8 kernels"
WEIGHT_ONLY = "weight-only dequantized"
SIMULATED = "simulated int8 on float kernels"
ARITHMETIC = (FP32, INT8, WEIGHT_ONLY, SIMULATED)  # the values of results.json's field

FOLD_SETTING = "fold_dequantize"  # ONNX Runtime: DequantizeLinear of weights folded at load


@dataclass(frozen=True)
class Arithmetic:
    kind: str  # one of ARITHMETIC
    explain: str  # one sentence for the candidate page and the model card


def _steps(spec: Any) -> list[Mapping[str, Any]]:
    steps = spec.get("steps", []) if isinstance(spec, Mapping) else spec or []
    return [s for s in steps if isinstance(s, Mapping)]


def _weight_bits(steps: Sequence[Mapping[str, Any]]) -> str:
    bits = sorted({int(s.get("bits", 8)) for s in steps if s.get("pass") in ("quantize", "qat")})
    return "/".join(f"int{b}" for b in bits)


def _full_integer(steps: Sequence[Mapping[str, Any]]) -> bool:
    """ort_int8, or qat with int8 activations and weights stored as int8 (more than 4 bits,
    harness.compress.quantize.storage): what ONNX Runtime's int8 kernels take. int4 weights
    behind QDQ activations are dequantized for float kernels."""
    return any(
        s.get("pass") == "ort_int8"
        or (s.get("pass") == "qat" and s.get("activations") and int(s.get("bits", 8)) > 4)
        for s in steps
    )


# LiteRT's own quantizer (the runtime's `quantize` setting) decides its arithmetic alone:
# it only takes float models.
LITERT_QUANTIZE = {
    "int8": Arithmetic(INT8, "full-integer int8 kernels (ai-edge-quantizer, calibrated)"),
    "dynamic": Arithmetic(
        INT8, "int8 weights, activations quantized on the fly for int8 kernels (dynamic range)"
    ),
    "weight_only": Arithmetic(
        WEIGHT_ONLY, "int8 weights dequantized to float for float kernels (ai-edge-quantizer)"
    ),
}


EXECUTORCH_QUANTIZE = {
    "int8": Arithmetic(
        INT8, "int8 kernels of the XNNPACK delegate (ExecuTorch's PT2E static int8, calibrated)"
    ),
}
# A runtime's own quantizer (its `quantize` setting) decides the arithmetic alone.
OWN_QUANTIZER = {"litert": LITERT_QUANTIZE, "executorch": EXECUTORCH_QUANTIZE}


def arithmetic(compression_spec: Any, runtime: Mapping[str, Any]) -> Arithmetic:
    """What `runtime` ({"name": engine, "settings": {...}}) computes for a model compressed
    by `compression_spec` (the stored list of pass specs, or {"steps": [...], ...})."""
    engine = str(runtime.get("name", ""))
    settings = runtime.get("settings") or {}
    steps = _steps(compression_spec)
    passes = {str(s.get("pass")) for s in steps}
    own = OWN_QUANTIZER.get(engine, {}).get(str(settings.get("quantize", "none")))
    if own is not None:
        return own
    folded = engine == "onnxruntime" and bool(settings.get(FOLD_SETTING))
    if _full_integer(steps):
        if engine == "onnxruntime" and not folded:
            return Arithmetic(
                INT8,
                "ONNX Runtime fuses the QuantizeLinear/DequantizeLinear pairs into int8 kernels",
            )
        return Arithmetic(
            SIMULATED,
            "the QuantizeLinear/DequantizeLinear pairs run as quantize/dequantize steps around "
            "float kernels: int8 rounding, float compute, not int8 kernels",
        )
    if passes & {"quantize", "qat"}:
        bits = _weight_bits(steps)
        if folded:
            return Arithmetic(
                FP32,
                f"{bits} weights dequantized once at load (fold_dequantize): float32 weights in "
                "memory, float32 compute",
            )
        if engine == "onnxruntime":
            return Arithmetic(
                WEIGHT_ONLY,
                f"{bits} weights dequantized to float32 on every call, then float32 kernels: "
                f"the latency includes the dequantization (runtime setting {FOLD_SETTING} = "
                "true does it once at load)",
            )
        return Arithmetic(WEIGHT_ONLY, f"{bits} weights dequantized to float32 for float kernels")
    if "float16" in passes:
        return Arithmetic(FP32, "float16 weights cast to float32 at load, float32 compute")
    return Arithmetic(FP32, "float32 weights and compute")


def cpu_choice(notes: Sequence[Mapping[str, Any]]) -> str | None:
    """Why an int8 model has the weight range it has (the CPU choice ort_int8 or
    full-integer qat resolved)."""
    for note in notes or []:
        if note.get("pass") in ("ort_int8", "qat") and note.get("why"):
            return f"made for {note.get('isa')}: {note['why']}"
    return None


UNKNOWN = Arithmetic("", "not known: a file benchmarked as given, not compressed by the harness")


def of_details(details: Mapping[str, Any]) -> Arithmetic:
    """The arithmetic of a stored candidate, from its details (compression spec, runtime);
    UNKNOWN (kind "") for a row without a compression spec (`harness bench` of a file)."""
    if "compression_spec" not in details:
        return UNKNOWN
    return arithmetic(details["compression_spec"], details.get("runtime_info") or {})
