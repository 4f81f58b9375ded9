"""Target runtimes behind one small interface, registered by name.

A runtime class parses its settings (cheaply, at config time), reports its
version, and loads a model file into a `Session`. Entries are module paths so
that naming a runtime imports neither onnxruntime nor LiteRT.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Protocol

import numpy as np

from harness.registry import Registry


class Session(Protocol):
    input_names: list[str]  # the model's inputs, in its order

    def run_all(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Every output, in the model's order, for inputs given by name."""
        ...

    def bind_all(self, feeds: dict[str, np.ndarray]) -> Callable[[], None]:
        """Set every input once and return the bare inference call, for timing."""
        ...

    def run(self, x: np.ndarray) -> np.ndarray:
        """Outputs for a batch (copied out of the runtime's buffers)."""
        ...

    def bind(self, x: np.ndarray) -> Callable[[], None]:
        """Set `x` as the input once and return the bare inference call, for timing."""
        ...


class Runtime(Protocol):
    name: ClassVar[str]
    model_format: ClassVar[str]  # "onnx", "tflite" or "pte": which file the sweep hands it

    @classmethod
    def parse_settings(cls, params: dict[str, Any]) -> dict[str, Any]: ...

    @classmethod
    def version(cls) -> str:
        """The runtime's version. Imports its libraries: the worker calls it before taking
        the memory baseline that a model's own memory is measured from."""
        ...

    @classmethod
    def prepare(cls) -> None:
        """Import the runtime's modules, so that load time is the model's, not Python's."""
        ...

    @classmethod
    def unavailable(cls) -> str | None:
        """None when the runtime's package is installed, else how to install it (no import)."""
        ...

    @classmethod
    def load(cls, path: str, settings: dict[str, Any]) -> Session: ...


RUNTIMES: Registry[type[Runtime]] = Registry("runtime")
RUNTIMES.register("onnxruntime", "harness.measure.runtimes.ort:OnnxRuntime")
RUNTIMES.register("litert", "harness.measure.runtimes.litert:LiteRT")
RUNTIMES.register("executorch", "harness.measure.runtimes.executorch:ExecuTorch")


def runtimes_for(path: str) -> list[str]:
    """Names of the runtimes that can load a file of this kind, by its suffix."""
    suffix = path.rsplit(".", 1)[-1].lower()
    return [name for name in RUNTIMES.names() if RUNTIMES.get(name).model_format == suffix]
