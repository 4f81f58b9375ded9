"""Cache and history keys follow the config: changing one setting changes exactly the keys
of the artifacts that depend on it, and nothing else.

A stale cache hit is the costliest silent bug this tool can have (a result computed from
another setting, with no error), and a key that changes for nothing throws away work. Keys
are checked by kind: trained model, compressed model, converted .tflite, and the candidate
key that addresses a measurement (resume and history series).
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from harness.models import REVISIONS
from hypothesis import given
from hypothesis import strategies as st

from harness.config.load import parse_config
from harness.hashing import hash_bytes, hash_path, hash_spec
from harness.specs import BudgetSpec, Config, DatasetSpec, ModelSpec, ReportSpec, RuntimeSpec
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


@cache  # first called by a test with nothing patched: the tests that patch ask for labels first
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
    before, expected = keys_of(_parse(BASE)), labels(trained(("cnn",)))  # before patching
    monkeypatch.setitem(REVISIONS, "small_cnn", REVISIONS["small_cnn"] + 1)
    after = keys_of(_parse(BASE))
    assert {lab for lab in before if after[lab] != before[lab]} == expected


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
    before, expected = keys_of(_parse(BASE)), labels(depends)  # before patching
    monkeypatch.setattr(keys, constant, getattr(keys, constant) + "0")
    after = keys_of(_parse(BASE))
    assert {lab for lab in before if after[lab] != before[lab]} == expected


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
    before, expected = keys_of(_parse(BASE)), labels(depends)  # before patching
    real = keys.library_version
    upgraded = {library: "999.0"}
    monkeypatch.setattr(keys, "library_version", lambda name: upgraded.get(name) or real(name))
    after = keys_of(_parse(BASE))
    assert {lab for lab in before if after[lab] != before[lab]} == expected


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


# ---- keys stay what they were -------------------------------------------------------------
# Keys must follow the config (above) and must also stay what they were from one harness
# version to the next: a store's cache and its history series are addressed by them, so a
# renamed field, a dropped setting or a changed encoding makes every earlier result
# unreachable (a full re-run, and regressions compared with nothing) with no error. These
# specs and hashes are written out by hand.

RAW: dict[str, Any] = {
    "name": "pinned",
    "seed": 7,
    "dataset": {"name": "digits", "val_fraction": 0.2, "test_fraction": 0.25},
    "models": {"cnn": {"arch": "small_cnn", "width": 8, "depth": 2}},
    "training": {"epochs": 3, "batch_size": 32, "optimizer": "adam", "lr": 0.003,
                 "weight_decay": 0.0, "patience": 5, "threads": 1, "workers": 2},
    "policies": {"none": "none"},
    "compression": {
        "fp32": [],
        "int8": [{"pass": "quantize", "bits": 8}],
        "ft": {"steps": [{"pass": "prune", "ratio": 0.5}], "finetune_epochs": 2,
               "finetune_lr": 0.001},
        "ft_default_lr": {"steps": [], "finetune_epochs": 1},
    },
    "runtimes": {"onnxruntime": {"threads": 1},
                 "litert int8": {"runtime": "litert", "quantize": "int8"}},
    "latency": {"batch": [1, 32], "warmup": 2, "min_runs": 10, "min_seconds": 0.5,
                "max_runs": 100, "timeout_seconds": 60},
    "report": {"budgets": {"file": ["8KB"]}},
}  # fmt: skip

# What decides the results of RAW: `workers` and the report's budgets are not in it.
EXPECTED_SPEC: dict[str, Any] = {
    "name": "pinned",
    "seed": 7,
    "dataset": {"name": "digits", "params": {}, "val_fraction": 0.2, "test_fraction": 0.25,
                "normalize": True},
    "models": [{"name": "cnn", "arch": "small_cnn", "width": 8, "depth": 2}],
    "training": {"epochs": 3, "batch_size": 32, "optimizer": "adam", "lr": 0.003,
                 "weight_decay": 0.0, "patience": 5, "threads": 1},
    "policies": {"none": {"preset": "none", "steps": [], "data_kind": "image"}},
    "compression": {
        "fp32": [],
        "int8": [{"pass": "quantize", "bits": 8, "per_channel": True, "symmetric": True}],
        "ft": {"steps": [{"pass": "prune", "ratio": 0.5, "scope": "global",
                          "structured": False}],
               "finetune_epochs": 2, "finetune_lr": 0.001},
        "ft_default_lr": {"steps": [], "finetune_epochs": 1},  # no lr: the training's
    },
    "runtimes": [
        {"name": "onnxruntime", "runtime": "onnxruntime",
         "settings": {"threads": 1, "optimization": "all"}},
        {"name": "litert int8", "runtime": "litert",
         "settings": {"threads": 1, "quantize": "int8", "xnnpack": True}},
    ],
    "latency": {"batch": 1, "extra_batches": [32], "warmup": 2, "min_runs": 10,
                "min_seconds": 0.5, "max_runs": 100, "timeout_seconds": 60, "rounds": 3},
}  # fmt: skip


def test_the_run_spec_is_exactly_what_decides_the_results() -> None:
    # The run's config hash (which run a sweep resumes) is the hash of this spec.
    config = parse_config(RAW, "<test>", Path.cwd())
    assert config.spec() == EXPECTED_SPEC
    assert config.latency.batches == (1, 32)


def test_declared_targets_are_in_the_run_spec_with_their_resources_and_runtimes() -> None:
    # A sweep moved to other devices is another run; without [targets] the spec (and so the
    # hash of every earlier run) has no "targets" entry at all (the test above).
    raw = {
        **copy.deepcopy(RAW),
        "targets": {
            "rpi5": {"resources": {"device:rpi5": 1}, "runtimes": ["litert int8"]},
            "here": {},
        },
    }
    assert parse_config(raw, "<test>", Path.cwd()).spec() == {**EXPECTED_SPEC, "targets": [
        {"name": "rpi5", "resources": {"device:rpi5": 1.0}, "runtimes": ["litert int8"]},
        {"name": "here", "resources": {}, "runtimes": ["onnxruntime", "litert int8"]},
    ]}  # fmt: skip


def test_an_imported_model_is_keyed_by_its_file_and_task() -> None:
    imported = ModelSpec("det", "", 0, 0, onnx="/m/det.onnx", sha256="ab12", task="none")
    assert imported.spec() == {"name": "det", "onnx": "/m/det.onnx", "sha256": "ab12",
                               "task": "none"}  # fmt: skip
    classifier = ModelSpec("clf", "", 0, 0, onnx="/m/clf.onnx", sha256="cd34")
    # A classifier's spec is as it was before tasks existed: its keys did not change.
    assert classifier.spec() == {"name": "clf", "onnx": "/m/clf.onnx", "sha256": "cd34"}


def test_a_dataset_on_disk_is_keyed_by_its_content() -> None:
    on_disk = DatasetSpec("npz", {"path": "/d/x.npz"}, 0.1, 0.3, normalize=False, sha256="ff00")
    assert on_disk.spec() == {"name": "npz", "params": {"path": "/d/x.npz"},
                              "val_fraction": 0.1, "test_fraction": 0.3, "normalize": False,
                              "sha256": "ff00"}  # fmt: skip


def test_a_target_runs_on_its_own_name_unless_it_names_an_engine() -> None:
    plain = RuntimeSpec("litert", {"threads": 2})
    assert plain.engine == "litert"
    assert plain.spec() == {"name": "litert", "runtime": "litert", "settings": {"threads": 2}}
    assert RuntimeSpec("litert int8", {}, engine="litert").engine == "litert"


def test_the_report_spec_lists_its_budgets() -> None:
    report = ReportSpec((BudgetSpec("file ≤ 8 KB", "file_bytes", 8192),))
    assert report.spec() == {
        "budgets": [{"label": "file ≤ 8 KB", "metric": "file_bytes", "limit": 8192}]
    }


def _sha256(data: bytes, length: int = 64) -> str:
    return hashlib.sha256(data).hexdigest()[:length]


def test_a_spec_hash_is_the_sha256_of_its_canonical_json() -> None:
    # Canonical: keys sorted, no spaces, anything not JSON (a path) as its text; 16 hex.
    spec = {"b": [1, 2.5], "a": {"path": Path("data/x.npz"), "z": None}}
    canonical = b'{"a":{"path":"data/x.npz","z":null},"b":[1,2.5]}'
    assert hash_spec(spec) == _sha256(canonical, 16)
    assert hash_spec(spec, length=8) == _sha256(canonical, 8)


def test_a_bytes_hash_is_the_sha256_known_answer() -> None:
    # FIPS 180-2's test vector: sha256("abc") = ba7816bf 8f01cfea 414140de ...
    assert hash_bytes(b"abc") == "ba7816bf8f01cfea"
    assert hash_bytes(b"abc", length=4) == "ba78"


def test_a_file_hash_is_its_bytes_then_a_separator(tmp_path: Path) -> None:
    data = tmp_path / "data.npz"
    data.write_bytes(b"abc")
    assert hash_path(data) == _sha256(b"abc\0")


def test_a_folder_hash_is_its_files_names_and_bytes_in_name_order(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.png").write_bytes(b"12")
    (tmp_path / "b.png").write_bytes(b"3")
    (tmp_path / "empty").mkdir()  # a folder holds no bytes of its own
    assert hash_path(tmp_path) == _sha256(b"a/x.png\x0012\x00b.png\x003\x00")


def test_a_file_larger_than_a_read_block_is_hashed_whole(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    content = bytes(range(256)) * (3 * 4096 + 1)  # 3 MiB and 256 bytes: several blocks
    big.write_bytes(content)
    assert hash_path(big) == _sha256(content + b"\0")


def _trained_spec() -> dict[str, Any]:
    """What decides RAW's trained model, written out from EXPECTED_SPEC."""
    s = EXPECTED_SPEC
    return {
        "dataset": s["dataset"],
        "training": s["training"],
        "seed": 7,
        "model": {**s["models"][0], "revision": REVISIONS["small_cnn"]},
        "policy": s["policies"]["none"],
    }


def test_each_key_is_the_hash_of_what_decides_its_artifact() -> None:
    config = parse_config(RAW, "<test>", Path.cwd())
    plan = make_plan(config)
    s = EXPECTED_SPEC
    trained = _trained_spec()
    train = plan.trains[0]
    assert len(plan.trains) == 1 and train.key == hash_spec(trained)
    int8 = next(c for c in plan.compressions if c.compression.name == "int8")
    assert int8.key == hash_spec({"trained": train.key, "passes": s["compression"]["int8"]})
    measured = {
        c.label: c.key for c in plan.candidates if c.job.compression.name == "int8"
    }  # fmt: skip
    assert measured == {
        f"cnn / none / int8 / {r['name']}": hash_spec(
            {**trained, "compression": s["compression"]["int8"], "runtime": r, "batch": 1}
        )
        for r in s["runtimes"]
    }


def test_a_target_measures_only_its_runtimes_each_keyed_by_where_it_ran() -> None:
    raw = {
        **copy.deepcopy(RAW),
        "targets": {
            "rpi5": {"resources": {"device:rpi5": 1}, "runtimes": ["litert int8"]},
            "here": {},
        },
    }
    plan = make_plan(parse_config(raw, "<test>", Path.cwd()))
    int8 = [c for c in plan.candidates if c.job.compression.name == "int8"]
    assert [(c.runtime.name, c.target and c.target.name) for c in int8] == [
        ("litert int8", "rpi5"), ("onnxruntime", "here"), ("litert int8", "here")]  # fmt: skip
    s = EXPECTED_SPEC
    trained = _trained_spec()
    runtimes = {r["name"]: r for r in s["runtimes"]}
    targets = {"rpi5": {"name": "rpi5", "resources": {"device:rpi5": 1.0}},
               "here": {"name": "here", "resources": {}}}  # fmt: skip
    assert [c.key for c in int8] == [
        hash_spec({**trained, "compression": s["compression"]["int8"],
                   "runtime": runtimes[runtime], "batch": 1, "target": targets[target]})
        for runtime, target in [("litert int8", "rpi5"), ("onnxruntime", "here"),
                                ("litert int8", "here")]
    ]  # fmt: skip
    assert int8[0].label == "cnn / none / int8 / litert int8 @ rpi5"


def test_onnx_runtime_is_measured_first_as_every_runtimes_reference() -> None:
    raw = copy.deepcopy(RAW)
    raw["runtimes"] = {"litert": {"threads": 1}, "onnxruntime": {"threads": 1}}
    plan = make_plan(parse_config(raw, "<test>", Path.cwd()))
    assert [c.runtime.name for c in plan.candidates[:2]] == ["onnxruntime", "litert"]
    assert len(plan.candidates) == 4 * 2 and len(plan.compressions) == 4


def test_an_imported_model_is_trained_once_with_its_own_policy_and_no_code_revision() -> None:
    config = parse_config(RAW, "<test>", Path.cwd())
    det = ModelSpec("det", "", 0, 0, onnx="/m/det.onnx", sha256="ab12")
    plan = make_plan(replace(config, models=(det,)))
    (train,) = plan.trains
    assert train.policy.name == "pretrained" and train.policy.spec()["preset"] == "none"
    s = EXPECTED_SPEC
    assert train.key == hash_spec(
        {
            "dataset": s["dataset"],
            "training": s["training"],
            "seed": 7,
            "model": {"name": "det", "onnx": "/m/det.onnx", "sha256": "ab12"},
            "policy": train.policy.spec(),
        }
    )


def test_passes_resolved_for_this_cpu_are_in_the_compressed_and_converted_keys() -> None:
    # An int8 model made for one CPU (e.g. per-tensor where VNNI is missing) is not the one
    # made for another: passes resolved differently from the config's get their own key.
    from harness.compress.quantize import Quantize

    plan = make_plan(parse_config(RAW, "<test>", Path.cwd()))
    int8 = next(c for c in plan.compressions if c.compression.name == "int8")
    base = keys.compressed_key(int8)
    assert base == f"{int8.key}-p{keys.PASSES_VERSION}"  # the harness's own pass: no library
    assert keys.compressed_key(int8, [Quantize(bits=8)]) == base  # resolved as configured
    resolved = [Quantize(bits=8, per_channel=False)]
    spec = [{"pass": "quantize", "bits": 8, "per_channel": False, "symmetric": True}]
    expected = f"{base}-{hash_spec(spec, length=8)}"
    assert keys.compressed_key(int8, resolved) == expected
    assert (
        keys.converted_key(int8, "none", resolved) == f"{expected}-c{keys.CONVERTER_VERSION}-none"
    )


def test_chains_that_fine_tune_alike_share_the_fine_tuned_weights_key() -> None:
    """prune + fine-tune, and the same followed by int4, fine-tune the same model: one key.
    A different ratio, epoch count or rate is another fine-tuning."""
    prune = {"pass": "prune", "ratio": 0.5, "structured": True}
    raw = copy.deepcopy(RAW)
    raw["compression"] = {
        "ft": {"steps": [prune], "finetune_epochs": 2},
        "ft int4": {"steps": [prune, {"pass": "quantize", "bits": 4}], "finetune_epochs": 2},
        "ft 3": {"steps": [prune], "finetune_epochs": 3},
        "ft lr": {"steps": [prune], "finetune_epochs": 2, "finetune_lr": 0.001},
        "ft 30%": {"steps": [{**prune, "ratio": 0.3}], "finetune_epochs": 2},
        "svd ft": {"steps": [{"pass": "svd", "rank": 4}], "finetune_epochs": 2},
        # nothing after a pass that is not mirrored in PyTorch is mirrored either
        "int8 first": {"steps": [{"pass": "quantize", "bits": 8}, prune], "finetune_epochs": 2},
    }
    plan = make_plan(parse_config(raw, "<test>", Path.cwd()))
    key = {job.compression.name: keys.finetuned_key(job) for job in plan.compressions}
    assert key["ft"] == key["ft int4"]
    assert len({key[n] for n in ("ft", "ft 3", "ft lr", "ft 30%")}) == 4
    assert key["ft"].endswith(f"-p{keys.PASSES_VERSION}")
    # Written out: the trained model, the mirrored structural passes, epochs and rate.
    jobs = {job.compression.name: job for job in plan.compressions}
    for name, mirrored in (("ft", 1), ("ft 30%", 1), ("svd ft", 1), ("int8 first", 0)):
        job = jobs[name]
        spec = {
            "trained": job.train.key,
            "mirrored": [p.spec() for p in job.compression.passes[:mirrored]],
            "epochs": 2,
            "lr": job.compression.finetune_lr,
        }
        assert key[name] == f"{hash_spec(spec)}-p{keys.PASSES_VERSION}", name
