"""Cache and history keys follow the config: changing one setting changes exactly the keys
of the artifacts that depend on it, and nothing else.

A stale cache hit is the costliest silent bug this tool can have (a result computed from
another setting, with no error), and a key that changes for nothing throws away work. Keys
are checked by kind: trained model, compressed model, converted .tflite, and the candidate
key that addresses a measurement (resume and history series).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from harness.models import REVISIONS
from hypothesis import given
from hypothesis import strategies as st

from harness.config.load import parse_config
from harness.specs import Config
from harness.sweep import keys
from harness.sweep.plan import make_plan
from harness.train.datasets import REVISIONS as DATASET_REVISIONS

# Two models x two policies x five compressions x three targets (two of them LiteRT).
BASE: dict[str, Any] = {
    "name": "keys",
    "seed": 0,
    "dataset": {"name": "digits", "val_fraction": 0.15, "test_fraction": 0.25, "normalize": True},
    "models": {
        "cnn": {"arch": "small_cnn", "width": 8, "depth": 2},
        "mlp": {"arch": "mlp", "width": 16, "depth": 1},
    },
    "training": {"epochs": 3, "batch_size": 32, "optimizer": "adam", "lr": 0.003,
                 "weight_decay": 0.0, "patience": 5, "threads": 1, "workers": 1},
    "policies": {"none": "none", "ra": {"preset": "randaugment", "n": 2, "m": 5}},
    "compression": {
        "fp32": [],
        "int8": [{"pass": "quantize", "bits": 8}],
        "prune": [{"pass": "prune", "ratio": 0.5}],
        "ort": [{"pass": "ort_int8", "mode": "static", "calibrate": "minmax"}],
        "ft": {"steps": [{"pass": "svd", "rank_ratio": 0.5}], "finetune_epochs": 2},
    },
    "runtimes": {
        "onnxruntime": {"threads": 1, "optimization": "all"},
        "litert": {"threads": 1},
        "litert int8": {"runtime": "litert", "quantize": "int8"},
    },
    "latency": {"batch": 1, "warmup": 2, "min_runs": 10, "min_seconds": 0.0, "max_runs": 100,
                "timeout_seconds": 60},
}  # fmt: skip

Label = tuple[str, ...]  # (kind, model, policy[, compression[, runtime]])


def keys_of(config: Config) -> dict[Label, str]:
    """Every key the sweep of `config` would use, by what it addresses."""
    plan = make_plan(config)
    out: dict[Label, str] = {}
    for t in plan.trains:
        out[("train", t.model.name, t.policy.name)] = t.key
    for c in plan.compressions:
        where = (c.train.model.name, c.train.policy.name, c.compression.name)
        out[("compress", *where)] = keys.compressed_key(c)
        for r in config.runtimes:
            if r.engine == "litert":
                out[("tflite", *where, r.name)] = keys.converted_key(
                    c, r.settings.get("quantize", "none")
                )
    for cand in plan.candidates:
        job = cand.job
        where = (job.train.model.name, job.train.policy.name, job.compression.name)
        out[("measure", *where, cand.runtime.name)] = cand.key
    return out


def _parse(raw: dict[str, Any], base_dir: Path | None = None) -> Config:
    return parse_config(raw, "<test>", base_dir or Path.cwd())


@cache
def base_keys() -> dict[Label, str]:
    return keys_of(_parse(BASE))


def changed(raw: dict[str, Any]) -> set[Label]:
    before, after = base_keys(), keys_of(_parse(raw))
    assert set(after) == set(before)
    return {label for label in before if after[label] != before[label]}


def labels(where: Callable[[Label], bool]) -> set[Label]:
    return {label for label in base_keys() if where(label)}


def trained(models: tuple[str, ...] = ("cnn", "mlp"), policies: tuple[str, ...] = ("none", "ra")):  # noqa: ANN201
    """Keys downstream of the trained models of `models` x `policies`: all of them."""
    return lambda lab: lab[1] in models and lab[2] in policies


def compressed(name: str):  # noqa: ANN201
    return lambda lab: lab[0] != "train" and lab[3] == name


def measured(runtime: str | None = None):  # noqa: ANN201
    return lambda lab: lab[0] == "measure" and runtime in (None, lab[4])


def nothing(lab: Label) -> bool:
    return False


def _set(raw: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(raw)
    *parents, last = path.split("/")
    node: Any = out
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node[p]
    node[last] = value
    return out


# (setting, new value, which keys depend on it)
SETTINGS: list[tuple[str, Any, Callable[[Label], bool]]] = [
    ("name", "renamed", nothing),
    ("seed", 1, trained()),
    ("dataset/val_fraction", 0.2, trained()),
    ("dataset/test_fraction", 0.3, trained()),
    ("dataset/normalize", False, trained()),
    ("models/cnn/width", 12, trained(("cnn",))),
    ("models/cnn/depth", 1, trained(("cnn",))),
    ("models/cnn/arch", "mobile_cnn", trained(("cnn",))),
    ("models/mlp/width", 32, trained(("mlp",))),
    ("training/epochs", 4, trained()),
    ("training/batch_size", 16, trained()),
    ("training/optimizer", "sgd", trained()),
    ("training/lr", 0.01, trained()),
    ("training/weight_decay", 0.001, trained()),
    ("training/patience", 6, trained()),
    ("training/threads", 2, trained()),
    ("training/workers", 2, nothing),  # how many train at once, not what they learn
    ("policies/ra/m", 9, trained(policies=("ra",))),
    ("policies/ra/n", 1, trained(policies=("ra",))),
    ("compression/int8/0/bits", 6, compressed("int8")),
    ("compression/int8/0/per_channel", False, compressed("int8")),
    ("compression/int8/0/symmetric", False, compressed("int8")),
    ("compression/int8/0/layers", "dense", compressed("int8")),
    ("compression/prune/0/ratio", 0.7, compressed("prune")),
    ("compression/prune/0/structured", True, compressed("prune")),
    ("compression/ort/0/mode", "dynamic", compressed("ort")),
    ("compression/ort/0/calibrate", "entropy", compressed("ort")),
    ("compression/ort/0/per_channel", False, compressed("ort")),
    ("compression/ft/finetune_epochs", 3, compressed("ft")),
    ("compression/ft/finetune_lr", 0.001, compressed("ft")),
    ("compression/ft/steps/0/rank_ratio", 0.25, compressed("ft")),
    ("runtimes/onnxruntime/threads", 2, measured("onnxruntime")),
    ("runtimes/onnxruntime/optimization", "basic", measured("onnxruntime")),
    ("runtimes/litert/threads", 2, measured("litert")),
    ("runtimes/litert int8/quantize", "dynamic",
     lambda lab: lab[-1] == "litert int8" and lab[0] in ("tflite", "measure")),
    ("latency/batch", 4, measured()),
    ("latency/warmup", 5, nothing),  # how long to time, not what: the same series
    ("latency/min_runs", 20, nothing),
    ("latency/min_seconds", 0.5, nothing),
    ("latency/max_runs", 200, nothing),
    ("latency/timeout_seconds", 30, nothing),
    ("report", {"budgets": {"file": ["8KB"], "p50": ["250us"]}}, nothing),  # how pages look
]  # fmt: skip


@pytest.mark.parametrize(("path", "value", "depends"), SETTINGS, ids=[s[0] for s in SETTINGS])
def test_a_setting_changes_exactly_the_keys_that_depend_on_it(
    path: str, value: Any, depends: Callable[[Label], bool]
) -> None:
    assert changed(_set(BASE, path, value)) == labels(depends)


@given(st.sets(st.sampled_from(range(len(SETTINGS))), min_size=2, max_size=4))
def test_several_settings_change_the_union_of_their_keys(chosen: set[int]) -> None:
    raw = BASE
    for i in sorted(chosen):
        raw = _set(raw, SETTINGS[i][0], SETTINGS[i][1])
    expected = set().union(*(labels(SETTINGS[i][2]) for i in chosen))
    assert changed(raw) == expected


def test_every_key_of_a_kind_is_distinct() -> None:
    every = keys_of(_parse(BASE))
    for kind in ("train", "compress", "tflite", "measure"):
        of_kind = [k for label, k in every.items() if label[0] == kind]
        assert len(set(of_kind)) == len(of_kind), kind
    assert len(set(every.values())) == len(every)


def test_the_model_code_revision_is_in_the_trained_models_keys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = keys_of(_parse(BASE))
    monkeypatch.setitem(REVISIONS, "small_cnn", REVISIONS["small_cnn"] + 1)
    after = keys_of(_parse(BASE))
    assert {lab for lab in before if after[lab] != before[lab]} == labels(trained(("cnn",)))


def test_a_generated_datasets_revision_is_in_every_key(monkeypatch: pytest.MonkeyPatch) -> None:
    shapes_raw = {**BASE, "dataset": {"name": "shapes", "train_samples": 100}}
    before, digits = keys_of(_parse(shapes_raw)), keys_of(_parse(BASE))
    assert _parse(shapes_raw).dataset.spec()["revision"] == DATASET_REVISIONS["shapes"] == 2
    monkeypatch.setitem(DATASET_REVISIONS, "shapes", DATASET_REVISIONS["shapes"] + 1)
    after = keys_of(_parse(shapes_raw))
    assert all(after[label] != key for label, key in before.items())
    # a dataset without a revision (digits) has no revision in its keys
    assert "revision" not in _parse(BASE).dataset.spec() and keys_of(_parse(BASE)) == digits


@pytest.mark.parametrize(
    ("constant", "depends"),
    [
        ("PASSES_VERSION", lambda lab: lab[0] in ("compress", "tflite")),
        ("CONVERTER_VERSION", lambda lab: lab[0] == "tflite"),
    ],
)
def test_a_code_version_changes_the_artifacts_that_code_makes(
    monkeypatch: pytest.MonkeyPatch, constant: str, depends: Callable[[Label], bool]
) -> None:
    before = keys_of(_parse(BASE))
    monkeypatch.setattr(keys, constant, getattr(keys, constant) + "0")
    after = keys_of(_parse(BASE))
    assert {lab for lab in before if after[lab] != before[lab]} == labels(depends)


@pytest.mark.parametrize(
    ("library", "depends"),
    [
        # onnxruntime's quantizer makes the ort_int8 models (and the .tflite made from them);
        # a measurement runs on whatever is installed, so no history series breaks.
        ("onnxruntime", lambda lab: lab[0] in ("compress", "tflite") and lab[3] == "ort"),
        # LiteRT's quantizer (calibrating on LiteRT) makes the full-integer .tflite files.
        ("ai-edge-quantizer", lambda lab: lab[0] == "tflite" and lab[4] == "litert int8"),
        ("ai-edge-litert", lambda lab: lab[0] == "tflite" and lab[4] == "litert int8"),
        ("torch", nothing),  # a trained model stays valid across framework upgrades
        ("numpy", nothing),
    ],
)
def test_a_library_upgrade_changes_the_artifacts_that_library_makes(
    monkeypatch: pytest.MonkeyPatch, library: str, depends: Callable[[Label], bool]
) -> None:
    before = keys_of(_parse(BASE))
    real = keys.library_version
    upgraded = {library: "999.0"}
    monkeypatch.setattr(keys, "library_version", lambda name: upgraded.get(name) or real(name))
    after = keys_of(_parse(BASE))
    assert {lab for lab in before if after[lab] != before[lab]} == labels(depends)


def test_editing_the_dataset_file_changes_every_key(tmp_path: Path) -> None:
    y = np.repeat(np.arange(3), 4)
    np.savez(tmp_path / "data.npz", x=np.zeros((12, 8, 8)), y=y)
    raw = _set(BASE, "dataset", {"name": "npz", "path": "data.npz"})
    before = keys_of(_parse(raw, tmp_path))
    assert keys_of(_parse(raw, tmp_path)) == before  # same bytes, same keys
    np.savez(tmp_path / "data.npz", x=np.ones((12, 8, 8)), y=y)  # same path, new samples
    after = keys_of(_parse(raw, tmp_path))
    assert set(after) == set(before)
    assert all(after[label] != before[label] for label in before)


def test_editing_an_image_folder_changes_every_key(tmp_path: Path) -> None:
    from PIL import Image

    for cls in ("a", "b"):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i in range(3):
            Image.new("L", (8, 8), color=i).save(tmp_path / "imgs" / cls / f"{i}.png")
    raw = _set(BASE, "dataset", {"name": "image_folder", "path": "imgs"})
    before = keys_of(_parse(raw, tmp_path))
    Image.new("L", (8, 8), color=200).save(tmp_path / "imgs" / "b" / "2.png")
    edited = keys_of(_parse(raw, tmp_path))
    assert all(edited[label] != before[label] for label in before)
    (tmp_path / "imgs" / "b" / "2.png").rename(tmp_path / "imgs" / "b" / "3.png")
    renamed = keys_of(_parse(raw, tmp_path))
    assert all(renamed[label] != edited[label] for label in before)


def test_built_in_datasets_keep_the_keys_they_had() -> None:
    # No file, no content hash: caches and history series from earlier runs stay valid.
    assert "sha256" not in _parse(BASE).dataset.spec()
