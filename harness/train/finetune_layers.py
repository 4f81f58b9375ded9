"""The torch side of fine-tuning: mirror prune/svd passes on a PyTorch model.

Every decision (which weights, which channels, which layers at which rank) is taken by
the ONNX pass's own code on an export of the torch model, then carried back onto the
torch modules: the weight layers of the export (Conv/Gemm/MatMul, in graph order) are
matched to the Conv/Linear modules in the order the forward pass calls them, checking
shapes. BatchNorm is folded into the layer before it first, as torch's exporter does,
so the torch weights are the exported weights and every mirrored choice is the one the
ONNX pass would make.

torch is imported inside the functions: importing this module never loads it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx
from onnx import numpy_helper

from harness.compress.base import PassContext
from harness.compress.graph import initializer_index
from harness.compress.layers import Layer, weight_layers
from harness.errors import CompressionError

if TYPE_CHECKING:
    import torch

__all__ = ["Masks", "Match", "factorize", "fold_batchnorm", "match_layers", "prune_masks"]


def _weight_types() -> tuple[type[torch.nn.Module], ...]:
    from torch import nn

    return (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


def fold_batchnorm(net: torch.nn.Module) -> torch.nn.Module:
    """A copy of `net` (eval mode) with each BatchNorm that directly follows a Conv/Linear in
    an nn.Sequential folded into that layer's weight and bias (the BatchNorm becomes
    Identity): what torch's ONNX export does in eval mode, done before fine-tuning."""
    import torch
    from torch import nn

    net = copy.deepcopy(net).eval()
    for seq in [m for m in net.modules() if isinstance(m, nn.Sequential)]:
        names = list(seq._modules)
        for a, b in zip(names, names[1:], strict=False):
            layer, bn = seq._modules[a], seq._modules[b]
            convs = (nn.Conv1d, nn.Conv2d, nn.Conv3d)  # as the exporter, Linear+BN stays
            if not isinstance(layer, convs) or not isinstance(bn, nn.modules.batchnorm._BatchNorm):
                continue
            if bn.running_mean is None or bn.running_var is None:
                continue  # no running statistics: batch statistics even in eval mode
            with torch.no_grad():
                scale = torch.rsqrt(bn.running_var + bn.eps)
                shift = -bn.running_mean * scale
                if bn.affine:
                    scale, shift = scale * bn.weight, shift * bn.weight + bn.bias
                if layer.bias is None:
                    layer.bias = nn.Parameter(torch.zeros_like(scale))
                view = (-1,) + (1,) * (layer.weight.dim() - 1)
                layer.weight.mul_(scale.reshape(view))
                layer.bias.copy_(layer.bias * scale + shift)
            seq._modules[b] = nn.Identity()
    return net


@dataclass(frozen=True)
class Match:
    """One weight layer of the export and the torch module that computes it."""

    layer: Layer
    name: str  # torch module path, e.g. "3" or "7.0"
    module: Any  # torch.nn.Conv*d or torch.nn.Linear


def _torch_layout(layer: Layer, array: np.ndarray) -> np.ndarray:
    """An ONNX weight in the torch module's layout (output channels on axis 0)."""
    return array if layer.op == "Conv" or layer.out_axis == 0 else array.T


def match_layers(net: torch.nn.Module, model: onnx.ModelProto, sample: Any) -> list[Match]:
    """Pair the export's weight layers with the Conv/Linear modules in call order."""
    import torch

    calls: list[tuple[str, Any]] = []
    hooks = [
        m.register_forward_hook(lambda mod, i, o, name=name: calls.append((name, mod)))
        for name, m in net.named_modules()
        if isinstance(m, _weight_types())
    ]
    try:
        with torch.no_grad():
            net(sample)
    finally:
        for h in hooks:
            h.remove()
    if len({id(m) for _, m in calls}) != len(calls):
        raise CompressionError("finetune: a Conv/Linear module is called twice; cannot mirror it")
    layers, _ = weight_layers(model.graph)
    index = initializer_index(model.graph)
    matches = []
    for layer, (name, module) in zip(layers, calls, strict=False):
        weight = numpy_helper.to_array(model.graph.initializer[index[layer.weight]])
        is_conv = not isinstance(module, torch.nn.Linear)
        same_kind = (layer.op == "Conv") == is_conv
        if not same_kind or _torch_layout(layer, weight).shape != tuple(module.weight.shape):
            break
        matches.append(Match(layer, name, module))
    if len(matches) != len(calls) or len(layers) != len(calls):
        raise CompressionError(
            f"finetune: the exported graph's {len(layers)} weight layers do not match the "
            f"model's {len(calls)} Conv/Linear modules"
        )
    return matches


@dataclass
class Masks:
    """Which entries of each module's weight and bias are held at zero (1 keep, 0 zero)."""

    masks: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # name -> (w, b or None)
    modules: dict[str, Any] = field(default_factory=dict)

    def zero(self, name: str, module: Any, weight: Any, bias: Any = None) -> None:
        """Hold more entries at zero: `weight` (and `bias`) are boolean arrays, True = zero."""
        import torch

        w_keep = torch.from_numpy(~np.asarray(weight)).to(module.weight.dtype)
        b_keep = None
        if bias is not None and module.bias is not None:
            b_keep = torch.from_numpy(~np.asarray(bias)).to(module.bias.dtype)
        if name in self.masks:
            old_w, old_b = self.masks[name]
            w_keep = w_keep * old_w
            b_keep = old_b if b_keep is None else (b_keep if old_b is None else b_keep * old_b)
        self.masks[name] = (w_keep, b_keep)
        self.modules[name] = module

    def drop(self, name: str) -> None:
        self.masks.pop(name, None)
        self.modules.pop(name, None)

    def apply(self) -> None:
        import torch
        from torch.nn.utils import parametrize

        with torch.no_grad():
            for name, (w_keep, b_keep) in self.masks.items():
                module = self.modules[name]
                # Under QAT's fake quantization `weight` is computed: zero the stored one.
                if parametrize.is_parametrized(module, "weight"):
                    module.parametrizations.weight.original.mul_(w_keep)
                else:
                    module.weight.mul_(w_keep)
                if b_keep is not None:
                    module.bias.mul_(b_keep)

    def rebind(self, net: Any) -> Masks:
        """The same masks on `net`'s modules of the same names (a copy of the masked model,
        as fold_batchnorm makes)."""
        return Masks(dict(self.masks), {name: net.get_submodule(name) for name in self.masks})

    def zeros(self) -> dict[str, float]:
        """Fraction of exactly-zero weights per masked module."""
        return {
            name: round(float((self.modules[name].weight == 0).float().mean()), 6)
            for name in self.masks
        }


def prune_masks(
    p: Any, model: onnx.ModelProto, matches: list[Match], masks: Masks, readers: bool = False
) -> dict[str, Any]:
    """Add the masks the prune pass `p` would apply to `model` (the torch model's export);
    returns per-module notes. `readers`: a structured prune also zeroes the weights that
    read the removed channels (they multiply zeros, so the function is unchanged), so that
    a weight quantizer's per-channel ranges are the same before and after the removal."""
    if p.structured:
        return _structured(p, model, matches, masks, readers)
    by_weight = {m.layer.weight: m for m in matches}
    result = p.apply(model, PassContext())
    index = initializer_index(result.model.graph)
    for weight, m in by_weight.items():
        pruned = numpy_helper.to_array(result.model.graph.initializer[index[weight]])
        masks.zero(m.name, m.module, _torch_layout(m.layer, pruned) == 0)
    return {}


def _structured(
    p: Any, model: onnx.ModelProto, matches: list[Match], masks: Masks, readers: bool
) -> dict:
    """Zero the output channels (weights and bias, and the channels of depthwise layers they
    feed) the structured pass would remove: same groups, same scores, same choice."""
    from harness.compress.edits import FixReshape, SetGroup, SliceConst, channel_entries
    from harness.compress.prune import channel_groups, group_keep

    by_index = {m.layer.index: m for m in matches}
    skipped: dict[str, str] = {}
    groups = channel_groups(model, [m.layer for m in matches], skipped)
    by_label = {m.layer.label: m for m in matches}
    notes: dict[str, dict[str, Any]] = {
        by_label[label].name: {"skipped": reason} for label, reason in skipped.items()
    }
    keep = group_keep(model, groups, p.ratio, p.scope == "layer", p.round_to, p.tied)
    for g in groups:
        kept = keep[g.label]
        for member in g.plans:
            owner = by_index[member.layer.index]
            notes[owner.name] = {"channels": {"kept": len(kept), "of": g.channels}}
        removed = np.setdiff1d(np.arange(g.channels), kept)
        if not len(removed):
            continue
        for edit in g.edits:
            if isinstance(edit, SetGroup | FixReshape):
                continue  # shape bookkeeping: the torch model keeps its zero channels
            target = by_index.get(edit.node) if isinstance(edit, SliceConst) else None
            op = model.graph.node[edit.node].op_type
            if target is None or edit.input not in (1, 2):
                raise CompressionError(
                    f"finetune: pruning channels of '{g.label}' also changes {op} "
                    f"'{model.graph.node[edit.node].name}', which cannot be mirrored in torch"
                )
            reads = edit.input == 1 and edit.axis != target.layer.out_axis
            if reads and not readers:
                continue  # a reader of the channels (its input axis): it sees zeros
            entries = channel_entries(removed, edit.block)
            w = np.zeros(tuple(target.module.weight.shape), bool)
            b = None
            if reads:  # torch layout: input channels on axis 1 (a Linear's too)
                w[(slice(None), edit.offset + entries)] = True
            elif edit.input == 1:
                w[entries] = True
            else:
                b = np.zeros(target.module.bias.shape[0], bool)
                b[entries] = True
            masks.zero(target.name, target.module, w, b)
    return notes


def factorize(
    p: Any, net: torch.nn.Module, model: onnx.ModelProto, matches: list[Match], masks: Masks
) -> dict[str, Any]:
    """Replace each layer the svd pass `p` factorizes in `model` (the torch model's export)
    by two thinner modules, at the pass's rank, from the same truncated SVD; returns notes."""
    import torch
    from torch import nn

    from harness.compress.lowrank import factorize as split

    result = p.apply(model, PassContext())
    by_label = {m.layer.label: m for m in matches}
    notes: dict[str, Any] = {
        by_label[label].name: {"skipped": reason}
        for label, reason in result.notes["skipped"].items()
        if label in by_label
    }
    for label, done in result.notes["layers"].items():
        m = by_label[label]
        old = m.module
        w = old.weight.detach().double().numpy()
        matrix = w.reshape(w.shape[0], -1) if m.layer.op == "Conv" else w.T
        u, s, vt = np.linalg.svd(matrix, full_matrices=False)
        a, b, _ = split(u, s, vt, done["rank"])
        k, has_bias = a.shape[1], old.bias is not None
        if m.layer.op == "Conv":
            first = type(old)(
                old.in_channels,
                k,
                old.kernel_size,
                stride=old.stride,
                padding=old.padding,
                dilation=old.dilation,
                bias=False,
                padding_mode=old.padding_mode,
            )
            second = type(old)(k, old.out_channels, 1, bias=has_bias)
            first_w, second_w = (
                b.reshape((k, *w.shape[1:])),
                a.reshape((w.shape[0], k) + (1,) * (w.ndim - 2)),
            )
        else:
            first = nn.Linear(old.in_features, k, bias=False)
            second = nn.Linear(k, old.out_features, bias=has_bias)
            first_w, second_w = a.T, b.T
        with torch.no_grad():
            first.weight.copy_(torch.from_numpy(np.ascontiguousarray(first_w)))
            second.weight.copy_(torch.from_numpy(np.ascontiguousarray(second_w)))
            if has_bias:
                second.bias.copy_(old.bias)
        parent, _, attr = m.name.rpartition(".")
        if not m.name:
            raise CompressionError("finetune: the model is a single layer; cannot factorize it")
        setattr(net.get_submodule(parent), attr, nn.Sequential(first, second))
        masks.drop(m.name)  # a factorized layer's pruned entries are gone (as in ONNX)
        notes[m.name] = {"factorized": {key: done[key] for key in ("rank", "of", "energy")}}
    return notes
