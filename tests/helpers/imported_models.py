"""Models trained elsewhere, written as ONNX files by the tests that import them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from harness.train.datasets import load, split

SEED = 4  # the sweep's seed: the digits split the model is fitted on


def logistic_onnx(path: Path, input_dims: tuple = ("batch", 1, 8, 8), n_classes: int = 10) -> float:
    """Fit scikit-learn's logistic regression on the harness's own digits training split
    (samples as stored), write it as ONNX and return its test accuracy from scikit-learn."""
    from sklearn.linear_model import LogisticRegression

    splits = split(load("digits", {}), SEED, 0.15, 0.25, normalize=False)
    x_train, y_train = splits.train
    clf = LogisticRegression(max_iter=500).fit(x_train.reshape(len(x_train), -1), y_train)
    x_test, y_test = splits.test
    accuracy = float(clf.score(x_test.reshape(len(x_test), -1), y_test))
    features = int(np.prod([d for d in input_dims[1:] if isinstance(d, int)]))
    w = np.zeros((n_classes, features), np.float32)
    b = np.zeros(n_classes, np.float32)
    w[: min(n_classes, 10), : min(features, 64)] = clf.coef_[:n_classes, :features]
    b[: min(n_classes, 10)] = clf.intercept_[:n_classes]
    graph = helper.make_graph(
        [
            helper.make_node("Flatten", ["pixels"], ["flat"]),
            helper.make_node("Gemm", ["flat", "W", "B"], ["scores"], transB=1),
        ],
        "sklearn_logistic",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, list(input_dims))],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", n_classes])],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "B")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return accuracy
