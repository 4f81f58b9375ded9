"""Structured pruning of residual-tied channels (a ResNet-8-like graph, hand-built):
the channels a residual Add ties are removed jointly in every member layer, scored by the
group's weights, or (tied = "keep") left whole with the ratio taken from the other layers.
Each pruned graph is checked against the unpruned graph with the removed channels held at
exactly zero (weights and biases), channels chosen here by hand from the group score of
harness.compress.importance (every weight matrix a channel's removal cuts, squared norms
over their mean, averaged)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from harness.compress.base import PassContext
from harness.compress.prune import Prune
from harness.errors import ParamError
from tests.helpers.graphs import he, initializer, inputs_for, make_model, node, rng, run

A, B = 8, 16  # stage widths


def resnet(seed: int = 8) -> onnx.ModelProto:
    """stem 3x3(3->A) ReLU -> [in1 3x3(A->A) ReLU, out1 3x3(A->A)] + stem, ReLU ->
    [in2 3x3/2(A->B) ReLU, out2 3x3(B->B)] + sc2 1x1/2(A->B), ReLU -> GAP -> Gemm.
    Every conv has a nonzero bias, as folded BatchNorm leaves them."""
    r = rng(seed)
    shapes = {"stem": (A, 3, 3), "in1": (A, A, 3), "out1": (A, A, 3), "in2": (B, A, 3),
              "out2": (B, B, 3), "sc2": (B, A, 1)}  # fmt: skip
    inits: dict[str, np.ndarray] = {}
    for name, (cout, cin, k) in shapes.items():
        inits[f"{name}.w"] = he(r, cout, cin, k, k)
        inits[f"{name}.b"] = (0.2 * r.standard_normal(cout)).astype(np.float32)
    inits["fc.w"] = he(r, 10, B)
    inits["fc.b"] = np.zeros(10, np.float32)

    def conv(name: str, x: str, stride: int = 1) -> onnx.NodeProto:
        pad = shapes[name][2] // 2
        return node("Conv", [x, f"{name}.w", f"{name}.b"], [name], pads=[pad] * 4,
                    strides=[stride, stride])  # fmt: skip

    nodes = [
        conv("stem", "input"), node("Relu", ["stem"], ["s"]),
        conv("in1", "s"), node("Relu", ["in1"], ["h1"]), conv("out1", "h1"),
        node("Add", ["out1", "s"], ["sum1"]), node("Relu", ["sum1"], ["r1"]),
        conv("in2", "r1", 2), node("Relu", ["in2"], ["h2"]), conv("out2", "h2"),
        conv("sc2", "r1", 2),
        node("Add", ["out2", "sc2"], ["sum2"]), node("Relu", ["sum2"], ["r2"]),
        node("GlobalAveragePool", ["r2"], ["gap"]), node("Flatten", ["gap"], ["flat"]),
        node("Gemm", ["flat", "fc.w", "fc.b"], ["output"], transB=1),
    ]  # fmt: skip
    return make_model(nodes, inits, (1, 3, 8, 8), (1, 10))


def weights(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    return {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}


def sq(w: np.ndarray, axis: int) -> np.ndarray:
    moved = np.moveaxis(w.astype(np.float64), axis, 0)
    return (moved**2).reshape(moved.shape[0], -1).sum(axis=1)


def score(*norms: np.ndarray) -> np.ndarray:
    return np.mean([n / n.mean() for n in norms], axis=0)


def weakest(scores: np.ndarray, n: int) -> np.ndarray:
    return np.sort(np.argsort(scores, kind="stable")[:n])


def masked(model: onnx.ModelProto, zero: dict[str, np.ndarray]) -> onnx.ModelProto:
    """The unpruned graph with output channels `zero[layer]` of each layer held at zero."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    for t in out.graph.initializer:
        layer = t.name.split(".")[0]
        if layer in zero and t.name != "fc.w":
            value = onnx.numpy_helper.to_array(t).copy()
            value[zero[layer]] = 0.0
            t.CopyFrom(onnx.numpy_helper.from_array(value, t.name))
    return out


def dims(model: onnx.ModelProto, name: str) -> list[int]:
    return list(initializer(model, name).dims)


def test_tied_channels_go_jointly_in_every_member_by_the_group_score() -> None:
    model = resnet()
    w = weights(model)
    # Stream 1: made by stem and out1, read by in1, in2 and sc2 (and out1's Add).
    stream1 = score(sq(w["stem.w"], 0), sq(w["out1.w"], 0), sq(w["in1.w"], 1),
                    sq(w["in2.w"], 1), sq(w["sc2.w"], 1))  # fmt: skip
    stream2 = score(sq(w["out2.w"], 0), sq(w["sc2.w"], 0), sq(w["fc.w"], 1))
    inner1 = score(sq(w["in1.w"], 0), sq(w["out1.w"], 1))
    inner2 = score(sq(w["in2.w"], 0), sq(w["out2.w"], 1))
    result = Prune(0.5, structured=True, scope="layer").apply(model, PassContext())
    assert sorted(map(sorted, result.notes["groups"])) == [
        ["conv_out1", "conv_stem"], ["conv_out2", "conv_sc2"],
    ]  # fmt: skip
    s1, s2 = weakest(stream1, A // 2), weakest(stream2, B // 2)
    zero = {"stem": s1, "out1": s1, "in1": weakest(inner1, A // 2)}
    zero |= {"out2": s2, "sc2": s2, "in2": weakest(inner2, B // 2)}
    x = inputs_for(model, n=16)
    reference = run(masked(model, zero), x)
    np.testing.assert_allclose(run(result.model, x), reference, rtol=0, atol=2e-5)
    assert np.max(np.abs(run(model, x) - reference)) > 0.05  # the check can fail
    assert dims(result.model, "stem.w") == [A // 2, 3, 3, 3]
    assert dims(result.model, "out1.w") == [A // 2, A // 2, 3, 3]
    assert dims(result.model, "sc2.w") == [B // 2, A // 2, 1, 1]
    assert dims(result.model, "fc.w") == [10, B // 2]


@pytest.mark.parametrize("scope", ["global", "layer"])
def test_tied_keep_leaves_the_residual_streams_whole_and_prunes_the_inner_convs(
    scope: str,
) -> None:
    model = resnet(seed=9)
    w = weights(model)
    inner1 = score(sq(w["in1.w"], 0), sq(w["out1.w"], 1))
    inner2 = score(sq(w["in2.w"], 0), sq(w["out2.w"], 1))
    result = Prune(0.5, structured=True, scope=scope, tied="keep").apply(model, PassContext())
    kept = {k: v["kept"] for k, v in result.notes["kept"].items()}
    # The ratio applies to the untied channels only: 12 of in1's 8 and in2's 16.
    assert kept["conv_stem"] == kept["conv_out1"] == A
    assert kept["conv_out2"] == kept["conv_sc2"] == B
    assert kept["conv_in1"] + kept["conv_in2"] == (A + B) // 2
    if scope == "layer":
        assert (kept["conv_in1"], kept["conv_in2"]) == (A // 2, B // 2)
    n1, n2 = A - kept["conv_in1"], B - kept["conv_in2"]
    if scope == "global":  # the weakest relative scores over both layers, each's best kept
        both = np.concatenate([inner1 / inner1.mean(), inner2 / inner2.mean()])
        both[[int(np.argmax(inner1)), A + int(np.argmax(inner2))]] = np.inf
        order = np.argsort(both, kind="stable")[: (A + B) // 2]
        assert n1 == int(np.sum(order < A))
    zero = {"in1": weakest(inner1, n1), "in2": weakest(inner2, n2)}
    x = inputs_for(model, n=16)
    np.testing.assert_allclose(run(result.model, x), run(masked(model, zero), x), atol=2e-5)
    assert dims(result.model, "stem.w") == [A, 3, 3, 3]
    assert dims(result.model, "out1.w") == [A, kept["conv_in1"], 3, 3]
    assert dims(result.model, "out2.w") == [B, kept["conv_in2"], 3, 3]
    assert dims(result.model, "fc.w") == [10, B]
    assert result.notes["tied"] == "keep"


def test_tied_keep_with_rounding_keeps_multiples_of_the_inner_convs_only() -> None:
    result = Prune(0.5, structured=True, scope="layer", round_to=4, tied="keep").apply(
        resnet(), PassContext()
    )
    kept = {k: v["kept"] for k, v in result.notes["kept"].items()}
    assert kept == {
        "conv_stem": A, "conv_out1": A, "conv_in1": 4,
        "conv_in2": 8, "conv_out2": B, "conv_sc2": B,
    }  # fmt: skip


def test_tied_is_a_structured_setting_in_the_label_and_the_key() -> None:
    plain = Prune.from_params({"ratio": 0.3, "structured": True})
    kept = Prune.from_params({"ratio": 0.3, "structured": True, "tied": "keep"})
    assert "tied" not in plain.spec() and kept.spec()["tied"] == "keep"
    assert kept.label() == "prune 30% channels untied"
    with pytest.raises(ParamError, match="structured = true"):
        Prune.from_params({"ratio": 0.3, "tied": "keep"})
    with pytest.raises(ParamError) as exc:
        Prune.from_params({"ratio": 0.3, "structured": True, "tied": "skip"})
    assert exc.value.key == "tied"
