"""Deep compression with quantization-aware training: a structured prune mirrored in
PyTorch, fine-tuned, then QAT, exported with the channels physically removed
(harness.train.steps, harness.train.qat with masks)."""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, numpy_helper

from harness.compress import PASSES
from harness.compress.layers import weight_layers
from harness.config.load import ModelSpec
from harness.train.datasets import Splits
from harness.train.finetune import finetune
from harness.train.steps import StepsResult, run_steps
from harness.train.training import INPUT_NAME
from tests.helpers.digits_training import FAST, digits_trained

MODEL = ModelSpec("cnn", "small_cnn", 8, 2)


def _setup() -> tuple[Splits, Any, Any]:
    return digits_trained(MODEL)


def _net() -> torch.nn.Module:
    import io

    from harness.models import ARCHITECTURES

    splits, _, trained = _setup()
    net = ARCHITECTURES.get(MODEL.arch)(splits.input_shape, 10, MODEL.width, MODEL.depth)
    net.load_state_dict(torch.load(io.BytesIO(trained.state_dict), weights_only=True))
    return net.eval()


def _pass(name: str, **params: Any) -> Any:
    return PASSES.get(name).from_params(params)


PRUNE = {"ratio": 0.5, "structured": True, "scope": "layer"}


@cache
def _deep(bits: int, finetune_epochs: int) -> StepsResult:
    splits, policy, trained = _setup()
    chain = [_pass("prune", **PRUNE), _pass("qat", bits=bits, epochs=1)]
    return run_steps(
        trained.onnx_bytes, _net(), chain, splits, policy, FAST, 0, finetune_epochs
    )  # fmt: skip


def _weights(model: onnx.ModelProto) -> list[np.ndarray]:
    """Each weight layer's stored integers (behind DequantizeLinear) or floats."""
    arrays = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    producer = {o: n for n in model.graph.node for o in n.output}
    found = []
    for node in model.graph.node:
        if node.op_type not in ("Conv", "Gemm", "MatMul"):
            continue
        name = node.input[1]
        dq = producer.get(name)
        found.append(arrays[dq.input[0]] if dq is not None else arrays[name])
    return found


def _logits(model: onnx.ModelProto) -> np.ndarray:
    x = _setup()[0].model_input(_setup()[0].val[0])
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {INPUT_NAME: x})[0]


def test_prune_then_qat_stores_fewer_channels_in_int4() -> None:
    result = _deep(4, finetune_epochs=1)
    assert result.remaining == ()
    assert [n["pass"] for n in result.notes] == ["finetune", "qat"]
    full = _weights(onnx.load_from_string(_setup()[2].onnx_bytes))
    pruned = _weights(result.model)
    # the convolutions keep half their output channels, physically: 8 -> 4 and 16 -> 8
    assert [w.shape[0] for w in full[:2]] == [8, 16]
    assert [w.shape[0] for w in pruned[:2]] == [4, 8]
    assert pruned[1].shape[1] == 4  # the second conv reads only the kept channels
    quantized = [t for t in result.model.graph.initializer if t.name.endswith("_quantized")]
    assert {t.data_type for t in quantized} == {TensorProto.INT4}
    assert len(quantized) == len(pruned)


def test_the_pruned_export_is_the_fake_quantized_model() -> None:
    # The stored per-channel scales are those the fake quantizer trained with: every output
    # channel's largest weight is +-7 (the removed inputs were held at zero, so removing
    # them changed no channel's range), and the export reproduces the torch model.
    notes = _deep(4, finetune_epochs=1).notes[1]
    assert notes["export_max_abs_diff"] < 1e-4
    assert notes["export_agreement"] == 1.0
    for w in _weights(_deep(4, finetune_epochs=1).model):
        peaks = np.abs(w.astype(np.int32)).reshape(w.shape[0], -1).max(axis=1)
        assert set(peaks.tolist()) == {7}


def test_a_removed_input_that_held_a_rows_largest_weight_moves_no_scale() -> None:
    # A dead channel (zero conv rows and bias: it scores 0 and goes first) whose reader
    # holds the largest weight of its row: QAT must train with that weight at zero, or
    # the row's scale would be the dead weight's and not the one stored after removal.
    splits, policy, trained = _setup()
    net = _net()
    with torch.no_grad():
        net[0].weight[0] = 0.0
        net[0].bias[0] = 0.0
        net[3].weight[0, 0, 1, 1] = 10 * float(net[3].weight[0].abs().max())
    chain = [_pass("prune", **PRUNE), _pass("qat", bits=4, epochs=1)]
    result = run_steps(trained.onnx_bytes, net, chain, splits, policy, FAST, 0)
    assert result.notes[0]["export_max_abs_diff"] < 1e-4
    assert _weights(result.model)[1].shape[1] == 4


def test_int8_qat_after_prune_has_qdq_activations_and_agrees() -> None:
    result = _deep(8, finetune_epochs=0)
    assert [n["pass"] for n in result.notes] == ["qat"]  # no fine-tuning asked: QAT alone
    ops = [n.op_type for n in result.model.graph.node]
    assert ops.count("QuantizeLinear") == len(_weights(result.model))
    assert result.notes[0]["export_agreement"] >= 0.99
    assert _weights(result.model)[0].shape[0] == 4


def test_held_readers_leave_the_pruned_function_unchanged() -> None:
    # Holding the weights that read removed channels at zero changes no output: those
    # channels are zero. Without fine-tuning the two mirrors compute the same logits.
    splits, policy, _ = _setup()
    prune = [_pass("prune", **PRUNE)]
    plain, held = (
        finetune(_net(), prune, splits, policy, FAST, 0, 0, readers=r) for r in (False, True)
    )
    np.testing.assert_allclose(_logits(held.model), _logits(plain.model), atol=1e-5)
    layers, _ = weight_layers(held.model.graph)
    second = numpy_helper.to_array(
        next(t for t in held.model.graph.initializer if t.name == layers[1].weight)
    )
    removed = np.flatnonzero(np.abs(_weights(held.model)[0]).reshape(8, -1).sum(1) == 0)
    assert len(removed) == 4
    assert not second[:, removed].any()  # held: its readers are zero too
    plain_second = _weights(plain.model)[1]
    assert plain_second[:, removed].any()  # without `readers` they are left as trained


def test_a_quantizing_step_before_qat_is_refused() -> None:
    from harness.errors import CompressionError

    splits, policy, trained = _setup()
    chain = [_pass("prune", **PRUNE), _pass("quantize", bits=8), _pass("qat", bits=4)]
    with pytest.raises(CompressionError, match="step 2: qat quantizes the model itself"):
        run_steps(trained.onnx_bytes, _net(), chain, splits, policy, FAST, 0)


def test_int8_qat_after_prune_of_a_mobilenet_keeps_each_layers_activation_range() -> None:
    # Removing channels from MobileNetV2's export also folds its Clip bounds, which
    # renumbers the nodes: each layer's learned input range must follow its layer.
    from harness.models import ARCHITECTURES

    splits, policy, _ = _setup()
    torch.manual_seed(0)
    net = ARCHITECTURES.get("mobilenet_v2")(splits.input_shape, 10, 35, 7).eval()
    chain = [_pass("prune", **PRUNE), _pass("qat", bits=8, epochs=1)]
    result = run_steps(b"", net, chain, splits, policy, FAST, 0)
    notes = result.notes[0]
    assert notes["layers"] == len(_weights(result.model)) == 53
    assert notes["export_agreement"] >= 0.99
    arrays = {t.name: numpy_helper.to_array(t) for t in result.model.graph.initializer}
    producer = {o: n for n in result.model.graph.node for o in n.output}
    # each weight layer reads its input through a QuantizeLinear/DequantizeLinear pair
    for node in result.model.graph.node:
        if node.op_type in ("Conv", "Gemm"):
            dq = producer[node.input[0]]
            assert dq.op_type == "DequantizeLinear"
            assert producer[dq.input[0]].op_type == "QuantizeLinear"
            assert arrays[dq.input[1]].size == 1
