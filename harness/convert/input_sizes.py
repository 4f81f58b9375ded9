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
    if changed:  # shapes recorded for the symbolic sizes may contradict the new ones
        del copy.graph.value_info[:]
        for value in copy.graph.output:  # rank kept: onnx's checker wants a shape
            for dim in value.type.tensor_type.shape.dim:
                dim.Clear()
    return copy


def sized_for_samples(data: bytes, sample_shape: tuple[int, ...]) -> tuple[bytes, str]:
    """(the serialized model with its main input's dynamic axes after the batch set to the
    samples' shape, a note naming them); the bytes as given, and no note, when those axes
    are fixed already. A sweep of an imported model feeds one shape of sample, so its
    image sides or sequence length become as static as bench makes them, and every stage
    after the import (compression's shape inference, conversion) sees them."""
    from harness.compress.graph import graph_inputs

    model = onnx.load_from_string(data)
    main = graph_inputs(model.graph)[0]
    before = main.type.tensor_type.shape.dim[1:]
    if len(before) != len(sample_shape) or all(d.dim_value > 0 for d in before):
        return data, ""
    named = [
        f"{d.dim_param or '?'}={size}"
        for d, size in zip(before, sample_shape, strict=True)
        if d.dim_value <= 0
    ]
    fixed = with_input_sizes(model, {main.name: (None, *sample_shape)})
    note = f"input {main.name}: {', '.join(named)} fixed to the dataset's sample shape"
    return fixed.SerializeToString(), note
