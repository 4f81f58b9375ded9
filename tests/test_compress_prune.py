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
from harness.compress.prune import Prune, choose_channels, round_kept, smallest_mask
from harness.errors import ParamError
from harness.measure.size import onnx_size
from tests.helpers.graphs import (
    USER_INPUT,
    bn_inits,
    bn_node,
    conv_net,
    ctx_for,
    he,
    initializer,
    inputs_for,
    make_model,
    make_pass,
    mlp,
    mobile_net,
    node,
    nodes_of,
    rng,
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


def test_the_user_model_prunes_through_its_residual_add_and_concat() -> None:
    model = user_model()
    out, notes = pruned(model, ratio=0.5, structured=True, scope="layer")
    assert notes["groups"] == [["conv_s", "conv_rc"]]
    assert notes["kept"] == {
        "conv_s": {"kept": 4, "of": 8},
        "conv_rc": {"kept": 4, "of": 8},
        "conv_side": {"kept": 2, "of": 4},
    }
    assert notes["skipped"] == {"gemm_output": "its channels reach a graph output"}
    assert initializer(out, "fc.w").dims == [5, 6]  # 4 residual + 2 side channels
    assert run(out, inputs_for(model)).shape == (8, 5)


def concat_net(seed: int = 9) -> onnx.ModelProto:
    """Two Convs concatenated along the channels, BatchNorm over all 16, a Conv reading them,
    GlobalAveragePool, Gemm: each Conv's channels are one stretch of the Concat's axis."""
    r = rng(seed)
    inits = {
        "a.w": he(r, 8, 3, 3, 3),
        "b.w": he(r, 8, 3, 3, 3),
        **bn_inits(r, "bn", 16),
        "c.w": he(r, 6, 16, 3, 3),
        "fc.w": he(r, 5, 6),
        "fc.b": np.zeros(5, np.float32),
    }
    for name in ("a.w", "b.w"):
        inits[name][WEAK] *= 1e-3
    inits["c.w"][[0, 2, 4]] *= 1e-3
    pads = {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}
    nodes = [
        node("Conv", ["input", "a.w"], ["a"], **pads),
        node("Conv", ["input", "b.w"], ["b"], **pads),
        node("Concat", ["a", "b"], ["cat"], axis=1),
        bn_node("bn", "cat", "cb"),
        node("Relu", ["cb"], ["r"]),
        node("Conv", ["r", "c.w"], ["c"], **pads),
        node("GlobalAveragePool", ["c"], ["gap"]),
        node("Flatten", ["gap"], ["flat"]),
        node("Gemm", ["flat", "fc.w", "fc.b"], ["output"], transB=1),
    ]
    return make_model(nodes, inits, USER_INPUT, (1, 5))


def test_concatenated_layers_are_pruned_at_their_own_offsets() -> None:
    model = concat_net()
    out, notes = pruned(model, ratio=0.5, structured=True, scope="layer")
    assert notes["kept"] == {
        "conv_a": {"kept": 4, "of": 8},
        "conv_b": {"kept": 4, "of": 8},
        "conv_c": {"kept": 3, "of": 6},
    }
    both = KEPT + [8 + k for k in KEPT]  # b's channels follow a's in the Concat
    value = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    expected = onnx.ModelProto()
    expected.CopyFrom(model)
    sliced = {
        "a.w": value["a.w"][KEPT], "b.w": value["b.w"][KEPT],
        "c.w": value["c.w"][[1, 3, 5]][:, both], "fc.w": value["fc.w"][:, [1, 3, 5]],
        **{f"bn.{p}": value[f"bn.{p}"][both] for p in ("scale", "bias", "mean", "var")},
    }  # fmt: skip
    for name, array in sliced.items():
        set_initializer(expected.graph, name, array)
    x = inputs_for(model)
    np.testing.assert_allclose(run(out, x), run(expected, x), atol=1e-5)


WEAK = [0, 2, 5, 7]  # channels made weak in both layers of the residual group
KEPT = [1, 3, 4, 6]


def residual_net(seed: int = 6) -> onnx.ModelProto:
    """Conv-Relu (t), then Conv-BN added back onto t, Relu, GlobalAveragePool, Gemm: the two
    Convs' channels meet in the Add, so they can only lose the same ones."""
    r = rng(seed)
    inits = {
        "stem.w": he(r, 8, 3, 3, 3),
        "stem.b": (r.standard_normal(8) * 0.1).astype(np.float32),
        "res.w": he(r, 8, 8, 3, 3),
        **bn_inits(r, "bn", 8),
        "fc.w": he(r, 5, 8),
        "fc.b": (r.standard_normal(5) * 0.1).astype(np.float32),
    }
    for name in ("stem.w", "res.w"):
        inits[name][WEAK] *= 1e-3
    pads = {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}
    nodes = [
        node("Conv", ["input", "stem.w", "stem.b"], ["s"], **pads),
        node("Relu", ["s"], ["t"]),
        node("Conv", ["t", "res.w"], ["rc"], **pads),
        bn_node("bn", "rc", "rb"),
        node("Add", ["rb", "t"], ["sum"]),
        node("Relu", ["sum"], ["block"]),
        node("GlobalAveragePool", ["block"], ["gap"]),
        node("Flatten", ["gap"], ["flat"]),
        node("Gemm", ["flat", "fc.w", "fc.b"], ["output"], transB=1),
    ]
    return make_model(nodes, inits, USER_INPUT, (1, 5))


def _sliced_by_hand(model: onnx.ModelProto, keep: list[int]) -> onnx.ModelProto:
    """The residual net with only `keep` channels, sliced here with numpy, not by the pass."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    value = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    sliced = {
        "stem.w": value["stem.w"][keep], "stem.b": value["stem.b"][keep],
        "res.w": value["res.w"][keep][:, keep], "fc.w": value["fc.w"][:, keep],
        **{f"bn.{p}": value[f"bn.{p}"][keep] for p in ("scale", "bias", "mean", "var")},
    }  # fmt: skip
    for name, array in sliced.items():
        set_initializer(out.graph, name, array)
    return out


def test_a_residual_add_joins_its_layers_into_one_group_that_loses_the_same_channels() -> None:
    model = residual_net()
    out, notes = pruned(model, ratio=0.5, structured=True, scope="layer")
    assert notes["groups"] == [["conv_s", "conv_rc"]]
    assert notes["kept"] == {"conv_s": {"kept": 4, "of": 8}, "conv_rc": {"kept": 4, "of": 8}}
    assert notes["skipped"] == {"gemm_output": "its channels reach a graph output"}
    assert initializer(out, "res.w").dims == [4, 4, 3, 3]
    assert initializer(out, "fc.w").dims == [5, 4]
    x = inputs_for(model)
    np.testing.assert_allclose(run(out, x), run(_sliced_by_hand(model, KEPT), x), atol=1e-5)
    # The stem Conv keeps half its filters, the residual Conv a quarter of its weights.
    assert onnx_size(out).macs < 0.32 * onnx_size(model).macs


def test_an_add_of_a_tensor_no_layer_prunes_leaves_its_layer_whole() -> None:
    """t + input: the model's input channels cannot be pruned, so neither can t's."""
    r = rng(7)
    inits = {"w": he(r, 3, 3, 3, 3), "fc.w": he(r, 5, 3), "fc.b": np.zeros(5, np.float32)}
    nodes = [
        node("Conv", ["input", "w"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        node("Add", ["c", "input"], ["sum"]),
        node("GlobalAveragePool", ["sum"], ["gap"]),
        node("Flatten", ["gap"], ["flat"]),
        node("Gemm", ["flat", "fc.w", "fc.b"], ["output"], transB=1),
    ]
    model = make_model(nodes, inits, USER_INPUT, (1, 5))
    out, notes = pruned(model, ratio=0.5, structured=True)
    assert (
        notes["skipped"]["conv_c"] == "Add 'add_sum' adds channels that no prunable layer's match"
    )
    np.testing.assert_allclose(run(out, inputs_for(model)), run(model, inputs_for(model)))


def mean_pooled_net(axes: list[int], opset: int = 17) -> onnx.ModelProto:
    """Conv-Relu, then x.mean(axes) as PyTorch exports it, then a Gemm."""
    r = rng(8)
    inits = {"w": he(r, 8, 3, 3, 3), "fc.w": he(r, 5, 8), "fc.b": np.zeros(5, np.float32)}
    inits["w"][WEAK] *= 1e-3
    if opset >= 18:  # axes moved from an attribute to an input
        inits["axes"] = np.array(axes, np.int64)
        reduce = node("ReduceMean", ["r", "axes"], ["m"], keepdims=0)
    else:
        reduce = node("ReduceMean", ["r"], ["m"], axes=axes, keepdims=0)
    nodes = [
        node("Conv", ["input", "w"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        node("Relu", ["c"], ["r"]),
        reduce,
        node("Gemm", ["m", "fc.w", "fc.b"], ["output"], transB=1),
    ]
    return make_model(nodes, inits, USER_INPUT, (1, 5), opset=opset)


@pytest.mark.parametrize("opset", [17, 18])
def test_a_mean_over_the_spatial_axes_keeps_the_channels_apart(opset: int) -> None:
    model = mean_pooled_net([2, 3], opset)
    out, notes = pruned(model, ratio=0.5, structured=True, scope="layer")
    assert notes["kept"]["conv_c"] == {"kept": 4, "of": 8}
    expected = onnx.ModelProto()
    expected.CopyFrom(model)
    for name, array in (("w", numpy_helper.to_array(initializer(model, "w"))[KEPT]),
                        ("fc.w", numpy_helper.to_array(initializer(model, "fc.w"))[:, KEPT])):  # fmt: skip
        set_initializer(expected.graph, name, array)
    x = inputs_for(model)
    np.testing.assert_allclose(run(out, x), run(expected, x), atol=1e-5)


def test_a_mean_over_the_channels_stops_pruning() -> None:
    model = mean_pooled_net([1, 2])
    _, notes = pruned(model, ratio=0.5, structured=True)
    assert notes["skipped"]["conv_c"] == "ReduceMean 'reducemean_m' reduces over the channels"


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
        ({"ratio": 0.5, "structured": True, "round_to": 0}, "round_to", "in [1, 256], got 0"),
        ({"ratio": 0.5, "round_to": 8}, "round_to", "set structured = true too"),
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
    rounded = Prune.from_params({"ratio": 0.5, "structured": True, "round_to": 8})
    assert rounded.spec()["round_to"] == 8 and rounded.label() == "prune 50% channels /8"


def test_round_to_rounds_each_kept_count_to_the_nearest_multiple() -> None:
    scores = np.array([5.0, 1.0, 7.0, 3.0, 8.0, 2.0, 6.0, 4.0, 0.5, 9.0, 10.0, 11.0])
    # 12 channels, 30% removed per layer: keep 12 - round(3.6) = 8
    assert choose_channels({"a": scores}, 0.3, per_layer=True)["a"].size == 8
    # 8 / 4 = 2 multiples: 8 stays; 8 / 3 = 2.67 -> 9 (rounds up: the 9 strongest)
    assert choose_channels({"a": scores}, 0.3, True, round_to=4)["a"].size == 8
    assert choose_channels({"a": scores}, 0.3, True, round_to=3)["a"].tolist() == [
        0, 2, 3, 4, 6, 7, 9, 10, 11,
    ]  # fmt: skip
    # 8 / 5 = 1.6 -> 10; 8 / 16 rounds to 0 multiples but keeps one: 16 > 12 keeps all 12
    assert round_kept(scores, 8, 5).size == 10
    assert round_kept(scores, 8, 16).tolist() == list(range(12))
    # rounding down keeps the strongest: 5 of 12 at round_to 4 -> the 4 strongest
    assert round_kept(scores, 5, 4).tolist() == [4, 9, 10, 11]


def test_round_to_makes_every_pruned_layer_a_multiple_and_the_model_runs() -> None:
    plain, notes = pruned(conv_net(), ratio=0.3, structured=True, scope="layer")
    # c1 8 -> 6, c2 16 -> 11, fc1 32 -> 22 without rounding
    assert {k: v["kept"] for k, v in notes["kept"].items()} == {
        "conv_c1": 6, "conv_c2": 11, "gemm_h": 22,
    }  # fmt: skip
    out, notes = pruned(conv_net(), ratio=0.3, structured=True, scope="layer", round_to=4)
    # 6/4 = 1.5 -> 8 (all), 11/4 = 2.75 -> 12, 22/4 = 5.5 -> 24
    assert {k: v["kept"] for k, v in notes["kept"].items()} == {
        "conv_c1": 8, "conv_c2": 12, "gemm_h": 24,
    }  # fmt: skip
    conv_weights = [w for w in weights(out) if w.ndim == 4]
    assert [w.shape[:2] for w in conv_weights] == [(8, 1), (12, 8)]
    assert run(out, inputs_for(out)).shape == (8, 10)


# ---- the arithmetic by hand: ties, relative scores, the notes' figures -----------------------


def test_ties_are_broken_by_position_in_both_scopes() -> None:
    # 64 equal magnitudes: the first 32 go (a stable sort), whatever the sort's size.
    (mask,) = smallest_mask([np.ones(64, np.float32)], 0.5, per_layer=False)
    assert np.flatnonzero(mask).tolist() == list(range(32))
    (mask,) = smallest_mask([np.ones(64, np.float32)], 0.5, per_layer=True)
    assert np.flatnonzero(mask).tolist() == list(range(32))
    keep = choose_channels({"a": np.ones(40)}, 0.5, per_layer=True)
    assert keep["a"].tolist() == list(range(20)) and keep["a"].dtype == np.int64


def test_global_channel_choice_ranks_by_score_relative_to_the_layer_mean() -> None:
    # a: [1, 2, 3] / mean 2 -> 0.5, 1, 1.5; b: [0.1, 0.4, 0.1] / mean 0.2 -> 0.5, 2, 0.5.
    # Two of six go: the two lowest relative scores, in insertion order on ties (a0, b0),
    # each layer's strongest channel never a candidate.
    scores = {"a": np.array([1.0, 2.0, 3.0]), "b": np.array([0.1, 0.4, 0.1])}
    keep = choose_channels(scores, 1 / 3, per_layer=False)
    assert {k: v.tolist() for k, v in keep.items()} == {"a": [1, 2], "b": [1, 2]}
    # Ties between layers go in the order the layers come, not by name.
    tied = {"b": np.array([1.0, 2.0, 3.0]), "a": np.array([1.0, 2.0, 3.0])}
    keep = choose_channels(tied, 1 / 6, per_layer=False)
    assert {k: v.tolist() for k, v in keep.items()} == {"b": [1, 2], "a": [0, 1, 2]}
    # A dead layer (all zero) has nothing to rank by: its channels go first.
    dead = {"a": np.array([1.0, 2.0, 3.0]), "z": np.zeros(3)}
    keep = choose_channels(dead, 2 / 6, per_layer=False)
    assert {k: v.tolist() for k, v in keep.items()} == {"a": [0, 1, 2], "z": [0]}


def _one_gemm(w: np.ndarray) -> onnx.ModelProto:
    return make_model(
        [node("Gemm", ["input", "w"], ["output"], transB=1)],
        {"w": w.astype(np.float32)},
        (1, w.shape[1]),
        (1, w.shape[0]),
    )


def test_unstructured_notes_count_existing_zeros_too() -> None:
    w = np.arange(9, dtype=np.float32).reshape(3, 3) - 1.0  # -1, 0, 1, ..., 7: one zero already
    out, notes = apply_chain(_one_gemm(w), [make_pass("prune", ratio=0.2)], PassContext())
    pruned = numpy_helper.to_array(initializer(out, "w"))
    # round(0.2 * 9) = 2 smallest magnitudes: 0 and the first of the tied -1 / 1.
    assert pruned.reshape(-1).tolist() == [0, 0, 1, 2, 3, 4, 5, 6, 7]
    assert notes[0] == {
        "pass": "prune", "ratio": 0.2, "structured": False, "scope": "global", "round_to": 1,
        "zeros": {"gemm_output": 0.222222}, "sparsity": 0.222222, "skipped": {},
    }  # fmt: skip


def test_tied_channels_keep_the_earlier_ones_on_every_cpu() -> None:
    # Many ties (scores 0, 1, 2 over 64 channels): the kept channels must not depend on the
    # sort numpy picks for this CPU; the rule is the highest score first, then the lower index.
    scores = np.random.default_rng(0).integers(0, 3, 64).astype(np.float32)
    expected = sorted(sorted(range(64), key=lambda i: (-scores[i], i))[:24])
    assert round_kept(scores, 24, 8).tolist() == expected
    assert choose_channels({"a": scores}, 0.625, per_layer=True)["a"].tolist() == expected


def test_rounding_to_pairs_is_in_the_label_and_the_cache_key() -> None:
    # round_to = 2 is the smallest rounding: dropping it from the spec would let a chain
    # rounded to pairs hit the cache of the unrounded one.
    pairs = Prune.from_params({"ratio": 0.5, "structured": True, "round_to": 2})
    assert pairs.label() == "prune 50% channels /2" and pairs.spec()["round_to"] == 2
    assert "round_to" not in Prune.from_params({"ratio": 0.5, "structured": True}).spec()


def test_tied_magnitudes_prune_the_earlier_weights_on_every_cpu() -> None:
    a = np.random.default_rng(1).integers(1, 4, 64).astype(np.float32)  # magnitudes 1, 2, 3
    (mask,) = smallest_mask([a], 0.5, per_layer=False)
    expected = sorted(sorted(range(64), key=lambda i: (abs(a[i]), i))[:32])
    assert np.flatnonzero(mask).tolist() == expected


def test_a_layer_joined_to_one_that_cannot_be_pruned_is_left_whole_and_names_it() -> None:
    """conv_b's output is added to the graph input (channels no layer owns): conv_b cannot be
    pruned, and conv_a, added to conv_b, stays whole with it, naming the culprit."""
    r = rng(0)
    nodes = [node("Conv", ["input", "a.w", "a.b"], ["a"], pads=[1, 1, 1, 1]),
             node("Relu", ["a"], ["ra"]),
             node("Conv", ["ra", "b.w", "b.b"], ["b"], pads=[1, 1, 1, 1]),
             node("Add", ["b", "ra"], ["s"]), node("Add", ["b", "input"], ["t"]),
             node("Concat", ["s", "t"], ["u"], axis=1),
             node("Conv", ["u", "c.w", "c.b"], ["output"])]  # fmt: skip
    zeros = {f"{k}.b": np.zeros(n, np.float32) for k, n in (("a", 4), ("b", 4), ("c", 2))}
    inits = {"a.w": he(r, 4, 4, 3, 3), "b.w": he(r, 4, 4, 3, 3), "c.w": he(r, 2, 8, 1, 1), **zeros}
    model = make_model(nodes, inits, (1, 4, 6, 6), (1, 2, 6, 6))
    _, notes = pruned(model, ratio=0.5, structured=True)
    assert notes["kept"] == {}
    assert notes["skipped"] == {
        "conv_output": "its channels reach a graph output",
        "conv_a": "joined to conv_b, which cannot be",
        "conv_b": "Add 'add_t' adds channels that no prunable layer's match",
    }


def test_round_to_from_2_needs_structured_pruning() -> None:
    with pytest.raises(ParamError) as info:
        Prune.from_params({"ratio": 0.5, "round_to": 2})
    assert (info.value.key, info.value.message) == (
        "round_to",
        "rounds kept channel counts; set structured = true too",
    )
    assert Prune.from_params({"ratio": 0.5, "round_to": 1}).round_to == 1
