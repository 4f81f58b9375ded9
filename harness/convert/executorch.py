"""ExecuTorch: a PyTorch module exported with `torch.export` and lowered to a .pte program.

Unlike LiteRT's route (from ONNX), ExecuTorch takes the PyTorch module itself, so only
models whose module the harness holds can go this way; the sweep decides which. Backends:
`xnnpack` (the XNNPACK delegate takes what it supports, portable kernels the rest) or
`portable` (portable kernels only). ExecuTorch's own int8 is PT2E quantization with the
XNNPACK quantizer (static, symmetric, per-channel weights), calibrated on the samples given.

The batch axis is dynamic from 1 up to `max_batch`: ExecuTorch plans activation memory for
that bound, and the example batch handed to `torch.export` must be the bound itself (with a
smaller one, conv nets came out bounded at 15 rows whatever the Dim's max said).

Pure: modules and arrays in, bytes out; torch and executorch are imported inside.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.errors import ConversionError, RuntimeUnavailable

if TYPE_CHECKING:
    import torch

BACKENDS = ["xnnpack", "portable"]
QUANTIZE_MODES = ["none", "int8"]
INSTALL_HINT = 'pip install ".[executorch]" (executorch==1.5.1)'


@dataclass(frozen=True)
class PteProgram:
    data: bytes  # the .pte file
    notes: dict[str, Any]  # JSON-able: backend, quantize, max batch, delegated operators


def require_executorch() -> None:
    """Raise RuntimeUnavailable, with the install command, when ExecuTorch is missing."""
    from importlib.util import find_spec

    if find_spec("executorch") is None:
        raise RuntimeUnavailable(f"ExecuTorch is not installed; {INSTALL_HINT}")


@contextmanager
def quiet() -> Iterator[None]:
    """Silence the libraries' own warnings and log lines while they convert.

    torch.export and ExecuTorch's passes warn about their own deprecations (pytree LeafSpec,
    Enum constants) and torchao logs the CUDA kernels it cannot load on a CPU machine; none
    of it is about the model, and it would scatter through the sweep's progress output."""
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(logging.NOTSET)


def _dynamic_shapes(max_batch: int) -> Any:
    from torch.export import Dim

    # A batch bound of 1 is a static shape: torch.export specialises a size-1 axis.
    return None if max_batch == 1 else ({0: Dim("batch", min=1, max=max_batch)},)


def export_program(
    net: torch.nn.Module, sample_shape: tuple[int, ...], max_batch: int
) -> torch.export.ExportedProgram:
    """The eval-mode module as an ExportedProgram taking 1..max_batch samples of sample_shape."""
    import torch

    if max_batch < 1:
        raise ValueError(f"max_batch must be >= 1, got {max_batch}")
    example = (torch.zeros((max_batch, *sample_shape), dtype=torch.float32),)
    net = net.eval()
    try:
        with quiet():
            return torch.export.export(net, example, dynamic_shapes=_dynamic_shapes(max_batch))
    except Exception as exc:
        raise ConversionError(f"torch.export failed: {_first_line(exc)}") from exc


def program_bytes(program: torch.export.ExportedProgram) -> bytes:
    """The ExportedProgram serialised (torch.export.save), for the artifact cache."""
    import torch

    buffer = io.BytesIO()
    with quiet():
        torch.export.save(program, buffer)
    return buffer.getvalue()


def load_program(data: bytes) -> torch.export.ExportedProgram:
    import torch

    with quiet():
        return torch.export.load(io.BytesIO(data))


def quantize_int8(
    program: torch.export.ExportedProgram, calibration: np.ndarray
) -> torch.export.ExportedProgram:
    """PT2E static int8 with the XNNPACK quantizer, observers calibrated on `calibration`."""
    import torch

    with quiet():
        from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
            XNNPACKQuantizer,
            get_symmetric_quantization_config,
        )
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    example = program.example_inputs[0]
    max_batch = int(example[0].shape[0])
    quantizer = XNNPACKQuantizer().set_global(
        get_symmetric_quantization_config(is_per_channel=True)
    )
    with quiet():
        prepared = prepare_pt2e(program.module(), quantizer)
        x = torch.from_numpy(np.ascontiguousarray(calibration, dtype=np.float32))
        for start in range(0, len(x), max_batch):
            prepared(x[start : start + max_batch])
        converted = convert_pt2e(prepared)
        return torch.export.export(converted, example, dynamic_shapes=_dynamic_shapes(max_batch))


def lower(
    program: torch.export.ExportedProgram,
    backend: str,
    quantize: str = "none",
    calibration: np.ndarray | None = None,
) -> PteProgram:
    """The .pte of `program` for `backend`, quantized first when `quantize` is "int8"."""
    require_executorch()
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if quantize not in QUANTIZE_MODES:
        raise ValueError(f"quantize must be one of {QUANTIZE_MODES}, got {quantize!r}")
    with quiet():
        from executorch.exir import to_edge_transform_and_lower

    try:
        if quantize == "int8":
            if calibration is None or not len(calibration):
                raise ConversionError("ExecuTorch int8 needs calibration samples; none given")
            program = quantize_int8(program, calibration)
        partitioners = []
        with quiet():
            if backend == "xnnpack":
                from executorch.backends.xnnpack.partition.xnnpack_partitioner import (
                    XnnpackPartitioner,
                )

                partitioners.append(XnnpackPartitioner())
            edge = to_edge_transform_and_lower(program, partitioner=partitioners)
            delegated, kept = _delegation(edge)
            data = bytes(edge.to_executorch().buffer)
    except ConversionError:
        raise
    except Exception as exc:
        raise ConversionError(f"ExecuTorch lowering failed: {_first_line(exc)}") from exc
    max_batch = int(program.example_inputs[0][0].shape[0])
    notes = {
        "backend": backend,
        "quantize": quantize,
        "max_batch": max_batch,
        "delegated_ops": delegated,
        "portable_ops": kept,
    }
    return PteProgram(data, notes)


def _delegation(edge: Any) -> tuple[int, int]:
    """(operators taken by the delegate, operators left to portable kernels)."""
    from executorch.devtools.backend_debug import get_delegation_info

    info = get_delegation_info(edge.exported_program().graph_module)
    return int(info.num_delegated_nodes), int(info.num_non_delegated_nodes)


def _first_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
