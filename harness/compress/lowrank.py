"""Low-rank factorization by truncated SVD: one layer becomes two thinner ones.

Gemm/MatMul: y = x W with W (m x n) becomes y = (x A) B with A (m x k), B (k x n); a Gemm
stays a pair of Gemms (the second keeps the bias C, alpha and beta, both keep transB so
the stored weights have the usual layout). Conv: a Conv with k filters (same kernel,
stride, pads, dilations) then a 1x1 Conv back to the original channels, from the SVD of
the kernel reshaped (Cout, Cin*kh*kw). The singular values are split evenly between the
factors (sqrt each) so neither factor's range blows up for a later quantize pass.

A layer is factorized only where k*(m+n) < m*n; otherwise it is left alone and the notes
say so. So a full rank (or energy 1.0) leaves the model unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import onnx
from onnx import helper, numpy_helper

from harness.compress.base import Params, PassContext, PassResult, percent
from harness.compress.graph import (
    Names,
    attr,
    consumers,
    copy_model,
    default_opset,
    drop_unused,
    initializer_index,
    set_nodes,
)
from harness.compress.layers import LAYER_KINDS, Layer, output_layers, select_layers, weight_layers
from harness.errors import ParamError

__all__ = ["Svd", "factorize"]

CHOICES = ("rank", "rank_ratio", "energy")


def factorize(
    u: np.ndarray, s: np.ndarray, vt: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, float]:
    """(A (m x k), B (k x n), energy kept): A @ B is the best rank-k approximation of
    u @ diag(s) @ vt (numpy's thin SVD)."""
    root = np.sqrt(s[:k])
    total = float(np.sum(s**2))
    energy = float(np.sum(s[:k] ** 2)) / total if total > 0 else 1.0
    return (u[:, :k] * root).astype(np.float32), (root[:, None] * vt[:k]).astype(np.float32), energy


def _matrix(layer: Layer, w: np.ndarray) -> np.ndarray:
    """The weight as the matrix to factorize: (in, out) for dense layers, (Cout, rest) for Conv."""
    if layer.op == "Conv":
        return w.reshape(w.shape[0], -1)
    return w.T if layer.out_axis == 0 else w  # Gemm transB stores (out, in)


@dataclass(frozen=True)
class Svd:
    """Truncated-SVD factorization of Conv/Gemm/MatMul weights; exactly one of rank,
    rank_ratio (fraction of min(m, n)) or energy (kept fraction of sum of squared singular
    values) picks each layer's rank; `layers` limits it to dense (Gemm/MatMul) or Conv layers.

    keep_output leaves whole the layers that produce the model's outputs: a classifier's
    last layer at a rank below the number of classes ties the class scores together, which
    costs far more accuracy than its few parameters are worth."""

    name: ClassVar[str] = "svd"
    rank: int | None = None
    rank_ratio: float | None = None
    energy: float | None = None
    layers: str = "all"
    keep_output: bool = False

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Svd:
        p = Params(params, [*CHOICES, "layers", "keep_output"])
        layers = p.choice("layers", list(LAYER_KINDS), default="all")
        keep_output = p.boolean("keep_output", default=False)
        given = [k for k in CHOICES if p.given(k)]
        if not given:
            raise ParamError(
                "rank", "give exactly one of rank (int >= 1), rank_ratio or energy (in (0, 1])"
            )
        if len(given) > 1:
            raise ParamError(
                given[1], f"give only one of rank, rank_ratio, energy; got {' and '.join(given)}"
            )
        if given[0] == "rank":
            return cls(rank=p.integer("rank", 1), layers=layers, keep_output=keep_output)
        value = p.number(given[0], 0, 1, lo_open=True)
        if given[0] == "rank_ratio":
            return cls(rank_ratio=value, layers=layers, keep_output=keep_output)
        return cls(energy=value, layers=layers, keep_output=keep_output)

    def spec(self) -> dict[str, Any]:
        chosen = {k: getattr(self, k) for k in CHOICES if getattr(self, k) is not None}
        # Defaults stay implicit so that settings written before them keep their cache keys.
        scope = {} if self.layers == "all" else {"layers": self.layers}
        keep = {"keep_output": True} if self.keep_output else {}
        return {"pass": self.name, **chosen, **scope, **keep}

    def label(self) -> str:
        """'svd r8', 'svd 50%' (rank ratio) or 'svd e90%' (energy), then 'dense' or 'conv'
        when limited to those layers and 'keep out' when the output layers stay whole."""
        if self.rank is not None:
            text = f"svd r{self.rank}"
        elif self.rank_ratio is not None:
            text = f"svd {percent(self.rank_ratio)}"
        else:
            text = f"svd e{percent(self.energy or 1.0)}"
        if self.layers != "all":
            text += f" {self.layers}"
        return f"{text} keep out" if self.keep_output else text

    def choose_rank(self, singular: np.ndarray) -> int:
        full = len(singular)
        if self.rank is not None:
            return min(self.rank, full)
        if self.rank_ratio is not None:
            return min(full, max(1, math.floor(self.rank_ratio * full + 0.5)))
        sq = singular.astype(np.float64) ** 2
        kept = np.cumsum(sq) / sq.sum()
        return min(full, int(np.searchsorted(kept, (self.energy or 1.0) - 1e-9)) + 1)

    def apply(self, model: onnx.ModelProto, ctx: PassContext) -> PassResult:
        found, skipped = weight_layers(model.graph)
        # Output layers are found among all weight layers, whichever `layers` selects.
        kept = output_layers(model.graph, found) if self.keep_output else set()
        layers = select_layers(found, self.layers, skipped)
        readers = consumers(model.graph)
        work = copy_model(model)
        graph = work.graph
        names = Names(graph)
        index = initializer_index(graph)
        replaced: dict[int, list[onnx.NodeProto]] = {}
        done: dict[str, Any] = {}
        for layer in layers:
            node = graph.node[layer.index]
            if layer.index in kept:
                skipped[layer.label] = "output layer kept whole (keep_output)"
                continue
            reason = _unsupported(layer, node, readers, default_opset(model))
            w = numpy_helper.to_array(graph.initializer[index[layer.weight]])
            matrix = _matrix(layer, w)
            if reason is None and not np.any(matrix):
                reason = "all-zero weight"
            if reason is not None:
                skipped[layer.label] = reason
                continue
            m, n = matrix.shape
            u, s, vt = np.linalg.svd(matrix.astype(np.float64), full_matrices=False)
            k = self.choose_rank(s)
            if k * (m + n) >= m * n:
                skipped[layer.label] = f"no parameter saving at rank {k}"
                continue
            a, b, energy = factorize(u, s, vt, k)
            split = Split(node, layer, tuple(w.shape), a, b)
            replaced[layer.index] = _BUILDERS[layer.op](split, graph, names)
            done[layer.label] = {
                "rank": k,
                "of": min(m, n),
                "energy": round(energy, 6),
                "params": [m * n, k * (m + n)],
            }
        if replaced:
            nodes = []
            for i, node in enumerate(graph.node):
                nodes.extend(replaced.get(i, [node]))
            set_nodes(graph, nodes)
            drop_unused(graph)
        return PassResult(work, {"layers": done, "skipped": skipped})


def _unsupported(
    layer: Layer, node: onnx.NodeProto, readers: dict[str, list[tuple[int, int]]], opset: int
) -> str | None:
    if len(readers.get(layer.weight, [])) != 1:
        return "weight is shared with another node"
    if layer.op == "Conv" and attr(node, "group", 1) != 1:
        return "grouped or depthwise Conv"
    if layer.op == "Gemm" and opset < 11:
        return "Gemm without C needs opset 11"
    return None


def _const(graph: onnx.GraphProto, names: Names, base: str, value: np.ndarray) -> str:
    name = names.fresh(base)
    graph.initializer.append(numpy_helper.from_array(value.astype(np.float32), name))
    return name


@dataclass(frozen=True)
class Split:
    """One layer's factors, to be written as two nodes: W ~ a (m x k) @ b (k x n)."""

    node: onnx.NodeProto
    layer: Layer
    shape: tuple[int, ...]  # of the original weight
    a: np.ndarray
    b: np.ndarray

    @property
    def rank(self) -> int:
        return self.a.shape[1]

    def middle(self, names: Names) -> str:
        return names.fresh(f"{self.node.output[0]}_rank{self.rank}")


def _gemm(f: Split, graph: onnx.GraphProto, names: Names) -> list[onnx.NodeProto]:
    """Gemm(x, a) then Gemm(., b, C) with the original alpha, beta and transB layout."""
    trans_b = f.layer.out_axis == 0
    first = _const(graph, names, f"{f.layer.weight}_svd_in", f.a.T if trans_b else f.a)
    second = _const(graph, names, f"{f.layer.weight}_svd_out", f.b.T if trans_b else f.b)
    mid = f.middle(names)
    n1 = helper.make_node(
        "Gemm",
        [f.node.input[0], first],
        [mid],
        name=names.fresh(f"{f.layer.label}_svd_in"),
        transA=attr(f.node, "transA", 0),
        transB=int(trans_b),
    )
    n2 = onnx.NodeProto()
    n2.CopyFrom(f.node)  # keeps C, alpha, beta, transB
    n2.name = names.fresh(f"{f.layer.label}_svd_out")
    n2.input[0], n2.input[1] = mid, second
    kept = [a for a in n2.attribute if a.name != "transA"]
    del n2.attribute[:]
    n2.attribute.extend(kept)
    return [n1, n2]


def _matmul(f: Split, graph: onnx.GraphProto, names: Names) -> list[onnx.NodeProto]:
    first = _const(graph, names, f"{f.layer.weight}_svd_in", f.a)
    second = _const(graph, names, f"{f.layer.weight}_svd_out", f.b)
    mid = f.middle(names)
    label = f.layer.label
    return [
        helper.make_node(
            "MatMul", [f.node.input[0], first], [mid], name=names.fresh(f"{label}_svd_in")
        ),
        helper.make_node(
            "MatMul", [mid, second], list(f.node.output), name=names.fresh(f"{label}_svd_out")
        ),
    ]


def _conv(f: Split, graph: onnx.GraphProto, names: Names) -> list[onnx.NodeProto]:
    """k filters over the input (original kernel and geometry), then a 1x1 Conv mixing them."""
    spatial = len(f.shape) - 2
    filters = _const(
        graph, names, f"{f.layer.weight}_svd_filters", f.b.reshape((f.rank, *f.shape[1:]))
    )
    mix = _const(
        graph,
        names,
        f"{f.layer.weight}_svd_mix",
        f.a.reshape((f.shape[0], f.rank) + (1,) * spatial),
    )
    mid = f.middle(names)
    n1 = onnx.NodeProto()
    n1.CopyFrom(f.node)  # same kernel_shape, strides, pads, dilations, auto_pad
    n1.name = names.fresh(f"{f.layer.label}_svd_filters")
    del n1.input[:]
    n1.input.extend([f.node.input[0], filters])
    del n1.output[:]
    n1.output.append(mid)
    bias = [f.node.input[2]] if len(f.node.input) > 2 and f.node.input[2] else []
    n2 = helper.make_node(
        "Conv",
        [mid, mix, *bias],
        list(f.node.output),
        name=names.fresh(f"{f.layer.label}_svd_mix"),
        kernel_shape=[1] * spatial,
    )
    return [n1, n2]


_BUILDERS = {"Gemm": _gemm, "MatMul": _matmul, "Conv": _conv}
