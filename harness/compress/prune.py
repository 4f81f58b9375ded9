"""Magnitude pruning: zero single weights (unstructured), or remove whole output channels
and rewire every consumer so the dense model really shrinks (structured).

Structured pruning follows each layer's output to the layers that read its channels
(harness.compress.channels) and plans one edit per touched constant. Layers whose outputs
meet in an elementwise op (a residual Add) form a group that loses the same channels,
chosen by the weights their removal cuts (harness.compress.importance); layers joined by a Concat are pruned each at its own
offset of the joined axis. A layer is pruned only if its whole group can be
rewired; otherwise it is left as it is, with the reason in the notes. Outputs that reach
a graph output are never pruned: that would change what the model returns.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import onnx
from onnx import numpy_helper

from harness.compress.base import Params, PassContext, PassResult, percent
from harness.compress.channel_plan import CannotRewire, Plan
from harness.compress.channels import Tracer
from harness.compress.edits import Edit
from harness.compress.graph import (
    Names,
    copy_model,
    drop_unused,
    drop_value_info,
    initializer_index,
    set_initializer,
)
from harness.compress.importance import group_scores
from harness.compress.layers import Layer, weight_layers
from harness.errors import ParamError

__all__ = [
    "Group", "Prune", "channel_groups", "choose_channels", "group_keep", "round_kept",
    "smallest_mask",
]  # fmt: skip

SCOPES = ("global", "layer")
# What to do with channels a residual Add ties across layers: prune them jointly in every
# member, or keep them whole and take the ratio from the untied layers only.
TIED = ("prune", "keep")


def _round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def smallest_mask(arrays: list[np.ndarray], ratio: float, per_layer: bool) -> list[np.ndarray]:
    """Boolean masks marking exactly round(ratio * n) smallest-magnitude entries, counted
    over all arrays together (global) or within each array."""
    if per_layer:
        return [smallest_mask([a], ratio, False)[0] for a in arrays]
    flat = np.concatenate([np.abs(a).reshape(-1) for a in arrays]) if arrays else np.zeros(0)
    k = _round_half_up(ratio * flat.size)
    mask = np.zeros(flat.size, bool)
    mask[np.argsort(flat, kind="stable")[:k]] = True
    out, start = [], 0
    for a in arrays:
        out.append(mask[start : start + a.size].reshape(a.shape))
        start += a.size
    return out


# ---- edits: what removing channels of one layer changes elsewhere ------------------------


def choose_channels(
    scores: dict[str, np.ndarray], ratio: float, per_layer: bool, round_to: int = 1
) -> dict[str, np.ndarray]:
    """Sorted indices of the channels to keep per layer; every layer keeps at least one.

    Global scope ranks channels by their score relative to their layer's mean, so layers
    of different fan-in compete fairly and weaker layers lose more channels. With
    `round_to` > 1 each kept count is then rounded to a multiple of it (see `round_kept`).
    """
    keep = _choose(scores, ratio, per_layer)
    if round_to == 1:
        return keep
    return {label: round_kept(scores[label], len(kept), round_to) for label, kept in keep.items()}


def round_kept(scores: np.ndarray, n_keep: int, round_to: int) -> np.ndarray:
    """The `n_keep` strongest channels, their count rounded to the nearest multiple of
    `round_to` (at least one multiple): vectorised kernels run a count like 24 faster
    than 21. A count that rounds up to all channels or beyond keeps the layer whole."""
    target = max(round_to, _round_half_up(n_keep / round_to) * round_to)
    if target >= len(scores):
        return np.arange(len(scores), dtype=np.int64)
    return np.sort(np.argsort(-scores, kind="stable")[:target]).astype(np.int64)


def _choose(scores: dict[str, np.ndarray], ratio: float, per_layer: bool) -> dict[str, np.ndarray]:
    if per_layer:
        keep = {}
        for label, s in scores.items():
            n_keep = max(1, len(s) - _round_half_up(ratio * len(s)))
            keep[label] = np.sort(np.argsort(-s, kind="stable")[:n_keep])
        return keep
    total = sum(len(s) for s in scores.values())
    candidates = []  # (relative score, label, channel), each layer's strongest protected
    for label, s in scores.items():
        mean = float(np.mean(s))
        rel = s / mean if mean > 0 else np.zeros_like(s)
        strongest = int(np.argmax(s))
        candidates += [(float(rel[c]), label, c) for c in range(len(s)) if c != strongest]
    candidates.sort(key=lambda x: x[0])
    removed: dict[str, set[int]] = {label: set() for label in scores}
    for _, label, c in candidates[: _round_half_up(ratio * total)]:
        removed[label].add(c)
    return {
        label: np.array([c for c in range(len(s)) if c not in removed[label]], np.int64)
        for label, s in scores.items()
    }


@dataclass(frozen=True)
class Group:
    """Layers whose output channels go alike: one, or those a residual Add joins."""

    plans: tuple[Plan, ...]

    @property
    def label(self) -> str:
        return " + ".join(p.layer.label for p in self.plans)

    @property
    def channels(self) -> int:
        return self.plans[0].channels

    @property
    def edits(self) -> list[Edit]:
        """Every member's edits, once: the members' traces meet after the Add."""
        return list(dict.fromkeys(e for p in self.plans for e in p.edits))

    @property
    def tensors(self) -> set[str]:
        return set().union(*(p.tensors for p in self.plans))

    def scores(self, model: onnx.ModelProto) -> np.ndarray:
        """Each channel's importance over every weight its removal cuts (importance.py)."""
        return group_scores(model, self.edits, self.channels)


def channel_groups(
    model: onnx.ModelProto, layers: list[Layer], skipped: dict[str, str]
) -> list[Group]:
    """The prunable groups among `layers`; each layer that cannot be pruned gets its reason
    in `skipped` (a group is pruned whole or not at all)."""
    tracer = Tracer(model)
    plans: list[Plan] = []
    for layer in layers:
        try:
            plans.append(tracer.plan(layer))
        except CannotRewire as exc:
            skipped[layer.label] = str(exc)
    parent = list(range(len(plans)))

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    broken: dict[int, str] = {}
    for i, plan in enumerate(plans):
        for join in plan.joins:
            owner = next(
                (
                    k
                    for k, other in enumerate(plans)
                    if other.states.get(join.tensor) == (join.axis, join.block, 0, None)
                    and other.channels == plan.channels
                ),
                None,
            )
            if owner is None:
                broken[i] = f"{join.where} adds channels that no prunable layer's match"
            else:
                parent[root(i)] = root(owner)
    members: dict[int, list[int]] = {}
    for i in range(len(plans)):
        members.setdefault(root(i), []).append(i)
    groups = []
    for indices in members.values():
        bad = [i for i in indices if i in broken]
        if not bad:
            groups.append(Group(tuple(plans[i] for i in indices)))
            continue
        culprit = plans[bad[0]].layer.label
        for i in indices:
            skipped[plans[i].layer.label] = broken.get(i) or f"joined to {culprit}, which cannot be"
    return groups


def group_keep(
    model: onnx.ModelProto,
    groups: list[Group],
    ratio: float,
    per_layer: bool,
    round_to: int = 1,
    tied: str = "prune",
) -> dict[str, np.ndarray]:
    """The channels each group keeps. With tied = "keep" a group of several layers (a
    residual stream that Adds tie) keeps every channel and the ratio applies to the
    other groups: on ResNet-8 removing residual channels costs far more than inner ones
    (docs/tiny-vision.md). Shared with fine-tuning's mirror, which must choose alike."""
    ranked = [g for g in groups if tied == "prune" or len(g.plans) == 1]
    keep = choose_channels({g.label: g.scores(model) for g in ranked}, ratio, per_layer, round_to)
    for g in groups:
        keep.setdefault(g.label, np.arange(g.channels, dtype=np.int64))
    return keep


def prune_structured(
    model: onnx.ModelProto, ratio: float, per_layer: bool, round_to: int = 1, tied: str = "prune"
) -> PassResult:
    layers, skipped = weight_layers(model.graph)
    groups = channel_groups(model, layers, skipped)
    keep = group_keep(model, groups, ratio, per_layer, round_to, tied)
    work = copy_model(model)
    names = Names(work.graph)
    changed: set[str] = set()
    todo: list[tuple[Edit, np.ndarray]] = []
    for g in groups:
        kept = keep[g.label]
        if len(kept) < g.channels:
            todo += [(edit, kept) for edit in g.edits]
            changed |= g.tensors
    # Layers joined by a Concat slice the same axis at their own offsets: the highest first,
    # so that no slice moves the entries another one is about to cut.
    todo.sort(key=lambda item: -getattr(item[0], "offset", 0))
    for edit, kept in todo:
        edit.apply(work.graph, kept, names)
    drop_value_info(work.graph, changed)
    drop_unused(work.graph)
    notes: dict[str, Any] = {
        "kept": {
            p.layer.label: {"kept": len(keep[g.label]), "of": g.channels}
            for g in groups
            for p in g.plans
        },
        "skipped": skipped,
    }
    joined = [[p.layer.label for p in g.plans] for g in groups if len(g.plans) > 1]
    if joined:
        notes["groups"] = joined
    return PassResult(work, notes)


def prune_unstructured(model: onnx.ModelProto, ratio: float, per_layer: bool) -> PassResult:
    layers, skipped = weight_layers(model.graph)
    work = copy_model(model)
    index = initializer_index(work.graph)
    labels: dict[str, str] = {}  # weight -> label of its first layer
    for layer in layers:
        labels.setdefault(layer.weight, layer.label)
    arrays = [numpy_helper.to_array(work.graph.initializer[index[w]]) for w in labels]
    masks = smallest_mask(arrays, ratio, per_layer)
    zeros: dict[str, float] = {}
    for (weight, label), w, mask in zip(labels.items(), arrays, masks, strict=True):
        if mask.any():
            set_initializer(work.graph, weight, np.where(mask, np.float32(0), w).astype(np.float32))
        zeros[label] = round(float(np.mean(mask | (w == 0))), 6) if w.size else 0.0
    total = sum(a.size for a in arrays)
    pruned = sum(int(np.count_nonzero(m | (a == 0))) for a, m in zip(arrays, masks, strict=True))
    notes = {
        "zeros": zeros,
        "sparsity": round(pruned / total, 6) if total else 0.0,
        "skipped": skipped,
    }
    return PassResult(work, notes)


@dataclass(frozen=True)
class Prune:
    """Magnitude pruning of Conv/Gemm/MatMul weights, by weight or by output channel."""

    name: ClassVar[str] = "prune"
    ratio: float
    structured: bool = False
    scope: str = "global"
    round_to: int = 1  # structured: kept channel counts are multiples of this
    tied: str = "prune"  # structured: residual-tied channels pruned jointly, or kept whole

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Prune:
        p = Params(params, ["ratio", "structured", "scope", "round_to", "tied"])
        structured = p.boolean("structured", default=False)
        round_to = p.integer("round_to", 1, 256, default=1)
        if round_to > 1 and not structured:
            raise ParamError("round_to", "rounds kept channel counts; set structured = true too")
        tied = p.choice("tied", TIED, default="prune")
        if tied != "prune" and not structured:
            raise ParamError("tied", "chooses for channels Adds tie; set structured = true too")
        return cls(
            ratio=p.number("ratio", 0, 1, hi_open=True),
            structured=structured,
            scope=p.choice("scope", SCOPES, default="global"),
            round_to=round_to,
            tied=tied,
        )

    def spec(self) -> dict[str, Any]:
        # round_to and tied enter the spec only when set, so earlier settings keep their keys.
        rounding = {"round_to": self.round_to} if self.round_to > 1 else {}
        tied = {"tied": self.tied} if self.tied != "prune" else {}
        return {
            "pass": self.name,
            "ratio": self.ratio,
            "structured": self.structured,
            "scope": self.scope,
            **rounding,
            **tied,
        }

    def label(self) -> str:
        """'prune 50%'; 'prune 50% channels' when structured, ' per-layer' for layer scope,
        ' /8' when kept counts are rounded to multiples of 8, ' untied' when residual-tied
        channels are kept whole."""
        extra = (" channels" if self.structured else "") + (
            " per-layer" if self.scope == "layer" else ""
        )
        rounding = f" /{self.round_to}" if self.round_to > 1 else ""
        untied = " untied" if self.tied == "keep" else ""
        return f"prune {percent(self.ratio)}{extra}{rounding}{untied}"

    def apply(self, model: onnx.ModelProto, ctx: PassContext) -> PassResult:
        per_layer = self.scope == "layer"
        if self.structured:
            result = prune_structured(model, self.ratio, per_layer, self.round_to, self.tied)
        else:
            result = prune_unstructured(model, self.ratio, per_layer)
        notes = {
            "ratio": self.ratio,
            "structured": self.structured,
            "scope": self.scope,
            "round_to": self.round_to,
            **({"tied": self.tied} if self.structured else {}),
            **result.notes,
        }
        return PassResult(result.model, notes)
