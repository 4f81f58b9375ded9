"""The ExecuTorch target's conversion: a candidate's PyTorch form, exported and lowered to .pte.

ExecuTorch starts from the PyTorch module, not from the ONNX graph the other runtimes share,
so a candidate goes this way only when it has a PyTorch form:
- the trained module of a built-in model (the uncompressed baseline);
- prune and svd (fine-tuned or not), mirrored on that module by harness.train.finetune exactly
  as the ONNX passes decide (with finetune_epochs = 0 the mirror is not trained further);
- ExecuTorch's own int8 (PT2E, the target's `quantize = "int8"`) on top of either.
Anything else (an imported ONNX file, an ONNX-only pass such as quantize, float16 or ort_int8)
raises UnsupportedError: the candidate is recorded `unsupported`, not failed.

Both the exported PyTorch form (.pt2) and the .pte are cached by content hash.
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

import numpy as np

from harness.errors import UnsupportedError
from harness.specs import RuntimeSpec
from harness.store.artifacts import Artifacts
from harness.sweep.keys import compressed_key
from harness.sweep.plan import CompressJob
from harness.sweep.stages import Built, trained_module
from harness.train.datasets import Splits

RUNTIME = "executorch"
PTE_VERSION = "1"  # bump when the export or lowering below changes what a .pte holds
STRUCTURAL = ("prune", "svd")  # the passes harness.train.finetune mirrors in PyTorch


def mirrored_passes(job: CompressJob) -> list[Any]:
    """The passes mirrored on the PyTorch module; UnsupportedError when the candidate has
    no PyTorch form."""
    model = job.train.model
    if model.imported:
        raise UnsupportedError(
            RUNTIME,
            f"{model.name} is an imported ONNX file; ExecuTorch exports the PyTorch module, "
            "which the harness has only for the models it trains",
        )
    passes = list(job.compression.passes)
    for p in passes:
        if type(p).name not in STRUCTURAL:
            raise UnsupportedError(
                RUNTIME,
                f"'{p.label()}' is an ONNX graph pass with no PyTorch form; "
                'ExecuTorch\'s own int8 is a target setting: quantize = "int8"',
            )
    return passes


def pte_stage(
    job: CompressJob,
    runtime: RuntimeSpec,
    splits: Splits,
    calibration: np.ndarray,
    config: Any,
    artifacts: Artifacts,
) -> Built:
    """The candidate's .pte for this target's backend and quantize setting."""
    mirrored_passes(job)
    from harness.convert.executorch import lower, require_executorch

    require_executorch()
    quantize = runtime.settings["quantize"]
    max_batch = max(config.latency.batches)
    key = pte_key(job, runtime, config)
    cached = artifacts.get("pte", key, "pte")
    if cached:
        return Built(cached[0], cached[1], reused=True)
    program, form = torch_program(job, splits, config, artifacts, max_batch)
    backend, et = runtime.settings["backend"], version("executorch")
    pte = lower(program, backend, quantize, calibration if quantize != "none" else None)
    meta = {"source": compressed_key(job), "executorch": et, **pte.notes, "pytorch_form": form}
    path = artifacts.put("pte", key, "pte", pte.data, meta)
    return Built(path, meta, reused=False)


def pte_key(job: CompressJob, runtime: RuntimeSpec, config: Any) -> str:
    """The cache key of the candidate's .pte (what pte_stage makes)."""
    backend, quantize = runtime.settings["backend"], runtime.settings["quantize"]
    max_batch = max(config.latency.batches)
    et = version("executorch")
    return f"{compressed_key(job)}-et{PTE_VERSION}-{et}-{backend}-{quantize}-b{max_batch}"


def torch_program(
    job: CompressJob, splits: Splits, config: Any, artifacts: Artifacts, max_batch: int
) -> tuple[Any, dict[str, Any]]:
    """The candidate's PyTorch form as a torch.export program taking 1..max_batch samples,
    and a note of how it was made."""
    import torch

    from harness.convert.executorch import export_program, load_program, program_bytes

    passes = mirrored_passes(job)
    key = f"{compressed_key(job)}-t{PTE_VERSION}-{torch.__version__}-b{max_batch}"
    cached = artifacts.get("torchprogram", key, "pt2")
    if cached:
        return load_program(cached[0].read_bytes()), cached[1]
    net = trained_module(job, splits, artifacts, "ExecuTorch")
    form: dict[str, Any] = {"from": "the trained PyTorch module"}
    epochs = job.compression.finetune_epochs
    if passes or epochs:
        from harness.sweep.stages import finetune_cached

        result = finetune_cached(job, net, splits, config, artifacts)
        net = result.net
        form = {
            "from": "the trained module with the passes mirrored in PyTorch",
            "mirrored": result.notes["mirrored"],
            "finetune_epochs": epochs,
            "val_accuracy_after": result.notes["val_accuracy_after"],
        }
        if any(type(p).name == "prune" and p.structured for p in passes):
            form["note"] = (
                "structured prune: the PyTorch form holds the pruned channels at zero (the ONNX "
                "pass removes them), so the .pte keeps their size"
            )
    program = export_program(net, splits.input_shape, max_batch)
    artifacts.put("torchprogram", key, "pt2", program_bytes(program), form)
    return program, form
