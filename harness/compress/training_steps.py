"""Compression steps that train: knowledge distillation and quantization-aware training.

They are settings of a compression chain like every pass (named in the config, swept by
lists, hashed into cache keys), but they cannot run on an ONNX graph alone: distillation
trains a new PyTorch student against the trained model, and QAT fine-tunes the trained
PyTorch model under fake quantization. The sweep runs them before the ONNX passes (see
harness.train.steps); `apply` on a bare graph says so. Their training code is in
harness.train.distill and harness.train.qat; this module only reads their settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import onnx

from harness.compress.base import Params, PassContext, PassResult
from harness.errors import CompressionError, ParamError

__all__ = ["Distill", "Qat", "StudentSpec", "trains"]


def trains(p: Any) -> bool:
    """Whether a chain step is a training step (distill, qat) rather than a graph pass."""
    return bool(getattr(p, "trains", False))


def _needs_training(name: str) -> PassResult:
    raise CompressionError(
        f"'{name}' trains a PyTorch model; it runs in a sweep's compress stage on a built-in "
        "or trained model, not on a bare ONNX graph"
    )


@dataclass(frozen=True)
class StudentSpec:
    """The student's architecture, as a [models.*] table names one."""

    arch: str
    width: int
    depth: int

    @classmethod
    def from_params(cls, params: Any) -> StudentSpec:
        from harness.models import ARCHITECTURES

        try:
            p = Params(params, ["arch", "width", "depth"])
            return cls(
                arch=p.choice("arch", ARCHITECTURES.names()),
                width=p.integer("width", 1, default=16),
                depth=p.integer("depth", 1, default=2),
            )
        except ParamError as exc:  # keyed below `student`, as the config writes it
            raise ParamError(f"student.{exc.key}" if exc.key else "student", exc.message) from None

    def spec(self) -> dict[str, Any]:
        return {"arch": self.arch, "width": self.width, "depth": self.depth}


@dataclass(frozen=True)
class Distill:
    """Train `student` on the policy's augmented data against the trained model's softened
    outputs (temperature T) and the labels: loss = alpha T^2 KL(teacher_T || student_T) +
    (1 - alpha) cross-entropy. `epochs` None: as many as the teacher's training. `mixup`:
    the share of each batch mixed with a partner after the policy (weight ~ Beta(1, 1)),
    seen by teacher and student alike ("function matching", Beyer et al. 2022): the
    teacher's outputs between images are what the labels cannot teach."""

    name: ClassVar[str] = "distill"
    trains: ClassVar[bool] = True
    student: StudentSpec
    temperature: float = 4.0
    alpha: float = 0.9
    epochs: int | None = None
    lr: float | None = None  # None: the training learning rate
    mixup: float = 0.0

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Distill:
        p = Params(params, ["student", "temperature", "alpha", "epochs", "lr", "mixup"])
        if not p.given("student"):
            raise ParamError(
                "student", 'is required: a table like { arch = "small_cnn", width = 4, depth = 2 }'
            )
        return cls(
            student=StudentSpec.from_params(params["student"]),
            temperature=p.number("temperature", 0, 100, lo_open=True, default=4.0),
            alpha=p.number("alpha", 0, 1, default=0.9),
            epochs=p.integer("epochs", 1, default=None) if p.given("epochs") else None,
            lr=p.number("lr", 0, 10, lo_open=True) if p.given("lr") else None,
            mixup=p.number("mixup", 0, 1, default=0.0),
        )

    def spec(self) -> dict[str, Any]:
        # Settings at their defaults stay out, so adding one kept the existing cache keys.
        optional = {
            k: v
            for k, v in (("epochs", self.epochs), ("lr", self.lr), ("mixup", self.mixup or None))
            if v is not None
        }
        return {
            "pass": self.name,
            "student": self.student.spec(),
            "temperature": self.temperature,
            "alpha": self.alpha,
            **optional,
        }

    def label(self) -> str:
        """'distill small_cnn w4 d2 T4'."""
        s = self.student
        mix = f" mixup{self.mixup:g}" if self.mixup else ""
        return f"distill {s.arch} w{s.width} d{s.depth} T{self.temperature:g}{mix}"

    def apply(self, model: onnx.ModelProto, ctx: PassContext) -> PassResult:
        return _needs_training(self.name)


@dataclass(frozen=True)
class Qat:
    """Fine-tune the trained model with fake-quantized weights (b bits, symmetric, per
    channel or per tensor) and, with `activations`, int8 fake-quantized inputs of every
    weight layer; exported as the `quantize` pass stores weights, plus QDQ activations."""

    name: ClassVar[str] = "qat"
    trains: ClassVar[bool] = True
    bits: int
    epochs: int = 5
    per_channel: bool = True
    activations: bool = True  # int8 activations (full-integer); default only for 8 bits
    lr: float | None = None  # None: a tenth of the training learning rate

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Qat:
        p = Params(params, ["bits", "epochs", "per_channel", "activations", "lr"])
        bits = p.integer("bits", 2, 8)
        return cls(
            bits=bits,
            epochs=p.integer("epochs", 1, default=5),
            per_channel=p.boolean("per_channel", default=True),
            activations=p.boolean("activations", default=bits == 8),
            lr=p.number("lr", 0, 10, lo_open=True) if p.given("lr") else None,
        )

    def spec(self) -> dict[str, Any]:
        lr = {} if self.lr is None else {"lr": self.lr}
        return {
            "pass": self.name,
            "bits": self.bits,
            "epochs": self.epochs,
            "per_channel": self.per_channel,
            "activations": self.activations,
            **lr,
        }

    def label(self) -> str:
        """'qat int8 a8', 'qat int4'; per-tensor weights are appended."""
        acts = " a8" if self.activations else ""
        return f"qat int{self.bits}{acts}{'' if self.per_channel else ' per-tensor'}"

    def apply(self, model: onnx.ModelProto, ctx: PassContext) -> PassResult:
        return _needs_training(self.name)
