"""Magnitude pruning: exact zero fractions, and structured pruning that really shrinks the
dense model by rewiring every consumer of the removed channels."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from harness.compress import apply_chain
from harness.compress.base import PassContext
from harness.compress.graph import attr, set_initializer
from harness.compress.prune import Prune, choose_channels, smallest_mask
from harness.errors import ParamError
from harness.size import onnx_size
from tests.test_compress_graphs import (
    conv_net,
    ctx_for,
    initializer,
    inputs_for,
    make_pass,
    mlp,
    mobile_net,
    nodes_of,
    run,
    user_model,
)

WEIGHTS = ("c1.w", "c2.w", "fc1.w", "fc2.w")


def weights(model: onnx.ModelProto, names: tuple[str, ...] = WEIGHTS) -> list[np.ndarray]:
    return [numpy_helper.to_array(initializer(model, n)) for n in names]


def pruned(model: onnx.ModelProto, **params):  # noqa: ANN003, ANN201
    out, notes = apply_chain(model, [make_pass("prune", **params)], ctx_for(model))
    return out, notes[0]


def with_dead_channels(flatten: str = "Flatten") -> onnx.ModelProto:
    """The conv net with half the filters of c1, c2 and output units of fc1 exactly zero
    (bias too): removing them cannot change the output."""
    model = conv_net(flatten=flatten)
    graph = model.graph
    for w, b, dead in (("c1.w", "c1.b", 4), ("c2.w", "c2.b", 8), ("fc1.w", "fc1.b", 16)):
        wv, bv = (numpy_helper.to_array(initializer(model, n)).copy() for n in (w, b))
        idx = np.random.default_rng(len(w) + dead).permutation(len(bv))[:dead]
        wv[idx], bv[idx] = 0.0, 0.0
        set_initializer(graph, w, wv)
        set_initializer(graph, b, bv)
    return model


@pytest.mark.parametrize("ratio", [0.3, 0.5, 0.9])
def test_global_unstructured_zeroes_exactly_that_fraction(ratio: float) -> None:
    model = conv_net()
    out, notes = pruned(model, ratio=ratio)
    ws = weights(out)
    total = sum(w.size for w in ws)
    zeros = sum(int(np.count_nonzero(w == 0)) for w in ws)
    assert abs(zeros / total - ratio) <= 1 / total
    assert notes["sparsity"] == pytest.approx(zeros / total, abs=1e-6)
    assert onnx_size(out).compressed_bytes < onnx_size(model).compressed_bytes * (1 - ratio / 2)
    assert onnx_size(out).file_bytes == onnx_size(model).file_bytes  # dense storage


def test_layer_scope_prunes_each_layer_by_the_ratio() -> None:
    out, notes = pruned(conv_net(), ratio=0.5, scope="layer")
    for w in weights(out):
        assert abs(np.mean(w == 0) - 0.5) <= 1 / w.size
    assert set(notes["zeros"].values()) == {0.5}


def test_the_smallest_magnitudes_go_first() -> None:
    a = np.array([[0.1, -5.0], [3.0, -0.2]], np.float32)
    b = np.array([0.05, 1.0], np.float32)
    ma, mb = smallest_mask([a, b], 0.5, per_layer=False)
    assert ma.tolist() == [[True, False], [False, True]] and mb.tolist() == [True, False]


@pytest.mark.parametrize("structured", [False, True])
def test_ratio_zero_is_lossless(structured: bool) -> None:
    model = conv_net()
    out, _ = pruned(model, ratio=0.0, structured=structured)
    x = inputs_for(model)
    np.testing.assert_allclose(run(out, x), run(model, x), atol=1e-5)


@pytest.mark.parametrize("scope", ["global", "layer"])
def test_structured_half_shrinks_params_and_macs(scope: str) -> None:
    model = conv_net()
    out, notes = pruned(model, ratio=0.5, structured=True, scope=scope)
    before, after = onnx_size(model), onnx_size(out)
    assert after.params <= 0.6 * before.params and after.macs <= 0.6 * before.macs
    assert after.file_bytes <= 0.6 * before.file_bytes
    x = inputs_for(model)
    assert run(out, x).shape == run(model, x).shape
    assert set(notes["kept"]) == {"conv_c1", "conv_c2", "gemm_h"}
    assert notes["skipped"] == {"gemm_output": "its channels reach a graph output"}
    if scope == "layer":
        assert notes["kept"]["conv_c2"] == {"kept": 8, "of": 16}
    c2 = notes["kept"]["conv_c2"]["kept"]
    assert initializer(out, "c2.w").dims[0] == c2 and initializer(out, "c2.b").dims[0] == c2
    # Flatten: the next Gemm lost the C-block rows (8x8 features per channel)
    assert initializer(out, "fc1.w").dims[1] == c2 * 64


@pytest.mark.parametrize("flatten", ["Flatten", "Reshape"])
def test_removing_dead_channels_is_lossless(flatten: str) -> None:
    model = with_dead_channels(flatten)
    out, notes = pruned(model, ratio=0.5, structured=True)
    assert notes["kept"] == {
        "conv_c1": {"kept": 4, "of": 8},
        "conv_c2": {"kept": 8, "of": 16},
        "gemm_h": {"kept": 16, "of": 32},
    }
    x = inputs_for(model)
    np.testing.assert_allclose(run(out, x), run(model, x), atol=1e-5)
    if flatten == "Reshape":
        shape = numpy_helper.to_array(initializer(out, nodes_of(out, "Reshape")[0].input[1]))
        assert shape.tolist() == [-1, 8 * 64]


def test_structured_passes_through_batchnorm_and_depthwise_conv() -> None:
    model = mobile_net()
    out, notes = pruned(model, ratio=0.5, structured=True, scope="layer")
    assert notes["kept"] == {"conv_s": {"kept": 4, "of": 8}, "conv_p": {"kept": 8, "of": 16}}
    assert "grouped Conv" in notes["skipped"]["conv_d"]
    depthwise = nodes_of(out, "Conv")[1]
    assert attr(depthwise, "group") == 4 and initializer(out, "dw.w").dims[0] == 4
    assert all(
        initializer(out, f"bn{i}.{p}").dims[0] == c
        for i, c in ((1, 4), (2, 4), (3, 8))
        for p in ("scale", "bias", "mean", "var")
    )
    assert initializer(out, "fc.w").dims == [4, 8]
    assert onnx_size(out).macs < 0.5 * onnx_size(model).macs
    x = inputs_for(model)
    assert run(out, x).shape == run(model, x).shape


def test_matmul_bias_add_is_sliced_too() -> None:
    model = mlp()
    out, notes = pruned(model, ratio=0.5, structured=True)
    assert notes["kept"] == {"matmul_m1": {"kept": 24, "of": 48}}
    assert initializer(out, "w1").dims == [64, 24] and initializer(out, "b1").dims == [24]
    assert initializer(out, "w2").dims == [24, 10]


def test_residual_add_and_concat_are_skipped_with_reasons() -> None:
    model = user_model()
    out, notes = pruned(model, ratio=0.5, structured=True)
    assert notes["kept"] == {}
    assert notes["skipped"] == {
        "conv_s": "Add 'add_sum' combines it with a runtime tensor",
        "conv_rc": "Add 'add_sum' combines it with a runtime tensor",
        "conv_side": "feeds Concat 'concat_cat', which cannot be rewired",
        "gemm_output": "its channels reach a graph output",
    }
    x = inputs_for(model)
    np.testing.assert_allclose(run(out, x), run(model, x), atol=1e-6)


def test_every_layer_keeps_at_least_one_channel() -> None:
    for scope in ("global", "layer"):
        out, notes = pruned(conv_net(), ratio=0.99, structured=True, scope=scope)
        assert all(v["kept"] >= 1 for v in notes["kept"].values())
        assert run(out, inputs_for(out)).shape == (8, 10)


def test_global_channel_choice_compares_within_layer_strength() -> None:
    scores = {"a": np.array([1.0, 2.0, 3.0, 4.0]), "b": np.array([100.0, 1.0, 100.0, 100.0])}
    keep = choose_channels(scores, 0.25, per_layer=False)
    # b's channel 1 is weak for its layer; a's channel 0 at 0.4x its mean is next.
    assert keep["a"].tolist() == [1, 2, 3] and keep["b"].tolist() == [0, 2, 3]


def test_apply_never_mutates_its_input() -> None:
    model = with_dead_channels()
    before = model.SerializeToString()
    Prune(ratio=0.5, structured=True).apply(model, PassContext())
    Prune(ratio=0.5).apply(model, PassContext())
    assert model.SerializeToString() == before


@pytest.mark.parametrize(
    ("params", "key", "message"),
    [
        ({"ratio": 1.0}, "ratio", "must be a number in [0, 1), got 1.0"),
        ({"ratio": -0.1}, "ratio", "must be a number in [0, 1), got -0.1"),
        ({"ratio": "half"}, "ratio", "must be a number in [0, 1)"),
        ({}, "ratio", "is required"),
        ({"ratio": 0.5, "scope": "globl"}, "scope", "(did you mean 'global'?)"),
        ({"ratio": 0.5, "structured": 1}, "structured", "must be true or false"),
        ({"ratio": 0.5, "ratoi": 0.5}, "ratoi", "did you mean 'ratio'"),
    ],
)
def test_bad_params_are_param_errors(params: dict, key: str, message: str) -> None:
    with pytest.raises(ParamError) as info:
        Prune.from_params(params)
    assert info.value.key == key and message in info.value.message


def test_spec_and_label() -> None:
    p = Prune.from_params({"ratio": 0.5})
    assert p.spec() == {"pass": "prune", "ratio": 0.5, "structured": False, "scope": "global"}
    assert p.label() == "prune 50%"
    assert Prune(0.25, structured=True, scope="layer").label() == "prune 25% channels per-layer"
    assert Prune.from_params({"ratio": 0}).ratio == 0.0
