"""A compression chain's training steps, run before its ONNX passes.

A chain may start with `distill` (the student replaces the trained model for every later
step) and end with `qat` (it writes the quantized storage itself); between them come the
ONNX passes. So `distill` then `quantize`, `distill` then `qat`, `qat` alone, or
structural passes (prune, svd) then `qat` compose; `finetune_epochs` fine-tunes the
structural passes of the student (or of the trained model) as it does without
distillation, and before `qat` it is the recovery fine-tuning QAT then starts from
("deep compression": fewer channels, fine-tuned, then low-bit weights trained for).

Pure: no file I/O, no printing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import onnx

from harness.compress.training_steps import trains
from harness.errors import CompressionError
from harness.specs import TrainingSpec
from harness.train.datasets import Splits
from harness.train.finetune import STRUCTURAL

if TYPE_CHECKING:
    import torch

    from harness.train.augment import Policy
    from harness.train.finetune import FinetuneResult

# tune(net, passes, readers): mirror and fine-tune a chain's structural passes
Tune = Callable[[Any, Sequence[Any], bool], "FinetuneResult"]

__all__ = ["StepsResult", "chain_problem", "run_steps", "uses_training"]


def uses_training(passes: Sequence[Any]) -> bool:
    return any(trains(p) for p in passes)


def chain_problem(passes: Sequence[Any], finetune_epochs: int) -> tuple[int, str] | None:
    """(step index, what is wrong) for a chain whose training steps cannot run in order."""
    for i, p in enumerate(passes):
        if p.name == "distill" and i != 0:
            return i, "distill replaces the model, so it must be the chain's first step"
        if p.name == "qat":
            if i != len(passes) - 1:
                return i, "qat writes the quantized model, so it must be the chain's last step"
            before = [q.name for q in passes[:i] if q.name != "distill"]
            if any(name not in STRUCTURAL for name in before):
                return i, (
                    "qat quantizes the model itself, so only distill, prune and svd may "
                    "come before it; drop the other quantizing steps"
                )
            if finetune_epochs and not before:
                return i, "qat trains already; drop finetune_epochs (qat's epochs set it)"
    return None


@dataclass(frozen=True)
class StepsResult:
    model: onnx.ModelProto  # the model the remaining ONNX passes start from
    remaining: tuple[Any, ...]
    notes: list[dict[str, Any]]  # one per training step ({"pass": "distill", ...})


def run_steps(
    teacher_onnx: bytes,
    net: torch.nn.Module | None,
    passes: Sequence[Any],
    splits: Splits,
    policy: Policy,
    training: TrainingSpec,
    seed: int,
    finetune_epochs: int = 0,
    finetune_lr: float | None = None,
    tune: Tune | None = None,
) -> StepsResult:
    """Run the chain's training steps on the trained model (`teacher_onnx`, and `net`, its
    PyTorch module, or None for a model trained elsewhere, which only distill can use).
    `tune(net, passes, readers)` mirrors and fine-tunes the structural passes (default:
    harness.train.finetune; the sweep's caches the fine-tuned weights)."""
    from harness.train.finetune import finetune
    from harness.train.training import export_onnx

    if tune is None:

        def tune(net: Any, passes: Sequence[Any], readers: bool) -> FinetuneResult:
            return finetune(
                net, passes, splits, policy, training, finetune_epochs, seed, finetune_lr,
                readers=readers,
            )  # fmt: skip

    problem = chain_problem(passes, finetune_epochs)
    if problem:
        raise CompressionError(f"step {problem[0]}: {problem[1]}")
    rest = list(passes)
    notes: list[dict[str, Any]] = []
    if rest and rest[0].name == "distill":
        from harness.train.distill import distill

        result = distill(teacher_onnx, rest.pop(0), splits, policy, training, seed)
        net = result.student
        student = onnx.load_from_string(export_onnx(net, splits))
        notes.append({"pass": "distill", **result.notes, **_sizes(student, teacher_onnx)})
    elif net is None:
        raise CompressionError(
            f"{rest[-1].name} needs the trained PyTorch model; this model was trained "
            "elsewhere (an imported ONNX file), which only distill can start from"
        )
    assert net is not None
    if rest and rest[-1].name == "qat":
        from harness.train.qat import qat

        masks, repeated = None, ()
        if len(rest) > 1:  # prune/svd first: mirrored in torch, fine-tuned if asked
            tuned = tune(net, rest, True)
            net, masks, repeated = tuned.net, tuned.masks, tuned.remaining[:-1]
            if finetune_epochs:
                notes.append({"pass": "finetune", **tuned.notes})
        done = qat(net, rest[-1], splits, policy, training, seed, masks, repeated)
        notes.append({"pass": "qat", **done.notes})
        return StepsResult(done.model, (), notes)
    if finetune_epochs:
        tuned = tune(net, rest, False)
        notes.append({"pass": "finetune", **tuned.notes})
        return StepsResult(tuned.model, tuned.remaining, notes)
    return StepsResult(onnx.load_from_string(export_onnx(net, splits)), tuple(rest), notes)


def _sizes(student: onnx.ModelProto, teacher_onnx: bytes) -> dict[str, Any]:
    """Parameters and MACs of student and teacher, and their ratios."""
    from harness.measure.size import macs, parameters

    teacher = onnx.load_from_string(teacher_onnx)
    s_params, t_params = parameters(student.graph)[0], parameters(teacher.graph)[0]
    s_macs, t_macs = macs(student), macs(teacher)
    return {
        "student_params": s_params,
        "student_macs": s_macs,
        "teacher_params": t_params,
        "teacher_macs": t_macs,
        "params_ratio": round(s_params / t_params, 4) if t_params else None,
        "macs_ratio": round(s_macs / t_macs, 4) if t_macs else None,
    }
