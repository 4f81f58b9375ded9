"""Knowledge distillation: a smaller built-in student learns from the trained model.

The teacher is the candidate's trained ONNX model, run by onnxruntime on every augmented
training batch the student sees ("function matching", Beyer et al. 2022: teacher and
student see the same augmented image), so any model the harness can run can teach,
including an imported one. The student's loss is Hinton et al.'s:

    alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T)) + (1 - alpha) * CE(labels)

(T^2 keeps the soft term's gradients on the scale of the hard one's as T changes).

Pure: no file I/O, no printing; torch is imported inside the functions.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.errors import CompressionError
from harness.specs import TrainingSpec
from harness.train.datasets import Splits

if TYPE_CHECKING:
    import torch

    from harness.compress.training_steps import Distill
    from harness.train.augment import Policy

__all__ = ["DistillResult", "distill", "distill_loss", "with_mixup"]


@dataclass(frozen=True)
class DistillResult:
    student: Any  # torch.nn.Module at its best epoch, eval mode
    notes: dict[str, Any]  # JSON-able: student, losses, history, seconds


def distill_loss(
    student: torch.Tensor,
    teacher: torch.Tensor,
    targets: torch.Tensor,
    temperature: float,
    alpha: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(total, soft, hard): soft = T^2 KL(teacher_T || student_T) per sample, hard =
    cross-entropy against `targets` (one-hot or mixed soft labels)."""
    import torch
    from torch.nn import functional as F

    t = temperature
    soft = F.kl_div(
        F.log_softmax(student / t, dim=1),
        F.log_softmax(teacher / t, dim=1),
        log_target=True,
        reduction="batchmean",
    ) * (t * t)
    hard = torch.sum(-targets * F.log_softmax(student, dim=1), dim=1).mean()
    return alpha * soft + (1 - alpha) * hard, soft, hard


def with_mixup(policy: Policy, share: float) -> Policy:
    """`policy` followed by mixup of `share` of each batch (weight ~ Beta(1, 1)): one more
    stage, so the views stay one draw that teacher and student both see."""
    from dataclasses import replace

    from harness.train.augment import Stage, Step

    if share <= 0:
        return policy
    stage = Stage(((Step("mixup", share, 10.0),),))
    return replace(
        policy, params=(*policy.params, ("distill_mixup", share)), stages=(*policy.stages, stage)
    )


class Teacher:
    """The trained model in onnxruntime: logits for a batch of model inputs."""

    def __init__(self, onnx_bytes: bytes, threads: int) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.session.run(None, {self.input: x})[0], dtype=np.float32)


def distill(
    teacher_onnx: bytes,
    step: Distill,
    splits: Splits,
    policy: Policy,
    training: TrainingSpec,
    seed: int,
) -> DistillResult:
    """Train `step.student` against the teacher under `policy`; keep its best epoch by
    validation accuracy (as training does)."""
    import torch

    from harness.models import ARCHITECTURES, INPUT_KINDS
    from harness.train.finetune import _torch_settings
    from harness.train.training import fit

    s = step.student
    kind = splits.dataset.kind
    if kind not in INPUT_KINDS.get(s.arch, {kind}):
        raise CompressionError(f"distill: student arch '{s.arch}' does not take {kind} data")
    teacher = Teacher(teacher_onnx, training.threads)
    x_val = splits.model_input(splits.val[0])
    teacher_val = float((teacher(x_val).argmax(1) == splits.val[1]).mean())

    def loss_fn(logits: Any, xb: np.ndarray, tb: np.ndarray) -> tuple[Any, dict[str, float]]:
        soft_targets = torch.from_numpy(teacher(xb))
        total, soft, hard = distill_loss(
            logits, soft_targets, torch.from_numpy(tb), step.temperature, step.alpha
        )
        return total, {"soft_loss": soft.item(), "hard_loss": hard.item()}

    with _torch_settings(training.threads):
        torch.manual_seed(seed)
        build = ARCHITECTURES.get(s.arch)
        student = build(splits.input_shape, splits.dataset.n_classes, s.width, s.depth)
        epochs = step.epochs or training.epochs
        lr = step.lr or training.lr
        views = with_mixup(policy, step.mixup)
        started = time.perf_counter()
        fitted = fit(
            student, splits, views, training, np.random.default_rng(seed),
            epochs=epochs, lr=lr, loss_fn=loss_fn,
        )  # fmt: skip
        seconds = time.perf_counter() - started
    best = fitted.history[fitted.best_epoch]
    notes = {
        "student": s.spec(),
        "temperature": step.temperature,
        "alpha": step.alpha,
        "mixup": step.mixup,
        "epochs": epochs,
        "lr": lr,
        "epochs_run": fitted.epochs_run,
        "best_epoch": fitted.best_epoch,
        "teacher_val_accuracy": round(teacher_val, 6),
        "val_accuracy": fitted.best_accuracy,
        "soft_loss": best.get("soft_loss"),
        "hard_loss": best.get("hard_loss"),
        "train_seconds": round(seconds, 3),
        "history": list(fitted.history),
    }
    return DistillResult(student, notes)
