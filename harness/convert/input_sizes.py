"""The sizes a model will be fed, written into its graph inputs before conversion.

Many exported models leave image sides or sequence lengths symbolic (an OCR detector's
(N, 3, H, W), a recogniser's (N, 3, 48, W), an audio model's (N, samples)). A LiteRT model
here has static shapes apart from the batch, so `harness bench`, which knows the arrays it
will feed, fixes every such axis to the data's size and leaves the batch axis dynamic.
"""

from __future__ import annotations

import onnx

Sizes = dict[str, tuple[int | None, ...]]  # per input; None leaves that axis as declared


def with_input_sizes(model: onnx.ModelProto, sizes: Sizes) -> onnx.ModelProto:
    """A copy whose inputs' dynamic axes take the given sizes; fixed axes are kept (the
    feeding checks already refused data that contradicts them)."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    changed = False
    for value in copy.graph.input:
        given = sizes.get(value.name)
        dims = value.type.tensor_type.shape.dim
        if given is None or len(given) != len(dims):
            continue
        for dim, size in zip(dims, given, strict=True):
            if size is not None and dim.dim_value <= 0:
                dim.Clear()
                dim.dim_value = size
                changed = True
    if changed:  # shapes recorded for the symbolic sizes would contradict the new ones
        del copy.graph.value_info[:]
        for value in copy.graph.output:
            value.type.tensor_type.ClearField("shape")
    return copy
