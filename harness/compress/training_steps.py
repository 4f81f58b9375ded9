"""Compression steps that train: knowledge distillation and quantization-aware training.

They are settings of a compression chain like every pass (named in the config, swept by
lists, hashed into cache keys), but they cannot run on an ONNX graph alone: distillation
trains a new PyTorch student against the trained model, and QAT fine-tunes the trained
PyTorch model under fake quantization. The sweep runs them before the ONNX passes (see
harness.train.steps); `apply` on a bare graph says so. Their training code is in
harness.train.distill and harness.train.qat; this module only reads their settings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import onnx

from harness.compress.base import Params, PassContext, PassResult
from harness.compress.int8_isa import ISAS, Int8Choice, resolve_isa, target_choice
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
    weight layer; exported as the `quantize` pass stores weights, plus QDQ activations.

    Full-integer int8 (bits 8 with activations) runs on ORT's int8 kernels, which saturate
    8-bit weights on x86 without VNNI (harness.compress.int8_isa): for such a CPU (`isa`,
    resolved from the machine by `for_cpu`) the weights are trained and stored in 7 bits,
    as the `ort_int8` pass stores them, so the model trained is the model run."""

    name: ClassVar[str] = "qat"
    trains: ClassVar[bool] = True
    bits: int
    epochs: int = 5
    per_channel: bool = True
    activations: bool = True  # int8 activations (full-integer); default only for 8 bits
    lr: float | None = None  # None: a tenth of the training learning rate
    isa: str = "auto"  # full-integer int8 only: the CPU family the model is for

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Qat:
        p = Params(params, ["bits", "epochs", "per_channel", "activations", "lr", "isa"])
        bits = p.integer("bits", 2, 8)
        activations = p.boolean("activations", default=bits == 8)
        isa = p.choice("isa", ISAS, default="auto")
        if isa != "auto" and not (bits == 8 and activations):
            raise ParamError(
                "isa", "applies only to full-integer int8 (bits = 8, activations = true); drop it"
            )
        return cls(
            bits=bits,
            epochs=p.integer("epochs", 1, default=5),
            per_channel=p.boolean("per_channel", default=True),
            activations=activations,
            lr=p.number("lr", 0, 10, lo_open=True) if p.given("lr") else None,
            isa=isa,
        )

    def spec(self) -> dict[str, Any]:
        """The settings; `lr` and `isa` only when given or resolved, so the keys of configs
        written before they existed stay the same."""
        lr = {} if self.lr is None else {"lr": self.lr}
        target = {} if self.isa == "auto" else {"isa": self.isa}
        return {
            "pass": self.name,
            "bits": self.bits,
            "epochs": self.epochs,
            "per_channel": self.per_channel,
            "activations": self.activations,
            **lr,
            **target,
        }

    def label(self) -> str:
        """'qat int8 a8', 'qat int4'; per-tensor weights and a given target family are
        appended."""
        acts = " a8" if self.activations else ""
        target = "" if self.isa == "auto" else f" for {self.isa}"
        return f"qat int{self.bits}{acts}{'' if self.per_channel else ' per-tensor'}{target}"

    @property
    def full_integer(self) -> bool:
        return self.bits == 8 and self.activations

    def for_cpu(self, arch: str, flags: Sequence[str]) -> Qat:
        """This step for the CPU that will run the model (`isa = "auto"` resolved); only
        full-integer int8 depends on the CPU."""
        if not self.full_integer:
            return self
        return replace(self, isa=resolve_isa(self.isa, arch, flags))

    def choice(self) -> Int8Choice:
        """The weight range and why; an unresolved "auto" takes the choice exact on any CPU."""
        return target_choice(self.isa)

    def weight_bits(self) -> int:
        """The bits the weights are trained and stored in: 7 for full-integer int8 on a CPU
        whose int8 kernels saturate 8-bit weights, else `bits`."""
        return 7 if self.full_integer and self.choice().reduce_range else self.bits

    def apply(self, model: onnx.ModelProto, ctx: PassContext) -> PassResult:
        return _needs_training(self.name)
