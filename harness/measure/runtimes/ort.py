"""ONNX Runtime on the CPU execution provider."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from harness.measure.runtimes.settings import check_bool, check_choice, check_keys, check_threads

OPTIMIZATION_LEVELS = ["disable", "basic", "extended", "all"]
# ORT keeps DequantizeLinear out of constant folding so int8 QDQ pairs can fuse into int8
# kernels; weight-only models then dequantize their weights on every call. This ORT session
# option turns that off: the weights' dequantization is folded at load (float32 weights in
# memory, fp32 speed, the file stays small) and ort_int8 models run on float kernels.
FOLD_DEQUANTIZE = ("fold_dequantize", "session.disable_quant_qdq")


class OnnxRuntime:
    name: ClassVar[str] = "onnxruntime"
    model_format: ClassVar[str] = "onnx"

    @classmethod
    def parse_settings(cls, params: dict[str, Any]) -> dict[str, Any]:
        key = FOLD_DEQUANTIZE[0]
        settings = check_keys(params, {"threads": 1, "optimization": "all", key: False})
        check_threads(settings["threads"])
        check_choice("optimization", settings["optimization"], OPTIMIZATION_LEVELS)
        if not check_bool(key, settings[key]):
            del settings[key]  # ORT's default stays unnamed: the keys of older runs hold
        return settings

    @classmethod
    def prepare(cls) -> None:
        import onnxruntime  # noqa: F401

    @classmethod
    def unavailable(cls) -> str | None:
        from importlib.util import find_spec

        return (
            None
            if find_spec("onnxruntime")
            else "ONNX Runtime is not installed; pip install onnxruntime"
        )

    @classmethod
    def version(cls) -> str:
        import onnxruntime

        return str(onnxruntime.__version__)

    @classmethod
    def load(cls, path: str, settings: dict[str, Any]) -> OrtSession:
        import onnxruntime as ort

        options = session_options(settings)
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        return OrtSession(session)


def session_options(settings: dict[str, Any]) -> Any:
    """ort.SessionOptions for parsed settings."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = int(settings["threads"])
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    level = OPTIMIZATION_LEVELS.index(settings["optimization"])
    options.graph_optimization_level = [
        ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    ][level]
    if settings.get(FOLD_DEQUANTIZE[0]):
        options.add_session_config_entry(FOLD_DEQUANTIZE[1], "1")
    return options


class OrtSession:
    def __init__(self, session: Any) -> None:
        self.session = session
        self.input_names = [i.name for i in session.get_inputs()]
        self.output_names = [o.name for o in session.get_outputs()]
        # A non-tensor output (skl2onnx's ZipMap: a list of {class: probability}) or a
        # string one cannot be bound to a buffer; such a session is timed through run().
        self.tensor_outputs = all(
            o.type.startswith("tensor") and o.type != "tensor(string)"
            for o in session.get_outputs()
        )

    def run_all(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Every output, in the model's order, as arrays."""
        return [_as_array(v) for v in self.session.run(None, feeds)]

    def run(self, x: np.ndarray) -> np.ndarray:
        return self.run_all({self.input_names[0]: x})[0]

    def bind_all(self, feeds: dict[str, np.ndarray]) -> Callable[[], None]:
        """Inputs and pre-allocated outputs (each of its own dtype) bound once, so the loop
        times inference alone."""
        import onnxruntime as ort

        outputs = self.session.run(None, feeds) if self.tensor_outputs else []
        declared = [o.shape for o in self.session.get_outputs()]
        # A model that declares other shapes than it produces (rank 2 for a rank-3 output)
        # cannot keep a bound output: ONNX Runtime checks the one it allocated last time
        # against the declaration. Such sessions, like non-tensor outputs, time run().
        if not self.tensor_outputs or not all(
            _fits_declared(np.shape(v), d) for v, d in zip(outputs, declared, strict=True)
        ):
            run, names = self.session.run, self.output_names

            def call_run() -> None:
                run(names, feeds)

            return call_run
        binding = self.session.io_binding()
        for name, value in feeds.items():
            binding.bind_cpu_input(name, np.ascontiguousarray(value))
        for name, value in zip(self.output_names, outputs, strict=True):
            buffer = np.empty(np.shape(value), dtype=np.asarray(value).dtype)
            binding.bind_ortvalue_output(name, ort.OrtValue.ortvalue_from_numpy(buffer))
        run_with_iobinding = self.session.run_with_iobinding

        def call() -> None:
            run_with_iobinding(binding)

        return call

    def bind(self, x: np.ndarray) -> Callable[[], None]:
        return self.bind_all({self.input_names[0]: x})


def _fits_declared(shape: tuple[int, ...], declared: Any) -> bool:
    """The output's real shape has the declared rank and every declared fixed size."""
    if declared is None:
        return True
    if len(shape) != len(declared):
        return False
    return all(not isinstance(d, int) or d == s for d, s in zip(declared, shape, strict=True))


def _as_array(value: Any) -> np.ndarray:
    """A list of per-sample {label: score} maps (ZipMap) becomes an (N, K) array, labels
    in sorted order; tensors pass through."""
    if isinstance(value, list) and value and isinstance(value[0], dict):
        keys = sorted(value[0])
        return np.array([[row[k] for k in keys] for row in value], dtype=np.float32)
    return np.asarray(value)
