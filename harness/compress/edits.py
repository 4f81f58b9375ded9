"""The edits structured pruning makes to a graph once the channels to keep are chosen:
slice a constant along the pruned axis, shrink a depthwise Conv's groups, fix a Reshape's
literal size. Planned by harness.compress.channels, applied by harness.compress.prune.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import numpy_helper

from harness.compress.graph import (
    Names,
    const_value,
    initializer_index,
    set_attr,
    set_initializer,
)

__all__ = ["Edit", "FixReshape", "SetGroup", "SliceConst", "channel_entries"]


def channel_entries(keep: np.ndarray, block: int) -> np.ndarray:
    """Entries along an axis where channel c spans [c*block, (c+1)*block)."""
    return (keep[:, None] * block + np.arange(block)).reshape(-1)


@dataclass(frozen=True)
class SliceConst:
    """Keep only the entries of kept channels along `axis` of a node's constant input.

    After a Concat the pruned channels are one stretch of the axis: `span` entries from
    `offset`; the entries around them (the other inputs' channels) are kept as they are."""

    node: int
    input: int
    axis: int
    block: int = 1
    offset: int = 0
    span: int | None = None  # None: the whole axis is this layer's channels

    def apply(self, graph: onnx.GraphProto, keep: np.ndarray, names: Names) -> None:
        node = graph.node[self.node]
        name = node.input[self.input]
        value = const_value(graph, name)
        assert value is not None, name  # the trace only plans edits of constants
        entries = channel_entries(keep, self.block)
        if self.span is not None:
            size = value.shape[self.axis]
            before, after = np.arange(self.offset), np.arange(self.offset + self.span, size)
            entries = np.concatenate([before, self.offset + entries, after])
        sliced = np.take(value, entries, axis=self.axis)
        readers = sum(1 for n in graph.node for i in n.input if i == name)
        if readers == 1 and name in initializer_index(graph):
            set_initializer(graph, name, sliced)
        else:  # shared or a Constant node: give this node its own copy
            fresh = names.fresh(f"{name}_pruned")
            graph.initializer.append(numpy_helper.from_array(sliced, fresh))
            node.input[self.input] = fresh


@dataclass(frozen=True)
class SetGroup:
    """A depthwise Conv keeps one group per kept channel."""

    node: int

    def apply(self, graph: onnx.GraphProto, keep: np.ndarray, names: Names) -> None:
        set_attr(graph.node[self.node], "group", len(keep))


@dataclass(frozen=True)
class FixReshape:
    """A Reshape that flattens the channels: its literal feature count shrinks."""

    node: int
    index: int  # position in the shape constant
    per_channel: int  # output entries per kept channel
    channels: int  # the layer's channels before pruning

    def apply(self, graph: onnx.GraphProto, keep: np.ndarray, names: Names) -> None:
        node = graph.node[self.node]
        shape = const_value(graph, node.input[1])
        assert shape is not None
        shape = shape.copy()
        if shape[self.index] > 0:  # -1 and 0 adapt by themselves
            # Less what this layer loses: after a Concat the others' entries stay.
            shape[self.index] -= (self.channels - len(keep)) * self.per_channel
        fresh = names.fresh(f"{node.input[1]}_pruned")
        graph.initializer.append(numpy_helper.from_array(shape.astype(np.int64), fresh))
        node.input[1] = fresh


Edit = SliceConst | SetGroup | FixReshape
