"""Invariants that hold for every input, checked on many generated ones (hypothesis;
the profile in conftest.py makes the examples the same on every run)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from harness.compress import apply_chain
from harness.compress.prune import choose_channels, smallest_mask
from harness.compress.quantize import dequantize_array, quantize_array, storage
from harness.measure.metrics import wilson_interval
from harness.report.data import pareto_mask
from tests.helpers.graphs import (
    conv_net,
    ctx_for,
    inputs_for,
    make_pass,
    mlp,
    mobile_net,
    run,
    user_model,
)

weights = hnp.arrays(
    np.float32,
    hnp.array_shapes(min_dims=2, max_dims=4, min_side=1, max_side=5),
    elements=st.floats(-4.0, 4.0, width=32, allow_subnormal=False),
)


@given(weights, st.integers(2, 8), st.booleans(), st.sampled_from([None, 0]))
def test_quantize_then_dequantize_is_within_half_a_step(
    w: np.ndarray, bits: int, symmetric: bool, axis: int | None
) -> None:
    q, scale, zp = quantize_array(w, bits, axis, symmetric)
    st_ = storage(bits, symmetric)
    assert q.min() >= st_.lo and q.max() <= st_.hi  # fits the stored integer type
    back = dequantize_array(q, scale, zp, axis)
    shape = [1] * w.ndim
    if axis is not None:
        shape[axis] = -1
    step = scale.reshape(shape if axis is not None else ()).astype(np.float64)
    # Half a step, plus the float32 rounding of the decoded value.
    bound = step / 2 + 1e-6 * np.abs(w).max()
    assert (np.abs(back.astype(np.float64) - w) <= bound).all()
    assert (back[w == 0] == 0).all()  # zeros (pruned weights) stay exact


magnitudes = hnp.arrays(np.float32, st.integers(1, 40), elements=st.floats(0.0, 10.0, width=32))


@given(st.lists(magnitudes, min_size=1, max_size=4), st.floats(0.0, 1.0), st.booleans())
def test_pruning_masks_exactly_the_rounded_count_of_smallest_weights(
    arrays: list[np.ndarray], ratio: float, per_layer: bool
) -> None:
    masks = smallest_mask(arrays, ratio, per_layer)
    groups = (
        [[(a, m)] for a, m in zip(arrays, masks, strict=True)]
        if per_layer
        else [list(zip(arrays, masks, strict=True))]
    )
    for group in groups:
        n = sum(a.size for a, _ in group)
        pruned = np.concatenate([a[m] for a, m in group])
        kept = np.concatenate([a[~m] for a, m in group])
        assert len(pruned) == math.floor(ratio * n + 0.5)  # round half up
        if len(pruned) and len(kept):
            assert np.abs(pruned).max() <= np.abs(kept).min()


@given(
    st.dictionaries(
        st.sampled_from(["a", "b", "c", "d"]),
        hnp.arrays(np.float64, st.integers(1, 12), elements=st.floats(0.01, 5.0)),
        min_size=1,
    ),
    st.floats(0.0, 1.0),
    st.booleans(),
)
def test_channel_choice_keeps_one_per_layer_and_removes_the_rounded_share(
    scores: dict[str, np.ndarray], ratio: float, per_layer: bool
) -> None:
    keep = choose_channels(scores, ratio, per_layer)
    assert set(keep) == set(scores)
    for label, kept in keep.items():
        n = len(scores[label])
        assert len(kept) >= 1 and list(kept) == sorted(set(kept)) and kept.max() < n
        assert int(np.argmax(scores[label])) in kept  # the strongest channel survives
        if per_layer:
            assert len(kept) == max(1, n - math.floor(ratio * n + 0.5))
    if not per_layer:
        total = sum(len(s) for s in scores.values())
        removed = total - sum(len(k) for k in keep.values())
        assert removed == min(math.floor(ratio * total + 0.5), total - len(scores))


@given(hnp.arrays(np.float64, st.tuples(st.integers(1, 30), st.integers(1, 3)),
                  elements=st.integers(0, 3).map(float)))  # fmt: skip
def test_pareto_front_is_the_brute_force_front(costs: np.ndarray) -> None:
    def dominated(i: int) -> bool:
        return any(
            (costs[j] <= costs[i]).all() and (costs[j] < costs[i]).any() for j in range(len(costs))
        )

    assert pareto_mask(costs).tolist() == [not dominated(i) for i in range(len(costs))]


@given(st.integers(1, 2000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_interval_holds_the_estimate_within_zero_and_one(pair: tuple[int, int]) -> None:
    correct, n = pair
    low, high = wilson_interval(correct, n)
    assert 0.0 <= low <= correct / n <= high <= 1.0
    assert low < high


@given(st.integers(1, 200).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
       st.integers(2, 10))  # fmt: skip
def test_wilson_interval_narrows_with_more_samples_at_the_same_rate(
    pair: tuple[int, int], factor: int
) -> None:
    correct, n = pair
    low, high = wilson_interval(correct, n)
    more_low, more_high = wilson_interval(correct * factor, n * factor)
    assert more_high - more_low < high - low


MODELS = {"conv": conv_net, "mlp": mlp, "mobile": mobile_net, "user": user_model}


@settings(max_examples=12)
@given(
    st.sampled_from(sorted(MODELS)),
    st.floats(0.05, 0.95),
    st.booleans(),
    st.sampled_from(["global", "layer"]),
)
def test_a_pruned_graph_keeps_its_output_shape(
    name: str, ratio: float, structured: bool, scope: str
) -> None:
    model = MODELS[name]()
    prune = make_pass("prune", ratio=ratio, structured=structured, scope=scope)
    out, _ = apply_chain(model, [prune], ctx_for(model))
    x = inputs_for(model, n=3)
    y = run(out, x)
    assert y.shape == run(model, x).shape and y.shape[0] == 3
    assert np.isfinite(y).all()
