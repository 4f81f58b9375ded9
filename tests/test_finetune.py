"""Recovery fine-tuning: the structural passes mirrored in torch decide exactly as the ONNX
passes do, fine-tuning recovers accuracy, and the re-export is ready for what remains."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from functools import cache
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import numpy_helper

from harness.compress import PASSES, PassContext, apply_chain
from harness.compress.graph import initializer_index
from harness.compress.layers import weight_layers
from harness.config.load import ModelSpec, TrainingSpec
from harness.errors import CompressionError
from harness.measure.size import onnx_size
from harness.train.augment import parse_policy
from harness.train.datasets import Splits, load, split
from harness.train.finetune import FinetuneResult, finetune, plan_chain
from harness.train.finetune_layers import fold_batchnorm
from harness.train.training import INPUT_NAME, train

FAST = TrainingSpec(
    epochs=6, batch_size=32, optimizer="adam", lr=0.003, weight_decay=0.0, patience=6, threads=1
)
MODEL = ModelSpec("cnn", "small_cnn", 8, 2)


@cache
def _setup() -> tuple[Splits, Any, bytes, bytes]:
    """digits, the policy, and a small CNN trained by harness.train.training (ONNX + state_dict)."""
    splits = split(load("digits", {}), 0, 0.15, 0.25)
    policy = parse_policy("geometric", "geometric", "image")
    trained = train(splits, MODEL, policy, FAST, seed=0)
    return splits, policy, trained.onnx_bytes, trained.state_dict


def _build(arch: str, width: int, depth: int) -> torch.nn.Module:
    from harness.models import ARCHITECTURES  # models/ is installed as harness.models

    splits = _setup()[0]
    return ARCHITECTURES.get(arch)(splits.input_shape, splits.dataset.n_classes, width, depth)


def _net() -> torch.nn.Module:
    """What the sweep does: rebuild the architecture and load the saved weights."""
    net = _build(MODEL.arch, MODEL.width, MODEL.depth)
    net.load_state_dict(torch.load(io.BytesIO(_setup()[3])))
    return net.eval()


def _pass(name: str, **params: Any) -> Any:
    return PASSES.get(name).from_params(params)


def _run(passes: list[Any], epochs: int = 3, seed: int = 0) -> FinetuneResult:
    splits, policy, _, _ = _setup()
    return finetune(_net(), passes, splits, policy, FAST, epochs, seed)


def _ctx() -> PassContext:
    splits = _setup()[0]
    return PassContext(calibration=splits.model_input(splits.val[0][:16]), input_name=INPUT_NAME)


def _logits(model: onnx.ModelProto) -> np.ndarray:
    splits = _setup()[0]
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {INPUT_NAME: splits.model_input(splits.val[0])})[0]


def _val_accuracy(model: onnx.ModelProto) -> float:
    return float((_logits(model).argmax(1) == _setup()[0].val[1]).mean())


def _weights(model: onnx.ModelProto) -> list[np.ndarray]:
    layers, _ = weight_layers(model.graph)
    index = initializer_index(model.graph)
    return [numpy_helper.to_array(model.graph.initializer[index[lay.weight]]) for lay in layers]


def _ops(model: onnx.ModelProto) -> list[str]:
    return [n.op_type for n in model.graph.node if n.op_type in ("Conv", "Gemm", "MatMul")]


def _original() -> onnx.ModelProto:
    return onnx.load_from_string(_setup()[2])


def test_unstructured_prune_recovers_and_exports_exact_zeros() -> None:
    result = _run([_pass("prune", ratio=0.7)])
    notes = result.notes
    assert notes["val_accuracy_after"] > notes["val_accuracy_before"]
    assert notes["best_epoch"] >= 1 and notes["epochs"] == 3
    assert result.remaining == ()  # the zeros are already in the export: nothing to repeat
    final, _ = apply_chain(result.model, result.remaining, _ctx())
    ws = _weights(final)
    zeros, total = sum(int(np.count_nonzero(w == 0)) for w in ws), sum(w.size for w in ws)
    assert zeros >= round(0.7 * total)  # 70% of the weights, rounded as the ONNX pass does
    assert _val_accuracy(final) == pytest.approx(notes["val_accuracy_after"])
    # Repeating the ONNX pass changes nothing: the masked weights are exactly zero.
    again, _ = apply_chain(result.model, [_pass("prune", ratio=0.7)], _ctx())
    assert all(np.array_equal(a, b) for a, b in zip(_weights(again), ws, strict=True))
    json.dumps(notes)  # JSON-able


def test_structured_prune_shrinks_and_recovers() -> None:
    prune = _pass("prune", ratio=0.5, structured=True)
    result = _run([prune])
    notes = result.notes
    assert result.remaining == (prune,)  # the ONNX pass removes the zero channels
    final, _ = apply_chain(result.model, result.remaining, _ctx())
    assert onnx_size(final).params < onnx_size(_original()).params
    assert notes["val_accuracy_after"] > notes["val_accuracy_before"] + 0.05
    # Removing the channels is exact: same logits as the fine-tuned model.
    np.testing.assert_allclose(_logits(final), _logits(result.model), atol=1e-4)
    assert _val_accuracy(final) == pytest.approx(notes["val_accuracy_after"])
    assert notes["layers"]["8"] == {"skipped": "its channels reach a graph output"}
    assert notes["layers"]["3"]["channels"]["kept"] < 16


def test_svd_factorizes_and_recovers() -> None:
    result = _run([_pass("svd", rank_ratio=0.25)])
    notes = result.notes
    assert notes["val_accuracy_after"] > notes["val_accuracy_before"]
    assert result.remaining == ()
    assert _ops(_original()) == ["Conv", "Conv", "Gemm", "Gemm"]
    # Each layer became two: k filters + 1x1 mix, or MatMul (no bias) + Gemm.
    assert _ops(result.model) == ["Conv"] * 4 + ["MatMul", "Gemm"] * 2
    assert notes["layers"]["6"]["factorized"]["rank"] == 8  # 25% of min(256, 32)
    assert onnx_size(result.model).params < onnx_size(_original()).params
    assert notes["lr"] == FAST.lr  # the training rate unless the setting gives one


def test_the_setting_s_learning_rate_is_the_one_fine_tuning_uses() -> None:
    splits, policy, _, _ = _setup()
    passes = [_pass("svd", rank_ratio=0.25)]
    slow = finetune(_net(), passes, splits, policy, FAST, 2, 0, lr=1e-6)
    fast = finetune(_net(), passes, splits, policy, FAST, 2, 0, lr=FAST.lr)
    assert (slow.notes["lr"], fast.notes["lr"]) == (1e-6, FAST.lr)
    # A rate that barely moves the weights recovers nothing; the training rate does.
    assert slow.notes["val_accuracy_after"] < fast.notes["val_accuracy_after"]


@pytest.mark.parametrize(
    "passes",
    [
        [("prune", {"ratio": 0.7})],
        [("prune", {"ratio": 0.5, "structured": True, "scope": "layer"})],
        [("prune", {"ratio": 0.3, "structured": True, "round_to": 4})],
        [("svd", {"rank_ratio": 0.25})],
        [("svd", {"energy": 0.9}), ("prune", {"ratio": 0.4, "structured": True})],
    ],
)
def test_without_epochs_the_mirror_equals_the_onnx_chain(passes: list) -> None:
    """Zero epochs: the torch mirror chooses what the ONNX passes choose on the original."""
    chain = [_pass(name, **params) for name, params in passes]
    result = _run(chain, epochs=0)
    mirrored, _ = apply_chain(result.model, result.remaining, _ctx())
    direct, _ = apply_chain(_original(), chain, _ctx())
    # torch exports a bias-free Linear as MatMul where the ONNX pass writes a Gemm without C
    assert [op.replace("MatMul", "Gemm") for op in _ops(mirrored)] == _ops(direct)
    assert [w.size for w in _weights(mirrored)] == [w.size for w in _weights(direct)]
    assert onnx_size(mirrored).params == onnx_size(direct).params
    assert onnx_size(mirrored).nonzeros == onnx_size(direct).nonzeros
    np.testing.assert_allclose(_logits(mirrored), _logits(direct), atol=1e-4)
    assert result.notes["val_accuracy_before"] == result.notes["val_accuracy_after"]


def test_quantize_after_prune_is_left_for_onnx() -> None:
    quantize = _pass("quantize", bits=8)
    result = _run([_pass("prune", ratio=0.7), quantize], epochs=1)
    assert result.remaining == (quantize,)
    final, notes = apply_chain(result.model, result.remaining, _ctx())
    assert notes[0]["pass"] == "quantize"
    assert any(n.op_type == "DequantizeLinear" for n in final.graph.node)


def test_structural_passes_after_quantize_or_structured_prune_are_refused() -> None:
    with pytest.raises(CompressionError) as info:
        plan_chain([_pass("quantize", bits=8), _pass("prune", ratio=0.5)])
    assert str(info.value) == (
        "finetune: structural pass 'prune' after 'quantize' cannot be fine-tuned; "
        "put prune/svd first"
    )
    with pytest.raises(CompressionError, match="structural pass 'svd' after 'float16'"):
        _run([_pass("prune", ratio=0.5), _pass("float16"), _pass("svd", rank=2)])
    with pytest.raises(CompressionError, match="put the structured prune last"):
        plan_chain([_pass("prune", ratio=0.5, structured=True), _pass("svd", rank=2)])
    mirrored, remaining = plan_chain(
        [_pass("prune", ratio=0.5), _pass("prune", ratio=0.3, structured=True)]
    )
    assert len(mirrored) == 2 and remaining == (mirrored[1],)


def test_same_seed_same_bytes_and_the_callers_net_is_untouched() -> None:
    net = _net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    splits, policy, _, _ = _setup()
    chain = [_pass("prune", ratio=0.5, structured=True)]
    first = finetune(net, chain, splits, policy, FAST, 2, seed=3)
    second = finetune(net, chain, splits, policy, FAST, 2, seed=3)
    assert first.model.SerializeToString() == second.model.SerializeToString()
    assert first.notes == second.notes
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_batchnorm_folding_and_depthwise_channels_on_mobile_cnn() -> None:
    """mobile_cnn: BatchNorm is folded first; pruning a pointwise layer's channels also zeroes
    the depthwise layer they feed, so the ONNX pass removes them exactly."""
    splits, policy, _, _ = _setup()
    torch.manual_seed(0)
    net = _build("mobile_cnn", 8, 2)
    for m in net.modules():  # non-trivial running statistics, as after training
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            torch.nn.init.uniform_(m.weight, 0.5, 1.5)
    net.eval()
    x = torch.from_numpy(splits.model_input(splits.val[0][:32]))
    with torch.no_grad():
        torch.testing.assert_close(fold_batchnorm(net)(x), net(x), atol=1e-5, rtol=1e-5)
    prune = _pass("prune", ratio=0.5, structured=True)
    result = finetune(net, [prune], splits, policy, FAST, 1, seed=0)
    final, _ = apply_chain(result.model, result.remaining, _ctx())
    np.testing.assert_allclose(_logits(final), _logits(result.model), atol=1e-4)
    assert not any(n.op_type == "BatchNormalization" for n in result.model.graph.node)
    depthwise = result.notes["layers"]["9"]
    assert "grouped" in depthwise["skipped"] and depthwise["zeros"] > 0


class _Residual(torch.nn.Module):
    """A stem Conv whose output is added back after a second Conv: one channel group."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.stem = torch.nn.Conv2d(1, 8, 3, padding=1)
        self.res = torch.nn.Conv2d(8, 8, 3, padding=1)
        self.pool = torch.nn.AdaptiveAvgPool2d(1)
        self.head = torch.nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = torch.relu(self.stem(x))
        return self.head(self.pool(torch.relu(t + self.res(t))).flatten(1))


def test_a_residual_group_is_mirrored_and_removing_it_is_exact() -> None:
    splits, policy, _, _ = _setup()
    prune = _pass("prune", ratio=0.5, structured=True)
    result = finetune(_Residual().eval(), [prune], splits, policy, FAST, 2, seed=0)
    notes = result.notes["layers"]
    assert notes["stem"]["channels"] == notes["res"]["channels"] == {"kept": 4, "of": 8}
    final, pass_notes = apply_chain(result.model, result.remaining, _ctx())
    assert pass_notes[0]["groups"] == [[label for label in pass_notes[0]["kept"]]]
    # finetune checked this too (its _check_exact); here it is seen from outside.
    np.testing.assert_allclose(_logits(final), _logits(result.model), atol=1e-4)
    conv_weights = [w for w in _weights(final) if w.ndim == 4]
    assert [w.shape[:2] for w in conv_weights] == [(4, 1), (4, 4)]


def test_importing_finetune_does_not_import_torch() -> None:
    probe = (
        "import sys, harness.train.finetune, harness.train.finetune_layers\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(("arch", "width", "depth"), [("resnet8", 16, 3), ("mobilenet_v2", 35, 7)])
def test_the_tiny_vision_models_mirror_a_rounded_structured_prune(
    arch: str, width: int, depth: int
) -> None:
    """Zero epochs on the suite's models (residual groups, depthwise convs, round_to = 8):
    the export of the mirror is the ONNX pass's result, every kept count a multiple of 8."""
    from harness.models import ARCHITECTURES

    from harness.train.training import export_onnx

    splits = split(
        load("shapes", {"train_samples": 100, "val_samples": 20, "test_samples": 20}), 0, 0.1, 0.1
    )
    torch.manual_seed(0)
    net = ARCHITECTURES.get(arch)(splits.input_shape, 10, width, depth).eval()
    prune = _pass("prune", ratio=0.5, structured=True, round_to=8)
    result = finetune(net, [prune], splits, _setup()[1], FAST, 0, seed=0)
    ctx = PassContext(calibration=splits.model_input(splits.val[0][:8]), input_name=INPUT_NAME)
    mirrored, _ = apply_chain(result.model, result.remaining, ctx)
    direct, notes = apply_chain(onnx.load_from_string(export_onnx(net, splits)), [prune], ctx)
    kept = [v["kept"] for v in notes[0]["kept"].values()]
    assert kept and all(k % 8 == 0 for k in kept)
    # fresh BatchNorms fold into equal zero biases, which torch's exporter shares through
    # Identity nodes; export_onnx gives each layer its own, so every layer can be pruned
    # (depthwise convs lose the channels of the layer feeding them)
    skipped = set(notes[0]["skipped"].values()) - {
        "grouped Conv: its channels are tied to its input's"
    }
    assert skipped == {"its channels reach a graph output"}
    assert [w.shape for w in _weights(mirrored)] == [w.shape for w in _weights(direct)]
    assert onnx_size(direct).macs < onnx_size(onnx.load_from_string(export_onnx(net, splits))).macs


def test_tied_keep_is_mirrored_on_resnet8_and_leaves_its_residual_streams_whole() -> None:
    """ResNet-8 with tied = "keep": the mirror's export, pruned again, is the ONNX pass's
    own result, and every layer of a residual group keeps all its channels."""
    from harness.models import ARCHITECTURES

    from harness.train.training import export_onnx

    splits = split(
        load("shapes", {"train_samples": 100, "val_samples": 20, "test_samples": 20}), 0, 0.1, 0.1
    )
    torch.manual_seed(0)
    net = ARCHITECTURES.get("resnet8")(splits.input_shape, 10, 16, 3).eval()
    prune = _pass("prune", ratio=0.5, structured=True, round_to=8, tied="keep")
    result = finetune(net, [prune], splits, _setup()[1], FAST, 0, seed=0)
    ctx = PassContext(calibration=splits.model_input(splits.val[0][:8]), input_name=INPUT_NAME)
    mirrored, _ = apply_chain(result.model, result.remaining, ctx)
    direct, notes = apply_chain(onnx.load_from_string(export_onnx(net, splits)), [prune], ctx)
    tied = {label for group in notes[0]["groups"] for label in group}
    assert len(tied) == 6  # the stem and each stage's second conv and shortcut
    kept = notes[0]["kept"]
    assert all(kept[label]["kept"] == kept[label]["of"] for label in tied)
    inner = [v["kept"] for label, v in kept.items() if label not in tied]
    assert inner == [8, 16, 32]  # the three stages' first convs, halved
    assert [w.shape for w in _weights(mirrored)] == [w.shape for w in _weights(direct)]


def test_weights_of_an_earlier_fine_tuning_are_loaded_instead_of_training_again() -> None:
    splits, policy, _, _ = _setup()
    prune = _pass("prune", ratio=0.5, structured=True)
    first = _run([prune], epochs=2)
    again = finetune(_net(), [prune], splits, policy, FAST, 2, 0, weights=first.net.state_dict())
    assert again.notes["epochs_run"] == 0
    np.testing.assert_array_equal(_logits(again.model), _logits(first.model))
    untrained = _run([prune], epochs=0)
    assert np.abs(_logits(untrained.model) - _logits(first.model)).max() > 1e-3
