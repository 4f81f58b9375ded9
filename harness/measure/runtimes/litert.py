"""LiteRT (TFLite) through ai-edge-litert's Interpreter; tflite_runtime where only it is installed."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from harness.errors import RuntimeUnavailable, UnsupportedOpError
from harness.measure.runtimes.settings import check_bool, check_choice, check_keys, check_threads

# How the converted model is quantized by ai-edge-quantizer before LiteRT runs it.
QUANTIZE_MODES = ["none", "dynamic", "weight_only", "int8"]
# How the interpreter names an op of the file that no registered kernel implements.
CUSTOM_OP = re.compile(r"unresolved custom op: ([\w.\-]+?)\.?\s")


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
        try:
            interpreter = module.Interpreter(
                model_path=path,
                num_threads=int(settings["threads"]),
                experimental_op_resolver_type=resolver,
            )
            interpreter.allocate_tensors()
        except RuntimeError as exc:
            custom = CUSTOM_OP.search(str(exc))
            if custom is None:
                raise
            raise UnsupportedOpError(
                "litert",
                f"custom op {custom.group(1)}",
                "the framework that wrote the model "
                "registers it in its own build of LiteRT; the standard interpreter has no kernel",
            ) from None
        return LiteRTSession(interpreter)


class LiteRTSession:
    """Float in, float out: a full-integer model's inputs are quantized with the model's own
    scales and zero points (before any timing), and its outputs dequantized."""

    def __init__(self, interpreter: Any) -> None:
        self.interpreter = interpreter
        self.inputs = interpreter.get_input_details()
        self.outputs = interpreter.get_output_details()
        self.input_names = [d["name"] for d in self.inputs]
        self.shapes = {d["name"]: tuple(d["shape"]) for d in self.inputs}
        self.input_dtype = self.inputs[0]["dtype"]  # int8 for a full-integer model

    @staticmethod
    def _feed(x: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
        dtype = detail["dtype"]
        scale, zero = detail["quantization"]
        if not np.issubdtype(dtype, np.integer) or not scale or x.dtype.kind != "f":
            return np.ascontiguousarray(x, dtype=dtype)
        info = np.iinfo(dtype)
        q = np.clip(np.round(x / scale) + zero, info.min, info.max)
        return np.ascontiguousarray(q.astype(dtype))

    def _fetch(self, detail: dict[str, Any]) -> np.ndarray:
        y = np.array(self.interpreter.get_tensor(detail["index"]))
        scale, zero = detail["quantization"]
        if y.dtype == np.float32 or not scale:
            return y
        return ((y.astype(np.float32) - zero) * scale).astype(np.float32)

    def _set(self, feeds: dict[str, np.ndarray]) -> None:
        resized = False
        for detail in self.inputs:
            shape = tuple(np.shape(feeds[detail["name"]]))
            if shape != self.shapes[detail["name"]]:
                self.interpreter.resize_tensor_input(detail["index"], list(shape), strict=False)
                self.shapes[detail["name"]] = shape
                resized = True
        if resized:
            self.interpreter.allocate_tensors()
        for detail in self.inputs:
            self.interpreter.set_tensor(detail["index"], self._feed(feeds[detail["name"]], detail))

    def run_all(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        self._set(feeds)
        self.interpreter.invoke()
        return [self._fetch(detail) for detail in self.outputs]

    def run(self, x: np.ndarray) -> np.ndarray:
        return self.run_all({self.input_names[0]: x})[0]

    def bind_all(self, feeds: dict[str, np.ndarray]) -> Callable[[], None]:
        self._set(feeds)
        return self.interpreter.invoke

    def bind(self, x: np.ndarray) -> Callable[[], None]:
        return self.bind_all({self.input_names[0]: x})
