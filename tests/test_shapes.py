"""The generated `shapes` image set: deterministic per seed, balanced, a fixed test split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.config.load import parse_config
from harness.errors import ConfigError
from harness.train.datasets import load, split
from harness.train.shapes import CLASSES, load_shapes, render


def test_same_seed_same_images_other_seed_other_images() -> None:
    x1, y1 = render(40, 7)
    x2, y2 = render(40, 7)
    assert x1.tobytes() == x2.tobytes() and y1.tolist() == y2.tolist()
    x3, _ = render(40, 8)
    assert not np.array_equal(x1, x3)
    assert x1.shape == (40, 32, 32, 3) and x1.dtype == np.float32
    assert 0.0 <= x1.min() and x1.max() <= 1.0


@pytest.mark.parametrize("n", [50, 57])
def test_every_class_equally_often(n: int) -> None:
    _, y = render(n, 0)
    counts = np.bincount(y, minlength=len(CLASSES))
    # 50 -> five of each; 57 -> seven classes get six, three get five
    assert sorted(counts.tolist()) == sorted([n // 10 + (i < n % 10) for i in range(10)])


def test_the_test_split_does_not_depend_on_the_training_split_size() -> None:
    small = load_shapes({"train_samples": 100, "val_samples": 20, "test_samples": 30})
    large = load_shapes({"train_samples": 200, "val_samples": 20, "test_samples": 30})
    assert np.bincount(small[2]).tolist() == [100, 20, 30]
    np.testing.assert_array_equal(small[0][small[2] == 2], large[0][large[2] == 2])
    np.testing.assert_array_equal(small[1][small[2] == 2], large[1][large[2] == 2])
    assert not np.array_equal(small[0][small[2] == 2], small[0][small[2] == 0][:30])


def test_the_dataset_uses_its_own_split_and_the_image_size() -> None:
    ds = load("shapes", {"train_samples": 100, "val_samples": 20, "test_samples": 30})
    s = split(ds, seed=5, val_fraction=0.15, test_fraction=0.25)
    assert [len(part[1]) for part in (s.train, s.val, s.test)] == [100, 20, 30]
    assert s.input_shape == (3, 32, 32) and ds.classes == CLASSES
    big = load(
        "shapes", {"train_samples": 100, "val_samples": 10, "test_samples": 10, "image_size": 48}
    )
    assert big.x.shape[1:] == (48, 48, 3)


def test_shapes_settings_are_checked_in_the_config() -> None:
    raw = {
        "dataset": {"name": "shapes", "train_samples": 5, "image_size": 32},
        "models": {"m": {"arch": "resnet8"}},
        "policies": {"none": "none"},
        "compression": {"fp32": []},
        "runtimes": {"onnxruntime": {}},
    }
    with pytest.raises(ConfigError) as info:
        parse_config(raw, "c.toml", Path("."))
    assert str(info.value) == "c.toml:dataset.train_samples: must be in [100, 200000], got 5"
    raw["dataset"]["train_samples"] = 300
    config = parse_config(raw, "c.toml", Path("."))
    assert config.dataset.params["train_samples"] == 300
    assert config.dataset.params["test_samples"] == 2500
