"""ExecuTorch as a target: export + lowering of each built-in architecture, parity with ONNX
Runtime, ExecuTorch's own int8, the unsupported path, the worker's crash path, and a
miniature sweep that measures it beside ONNX Runtime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from harness.cli.commands import cli
from harness.config.load import LatencySpec, RuntimeSpec
from harness.convert.executorch import export_program, lower
from harness.errors import MeasurementError, ParamError, UnsupportedError
from harness.measure.runner import run_worker
from harness.measure.runtimes import RUNTIMES, runtimes_for
from harness.specs import CompressionSpec, ModelSpec
from harness.store.results import Store
from harness.sweep.executorch_stage import mirrored_passes
from harness.sweep.plan import CompressJob, TrainJob
from harness.train.datasets import Splits, load, split
from tests.helpers.configs import chains, latency_table, model, sweep_config

ET = RUNTIMES.get("executorch")


@pytest.fixture(scope="module")
def digits() -> Splits:
    return split(load("digits", {}), 0, 0.15, 0.25)


def _ort(onnx_bytes: bytes, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {"input": x})[0])


def _executorch(pte: bytes, x: np.ndarray, tmp_path: Path, name: str) -> np.ndarray:
    path = tmp_path / f"{name}.pte"
    path.write_bytes(pte)
    session = ET.load(str(path), ET.parse_settings({}))
    return session.run(x)


@pytest.mark.parametrize("arch", ["mlp", "small_cnn", "mobile_cnn"])
def test_each_builtin_architecture_lowers_and_matches_onnx_runtime(
    arch: str, digits: Splits, tmp_path: Path
) -> None:
    import torch
    from harness.models import ARCHITECTURES

    from harness.train.training import export_onnx

    torch.manual_seed(0)
    net = ARCHITECTURES.get(arch)(digits.input_shape, 10, 4, 1).eval()
    x = digits.model_input(digits.test[0])
    reference = _ort(export_onnx(net, digits), x)
    pte = lower(export_program(net, digits.input_shape, 32), "xnnpack")
    got = _executorch(pte.data, x, tmp_path, arch)  # 450 samples, run in slices of 32
    assert got.shape == reference.shape == (len(x), 10)
    assert float(np.abs(got - reference).max()) <= 1e-4
    assert float((got.argmax(1) == reference.argmax(1)).mean()) == 1.0
    assert pte.notes["max_batch"] == 32 and pte.notes["delegated_ops"] > 0


def test_executorch_int8_is_smaller_and_costs_little_accuracy(
    digits: Splits, tmp_path: Path
) -> None:
    from harness.specs import TrainingSpec
    from harness.sweep.stages import calibration_data
    from harness.train.augment import parse_policy
    from harness.train.training import train

    training = TrainingSpec(
        epochs=4, batch_size=32, optimizer="adam", lr=0.003, weight_decay=0.0, patience=4,
        threads=1,
    )  # fmt: skip
    model = ModelSpec("cnn", "small_cnn", 8, 1)
    trained = train(digits, model, parse_policy("none", "none", "image"), training, 0)
    import io

    import torch
    from harness.models import ARCHITECTURES

    net = ARCHITECTURES.get("small_cnn")(digits.input_shape, 10, 8, 1)
    net.load_state_dict(torch.load(io.BytesIO(trained.state_dict), weights_only=True))
    program = export_program(net.eval(), digits.input_shape, 64)
    fp32 = lower(program, "xnnpack")
    int8 = lower(program, "xnnpack", "int8", calibration_data(digits, 0))
    x, y = digits.model_input(digits.test[0]), digits.test[1]
    acc = {}
    for name, pte in (("fp32", fp32), ("int8", int8)):
        acc[name] = float((_executorch(pte.data, x, tmp_path, name).argmax(1) == y).mean())
    assert acc["fp32"] >= 0.85, acc  # four epochs of this CNN reach ~0.95 on digits
    # Real int8 arithmetic: not the float model, and at most 2 points of accuracy lost.
    diff = np.abs(
        _executorch(int8.data, x, tmp_path, "q") - _executorch(fp32.data, x, tmp_path, "f")
    )
    assert float(diff.max()) > 1e-3
    assert acc["fp32"] - acc["int8"] <= 0.02, acc
    # Weights stored as int8: the program shrinks (4.6k weights: 18 KB float, ~5 KB int8).
    assert len(int8.data) < 0.6 * len(fp32.data)
    assert int8.notes["quantize"] == "int8"


def _job(model: ModelSpec, passes: tuple[object, ...]) -> CompressJob:
    from harness.train.augment import parse_policy

    train = TrainJob(model, parse_policy("none", "none", "image"), "t")
    return CompressJob(train, CompressionSpec("c", passes), "c")


def test_a_candidate_without_a_pytorch_form_is_unsupported_with_the_reason() -> None:
    from harness.compress import PASSES

    imported = ModelSpec("theirs", "", 0, 0, onnx="/data/theirs.onnx", sha256="0" * 64)
    with pytest.raises(UnsupportedError) as err:
        mirrored_passes(_job(imported, ()))
    assert str(err.value) == (
        "unsupported on executorch: theirs is an imported ONNX file; ExecuTorch exports the "
        "PyTorch module, which the harness has only for the models it trains"
    )
    builtin = ModelSpec("cnn", "small_cnn", 8, 1)
    quantize = PASSES.get("quantize").from_params({"bits": 4})
    with pytest.raises(UnsupportedError, match=r"^unsupported on executorch: 'int4' is an ONNX"):
        mirrored_passes(_job(builtin, (quantize,)))
    prune = PASSES.get("prune").from_params({"ratio": 0.5})
    assert mirrored_passes(_job(builtin, (prune,))) == [prune]


def test_settings_and_the_file_kind() -> None:
    assert ET.parse_settings({}) == {"threads": 1, "backend": "xnnpack", "quantize": "none"}
    with pytest.raises(ParamError, match="'xnnpak' is not allowed .did you mean 'xnnpack'.*"):
        ET.parse_settings({"backend": "xnnpak"})
    with pytest.raises(ParamError, match="int8 runs on the XNNPACK backend"):
        ET.parse_settings({"backend": "portable", "quantize": "int8"})
    assert runtimes_for("model.pte") == ["executorch"]
    assert ET.unavailable() is None
    from harness.report.arithmetic import arithmetic

    int8 = {"name": "executorch", "settings": {"quantize": "int8", "backend": "xnnpack"}}
    assert arithmetic([], int8).kind == "int8 kernels"
    assert arithmetic([], {**int8, "settings": {"quantize": "none"}}).kind == "fp32"


def test_a_broken_program_fails_its_worker_not_the_caller(tmp_path: Path) -> None:
    path = tmp_path / "broken.pte"
    path.write_bytes(b"PK not an ExecuTorch program")
    np.save(tmp_path / "x.npy", np.zeros((2, 6), np.float32))
    spec = RuntimeSpec("executorch", ET.parse_settings({}))
    latency = LatencySpec(1, 0, 5, 0.0, 10, timeout_seconds=120)
    with pytest.raises(MeasurementError, match=r"executorch worker failed \(.+\): .+"):
        run_worker(path, spec, [tmp_path / "x.npy"], latency)


MINI = sweep_config(
    "mini-executorch",
    1,
    models={"cnn": model("small_cnn", 4)},
    training={"epochs": 2},
    policies={"none": "none"},
    compression=chains("fp32", "int8", "prune 50%"),
    runtimes=("onnxruntime", "executorch"),
    latency=latency_table(2, 10, batch=[1, 4]),
)


def test_a_sweep_measures_executorch_beside_onnx_runtime(tmp_path: Path) -> None:
    (tmp_path / "mini.toml").write_text(MINI)
    args = ["--db", str(tmp_path / "r.db"), "--artifacts", str(tmp_path / "art")]
    result = CliRunner().invoke(
        cli, ["run", str(tmp_path / "mini.toml"), *args, "--site", str(tmp_path / "site")]
    )
    assert result.exit_code == 0, result.output
    assert "5 candidates measured, 0 failed, 1 unsupported" in result.output
    with Store(tmp_path / "r.db") as store:
        rows = {(r.compression, r.runtime): r for r in store.candidates(1)}
    unsupported = rows[("int8", "executorch")]
    assert unsupported.status == "unsupported"
    assert unsupported.error == (
        "unsupported on executorch: 'int8' is an ONNX graph pass with no PyTorch form; "
        'ExecuTorch\'s own int8 is a target setting: quantize = "int8"'
    )
    for compression in ("fp32", "prune 50%"):  # prune: the PyTorch mirror of the ONNX pass
        row = rows[(compression, "executorch")]
        assert row.status == "ok", row.error
        assert row.metric("parity_max_abs") <= 1e-4
        assert row.metric("parity_agreement") == 1.0
        assert row.metric("accuracy") == rows[(compression, "onnxruntime")].metric("accuracy")
        assert row.details["conversion"]["backend"] == "xnnpack"
        assert row.details["conversion"]["max_batch"] == 4
        assert Path(row.artifact or "").suffix == ".pte"
        assert row.metric("file_bytes") == Path(row.artifact or "").stat().st_size
        ops = [p["op"] for p in row.details["operator_profile"]]
        assert any(op.startswith("Convolution") for op in ops), ops
    page = (tmp_path / "site" / "candidates").glob("*.html")
    texts = [p.read_text() for p in page]
    assert any("Slowest operators" in t and "Convolution" in t for t in texts)
    assert any("Unsupported:</strong> unsupported on executorch" in t for t in texts)
