"""LiteRT (TFLite) through ai-edge-litert's Interpreter; tflite_runtime where only it is installed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from harness.errors import RuntimeUnavailable
from harness.measure.runtimes.settings import check_bool, check_choice, check_keys, check_threads

# How the converted model is quantized by ai-edge-quantizer before LiteRT runs it.
QUANTIZE_MODES = ["none", "dynamic", "weight_only", "int8"]


def interpreter_module() -> Any:
    try:
        from ai_edge_litert import interpreter
    except ImportError:
        try:
            from tflite_runtime import interpreter
        except ImportError:
            raise RuntimeUnavailable(
                "LiteRT is not installed; pip install ai-edge-litert"
            ) from None
    return interpreter


class LiteRT:
    name: ClassVar[str] = "litert"
    model_format: ClassVar[str] = "tflite"

    @classmethod
    def parse_settings(cls, params: dict[str, Any]) -> dict[str, Any]:
        settings = check_keys(params, {"threads": 1, "xnnpack": True, "quantize": "none"})
        check_threads(settings["threads"])
        check_bool("xnnpack", settings["xnnpack"])
        check_choice("quantize", settings["quantize"], QUANTIZE_MODES)
        return settings

    @classmethod
    def prepare(cls) -> None:
        interpreter_module()

    @classmethod
    def unavailable(cls) -> str | None:
        from importlib.util import find_spec

        if find_spec("ai_edge_litert") or find_spec("tflite_runtime"):
            return None
        return "LiteRT is not installed; pip install ai-edge-litert"

    @classmethod
    def version(cls) -> str:
        """The installed package's version; imports it, as the worker's memory baseline expects."""
        from importlib.metadata import PackageNotFoundError, version

        interpreter_module()
        for dist in ("ai-edge-litert", "tflite-runtime"):
            try:
                return f"{dist} {version(dist)}"
            except PackageNotFoundError:
                continue
        return "unknown"

    @classmethod
    def load(cls, path: str, settings: dict[str, Any]) -> LiteRTSession:
        module = interpreter_module()
        resolver = (
            module.OpResolverType.AUTO
            if settings["xnnpack"]
            else module.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        )
        interpreter = module.Interpreter(
            model_path=path,
            num_threads=int(settings["threads"]),
            experimental_op_resolver_type=resolver,
        )
        interpreter.allocate_tensors()
        return LiteRTSession(interpreter)


class LiteRTSession:
    """Float in, float out: a full-integer model's input is quantized with the model's own
    scale and zero point (before any timing), and its output dequantized."""

    def __init__(self, interpreter: Any) -> None:
        self.interpreter = interpreter
        inp = interpreter.get_input_details()[0]
        out = interpreter.get_output_details()[0]
        self.input_index = inp["index"]
        self.output_index = out["index"]
        self.shape = tuple(inp["shape"])
        self.input_dtype = inp["dtype"]
        self.input_quant = inp["quantization"]
        self.output_quant = out["quantization"] if out["dtype"] != np.float32 else None

    def _feed(self, x: np.ndarray) -> np.ndarray:
        if self.input_dtype == np.float32:
            return np.ascontiguousarray(x, dtype=np.float32)
        scale, zero = self.input_quant
        info = np.iinfo(self.input_dtype)
        q = np.clip(np.round(x / scale) + zero, info.min, info.max)
        return np.ascontiguousarray(q.astype(self.input_dtype))

    def _fetch(self) -> np.ndarray:
        y = np.array(self.interpreter.get_tensor(self.output_index))
        if self.output_quant is None:
            return y
        scale, zero = self.output_quant
        return ((y.astype(np.float32) - zero) * scale).astype(np.float32)

    def _resize(self, shape: tuple[int, ...]) -> None:
        if shape != self.shape:
            self.interpreter.resize_tensor_input(self.input_index, list(shape), strict=False)
            self.interpreter.allocate_tensors()
            self.shape = shape

    def run(self, x: np.ndarray) -> np.ndarray:
        self._resize(tuple(x.shape))
        self.interpreter.set_tensor(self.input_index, self._feed(x))
        self.interpreter.invoke()
        return self._fetch()

    def bind(self, x: np.ndarray) -> Callable[[], None]:
        self._resize(tuple(x.shape))
        self.interpreter.set_tensor(self.input_index, self._feed(x))
        return self.interpreter.invoke
