"""ONNX Runtime's own int8 quantizer (onnxruntime.quantization), as a pass.

Static: QDQ format, int8 activations and weights, activation ranges calibrated on training
samples. The weights' range follows the CPU that will run the model (`isa`, resolved from
the machine by `for_cpu`; see int8_isa.py): 7-bit where ORT's u8s8 kernels saturate. Dynamic: int8 weights, activations quantized at run time (ORT's default op set:
Conv, MatMul/Gemm, LSTM, ...; some become com.microsoft ops that only ORT runs).
The quantizer only reads and writes files, so `apply` works inside a private temporary
directory that is removed before it returns: the one file I/O a pass does.
onnxruntime is imported inside `apply`, never when the pass is parsed from a config.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import onnx

from harness.compress.base import Params, PassContext, PassResult
from harness.compress.graph import graph_inputs
from harness.compress.int8_isa import ISAS, Int8Choice, resolve_isa, target_choice
from harness.errors import CompressionError

__all__ = ["OrtInt8"]

MODES = ("static", "dynamic")
CALIBRATIONS = ("minmax", "entropy", "percentile")
CALIBRATION_BATCH = 32


def _is_quant_op(op: str) -> bool:
    """QuantizeLinear, DynamicQuantizeLSTM, MatMulInteger, QLinearConv, ..."""
    return "Quantize" in op or "Integer" in op or op.startswith("QLinear")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _batches(data: np.ndarray, fixed: int | None) -> Iterator[np.ndarray]:
    size = fixed or CALIBRATION_BATCH
    for start in range(0, len(data) - (len(data) % size if fixed else 0), size):
        yield np.ascontiguousarray(data[start : start + size], dtype=np.float32)


def _main_input(model: onnx.ModelProto, ctx: PassContext) -> tuple[str, int | None]:
    """The input to calibrate and its static batch size (None when the batch is dynamic)."""
    inputs = graph_inputs(model.graph)
    if not inputs:
        raise CompressionError("ort_int8: the model has no input")
    by_name = {v.name: v for v in inputs}
    value = by_name.get(ctx.input_name or "", inputs[0])
    dims = value.type.tensor_type.shape.dim
    fixed = dims[0].dim_value if dims and dims[0].dim_value > 0 else None  # -1: dynamic
    return value.name, fixed


@dataclass(frozen=True)
class OrtInt8:
    """Delegates to onnxruntime.quantization: quantize_static (QDQ) or quantize_dynamic."""

    name: ClassVar[str] = "ort_int8"
    # Its output is onnxruntime's quantizer's: an upgrade makes a new cache entry.
    libraries: ClassVar[tuple[str, ...]] = ("onnxruntime",)
    mode: str = "static"
    calibrate: str = "minmax"
    per_channel: bool = True
    isa: str = "auto"  # the CPU family the model is for; "auto": the machine of the sweep
    reduce_range: bool | None = None  # None: what `isa` needs; True/False: forced

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> OrtInt8:
        p = Params(params, ["mode", "calibrate", "per_channel", "isa", "reduce_range"])
        return cls(
            mode=p.choice("mode", MODES, default="static"),
            calibrate=p.choice("calibrate", CALIBRATIONS, default="minmax"),
            per_channel=p.boolean("per_channel", default=True),
            isa=p.choice("isa", ISAS, default="auto"),
            reduce_range=p.boolean("reduce_range") if p.given("reduce_range") else None,
        )

    def spec(self) -> dict[str, Any]:
        """The settings; `isa` and `reduce_range` only when not the defaults, so the keys of
        configs written before they existed stay the same."""
        target = {} if self.isa == "auto" else {"isa": self.isa}
        forced = {} if self.reduce_range is None else {"reduce_range": self.reduce_range}
        return {
            "pass": self.name,
            "mode": self.mode,
            "calibrate": self.calibrate,
            "per_channel": self.per_channel,
            **target,
            **forced,
        }

    def label(self) -> str:
        """'ort-int8 static'; a non-default calibration, per-tensor weights, a forced weight
        range or target family are appended."""
        extra = "" if self.calibrate == "minmax" or self.mode == "dynamic" else f" {self.calibrate}"
        forced = "" if self.reduce_range is None else (" 7-bit" if self.reduce_range else " 8-bit")
        target = "" if self.isa == "auto" else f" for {self.isa}"
        return (
            f"ort-int8 {self.mode}{extra}{'' if self.per_channel else ' per-tensor'}"
            f"{forced}{target}"
        )

    def for_cpu(self, arch: str, flags: Sequence[str]) -> OrtInt8:
        """This pass for the CPU that will run the model (`isa = "auto"` resolved)."""
        return replace(self, isa=resolve_isa(self.isa, arch, flags))

    def choice(self) -> Int8Choice:
        """The weight range and why; an unresolved "auto" takes the choice exact on any CPU."""
        return target_choice(self.isa, self.reduce_range)

    def apply(self, model: onnx.ModelProto, ctx: PassContext) -> PassResult:
        if self.mode == "static" and (ctx.calibration is None or not len(ctx.calibration)):
            raise CompressionError("ort_int8 static needs calibration data")
        choice = self.choice()
        notes: dict[str, Any] = {
            "mode": self.mode,
            "per_channel": self.per_channel,
            "weights": "int8 in 7 bits (reduce_range)" if choice.reduce_range else "int8",
            "activations": "int8" if self.mode == "static" else "uint8 at run time",
            "isa": choice.isa,
            "reduce_range": choice.reduce_range,
            "why": choice.reason,
        }
        with tempfile.TemporaryDirectory(prefix=f"harness-ort-int8-{os.getpid()}-") as tmp:
            source = Path(tmp) / "model.onnx"
            onnx.save_model(model, str(source))
            source, notes["preprocessed"] = _preprocess(source, Path(tmp) / "pre.onnx")
            target = Path(tmp) / "int8.onnx"
            try:
                if self.mode == "static":
                    notes.update(self._static(source, target, model, ctx, choice))
                else:
                    notes.update(self._dynamic(source, target, choice))
            except CompressionError:
                raise
            except Exception as exc:  # the quantizer raises plain exceptions of any kind
                raise CompressionError(f"ort_int8 {self.mode} failed: {_first_line(exc)}") from None
            result = onnx.load_model(str(target))
        ops = Counter(n.op_type for n in result.graph.node if _is_quant_op(n.op_type))
        notes["quant_ops"] = dict(sorted(ops.items()))
        return PassResult(result, notes)

    def _static(
        self,
        source: Path,
        target: Path,
        model: onnx.ModelProto,
        ctx: PassContext,
        choice: Int8Choice,
    ) -> dict[str, Any]:
        from onnxruntime import quantization as q

        assert ctx.calibration is not None
        name, fixed = _main_input(model, ctx)
        data = ctx.calibration
        if fixed and len(data) < fixed:
            raise CompressionError(
                f"ort_int8: {len(data)} calibration samples, the model's batch is {fixed}"
            )

        class Reader(q.CalibrationDataReader):
            def __init__(self) -> None:
                self.batches = _batches(data, fixed)

            def get_next(self) -> dict[str, np.ndarray] | None:
                batch = next(self.batches, None)
                return None if batch is None else {name: batch}

        method = {
            "minmax": q.CalibrationMethod.MinMax,
            "entropy": q.CalibrationMethod.Entropy,
            "percentile": q.CalibrationMethod.Percentile,
        }[self.calibrate]
        # The calibrators print progress; a pass never prints.
        with contextlib.redirect_stdout(io.StringIO()):
            q.quantize_static(
                str(source),
                str(target),
                Reader(),
                quant_format=q.QuantFormat.QDQ,
                per_channel=self.per_channel,
                reduce_range=choice.reduce_range,
                activation_type=q.QuantType.QInt8,
                weight_type=q.QuantType.QInt8,
                calibrate_method=method,
            )
        return {"calibrate": self.calibrate, "format": "QDQ", "calibration_samples": len(data)}

    def _dynamic(self, source: Path, target: Path, choice: Int8Choice) -> dict[str, Any]:
        from onnxruntime import quantization as q

        q.quantize_dynamic(
            str(source),
            str(target),
            per_channel=self.per_channel,
            reduce_range=choice.reduce_range,
            weight_type=q.QuantType.QInt8,
        )
        return {}


def _preprocess(source: Path, target: Path) -> tuple[Path, bool]:
    """ORT's recommended pre-processing (shape inference, graph optimization); the model is
    quantized as it is when that fails."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    try:
        quant_pre_process(str(source), str(target))
    except Exception:  # optional step: any failure just means quantizing the original
        return source, False
    return target, True
