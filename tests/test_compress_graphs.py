"""Tests of the pass registry, the graph helpers and `apply_chain`, on every model of
tests/helpers/graphs.py."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import numpy as np
import onnx
import pytest

from harness.compress import PASSES, apply_chain
from harness.compress.base import PassContext
from harness.compress.graph import Names, require_opset
from harness.compress.layers import output_layers, weight_layers
from harness.errors import CompressionError
from tests.helpers.graphs import (
    conv_net,
    ctx_for,
    inputs_for,
    lstm_model,
    make_model,
    make_pass,
    mlp,
    mobile_net,
    node,
    rel_err,
    run,
    user_model,
    with_initializers_as_inputs,
)

ALL_MODELS = {
    "conv": conv_net,
    "mlp": mlp,
    "user": user_model,
    "mobile": mobile_net,
    "lstm": lstm_model,
}
ALL_PASSES = [
    ("quantize", {"bits": 8}),
    ("quantize", {"bits": 4, "symmetric": False}),
    ("quantize", {"bits": 6, "per_channel": False}),
    ("float16", {}),
    ("prune", {"ratio": 0.5}),
    ("prune", {"ratio": 0.5, "structured": True}),
    ("svd", {"rank_ratio": 0.5}),
]


# ---- registry and the import contract ----------------------------------------------------


def test_registered_names() -> None:
    assert PASSES.names() == ["distill", "float16", "ort_int8", "prune", "qat", "quantize", "svd"]
    for name in PASSES.names():
        assert PASSES.get(name).name == name


def test_importing_and_parsing_passes_loads_no_runtime_or_torch() -> None:
    code = (
        "from harness.compress import PASSES\n"
        "for n in PASSES.names(): PASSES.get(n)\n"
        "PASSES.get('ort_int8').from_params({'mode': 'dynamic'})\n"
        "import harness.measure.size\n"
        "import sys; print(' '.join(sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = {m.split(".")[0] for m in out.stdout.split()}
    assert not loaded & {"onnxruntime", "torch"}


# ---- every pass on every model -----------------------------------------------------------


@pytest.mark.parametrize("model_name", list(ALL_MODELS))
@pytest.mark.parametrize(("pass_name", "params"), ALL_PASSES, ids=lambda v: str(v))
def test_every_pass_runs_on_every_model_and_never_mutates_it(
    model_name: str, pass_name: str, params: dict[str, Any]
) -> None:
    model = ALL_MODELS[model_name]()
    before = model.SerializeToString()
    p = make_pass(pass_name, **params)
    out, notes = apply_chain(model, [p], ctx_for(model))
    assert model.SerializeToString() == before
    assert notes[0]["pass"] == pass_name
    x = inputs_for(model)
    assert run(out, x).shape == run(model, x).shape
    import json

    json.dumps(notes)  # JSON-able


def test_unsupported_ops_are_left_alone_with_a_note() -> None:
    model = lstm_model()
    for name, params in ALL_PASSES[:1] + ALL_PASSES[4:]:
        _, notes = apply_chain(model, [make_pass(name, **params)], ctx_for(model))
        assert notes[0]["skipped"]["lstm"] == "unsupported op LSTM"


def test_chain_applies_in_order_and_reports_per_pass() -> None:
    model = conv_net()
    chain = [make_pass("prune", ratio=0.5), make_pass("quantize", bits=8)]
    out, notes = apply_chain(model, chain, ctx_for(model))
    assert [n["pass"] for n in notes] == ["prune", "quantize"]
    assert notes[1]["tensors"] == 4
    x = inputs_for(model)
    assert rel_err(run(out, x), run(model, x)) < 0.5


def test_empty_chain_is_the_model_itself() -> None:
    model = conv_net()
    out, notes = apply_chain(model, [], PassContext())
    assert out is model and notes == []


class _Broken:
    """A pass that returns a graph onnxruntime cannot run (a weight of the wrong shape)."""

    name = "broken"

    def label(self) -> str:
        return "broken"

    def apply(self, model: onnx.ModelProto, ctx: PassContext) -> Any:
        from harness.compress.base import PassResult
        from harness.compress.graph import copy_model, set_initializer

        out = copy_model(model)
        set_initializer(out.graph, "fc2.w", np.zeros((10, 31), np.float32))
        return PassResult(out, {})


def test_a_broken_result_is_a_one_line_compression_error() -> None:
    with pytest.raises(CompressionError) as info:
        apply_chain(conv_net(), [_Broken()], PassContext())  # type: ignore[list-item]
    message = str(info.value)
    assert message.startswith("broken: ") and "\n" not in message


# ---- graph helpers -----------------------------------------------------------------------


def test_weight_layers_find_the_output_channel_axis() -> None:
    layers, skipped = weight_layers(conv_net().graph)
    assert [(layer.op, layer.out_axis) for layer in layers] == [
        ("Conv", 0), ("Conv", 0), ("Gemm", 0), ("Gemm", 0)
    ]  # fmt: skip
    assert not skipped
    layers, _ = weight_layers(mlp().graph)
    assert [(layer.op, layer.out_axis, layer.in_axis) for layer in layers] == [
        ("MatMul", 1, 0), ("MatMul", 1, 0)
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (conv_net(), ["Gemm"]),  # the classifier Gemm writes the output itself
        (mlp(), ["MatMul"]),  # the last MatMul, through its bias Add
        (user_model(), ["Gemm"]),  # the side Conv reaches the output only through the Gemm
    ],
)
def test_output_layers_are_those_with_no_weight_layer_after_them(
    model: onnx.ModelProto, expected: list[str]
) -> None:
    layers, _ = weight_layers(model.graph)
    found = output_layers(model.graph, layers)
    assert [layer.op for layer in layers if layer.index in found] == expected
    assert found == {layers[-1].index}


def test_names_are_fresh() -> None:
    names = Names(conv_net().graph)
    assert names.fresh("c1.w") == "c1.w_1"
    assert names.fresh("c1.w") == "c1.w_2"
    assert names.fresh("new") == "new"


def test_opset_bump_rewrites_ops_whose_signature_changed() -> None:
    nodes = [node("ReduceMean", ["input"], ["output"], axes=[1], keepdims=1)]
    model = make_model(nodes, {}, (1, 4), (1, 1))
    bumped, old = require_opset(model, 21)
    assert old == 17 and bumped.opset_import[0].version == 21 and bumped.ir_version >= 10
    x = inputs_for(model)
    np.testing.assert_allclose(run(bumped, x), run(model, x), rtol=1e-6)


def test_old_opset_is_converted_for_per_channel_dequantize() -> None:
    old = conv_net()
    old.opset_import[0].version = 11  # every op of the conv net is unchanged since 11
    out, notes = apply_chain(old, [make_pass("quantize", bits=8)], ctx_for(old))
    assert notes[0]["opset"] == {"from": 11, "to": 13}
    x = inputs_for(old)
    assert rel_err(run(out, x), run(old, x)) < 0.03


def test_weights_stored_by_an_earlier_pass_are_skipped_with_the_reason() -> None:
    model = conv_net()
    chain = [make_pass("float16"), make_pass("prune", ratio=0.5), make_pass("svd", rank=2)]
    _, notes = apply_chain(model, chain, ctx_for(model))
    reason = "weight is computed by Cast, not a float32 initializer"
    assert notes[1]["skipped"]["conv_c1"] == reason and notes[2]["skipped"]["gemm_h"] == reason


def test_initializers_listed_as_graph_inputs_keep_a_matching_shape() -> None:
    model = with_initializers_as_inputs(conv_net())
    for name, params in [("prune", {"ratio": 0.5, "structured": True}), ("quantize", {"bits": 4})]:
        out, _ = apply_chain(model, [make_pass(name, **params)], ctx_for(model))
        assert run(out, inputs_for(model)).shape == (8, 10)


def test_repeated_node_names_get_distinct_labels() -> None:
    # onnx allows repeated node names (onnxruntime does not): notes must not collide.
    model = conv_net()
    for n in model.graph.node:
        n.name = "layer"
    layers, _ = weight_layers(model.graph)
    assert [layer.label for layer in layers] == ["layer#0", "layer#3", "layer#6", "layer#8"]
