"""LiteRT (TFLite) through ai-edge-litert's Interpreter; tflite_runtime where only it is installed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from harness.errors import RuntimeUnavailable
from harness.runtimes.settings import check_bool, check_keys, check_threads


def _interpreter_module() -> Any:
    try:
        from ai_edge_litert import interpreter
    except ImportError:
        try:
            from tflite_runtime import interpreter  # type: ignore[no-redef]
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
        settings = check_keys(params, {"threads": 1, "xnnpack": True})
        check_threads(settings["threads"])
        check_bool("xnnpack", settings["xnnpack"])
        return settings

    @classmethod
    def version(cls) -> str:
        from importlib.metadata import PackageNotFoundError, version

        for dist in ("ai-edge-litert", "tflite-runtime"):
            try:
                return f"{dist} {version(dist)}"
            except PackageNotFoundError:
                continue
        return "unknown"

    @classmethod
    def load(cls, path: str, settings: dict[str, Any]) -> LiteRTSession:
        module = _interpreter_module()
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
    def __init__(self, interpreter: Any) -> None:
        self.interpreter = interpreter
        self.input_index = interpreter.get_input_details()[0]["index"]
        self.output_index = interpreter.get_output_details()[0]["index"]
        self.shape = tuple(interpreter.get_input_details()[0]["shape"])

    def _resize(self, shape: tuple[int, ...]) -> None:
        if shape != self.shape:
            self.interpreter.resize_tensor_input(self.input_index, list(shape), strict=False)
            self.interpreter.allocate_tensors()
            self.shape = shape

    def run(self, x: np.ndarray) -> np.ndarray:
        self._resize(tuple(x.shape))
        self.interpreter.set_tensor(self.input_index, np.ascontiguousarray(x, dtype=np.float32))
        self.interpreter.invoke()
        return np.array(self.interpreter.get_tensor(self.output_index))

    def bind(self, x: np.ndarray) -> Callable[[], None]:
        self._resize(tuple(x.shape))
        self.interpreter.set_tensor(self.input_index, np.ascontiguousarray(x, dtype=np.float32))
        return self.interpreter.invoke
