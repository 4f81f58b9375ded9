"""Quantization-aware training: the export reproduces the fake-quantized PyTorch model, in
the `quantize` pass's storage, with QDQ activations both runtimes run (harness.train.qat)."""

from __future__ import annotations

import io
from functools import cache
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from ai_edge_litert.interpreter import OpResolverType
from onnx import TensorProto, numpy_helper

from harness.compress import PASSES
from harness.config.load import ModelSpec
from harness.convert.tflite import onnx_to_tflite
from harness.train.datasets import Splits
from harness.train.qat import QatResult, qat, weight_fake_quant
from harness.train.training import INPUT_NAME
from tests.helpers.digits_training import FAST, digits_trained
from tests.helpers.litert import run_litert

MODEL = ModelSpec("cnn", "small_cnn", 8, 1)


def _setup() -> tuple[Splits, Any, bytes]:
    splits, policy, trained = digits_trained(MODEL)
    return splits, policy, trained.state_dict


@cache
def _qat(bits: int, activations: bool) -> QatResult:
    from harness.models import ARCHITECTURES

    splits, policy, state = _setup()
    net = ARCHITECTURES.get(MODEL.arch)(splits.input_shape, 10, MODEL.width, MODEL.depth)
    net.load_state_dict(torch.load(io.BytesIO(state), weights_only=True))
    step = PASSES.get("qat").from_params({"bits": bits, "epochs": 1, "activations": activations})
    return qat(net.eval(), step, splits, policy, FAST, seed=0)


def _logits(model: onnx.ModelProto) -> np.ndarray:
    x = _setup()[0].model_input(_setup()[0].val[0])
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {INPUT_NAME: x})[0]


def _arrays(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


def test_the_weight_quantizer_is_the_quantize_pass_scheme() -> None:
    # int4 symmetric per channel: scale = max|w| / 7 per output channel; q = round(w / s).
    w = torch.tensor([[0.72, -0.33, 0.12], [0.0, 0.0, 0.0], [-1.4, 0.2, 0.33]])
    got = weight_fake_quant(4, per_channel=True)(w)
    s = 0.72 / 7  # row 0: -0.33 / s = -3.21 -> -3, 0.12 / s = 1.17 -> 1
    expected = [[0.72, -3 * s, s], [0.0, 0.0, 0.0], [-1.4, 0.2, 0.4]]  # row 2: s = 0.2
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-6)
    # per tensor: one scale 1.4 / 7 = 0.2; 3.6 -> 4, -1.65 -> -2, 0.6 -> 1
    got = weight_fake_quant(4, per_channel=False)(w)
    np.testing.assert_allclose(got.numpy()[0], [0.8, -0.4, 0.2], atol=1e-6)


def test_int4_export_stores_int4_weights_and_reproduces_the_fake_quantized_model() -> None:
    result = _qat(4, activations=False)
    types = {t.data_type for t in result.model.graph.initializer if t.name.endswith("_quantized")}
    assert types == {TensorProto.INT4}
    ops = [n.op_type for n in result.model.graph.node]
    assert ops.count("DequantizeLinear") == 3 and "QuantizeLinear" not in ops
    # Weight-only: the same integers times the same scales; only float rounding differs.
    assert np.abs(_logits(result.model) - result.reference).max() < 1e-4
    assert result.notes["export_agreement"] == 1.0
    assert [h["epoch"] for h in result.notes["history"]] == [0, 1]


def test_int8_export_has_qdq_activations_within_one_quantization_step() -> None:
    result = _qat(8, activations=True)
    model = result.model
    arrays = _arrays(model)
    quantize = [n for n in model.graph.node if n.op_type == "QuantizeLinear"]
    assert len(quantize) == 3  # the input of each weight layer: conv, dense, classifier
    assert all(arrays[n.input[2]].dtype == np.int8 for n in quantize)
    # Where torch's fake quantizer (x * 1/s) and QuantizeLinear (x / s) round a tie apart,
    # one activation moves by one step s; on the classifier's input that moves a logit by
    # at most s * sum|w| of its row.
    last = model.graph.node[-1]
    assert last.op_type == "Gemm"
    producer = {o: n for n in model.graph.node for o in n.output}
    dq_w = producer[last.input[1]]
    w = (arrays[dq_w.input[0]].astype(np.float32).T * arrays[dq_w.input[1]]).T
    step = float(arrays[producer[last.input[0]].input[1]])
    bound = step * np.abs(w).sum(axis=1).max()
    diff = np.abs(_logits(model) - result.reference)
    assert diff.max() <= bound
    assert np.mean(_logits(model).argmax(1) == result.reference.argmax(1)) >= 0.99
    # LiteRT runs the same model (QUANTIZE/DEQUANTIZE with the same scales) and agrees.
    x = _setup()[0].model_input(_setup()[0].val[0])
    lite = run_litert(onnx_to_tflite(model), x, OpResolverType.AUTO)
    assert np.mean(lite.argmax(1) == _logits(model).argmax(1)) >= 0.99


def test_epoch_zero_is_the_quantized_model_before_training() -> None:
    result = _qat(8, activations=True)
    notes = result.notes
    assert notes["history"][0]["val_accuracy"] == pytest.approx(notes["val_accuracy_before"])
    assert notes["val_accuracy_after"] >= notes["val_accuracy_before"]
    assert notes["activations"] == "int8" and notes["storage"] == "int8"
