"""Quantization-aware training: the export reproduces the fake-quantized PyTorch model, in
the `quantize` pass's storage, with QDQ activations both runtimes run (harness.train.qat)."""

from __future__ import annotations

import io
import platform
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
from harness.compress.int8_isa import isa_family
from harness.config.load import ModelSpec
from harness.convert.tflite import onnx_to_tflite
from harness.measure.machine import cpu_isa
from harness.train.datasets import Splits
from harness.train.qat import QatResult, qat, weight_fake_quant
from harness.train.training import INPUT_NAME
from tests.helpers.digits_training import FAST, digits_trained
from tests.helpers.graphs import run, run_simulated
from tests.helpers.litert import run_litert

MODEL = ModelSpec("cnn", "small_cnn", 8, 1)
THIS_CPU = isa_family(platform.machine(), cpu_isa())


def _setup() -> tuple[Splits, Any, bytes]:
    splits, policy, trained = digits_trained(MODEL)
    return splits, policy, trained.state_dict


@cache
def _qat(bits: int, activations: bool, isa: str = "auto") -> QatResult:
    from harness.models import ARCHITECTURES

    splits, policy, state = _setup()
    net = ARCHITECTURES.get(MODEL.arch)(splits.input_shape, 10, MODEL.width, MODEL.depth)
    net.load_state_dict(torch.load(io.BytesIO(state), weights_only=True))
    params = {"bits": bits, "epochs": 1, "activations": activations}
    step = PASSES.get("qat").from_params({**params, **({"isa": isa} if isa != "auto" else {})})
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


@pytest.mark.parametrize("isa", ["vnni", "avx2"])
def test_int8_export_has_qdq_activations_within_one_quantization_step(isa: str) -> None:
    result = _qat(8, activations=True, isa=isa)
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


def _stored_weights(model: onnx.ModelProto) -> list[np.ndarray]:
    return [
        numpy_helper.to_array(t).astype(np.int32)
        for t in model.graph.initializer
        if t.name.endswith("_quantized")
    ]


@pytest.mark.parametrize(
    ("isa", "qmax"), [("avx2", 63), ("avx512", 63), ("sse", 63), ("vnni", 127), ("arm64", 127)]
)
def test_full_integer_weights_take_the_range_the_cpus_int8_kernels_compute_exactly(
    isa: str, qmax: int
) -> None:
    """ORT's u8s8 kernels on x86 without VNNI add pairs of u8 x s8 products in 16 bits:
    8-bit weights can saturate there, 7-bit ones cannot (int8_isa). QAT trains and stores
    the weights in the range the target CPU needs, as ort_int8 stores them."""
    step = PASSES.get("qat").from_params({"bits": 8, "isa": isa})
    assert step.weight_bits() == (7 if qmax == 63 else 8)
    assert step.choice().reduce_range is (qmax == 63)
    if isa not in ("avx2", "vnni"):
        return  # the two trained below stand for the two ranges
    result = _qat(8, activations=True, isa=isa)
    weights = _stored_weights(result.model)
    assert len(weights) == 3
    # symmetric per channel: each output channel's largest weight is stored at +-qmax
    assert max(int(np.abs(w).max()) for w in weights) == qmax
    for w in weights:
        assert (np.abs(w.reshape(w.shape[0], -1)).max(axis=1) == qmax).all()
    notes = result.notes
    assert notes["weight_bits"] == (7 if qmax == 63 else 8) and notes["isa"] == isa
    assert notes["reduce_range"] is (qmax == 63) and isa in notes["why"]


def test_the_target_cpu_is_resolved_only_where_it_matters() -> None:
    make = PASSES.get("qat").from_params
    full = make({"bits": 8})
    assert full.isa == "auto" and full.weight_bits() == 7  # unresolved: exact on any CPU
    on_avx2, on_vnni = full.for_cpu("x86_64", ["avx2"]), full.for_cpu("x86_64", ["avx512_vnni"])
    assert (on_avx2.isa, on_vnni.isa) == ("avx2", "vnni")
    assert on_avx2.spec() == {**full.spec(), "isa": "avx2"} and on_vnni.weight_bits() == 8
    assert on_avx2.label() == "qat int8 a8 for avx2"
    assert full.for_cpu("aarch64", []).weight_bits() == 8
    # A given target is kept; weight-only and lower-bit QAT do not depend on the CPU.
    assert make({"bits": 8, "isa": "avx2"}).for_cpu("x86_64", ["avx512_vnni"]).isa == "avx2"
    for weight_only in ({"bits": 8, "activations": False}, {"bits": 4}):
        step = make(weight_only)
        assert step.for_cpu("x86_64", ["avx2"]) == step and "isa" not in step.spec()
        assert step.weight_bits() == weight_only["bits"]


def test_this_cpus_int8_kernels_compute_the_trained_arithmetic() -> None:
    """The model QAT makes for this CPU (as a sweep here makes it): ONNX Runtime's fused
    int8 kernels give the outputs of the same QDQ graph run on float kernels, but where
    the two round a tie apart (one activation one step off: a few rows of 270). 8-bit
    weights on a CPU without VNNI saturate pair sums, which moves many rows."""
    result = _qat(8, activations=True, isa=THIS_CPU)
    x = _setup()[0].model_input(_setup()[0].val[0])
    fused, simulated = run(result.model, x), run_simulated(result.model, x)
    rows_apart = np.abs(fused - simulated).max(axis=1) > 1e-4 * np.abs(simulated).max()
    assert rows_apart.mean() <= 0.03
    assert (fused.argmax(1) == simulated.argmax(1)).mean() >= 0.99
