"""LSTM and GRU unrolled for LiteRT (harness/convert/recurrent.py) and Gather of a run-time
tensor, against ONNX Runtime on small random graphs, with default attributes and with the
ones torch's exporters write. ONNX Runtime refuses layout = 1, so that layout is checked
against onnx's reference implementation."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from harness.convert.recurrent import MAX_STEPS
from harness.convert.tflite import onnx_to_tflite
from harness.errors import UnsupportedOpError
from tests.helpers.litert import RESOLVERS, check, make_model, node, op_names, run_litert

STEPS, FEATURES, HIDDEN = 4, 3, 5


def rnn(op: str, output: int = 0, *, layout: int = 0, states: bool = False,
        peepholes: bool = False, steps: int = STEPS, **attributes: object):  # fmt: skip
    """x (N, steps, features) -> op -> its output `output` (Y, Y_h or Y_c)."""
    gates, d = (
        (4 if op == "LSTM" else 3),
        (2 if attributes.get("direction") == "bidirectional" else 1),
    )
    r = np.random.default_rng(7)
    inits = {
        "W": r.normal(0, 0.5, (d, gates * HIDDEN, FEATURES)).astype(np.float32),
        "R": r.normal(0, 0.5, (d, gates * HIDDEN, HIDDEN)).astype(np.float32),
        "B": r.normal(0, 0.5, (d, 2 * gates * HIDDEN)).astype(np.float32),
    }
    inputs = ["seq", "W", "R", "B", ""]
    if states:  # a batch of 1: a constant state fixes it
        shape = (1, d, HIDDEN) if layout else (d, 1, HIDDEN)
        inits["h0"] = r.normal(size=shape).astype(np.float32)
        inputs.append("h0")
        if op == "LSTM":
            inits["c0"] = r.normal(size=shape).astype(np.float32)
            inputs.append("c0")
    if peepholes:
        inputs += [""] * (7 - len(inputs)) + ["P"]
        inits["P"] = r.normal(0, 0.5, (d, 3 * HIDDEN)).astype(np.float32)
    outs = ["Y", "Y_h", "Y_c"][: gates - 1]
    nodes = [
        node("Transpose", ["x"], ["seq"], perm=[0, 1, 2] if layout else [1, 0, 2]),
        helper.make_node(op, inputs, outs, hidden_size=HIDDEN, layout=layout, **attributes),
        node("Identity", [outs[output]]),
    ]
    return make_model(nodes, (1, steps, FEATURES), inits)


CASES = {
    "lstm defaults": ("LSTM", 0, {}),
    "lstm Y_h": ("LSTM", 1, {}),
    "lstm Y_c": ("LSTM", 2, {}),
    "lstm reverse": ("LSTM", 0, {"direction": "reverse"}),
    "lstm bidirectional Y_h": ("LSTM", 1, {"direction": "bidirectional"}),
    "lstm states and peepholes": ("LSTM", 0, {"states": True, "peepholes": True}),
    "lstm clip": ("LSTM", 0, {"clip": 0.5}),
    "lstm relu cell": ("LSTM", 0, {"activations": ["Sigmoid", "Relu", "Tanh"]}),
    "gru defaults": ("GRU", 0, {}),
    "gru linear_before_reset (torch)": ("GRU", 1, {"linear_before_reset": 1}),
    "gru bidirectional with states": (
        "GRU",
        0,
        {"direction": "bidirectional", "states": True},
    ),  # fmt: skip
    "gru reverse with states": ("GRU", 1, {"direction": "reverse", "states": True}),
}


@pytest.mark.parametrize("case", CASES)
def test_unrolled_recurrence_matches_onnx_runtime(case: str) -> None:
    op, output, kwargs = CASES[case]
    model = rnn(op, output, **kwargs)
    data = check(model, (1, STEPS, FEATURES), batches=(1,) if kwargs.get("states") else (1, 3))
    names = set(op_names(data))
    assert {"FULLY_CONNECTED", "LOGISTIC"} <= names or {"BATCH_MATMUL", "LOGISTIC"} <= names
    assert not {"UNIDIRECTIONAL_SEQUENCE_LSTM", "WHILE"} & names


@pytest.mark.parametrize("op", ["LSTM", "GRU"])
@pytest.mark.parametrize("output", [0, 1])
def test_batch_first_layout_matches_the_reference(op: str, output: int) -> None:
    model = rnn(op, output, layout=1, states=True, direction="bidirectional")
    x = np.random.default_rng(3).normal(size=(1, STEPS, FEATURES)).astype(np.float32)
    expected = ReferenceEvaluator(model).run(None, {"x": x})[0]
    data = onnx_to_tflite(model)
    for resolver in RESOLVERS:
        got = run_litert(data, x, resolver)
        assert got.shape == expected.shape
        assert float(np.abs(got - expected).max()) < 1e-5


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: rnn("LSTM", activations=["Sigmoid", "Elu", "Tanh"]), "activation Elu"),
        (lambda: rnn("LSTM", input_forget=1), "input_forget = 1"),
        (lambda: rnn("GRU", steps=MAX_STEPS + 1), f"unrolling stops at {MAX_STEPS}"),
    ],
)
def test_what_does_not_unroll_is_unsupported_with_the_reason(make, reason: str) -> None:
    with pytest.raises(UnsupportedOpError) as info:
        onnx_to_tflite(make())
    assert "unsupported on litert: " in str(info.value) and reason in str(info.value)


def test_weights_computed_at_run_time_are_refused() -> None:
    model = rnn("LSTM")
    scale = [node("ReduceMax", ["x"], ["top"], keepdims=0), node("Mul", ["W", "top"], ["W2"])]
    model.graph.node[1].input[1] = "W2"  # W scaled by the input: not a weight
    for n in reversed(scale):
        model.graph.node.insert(1, n)
    with pytest.raises(UnsupportedOpError, match="LSTM .*W is computed at run time"):
        onnx_to_tflite(model)


def test_weights_and_zero_states_built_from_constants_unroll() -> None:
    """As exporters write them: float16 weights cast up, and a zero initial state expanded
    to the batch, which is no state at all (the first step has none)."""
    model = rnn("LSTM", 1)
    w16 = numpy_helper.from_array(
        numpy_helper.to_array(model.graph.initializer[0]).astype(np.float16), "W16"
    )
    model.graph.initializer.append(w16)
    zero = numpy_helper.from_array(np.zeros((1, 1, HIDDEN), np.float32), "zero")
    model.graph.initializer.append(zero)
    built = [
        node("Cast", ["W16"], ["Wc"], to=TensorProto.FLOAT),
        node("Shape", ["x"], ["sx"]),
        node("Gather", ["sx", "first"], ["n"], axis=0),
        node("Concat", ["one", "n", "hid"], ["state_shape"], axis=0),
        node("Expand", ["zero", "state_shape"], ["h0"]),
    ]
    for extra in (numpy_helper.from_array(np.array([0], np.int64), "first"),
                  numpy_helper.from_array(np.array([1], np.int64), "one"),
                  numpy_helper.from_array(np.array([HIDDEN], np.int64), "hid")):  # fmt: skip
        model.graph.initializer.append(extra)
    lstm = model.graph.node[1]
    lstm.input[1] = "Wc"
    lstm.input.extend(["h0", "h0"])
    for n in reversed(built):
        model.graph.node.insert(1, n)
    data = check(model, (1, STEPS, FEATURES), atol=1e-3)  # float16 weights: 1e-3
    assert "CAST" not in op_names(data)


@pytest.mark.parametrize(
    ("indices", "axis"),
    [(np.array(-1, np.int64), 1), (np.array(0, np.int64), 2), (np.array([2, 0], np.int64), 1)],
)
def test_gather_of_a_runtime_tensor_by_constant_indices(indices, axis: int) -> None:
    model = make_model(
        [node("Relu", ["x"], ["r"]), node("Gather", ["r", "i"], axis=axis)], (1, 4, 3),
        {"i": indices},
    )  # fmt: skip
    assert "GATHER" in op_names(check(model, (1, 4, 3)))


def test_gather_along_the_batch_axis_is_unsupported() -> None:
    model = make_model(
        [node("Relu", ["x"], ["r"]), node("Gather", ["r", "i"], axis=0)], (1, 4, 3),
        {"i": np.array(0, np.int64)},
    )  # fmt: skip
    with pytest.raises(UnsupportedOpError, match="Gather .*batch axis"):
        onnx_to_tflite(model)


def test_harness_ops_says_an_lstm_converts_and_it_does() -> None:
    from harness.convert.explain import check_conversion
    from harness.convert.tflite import supported_ops

    result = check_conversion(rnn("LSTM"))
    status = {o.op: o.status for o in result.ops}
    assert status["LSTM"].startswith("converts: unrolled") and result.converted
    assert {"LSTM", "GRU", "LayerNormalization"} <= set(supported_ops())


def test_a_sequence_fed_as_the_batch_is_unsupported_with_the_reason() -> None:
    """Frames fed as the batch (silero's sequence export): the time axis is the open one."""
    model = rnn("LSTM")
    model.graph.node[0].attribute[0].ints[:] = [0, 1, 2]  # x (N, 4, 3) read as (T, B, F)
    del model.graph.value_info[:]  # the shapes inferred for the old order
    with pytest.raises(UnsupportedOpError, match="sequence length follows the input's batch"):
        onnx_to_tflite(model)
