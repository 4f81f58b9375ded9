"""Quantization-aware training: fine-tune the trained PyTorch model under fake quantization,
then export it in the storage the post-training `quantize` pass uses.

- Weights: each Conv/Linear weight the `quantize` pass would store is replaced, through
  torch's parametrization API, by `torch.fake_quantize_per_channel_affine` (or per tensor)
  with the pass's own scheme: symmetric, range [-(2^(b-1)-1), 2^(b-1)-1], scale =
  max|w| / qmax of the current weights. Gradients pass straight through (torch's kernel).
  The export stores the latent float weights through the `quantize` pass itself, so the
  integers are those the fake quantizer used.
- Full-integer int8 on a CPU whose int8 kernels saturate 8-bit weights (x86 without VNNI,
  `Qat.weight_bits`) trains and stores 7-bit weights, as `ort_int8` stores them there.
- Activations (`activations`, full-integer int8): the input of every weight layer goes
  through a torch.ao.quantization.FakeQuantize (moving-average min/max observer, int8
  affine), whose learned scale and zero point become a QuantizeLinear/DequantizeLinear
  pair in the export. Observers are calibrated on training batches before the first
  epoch (epoch 0 is then the post-training-quantized model) and frozen when evaluating.

BatchNorm is folded into the conv before it first, as the ONNX export does, so the
weights fake-quantized in training are the weights stored. Pure; torch imported lazily.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx

from harness.errors import CompressionError
from harness.specs import TrainingSpec
from harness.train.datasets import Splits

if TYPE_CHECKING:
    import torch

    from harness.compress.training_steps import Qat
    from harness.train.augment import Policy
    from harness.train.finetune_layers import Masks

__all__ = ["QatResult", "qat"]

CALIBRATION_BATCHES = 8  # training batches that set the activation ranges before epoch 1
LR_FACTOR = 0.1  # default QAT rate: a tenth of training's, as it starts from a trained model
ACT_FAKE_QUANT = "input_fake_quant"  # the child module holding a layer's input quantizer


@dataclass(frozen=True)
class QatResult:
    model: onnx.ModelProto  # quantized weights behind DequantizeLinear (+ activation QDQ)
    reference: np.ndarray  # the fake-quantized torch model's validation logits
    notes: dict[str, Any]


def weight_fake_quant(bits: int, per_channel: bool) -> torch.nn.Module:
    """The `quantize` pass's weight scheme (symmetric, restricted range) as a
    parametrization: weight -> fake-quantized weight."""
    import torch

    qmax = 2 ** (bits - 1) - 1

    class WeightFakeQuant(torch.nn.Module):
        def forward(self, w: torch.Tensor) -> torch.Tensor:
            if per_channel:
                span = w.detach().abs().reshape(w.shape[0], -1).amax(dim=1) / qmax
                # an all-zero channel keeps scale 1, as the pass does
                scale = torch.where(span > 0, span, torch.ones_like(span)).float()
                zero = torch.zeros(w.shape[0], dtype=torch.int32)
                return torch.fake_quantize_per_channel_affine(w, scale, zero, 0, -qmax, qmax)
            span = w.detach().abs().amax() / qmax
            scale = torch.where(span > 0, span, torch.ones_like(span)).reshape(1).float()
            zero = torch.zeros(1, dtype=torch.int32)
            return torch.fake_quantize_per_tensor_affine(w, scale, zero, -qmax, qmax)

    return WeightFakeQuant()


def _act_fake_quant() -> torch.nn.Module:
    import torch
    from torch.ao.quantization import FakeQuantize, MovingAverageMinMaxObserver

    return FakeQuantize(
        observer=MovingAverageMinMaxObserver,
        quant_min=-128,
        quant_max=127,
        dtype=torch.qint8,
        qscheme=torch.per_tensor_affine,
    )


def _quantize_input(module: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """Forward pre-hook: the layer reads its input through its FakeQuantize, whose observer
    learns only in training mode (frozen for validation and export)."""
    fq = getattr(module, ACT_FAKE_QUANT)
    if fq.training:
        fq.enable_observer()
    else:
        fq.disable_observer()
    return (fq(args[0]), *args[1:])


def _calibrate(net: Any, splits: Splits, batch_size: int) -> None:
    """Set the activation observers' ranges from a few unaugmented training batches."""
    import torch

    x = splits.model_input(splits.train[0][: CALIBRATION_BATCHES * batch_size])
    net.train()
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            net(torch.from_numpy(x[start : start + batch_size]))
    net.eval()


def qat(
    net: torch.nn.Module,
    step: Qat,
    splits: Splits,
    policy: Policy,
    training: TrainingSpec,
    seed: int,
    masks: Masks | None = None,
    repeated: Sequence[Any] = (),
) -> QatResult:
    """Fine-tune a copy of `net` under fake quantization for up to `step.epochs` (best
    epoch by validation accuracy, epoch 0 = quantized before training), then export it.

    After a structural pass mirrored on `net` (harness.train.finetune), `masks` hold its
    removed channels and the weights reading them at zero through training, and the
    `repeated` ONNX passes (the structured prune) remove those channels from the float
    export before it is quantized: zero weights change no quantization range, so the
    stored integers are still those the fake quantizer used."""
    import torch
    from torch.nn.utils import parametrize

    from harness.compress.activation_qdq import insert_activation_qdq
    from harness.compress.base import PassContext
    from harness.compress.quantize import Quantize
    from harness.train.finetune import _torch_settings
    from harness.train.finetune_layers import fold_batchnorm, match_layers
    from harness.train.training import export_onnx, fit

    lr = step.lr or training.lr * LR_FACTOR
    bits = step.weight_bits()
    with _torch_settings(training.threads):
        torch.manual_seed(seed)
        work = fold_batchnorm(net)
        held = masks.rebind(work) if masks is not None else None
        sample = torch.from_numpy(splits.model_input(splits.val[0][:2]))
        matches = match_layers(work, onnx.load_from_string(export_onnx(work, splits)), sample)
        hooks = []
        for m in matches:
            parametrize.register_parametrization(
                m.module, "weight", weight_fake_quant(bits, step.per_channel)
            )
            if step.activations:
                m.module.add_module(ACT_FAKE_QUANT, _act_fake_quant())
                hooks.append(m.module.register_forward_pre_hook(_quantize_input))
        if step.activations:
            _calibrate(work, splits, training.batch_size)
        started = time.perf_counter()
        fitted = fit(
            work, splits, policy, training, np.random.default_rng(seed),
            epochs=step.epochs, lr=lr, after_step=held.apply if held is not None else None,
        )  # fmt: skip
        seconds = time.perf_counter() - started
        x_val = splits.model_input(splits.val[0])
        with torch.no_grad():
            reference = work(torch.from_numpy(x_val)).numpy()
        act_params: dict[int, tuple[float, int]] = {}
        for m in matches:
            if step.activations:
                fq = getattr(m.module, ACT_FAKE_QUANT)
                act_params[m.layer.index] = (float(fq.scale), int(fq.zero_point))
                delattr(m.module, ACT_FAKE_QUANT)
            parametrize.remove_parametrizations(m.module, "weight", leave_parametrized=False)
        for h in hooks:
            h.remove()
        float_model = onnx.load_from_string(export_onnx(work, splits))
    # The plain export has the same nodes as the one matched above: same indices.
    float_model, act_params = _remove_held(float_model, repeated, splits, act_params)
    staged = insert_activation_qdq(float_model, act_params)
    quant = Quantize(bits=bits, per_channel=step.per_channel, symmetric=True)
    stored = quant.apply(staged, PassContext())
    exported = _run(stored.model, x_val)
    choice = step.choice()
    target = (
        {"weight_bits": bits, "isa": choice.isa, "reduce_range": choice.reduce_range,
         "why": choice.reason}
        if step.full_integer
        else {}
    )  # fmt: skip
    notes = {
        "bits": step.bits,
        **target,
        "per_channel": step.per_channel,
        "activations": "int8" if step.activations else "float32",
        "epochs": step.epochs,
        "lr": lr,
        "epochs_run": fitted.epochs_run,
        "best_epoch": fitted.best_epoch,
        "val_accuracy_before": fitted.start_accuracy,
        "val_accuracy_after": fitted.best_accuracy,
        "train_seconds": round(seconds, 3),
        "storage": stored.notes.get("storage"),
        "layers": len(matches),
        # The export against the fake-quantized torch model, on the validation split.
        "export_max_abs_diff": float(f"{np.abs(exported - reference).max():.3g}"),
        "export_agreement": float((exported.argmax(1) == reference.argmax(1)).mean()),
        "history": list(fitted.history),
    }
    return QatResult(stored.model, reference, notes)


def _remove_held(
    model: onnx.ModelProto,
    repeated: Sequence[Any],
    splits: Splits,
    act_params: dict[int, tuple[float, int]],
) -> tuple[onnx.ModelProto, dict[int, tuple[float, int]]]:
    """`model` with the `repeated` passes applied (the channels training held at zero
    removed), checked to compute what it computed before, and the activation parameters
    keyed by its weight layers' node indices (the pass may renumber nodes; it keeps the
    layers and their order)."""
    if not repeated:
        return model, act_params
    from harness.compress.layers import weight_layers
    from harness.train.finetune import held_at_zero, realise

    passes = [held_at_zero(p, model) for p in repeated]
    realised = realise(model, passes, splits)
    before, after = weight_layers(model.graph)[0], weight_layers(realised.graph)[0]
    if [layer.op for layer in before] != [layer.op for layer in after]:
        raise CompressionError("qat: removing the pruned channels changed the weight layers")
    moved = {b.index: a.index for b, a in zip(before, after, strict=True)}
    return realised, {moved[index]: value for index, value in act_params.items()}


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {session.get_inputs()[0].name: x})[0])
