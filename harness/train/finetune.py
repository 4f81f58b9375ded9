"""Recovery fine-tuning: apply a chain's structural passes (prune, svd) in PyTorch, fine-tune
the compressed model for a few epochs, and re-export it for the passes that remain.

Only built-in (PyTorch-trained) models can be fine-tuned. The structural prefix of the
chain (the passes before the first quantize/float16/ort_int8) is mirrored on the torch
model, deciding exactly as the ONNX passes do (see harness.train.finetune_layers):

- unstructured prune: the same weights are held at zero through fine-tuning; the export
  has them exactly zero, so the pass is not repeated;
- structured prune: the same output channels (weights and bias) are held at zero; the
  pass is repeated on the export, where it removes exactly those channels (checked);
- svd: the same layers become two thinner ones at the same rank, initialised from the
  same truncated SVD; not repeated.

A structured prune must be the last structural pass: a later pass would decide on the
physically smaller ONNX graph, which the torch model (with zero channels) is not.

Pure: no file I/O, no printing; torch is imported inside the functions.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx

from harness.errors import CompressionError
from harness.specs import TrainingSpec
from harness.train.datasets import Splits

if TYPE_CHECKING:
    import torch

    from harness.train.augment import Policy

__all__ = ["FinetuneResult", "finetune", "plan_chain"]

STRUCTURAL = ("prune", "svd")
# Fine-tuning starts at the training learning rate unless the setting gives one: on these
# small nets, recovery within a few epochs needs it (benchmarks/finetune_lr.py: svd 25%
# recovers to 0.918 at lr, 0.733 at lr/10; no setting did better at lr/10).
EXACT_TOL = 1e-4  # repeated passes must reproduce the fine-tuned model's logits


@dataclass(frozen=True)
class FinetuneResult:
    model: onnx.ModelProto  # the fine-tuned, re-exported graph, ready for `remaining`
    remaining: tuple[Any, ...]  # passes still to apply with harness.compress.apply_chain
    notes: dict[str, Any]  # JSON-able: epochs, val accuracy before/after, layers
    net: Any = None  # the fine-tuned torch module itself (ExecuTorch exports from it)
    masks: Any = None  # the Masks holding its removed channels at zero (on `net`)


def _name(p: Any) -> str:
    return type(p).name


def plan_chain(passes: Sequence[Any]) -> tuple[list[Any], tuple[Any, ...]]:
    """(structural passes to mirror in torch, passes left for ONNX afterwards).

    Raises CompressionError for a structural pass after a non-structural one, or after a
    structured prune."""
    passes = list(passes)
    cut = next((i for i, p in enumerate(passes) if _name(p) not in STRUCTURAL), len(passes))
    for later in passes[cut:]:
        if _name(later) in STRUCTURAL:
            raise CompressionError(
                f"finetune: structural pass '{_name(later)}' after '{_name(passes[cut])}' "
                "cannot be fine-tuned; put prune/svd first"
            )
    mirrored = passes[:cut]
    for i, p in enumerate(mirrored[:-1]):
        if _name(p) == "prune" and p.structured:
            raise CompressionError(
                f"finetune: '{mirrored[i + 1].label()}' after the structured '{p.label()}' "
                "cannot be fine-tuned; put the structured prune last"
            )
    repeated = [p for p in mirrored if _name(p) == "prune" and p.structured]
    return mirrored, (*repeated, *passes[cut:])


@contextlib.contextmanager
def _torch_settings(threads: int) -> Iterator[None]:
    """Deterministic kernels and a thread count for the duration, restored afterwards."""
    import torch

    old_threads, old_det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(old_threads)
        torch.use_deterministic_algorithms(old_det)


def finetune(
    net: torch.nn.Module,
    passes: Sequence[Any],
    splits: Splits,
    policy: Policy,
    training: TrainingSpec,
    epochs: int,
    seed: int,
    lr: float | None = None,
    weights: dict[str, Any] | None = None,
    readers: bool = False,
) -> FinetuneResult:
    """Mirror the chain's structural passes on `net` (left untouched: a copy is changed),
    fine-tune for up to `epochs` at `lr` (default training.lr, cosine schedule) under
    `policy`, keep the best epoch by validation accuracy (epoch 0 = compressed, not
    fine-tuned) and re-export it. `weights` (the state dict of an earlier identical
    fine-tuning) are loaded into the mirrored model instead of training it again.
    `readers`: also hold at zero the weights reading removed channels (for QAT next)."""
    import torch

    from harness.train.finetune_layers import (
        Masks,
        factorize,
        fold_batchnorm,
        match_layers,
        prune_masks,
    )
    from harness.train.training import export_onnx, fit

    if epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs}")
    mirrored, remaining = plan_chain(passes)
    rate = training.lr if lr is None else lr
    with _torch_settings(training.threads):
        torch.manual_seed(seed)
        work = fold_batchnorm(net)
        sample = torch.from_numpy(splits.model_input(splits.val[0][:2]))
        masks = Masks()
        layers: dict[str, dict[str, Any]] = {}
        for p in mirrored:
            exported = onnx.load_from_string(export_onnx(work, splits))
            matches = match_layers(work, exported, sample)
            if _name(p) == "svd":
                found = factorize(p, work, exported, matches, masks)
            else:
                found = prune_masks(p, exported, matches, masks, readers)
                masks.apply()
            for module, info in found.items():
                layers.setdefault(module, {}).update(info)
        if weights is not None:
            work.load_state_dict(weights)
            masks.apply()  # `readers` may hold more at zero than the weights' fine-tuning
        fitted = fit(
            work, splits, policy, training, np.random.default_rng(seed),
            epochs=0 if weights is not None else epochs, lr=rate, after_step=masks.apply,
        )  # fmt: skip
        for module, zeros in masks.zeros().items():
            layers.setdefault(module, {})["zeros"] = zeros
        model = onnx.load_from_string(export_onnx(work, splits))
    remaining = tuple(held_at_zero(p, model) for p in remaining)
    realise(model, [p for p in remaining if _name(p) in STRUCTURAL], splits)
    notes = {
        "epochs": epochs,
        "lr": rate,
        "epochs_run": fitted.epochs_run,
        "best_epoch": fitted.best_epoch,
        "val_accuracy_before": fitted.start_accuracy,
        "val_accuracy_after": fitted.best_accuracy,
        "mirrored": [p.label() for p in mirrored],
        "layers": layers,
    }
    return FinetuneResult(model, remaining, notes, work, masks)


def held_at_zero(p: Any, model: onnx.ModelProto) -> Any:
    """A structured prune with round_to (or tied = "keep"), repeated on the fine-tuned export, becomes the
    unrounded global prune of exactly the channels fine-tuning held at zero (they score 0,
    so they go first): deciding the rounding again on fine-tuned weights, where the zeros
    no longer add up to the ratio, could take live channels. Other passes are returned as
    they are."""
    if _name(p) != "prune" or not p.structured or (p.round_to == 1 and p.tied == "prune"):
        return p
    from dataclasses import replace

    from harness.compress.layers import weight_layers
    from harness.compress.prune import channel_groups

    layers, skipped = weight_layers(model.graph)
    groups = channel_groups(model, layers, skipped)
    total = sum(g.channels for g in groups)
    dead = sum(int(np.count_nonzero(g.scores(model) == 0)) for g in groups)
    return replace(
        p, ratio=dead / total if total else 0.0, scope="global", round_to=1, tied="prune"
    )


def realise(model: onnx.ModelProto, repeated: list[Any], splits: Splits) -> onnx.ModelProto:
    """`model` after the repeated passes (structured prune), which must only remove what
    fine-tuning held at zero: the logits on the validation split stay those of `model`."""
    if not repeated:
        return model
    import onnxruntime as ort

    from harness.compress import PassContext, apply_chain
    from harness.train.training import INPUT_NAME

    x = splits.model_input(splits.val[0])
    ctx = PassContext(calibration=x[:16], input_name=INPUT_NAME)
    realised, _ = apply_chain(model, repeated, ctx)
    got = []
    for m in (model, realised):
        session = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        got.append(session.run(None, {INPUT_NAME: x})[0])
    diff = float(np.abs(got[0] - got[1]).max())
    if diff > EXACT_TOL:
        where = " -> ".join(p.label() for p in repeated)
        raise CompressionError(
            f"finetune: {where} on the fine-tuned model changes its logits by {diff:.2e}; "
            "the channels it removes are not the ones fine-tuning held at zero"
        )
    return realised
