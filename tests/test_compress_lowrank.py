"""Truncated-SVD factorization: ranks recorded, parameters saved, exact on low-rank weights."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from harness.compress import apply_chain
from harness.compress.base import PassContext
from harness.compress.graph import set_initializer
from harness.compress.lowrank import Svd
from harness.errors import ParamError
from harness.measure.size import onnx_size
from tests.helpers.graphs import (
    conv_net,
    ctx_for,
    gemm_net,
    initializer,
    inputs_for,
    make_pass,
    mlp,
    mobile_net,
    nodes_of,
    rel_err,
    run,
)


def factorized(model: onnx.ModelProto, **params):  # noqa: ANN003, ANN201
    out, notes = apply_chain(model, [make_pass("svd", **params)], ctx_for(model))
    return out, notes[0]


def low_rank(shape: tuple[int, int], rank: int, seed: int) -> np.ndarray:
    r = np.random.default_rng(seed)
    a, b = r.standard_normal((shape[0], rank)), r.standard_normal((rank, shape[1]))
    return (a @ b / np.sqrt(rank * shape[1])).astype(np.float32)


def with_low_rank(model: onnx.ModelProto, ranks: dict[str, int]) -> onnx.ModelProto:
    """The model with the named weights replaced by exactly low-rank ones (same shape)."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    for i, (name, rank) in enumerate(ranks.items()):
        shape = tuple(initializer(out, name).dims)
        flat = (shape[0], int(np.prod(shape[1:])))
        set_initializer(out.graph, name, low_rank(flat, rank, seed=i).reshape(shape))
    return out


def test_rank_ratio_half_records_ranks_and_saves_parameters() -> None:
    model = conv_net()
    out, notes = factorized(model, rank_ratio=0.5)
    layers = notes["layers"]
    assert {k: v["rank"] for k, v in layers.items()} == {
        "conv_c1": 4, "conv_c2": 8, "gemm_h": 16, "gemm_output": 5
    }  # fmt: skip
    before = sum(v["params"][0] for v in layers.values())
    after = sum(v["params"][1] for v in layers.values())
    assert after <= 0.6 * before
    # fc1 (32 x 1024) at rank 16: two Gemms of 16 x 1024 and 32 x 16
    assert initializer(out, "fc1.w_svd_in").dims == [16, 1024]
    assert initializer(out, "fc1.w_svd_out").dims == [32, 16]
    assert onnx_size(out).params <= 0.6 * onnx_size(model).params
    assert onnx_size(out).macs < onnx_size(model).macs
    assert len(nodes_of(out, "Gemm")) == 4 and len(nodes_of(out, "Conv")) == 4
    x = inputs_for(model)
    assert run(out, x).shape == run(model, x).shape


def test_keep_output_judges_output_layers_among_all_layers_not_only_the_selected() -> None:
    """The last Conv feeds the Gemms: with layers = conv it is still not an output layer."""
    _, notes = factorized(conv_net(), rank_ratio=0.5, layers="conv", keep_output=True)
    assert set(notes["layers"]) == {"conv_c1", "conv_c2"}
    assert notes["skipped"]["gemm_output"] == "not selected (layers = conv)"


@pytest.mark.parametrize("params", [{"rank": 1000}, {"energy": 1.0}, {"rank_ratio": 1.0}])
def test_full_rank_saves_nothing_and_is_left_alone(params: dict) -> None:
    model = conv_net()
    out, notes = factorized(model, **params)
    assert notes["layers"] == {}
    assert notes["skipped"]["gemm_h"] == "no parameter saving at rank 32"
    assert notes["skipped"]["conv_c2"] == "no parameter saving at rank 16"
    x = inputs_for(model)
    np.testing.assert_allclose(run(out, x), run(model, x), atol=1e-5)


def test_exactly_low_rank_weights_are_reproduced() -> None:
    # The factor layout (transB, Conv reshape, 1x1 mix, bias placement) is right iff a
    # weight of rank k factorized at rank k gives the same outputs.
    model = with_low_rank(conv_net(), {"c2.w": 3, "fc1.w": 4})
    out, notes = factorized(model, energy=0.999999)
    assert notes["layers"]["conv_c2"]["rank"] == 3 and notes["layers"]["gemm_h"]["rank"] == 4
    x = inputs_for(model)
    assert rel_err(run(out, x), run(model, x)) < 1e-4


@pytest.mark.parametrize("trans_b", [0, 1])
def test_gemm_keeps_alpha_beta_and_layout(trans_b: int) -> None:
    model = with_low_rank(gemm_net(trans_b, alpha=0.5, beta=2.0), {"w1": 3})
    out, notes = factorized(model, energy=0.999999)
    assert notes["layers"]["gemm_h"]["rank"] == 3
    assert notes["skipped"]["gemm_output"] == "no parameter saving at rank 6"
    in_shape = [3, 40] if trans_b else [40, 3]
    assert initializer(out, "w1_svd_in").dims == in_shape
    x = inputs_for(model)
    assert rel_err(run(out, x), run(model, x)) < 1e-4


def test_matmul_becomes_two_matmuls() -> None:
    model = with_low_rank(mlp(), {"w1": 5})
    out, notes = factorized(model, energy=0.999999)
    assert notes["layers"] == {
        "matmul_m1": {"rank": 5, "of": 48, "energy": 1.0, "params": [64 * 48, 5 * (64 + 48)]}
    }
    assert len(nodes_of(out, "MatMul")) == 3
    x = inputs_for(model)
    assert rel_err(run(out, x), run(model, x)) < 1e-4


def test_depthwise_conv_is_skipped_with_a_reason() -> None:
    _, notes = factorized(mobile_net(), rank=1)
    assert notes["skipped"]["conv_d"] == "grouped or depthwise Conv"


def test_energy_picks_the_smallest_rank_that_keeps_it() -> None:
    s = np.array([3.0, 2.0, 1.0, 0.0])  # squared: 9, 4, 1, 0 of 14
    assert Svd(energy=0.6).choose_rank(s) == 1
    assert Svd(energy=0.65).choose_rank(s) == 2
    assert Svd(energy=1.0).choose_rank(s) == 3
    assert Svd(rank_ratio=0.5).choose_rank(s) == 2
    assert Svd(rank_ratio=0.01).choose_rank(s) == 1
    assert Svd(rank=9).choose_rank(s) == 4


def test_apply_never_mutates_its_input() -> None:
    model = conv_net()
    before = model.SerializeToString()
    Svd(rank_ratio=0.5).apply(model, PassContext())
    assert model.SerializeToString() == before


@pytest.mark.parametrize(
    ("params", "key", "message"),
    [
        ({"rank": 0}, "rank", "must be an integer >= 1, got 0"),
        ({"rank": 2.5}, "rank", "must be an integer >= 1"),
        ({"rank_ratio": 0}, "rank_ratio", "must be a number in (0, 1], got 0"),
        ({"rank_ratio": 1.5}, "rank_ratio", "must be a number in (0, 1], got 1.5"),
        ({"energy": 0.0}, "energy", "must be a number in (0, 1]"),
        ({}, "rank", "give exactly one of rank"),
        ({"rank": 4, "energy": 0.9}, "energy", "give only one of rank, rank_ratio, energy"),
        ({"rnak": 4}, "rnak", "did you mean 'rank'"),
        ({"rank": 4, "layers": "denes"}, "layers", "did you mean 'dense'"),
    ],
)
def test_bad_params_are_param_errors(params: dict, key: str, message: str) -> None:
    with pytest.raises(ParamError) as info:
        Svd.from_params(params)
    assert info.value.key == key and message in info.value.message


def test_spec_and_label() -> None:
    assert Svd.from_params({"rank_ratio": 0.5}).spec() == {"pass": "svd", "rank_ratio": 0.5}
    assert Svd.from_params({"rank": 8}).spec() == {"pass": "svd", "rank": 8}
    assert Svd(rank_ratio=0.5).label() == "svd 50%"
    assert Svd(rank=8).label() == "svd r8" and Svd(energy=0.9).label() == "svd e90%"
    dense = Svd.from_params({"rank_ratio": 0.5, "layers": "dense"})
    assert dense.spec() == {"pass": "svd", "rank_ratio": 0.5, "layers": "dense"}
    assert dense.label() == "svd 50% dense"
    kept = Svd.from_params({"rank": 4, "keep_output": True})
    assert kept.spec() == {"pass": "svd", "rank": 4, "keep_output": True}
    assert kept.label() == "svd r4 keep out"


@pytest.mark.parametrize(("make", "output_layer"), [(conv_net, "gemm_output"), (mlp, None)])
def test_keep_output_leaves_the_classifier_whole(make, output_layer: str | None) -> None:  # noqa: ANN001
    model = make()
    _, everything = factorized(model, rank_ratio=0.5)
    out, notes = factorized(model, rank_ratio=0.5, keep_output=True)
    last = output_layer or list(everything["layers"])[-1]
    assert last in everything["layers"] and last not in notes["layers"]
    assert notes["skipped"][last] == "output layer kept whole (keep_output)"
    assert set(notes["layers"]) == set(everything["layers"]) - {last}
    x = inputs_for(model)
    assert run(out, x).shape == run(model, x).shape


@pytest.mark.parametrize(
    ("layers", "factorized_ops", "counts"),
    [
        ("dense", {"gemm_h", "gemm_output"}, {"Gemm": 4, "Conv": 2}),
        ("conv", {"conv_c1", "conv_c2"}, {"Gemm": 2, "Conv": 4}),
    ],
)
def test_layers_limits_which_ops_are_factorized(
    layers: str, factorized_ops: set[str], counts: dict[str, int]
) -> None:
    model = conv_net()
    out, notes = factorized(model, rank_ratio=0.5, layers=layers)
    assert set(notes["layers"]) == factorized_ops
    others = {"conv_c1", "conv_c2", "gemm_h", "gemm_output"} - factorized_ops
    assert {k: notes["skipped"][k] for k in others} == dict.fromkeys(
        others, f"not selected (layers = {layers})"
    )
    assert {op: len(nodes_of(out, op)) for op in counts} == counts
    x = inputs_for(model)
    assert run(out, x).shape == run(model, x).shape
