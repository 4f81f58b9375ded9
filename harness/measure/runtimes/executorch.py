"""ExecuTorch (PyTorch's edge runtime) running .pte programs through executorch.runtime.

The backend (XNNPACK delegate or portable kernels) and ExecuTorch's own int8 are decided
when the program is lowered (harness.convert.executorch), so those settings shape the
.pte the sweep hands over; `threads` sizes ExecuTorch's thread pool here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from harness.convert.executorch import BACKENDS, INSTALL_HINT, QUANTIZE_MODES, quiet
from harness.errors import ParamError, RuntimeUnavailable
from harness.measure.runtimes.settings import check_choice, check_keys, check_threads

PROFILE_RUNS = 200  # executions traced for the per-operator profile, after the timing
PROFILE_TOP = 10


def _runtime() -> Any:
    try:
        with quiet():
            from executorch.runtime import Runtime
    except ImportError:
        raise RuntimeUnavailable(f"ExecuTorch is not installed; {INSTALL_HINT}") from None
    return Runtime.get()


class ExecuTorch:
    name: ClassVar[str] = "executorch"
    model_format: ClassVar[str] = "pte"

    @classmethod
    def parse_settings(cls, params: dict[str, Any]) -> dict[str, Any]:
        settings = check_keys(params, {"threads": 1, "backend": "xnnpack", "quantize": "none"})
        check_threads(settings["threads"])
        check_choice("backend", settings["backend"], BACKENDS)
        check_choice("quantize", settings["quantize"], QUANTIZE_MODES)
        if settings["quantize"] == "int8" and settings["backend"] != "xnnpack":
            raise ParamError(
                "quantize",
                'ExecuTorch\'s int8 runs on the XNNPACK backend; set backend = "xnnpack"',
            )
        return settings

    @classmethod
    def prepare(cls) -> None:
        _runtime()

    @classmethod
    def unavailable(cls) -> str | None:
        from importlib.util import find_spec

        if find_spec("executorch") is None:
            return f"ExecuTorch is not installed; {INSTALL_HINT}"
        return None

    @classmethod
    def version(cls) -> str:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return f"executorch {version('executorch')}"
        except PackageNotFoundError:
            return "unknown"

    @classmethod
    def load(cls, path: str, settings: dict[str, Any]) -> ExecuTorchSession:
        runtime = _runtime()
        from executorch.extension.pybindings.portable_lib import _unsafe_reset_threadpool

        # The pool is process-wide and sized to the machine by default; the worker process
        # is ours alone, so resetting it to the target's thread count is safe here.
        _unsafe_reset_threadpool(int(settings["threads"]))
        program = runtime.load_program(Path(path))
        method = program.load_method("forward")
        if method is None:
            raise RuntimeUnavailable(f"{path} has no 'forward' method")
        return ExecuTorchSession(method, path)


class ExecuTorchSession:
    """Batches above the program's planned bound are run in slices of the bound."""

    def __init__(self, method: Any, path: str) -> None:
        self.method = method
        self.path = path
        meta = method.metadata.input_tensor_meta(0)
        self.bound = int(meta.sizes()[0])
        # A .pte program names no inputs; the harness exports one-input models only.
        self.input_names = ["input"]

    def _single(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        if len(feeds) != 1:
            raise RuntimeUnavailable(
                f"this ExecuTorch program takes one input; the data gives {len(feeds)}"
            )
        return next(iter(feeds.values()))

    def run_all(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return [self.run(self._single(feeds))]

    def bind_all(self, feeds: dict[str, np.ndarray]) -> Callable[[], None]:
        return self.bind(self._single(feeds))

    def run(self, x: np.ndarray) -> np.ndarray:
        import torch

        outs = []
        for start in range(0, len(x), self.bound):
            chunk = torch.from_numpy(np.ascontiguousarray(x[start : start + self.bound]))
            outs.append(np.array(self.method.execute([chunk])[0].numpy()))
        return np.concatenate(outs)

    def bind(self, x: np.ndarray) -> Callable[[], None]:
        """Inputs set once; the bare execute() is what is timed (outputs stay in place)."""
        import torch

        if len(x) > self.bound:
            raise RuntimeUnavailable(
                f"batch {len(x)} is above the {self.bound} this program was lowered for"
            )
        native = self.method._method  # executorch.runtime.Method wraps the bound method
        self._bound_input = torch.from_numpy(np.ascontiguousarray(x))
        native.set_inputs([self._bound_input])
        execute: Callable[[], None] = native.execute
        return execute

    def profile(self, x: np.ndarray, out_dir: str) -> list[dict[str, Any]]:
        """The slowest operators by mean time over PROFILE_RUNS traced executions (ETDump,
        read with ExecuTorch's Inspector), in a fresh program so the timing ran untraced."""
        import torch

        with quiet():
            from executorch.devtools import Inspector

        program = _runtime().load_program(Path(self.path), enable_etdump=True)
        method = program.load_method("forward")
        inputs = [torch.from_numpy(np.ascontiguousarray(x[: self.bound]))]
        for _ in range(PROFILE_RUNS):
            method.execute(inputs)
        etdump = str(Path(out_dir) / "profile.etdp")
        program.write_etdump_result_to_file(etdump, str(Path(out_dir) / "profile.bin"))
        with quiet():
            inspector = Inspector(etdump_path=etdump)
        return operator_profile(inspector, len(inputs[0]))


# Events that wrap operators (or the whole call) rather than being one.
_WRAPPERS = {"OPERATOR_CALL", "DELEGATE_CALL", "Method::execute"}


def operator_profile(inspector: Any, batch: int) -> list[dict[str, Any]]:
    """Operator events of the execute blocks, slowest first: name, where it ran, mean time in
    ms and its share of the whole call's mean. Means, not medians: XNNPACK reports whole
    microseconds, so a sub-microsecond operator's median reads 0 where its mean does not."""
    total = 0.0
    rows = []
    for block in inspector.event_blocks:
        if block.name != "Execute":
            continue
        for event in block.events:
            if event.perf_data is None:
                continue
            mean = float(event.perf_data.avg)
            if event.name == "Method::execute":
                total = mean
            if event.name in _WRAPPERS:
                continue
            name = event.name.removeprefix("native_call_")
            where = "xnnpack" if event.is_delegated_op else "portable"
            rows.append({"op": name, "backend": where, "mean_ms": mean})
    rows.sort(key=lambda r: -r["mean_ms"])
    for row in rows:
        row["share"] = row["mean_ms"] / total if total > 0 else None
        row["batch"] = batch
    return rows[:PROFILE_TOP]
