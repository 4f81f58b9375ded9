"""Structured pruning of an inverted-residual block (BatchNorm folded into biased convs,
ReLU6, a depthwise conv, a residual Add), checked against a reference computed another
way: the unpruned graph with the removed channels held at exactly zero.

Removing a channel must equal zeroing it at every step it passes through: the producer's
weights and bias (so ReLU6 gives 0) and the depthwise conv's channel and bias (else the
depthwise bias would pass a constant on). The pruned graph then computes the same function
as the masked one, up to float rounding, and its depthwise conv has one group per kept
channel. The channels to remove are ranked here by hand (harness.compress.importance's
group score: every weight matrix a channel's removal cuts, squared norms over their mean),
not by the pass's own choice.
"""

from __future__ import annotations

import numpy as np
import onnx

from harness.compress.base import PassContext
from harness.compress.graph import attr
from harness.compress.prune import Prune
from tests.helpers.graphs import he, initializer, inputs_for, make_model, node, rng, run

STREAM, HIDDEN = 8, 24  # residual stream and expanded channels


def inverted_residual(seed: int = 14) -> onnx.ModelProto:
    """stem Conv3x3(3->8)+b, ReLU6 -> expand 1x1(8->24)+b, ReLU6 -> depthwise 3x3(24)+b,
    ReLU6 -> project 1x1(24->8)+b -> Add(stem) -> GlobalAveragePool -> Flatten -> Gemm.
    Every bias is nonzero and positive on average, as folded BatchNorm leaves them."""
    r = rng(seed)

    def bias(n: int) -> np.ndarray:
        return (0.5 + 0.5 * r.standard_normal(n)).astype(np.float32)

    inits = {
        "s.w": he(r, STREAM, 3, 3, 3),
        "s.b": bias(STREAM),
        "e.w": he(r, HIDDEN, STREAM, 1, 1),
        "e.b": bias(HIDDEN),
        "d.w": he(r, HIDDEN, 1, 3, 3),
        "d.b": bias(HIDDEN),
        "p.w": he(r, STREAM, HIDDEN, 1, 1),
        "p.b": bias(STREAM),
        "fc.w": he(r, 10, STREAM),
        "fc.b": bias(10),
        "lo": np.array(0.0, np.float32),
        "hi": np.array(6.0, np.float32),
    }
    nodes = [
        node("Conv", ["input", "s.w", "s.b"], ["s"], pads=[1, 1, 1, 1]),
        node("Clip", ["s", "lo", "hi"], ["s6"]),
        node("Conv", ["s6", "e.w", "e.b"], ["e"]),
        node("Clip", ["e", "lo", "hi"], ["e6"]),
        node("Conv", ["e6", "d.w", "d.b"], ["d"], pads=[1, 1, 1, 1], group=HIDDEN),
        node("Clip", ["d", "lo", "hi"], ["d6"]),
        node("Conv", ["d6", "p.w", "p.b"], ["p"]),
        node("Add", ["s6", "p"], ["sum"]),
        node("GlobalAveragePool", ["sum"], ["gap"]),
        node("Flatten", ["gap"], ["flat"]),
        node("Gemm", ["flat", "fc.w", "fc.b"], ["output"], transB=1),
    ]
    return make_model(nodes, inits, (1, 3, 8, 8), (1, 10))


def value(model: onnx.ModelProto, name: str) -> np.ndarray:
    return onnx.numpy_helper.to_array(initializer(model, name))


def weakest(scores: np.ndarray, n: int) -> np.ndarray:
    return np.sort(np.argsort(scores, kind="stable")[:n])


def sq(w: np.ndarray, axis: int) -> np.ndarray:
    """Per-channel squared norm along `axis`."""
    moved = np.moveaxis(w.astype(np.float64), axis, 0)
    return (moved**2).reshape(moved.shape[0], -1).sum(axis=1)


def score(*norms: np.ndarray) -> np.ndarray:
    return np.mean([n / n.mean() for n in norms], axis=0)


def stream_scores(w: dict[str, np.ndarray]) -> np.ndarray:
    """Stem and projection rows; the expansion's and classifier's input columns."""
    return score(sq(w["s.w"], 0), sq(w["p.w"], 0), sq(w["e.w"], 1), sq(w["fc.w"], 1))


def hidden_scores(w: dict[str, np.ndarray]) -> np.ndarray:
    """Expansion rows, depthwise kernels, projection input columns."""
    return score(sq(w["e.w"], 0), sq(w["d.w"], 0), sq(w["p.w"], 1))


def masked(model: onnx.ModelProto, stream: np.ndarray, hidden: np.ndarray) -> onnx.ModelProto:
    """The unpruned graph with channels `stream` of the stem and projection and `hidden` of
    the expansion and depthwise conv held at zero (weights and biases)."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    zero = {"s.w": stream, "s.b": stream, "p.w": stream, "p.b": stream}
    zero |= {"e.w": hidden, "e.b": hidden, "d.w": hidden, "d.b": hidden}
    for t in out.graph.initializer:
        if t.name in zero:
            value = onnx.numpy_helper.to_array(t).copy()
            value[zero[t.name]] = 0.0
            t.CopyFrom(onnx.numpy_helper.from_array(value, t.name))
    return out


def test_pruning_an_inverted_residual_block_equals_zeroing_its_channels() -> None:
    model = inverted_residual()
    w = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    # Per-layer 25%: the stem+projection group (joined by the Add) loses 2 of 8 channels,
    # the expansion (with its depthwise conv) 6 of 24.
    stream = weakest(stream_scores(w), 2)
    hidden = weakest(hidden_scores(w), 6)
    pruned = Prune(0.25, structured=True, scope="layer").apply(model, PassContext()).model

    x = inputs_for(model, n=16)
    reference = run(masked(model, stream, hidden), x)
    np.testing.assert_allclose(run(pruned, x), reference, rtol=0, atol=2e-5)
    # The reference differs from the unpruned model: the check can fail.
    assert np.max(np.abs(run(model, x) - reference)) > 0.05

    dw = next(n for n in pruned.graph.node if n.op_type == "Conv" and attr(n, "group", 1) != 1)
    assert attr(dw, "group") == HIDDEN - 6
    assert value(pruned, dw.input[1]).shape == (HIDDEN - 6, 1, 3, 3)
    assert value(pruned, dw.input[2]).shape == (HIDDEN - 6,)
    assert value(pruned, "p.w").shape == (STREAM - 2, HIDDEN - 6, 1, 1)
    assert value(pruned, "fc.w").shape == (10, STREAM - 2)
    kept = np.setdiff1d(np.arange(HIDDEN), hidden)
    np.testing.assert_array_equal(value(pruned, dw.input[1]), w["d.w"][kept])


def test_a_kept_channel_keeps_its_depthwise_kernel_and_bias() -> None:
    """The depthwise conv keeps exactly the kept hidden channels, in order, with their own
    kernels and biases: no shift between the expansion's channels and the depthwise's."""
    model = inverted_residual(seed=3)
    w = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    hidden = weakest(hidden_scores(w), 12)
    kept = np.setdiff1d(np.arange(HIDDEN), hidden)
    pruned = Prune(0.5, structured=True, scope="layer").apply(model, PassContext()).model
    dw = next(n for n in pruned.graph.node if n.op_type == "Conv" and attr(n, "group", 1) != 1)
    np.testing.assert_array_equal(value(pruned, dw.input[2]), w["d.b"][kept])
    np.testing.assert_array_equal(value(pruned, "e.b"), w["e.b"][kept])
    np.testing.assert_array_equal(value(pruned, "p.w"), w["p.w"][:, kept][weakest_kept(w)])


def weakest_kept(w: dict[str, np.ndarray]) -> np.ndarray:
    """The stream channels a 50% per-layer prune keeps (4 of 8)."""
    return np.setdiff1d(np.arange(STREAM), weakest(stream_scores(w), 4))


def test_a_weak_expansion_channel_feeding_strong_weights_is_kept() -> None:
    """The expansion's weakest rows (by L1) feed depthwise kernels and projection columns
    ten times stronger: the group score keeps them, where the producer's norm alone would
    remove them first."""
    model = inverted_residual(seed=5)
    w = {t.name: onnx.numpy_helper.to_array(t).copy() for t in model.graph.initializer}
    strong = np.sort(np.argsort(np.abs(w["e.w"]).reshape(HIDDEN, -1).sum(axis=1))[:4])
    w["e.w"][strong] *= 0.5
    w["d.w"][strong] *= 10
    w["p.w"][:, strong] *= 10
    for t in model.graph.initializer:
        if t.name in ("e.w", "d.w", "p.w"):
            t.CopyFrom(onnx.numpy_helper.from_array(w[t.name], t.name))
    pruned = Prune(0.25, structured=True, scope="layer").apply(model, PassContext()).model
    kept = np.setdiff1d(np.arange(HIDDEN), weakest(hidden_scores(w), 6))
    assert set(strong) <= set(kept)
    dw = next(n for n in pruned.graph.node if n.op_type == "Conv" and attr(n, "group", 1) != 1)
    np.testing.assert_array_equal(value(pruned, dw.input[1]), w["d.w"][kept])
