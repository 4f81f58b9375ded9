"""Training with PyTorch (CPU) under an augmentation policy, then export to ONNX.

torch is imported inside the functions: benchmarking a user's file never needs it.
"""

from __future__ import annotations

import io
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.errors import HarnessError
from harness.specs import ModelSpec, TrainingSpec
from harness.train.datasets import Splits

if TYPE_CHECKING:
    from harness.train.augment import Policy

INPUT_NAME = "input"
OUTPUT_NAME = "logits"
OPSET = 17


EXPORT_TOLERANCE = 1e-5  # of the largest output: export vs PyTorch


@dataclass(frozen=True)
class TrainedModel:
    onnx_bytes: bytes
    state_dict: bytes  # torch.save of the weights: fine-tuning after compression starts here
    metadata: dict[str, Any]


def _one_hot(y: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros((len(y), n), dtype=np.float32)
    out[np.arange(len(y)), y] = 1.0
    return out


def _prepare_batch(
    policy: Policy, splits: Splits, x: np.ndarray, y: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Augment then lay out a batch; image ops see [0, 1] pixels, tabular ops standardised features."""
    targets = _one_hot(y, splits.dataset.n_classes)
    if splits.dataset.kind == "image":
        x_aug, t_aug = policy.apply(x, targets, rng)
        return splits.model_input(x_aug), t_aug
    x_aug, t_aug = policy.apply(splits.normalization.apply(x), targets, rng)
    return x_aug.astype(np.float32), t_aug


# A batch's loss: (logits, model input, soft targets) -> (loss tensor, named parts to record).
Loss = Callable[[Any, np.ndarray, np.ndarray], tuple[Any, dict[str, float]]]


def soft_cross_entropy(logits: Any, xb: np.ndarray, tb: np.ndarray) -> tuple[Any, dict[str, float]]:
    """Cross-entropy against soft targets (one-hot, or mixed by mixup/cutmix)."""
    import torch

    loss = torch.sum(-torch.from_numpy(tb) * torch.log_softmax(logits, dim=1), dim=1).mean()
    return loss, {}


@dataclass(frozen=True)
class FitResult:
    start_accuracy: float  # validation accuracy of the net as it was handed in (epoch 0)
    best_accuracy: float
    best_loss: float
    best_epoch: int  # 0: no epoch beat the starting point
    epochs_run: int
    # Per epoch (0 = as handed in): train_loss (batch mean), its named parts, val_loss and
    # val_accuracy; what a candidate page draws as training curves.
    history: tuple[dict[str, float], ...] = ()


def _validate(net: Any, x_val: Any, y_val: np.ndarray) -> tuple[float, float]:
    import torch

    net.eval()
    with torch.no_grad():
        logits = net(x_val)
        loss = float(torch.nn.functional.cross_entropy(logits, torch.from_numpy(y_val)))
    return float((logits.argmax(1).numpy() == y_val).mean()), loss


def fit(
    net: Any,
    splits: Splits,
    policy: Policy,
    training: TrainingSpec,
    rng: np.random.Generator,
    *,
    epochs: int,
    lr: float,
    after_step: Callable[[], None] | None = None,
    loss_fn: Loss = soft_cross_entropy,
) -> FitResult:
    """The epoch loop shared by training and post-compression fine-tuning.

    Cosine schedule from `lr`, soft-target loss (mixup/cutmix labels), `after_step` after
    every optimizer step (fine-tuning re-applies pruning masks there); `loss_fn` replaces
    the loss (distillation adds the teacher's soft targets). Best = highest
    validation accuracy, ties broken by lower validation loss: a small validation split
    saturates its accuracy early and the loss still tells models apart. Stops after
    `training.patience` epochs without a new best; leaves `net` at its best, in eval mode.
    """
    import torch

    optimizer = _optimizer(net, replace(training, lr=lr))
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, epochs))
    x_train, y_train = splits.train
    x_val = torch.from_numpy(splits.model_input(splits.val[0]))
    y_val = splits.val[1]
    start_acc, start_loss = _validate(net, x_val, y_val)
    best = (start_acc, start_loss, 0, {k: v.clone() for k, v in net.state_dict().items()})
    history = [{"epoch": 0, "val_loss": _r(start_loss), "val_accuracy": _r(start_acc)}]
    epochs_run = 0
    for epoch in range(1, epochs + 1):
        net.train()
        order = rng.permutation(len(y_train))
        sums: dict[str, float] = {}
        for start in range(0, len(order), training.batch_size):
            idx = order[start : start + training.batch_size]
            xb, tb = _prepare_batch(policy, splits, x_train[idx], y_train[idx], rng)
            optimizer.zero_grad()
            logits = net(torch.from_numpy(xb))
            loss, parts = loss_fn(logits, xb, tb)
            loss.backward()
            optimizer.step()
            if after_step is not None:
                after_step()
            for key, value in {"train_loss": loss.item(), **parts}.items():
                sums[key] = sums.get(key, 0.0) + value * len(idx)
        scheduler.step()
        epochs_run = epoch
        val_acc, val_loss = _validate(net, x_val, y_val)
        means = {key: _r(total / len(order)) for key, total in sums.items()}
        history.append(
            {"epoch": epoch, **means, "val_loss": _r(val_loss), "val_accuracy": _r(val_acc)}
        )
        if (val_acc, -val_loss) > (best[0], -best[1]):
            best = (val_acc, val_loss, epoch, {k: v.clone() for k, v in net.state_dict().items()})
        elif epoch - best[2] >= training.patience:
            break
    net.load_state_dict(best[3])
    net.eval()
    return FitResult(start_acc, best[0], best[1], best[2], epochs_run, tuple(history))


def _r(x: float) -> float:
    return round(float(x), 6)


def train(
    splits: Splits, model: ModelSpec, policy: Policy, training: TrainingSpec, seed: int
) -> TrainedModel:
    """Train one model under one policy with early stopping on the validation split."""
    import torch

    from harness.models import ARCHITECTURES

    torch.manual_seed(seed)
    torch.set_num_threads(training.threads)
    torch.use_deterministic_algorithms(True)
    rng = np.random.default_rng(seed)

    build = ARCHITECTURES.get(model.arch)
    net = build(splits.input_shape, splits.dataset.n_classes, model.width, model.depth)
    started = time.perf_counter()
    result = fit(net, splits, policy, training, rng, epochs=training.epochs, lr=training.lr)
    train_seconds = time.perf_counter() - started
    onnx_bytes = export_onnx(net, splits)
    state = io.BytesIO()
    torch.save(net.state_dict(), state)
    return TrainedModel(
        onnx_bytes=onnx_bytes,
        state_dict=state.getvalue(),
        metadata={
            "epochs": result.epochs_run,
            "best_epoch": result.best_epoch,
            "best_val_accuracy": result.best_accuracy,
            "best_val_loss": round(result.best_loss, 6),
            "train_seconds": round(train_seconds, 3),
            "seed": seed,
            "torch": torch.__version__,
        },
    )


def _optimizer(net: Any, training: TrainingSpec) -> Any:
    import torch

    if training.optimizer == "sgd":
        return torch.optim.SGD(
            net.parameters(), lr=training.lr, momentum=0.9, weight_decay=training.weight_decay
        )
    return torch.optim.Adam(net.parameters(), lr=training.lr, weight_decay=training.weight_decay)


def export_onnx(net: Any, splits: Splits) -> bytes:
    """Export with a dynamic batch axis, then check it: onnx.checker and ORT == torch within 1e-5."""
    import onnx
    import torch

    sample = torch.from_numpy(splits.model_input(splits.val[0][:8]))
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of dynamo export; it is still the
        # one that gives plain, deterministic graphs for these small models.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net,
            (sample,),
            buffer,  # type: ignore[arg-type]  # a file object works; torch's hint says path
            dynamo=False,
            opset_version=OPSET,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
        )
    data = _unshare_constants(onnx.load_from_string(buffer.getvalue())).SerializeToString()
    onnx.checker.check_model(onnx.load_from_string(data), full_check=True)
    with torch.no_grad():
        expected = net(sample).numpy()
    import onnxruntime as ort

    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    got = session.run(None, {INPUT_NAME: sample.numpy()})[0]
    diff = float(np.abs(got - expected).max())
    # float32 rounding grows with the outputs' size: 1e-5 of the largest output, at least
    # 1e-5 (a QAT-trained ResNet-8 with logits near 10 differed by 1.1e-5 from its export)
    tolerance = EXPORT_TOLERANCE * max(1.0, float(np.abs(expected).max()))
    if diff > tolerance:
        raise HarnessError(
            f"ONNX export differs from PyTorch by {diff:.2e} (> {tolerance:.1e}); not used"
        )
    return data


def _unshare_constants(model: Any) -> Any:
    """Give each Identity of an initializer its own copy of it. torch's exporter shares
    equal folded constants (e.g. the zero biases of BatchNorms folded into bias-free convs)
    through Identity nodes; compression passes edit a layer's own initializers and cannot
    slice a shared one, so structured pruning would leave those layers whole."""
    from onnx import numpy_helper

    inits = {i.name: i for i in model.graph.initializer}
    keep = []
    for node in model.graph.node:
        if node.op_type == "Identity" and node.input[0] in inits:
            array = numpy_helper.to_array(inits[node.input[0]])
            model.graph.initializer.append(numpy_helper.from_array(array, node.output[0]))
        else:
            keep.append(node)
    del model.graph.node[:]
    model.graph.node.extend(keep)
    return model
