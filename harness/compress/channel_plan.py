"""What structured pruning of one layer changes, as the channel tracer (harness.compress.channels)
plans it: where the pruned channels live in each tensor, the edits, and the layers joined to it."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.compress.edits import Edit, SliceConst
from harness.compress.layers import Layer

__all__ = ["CannotRewire", "Join", "Plan", "State"]


@dataclass(frozen=True)
class Join:
    """The pruned tensor meets another runtime tensor in an elementwise op (a residual Add):
    that tensor's channels must be pruned alike, so its layer joins this one's group."""

    tensor: str  # the other operand
    axis: int  # where the channels are in it
    block: int
    where: str  # "Add '/block/Add'", for notes


@dataclass
class Plan:
    """Everything removing channels of one layer changes."""

    layer: Layer
    channels: int
    edits: list[Edit] = field(default_factory=list)
    tensors: set[str] = field(default_factory=set)  # whose shapes change
    # tensor: (axis, block, offset, span) of the pruned channels in it
    states: dict[str, tuple[int, int, int, int | None]] = field(default_factory=dict)
    joins: list[Join] = field(default_factory=list)


class CannotRewire(Exception):
    """Why a layer's output channels cannot be removed (becomes a note)."""


@dataclass(frozen=True)
class State:
    """Where the pruned channels live in a tensor: `axis`, `block` entries per channel, and
    after a Concat the stretch of that axis they fill (`span` entries from `offset`)."""

    tensor: str
    axis: int
    rank: int
    block: int = 1
    offset: int = 0
    span: int | None = None

    def to(self, tensor: str, axis: int, rank: int, scale: int = 1) -> State:
        """The same channels in the next tensor; `scale` more entries per channel."""
        span = None if self.span is None else self.span * scale
        return State(tensor, axis, rank, self.block * scale, self.offset * scale, span)

    def slice(self, index: int, pos: int, axis: int) -> SliceConst:
        """Edit a constant that holds these channels along `axis`."""
        return SliceConst(index, pos, axis, self.block, self.offset, self.span)
