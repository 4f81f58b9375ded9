from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.errors import DataError
from harness.train.datasets import load, split


def test_digits_split_is_stratified_seeded_and_disjoint() -> None:
    ds = load("digits", {})
    assert ds.kind == "image" and ds.x.shape[1:] == (8, 8, 1)
    assert 0.0 <= ds.x.min() and ds.x.max() <= 1.0
    a, b = split(ds, 0, 0.15, 0.25), split(ds, 0, 0.15, 0.25)
    np.testing.assert_array_equal(a.test[0], b.test[0])
    assert not np.array_equal(split(ds, 1, 0.15, 0.25).test[1], a.test[1])
    n = len(ds.y)
    assert len(a.train[1]) + len(a.val[1]) + len(a.test[1]) == n
    assert abs(len(a.test[1]) - 0.25 * n) <= 1
    # Stratified: every class is in every split, in proportion.
    for part in (a.train[1], a.val[1], a.test[1]):
        assert set(part) == set(range(10))
    assert a.input_shape == (1, 8, 8)
    x = a.model_input(a.test[0])
    assert x.shape == (len(a.test[1]), 1, 8, 8) and x.dtype == np.float32
    # Normalisation is fitted on train only.
    assert abs(float(a.model_input(a.train[0]).mean())) < 1e-4


def test_breast_cancer_is_tabular_binary() -> None:
    ds = load("breast_cancer", {})
    s = split(ds, 0, 0.15, 0.25)
    assert ds.kind == "tabular" and ds.n_classes == 2
    assert s.input_shape == (30,)
    assert np.allclose(s.model_input(s.train[0]).std(axis=0), 1.0, atol=1e-3)


def _npz(tmp_path: Path, **arrays: np.ndarray) -> dict[str, str]:
    path = tmp_path / "data.npz"
    np.savez(path, **arrays)
    return {"path": str(path)}


def test_npz_images_and_tabular(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    images = load(
        "npz", _npz(tmp_path, x=rng.integers(0, 256, (30, 6, 6)), y=np.repeat([0, 1, 2], 10))
    )
    assert images.kind == "image" and images.x.shape == (30, 6, 6, 1) and images.x.max() <= 1.0
    table = load("npz", _npz(tmp_path, x=rng.normal(size=(20, 4)), y=np.repeat([0, 1], 10)))
    assert table.kind == "tabular" and table.classes == ("0", "1")


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"x": np.zeros((4, 3))}, "missing array 'y'"),
        ({"x": np.zeros((6, 3)), "y": np.array([0, 0, 1, 1, 1])}, "x has 6 samples but y has 5"),
        ({"x": np.zeros((6, 3)), "y": np.zeros(6, int)}, "only class 0; accuracy needs at least 2"),
        ({"x": np.zeros((0, 3)), "y": np.zeros(0, int)}, "x holds no samples"),
        ({"x": np.full((6, 3), np.nan), "y": np.repeat([0, 1], 3)}, "NaN"),
        ({"x": np.zeros((6, 3)), "y": np.array([0, 0, 0, -1, 1, 1])}, "class ids 0..K-1"),
        ({"x": np.zeros((6, 3)), "y": np.array([0.5] * 5 + [np.nan])}, "NaN or infinite targets"),
        (
            {"x": np.zeros((7, 3)), "y": np.array([0, 0, 0, 2, 2, 2, 2])},
            r"1 class\(es\) have fewer than 3 samples \(1\)",
        ),
        ({"x": np.zeros((6,)), "y": np.repeat([0, 1], 3)}, "expected \\(N, F\\)"),
    ],
)
def test_bad_npz_data_is_a_clear_error(tmp_path: Path, arrays: dict, message: str) -> None:
    with pytest.raises(DataError, match=message):
        load("npz", _npz(tmp_path, **arrays))


def _write_images(root: Path, classes: dict[str, int], size: tuple[int, int], mode: str) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for name, count in classes.items():
        (root / name).mkdir(parents=True)
        for i in range(count):
            shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
            pixels = rng.integers(0, 256, shape, dtype=np.uint8)
            Image.fromarray(pixels, mode).save(root / name / f"{i}.png")


def test_image_folder_loads_classes_in_order_and_scales_pixels(tmp_path: Path) -> None:
    _write_images(tmp_path / "data", {"cat": 4, "dog": 5}, (6, 5), "L")
    ds = load("image_folder", {"path": str(tmp_path / "data")})
    assert ds.classes == ("cat", "dog") and ds.kind == "image"
    assert ds.x.shape == (9, 5, 6, 1) and 0.0 <= ds.x.min() and ds.x.max() <= 1.0
    assert list(ds.y) == [0] * 4 + [1] * 5
    _write_images(tmp_path / "rgb", {"a": 3, "b": 3}, (4, 4), "RGB")
    assert load("image_folder", {"path": str(tmp_path / "rgb")}).x.shape == (6, 4, 4, 3)


def test_image_folder_errors(tmp_path: Path) -> None:
    _write_images(tmp_path / "one", {"only": 3}, (4, 4), "L")
    with pytest.raises(DataError, match="found 1 class subfolder"):
        load("image_folder", {"path": str(tmp_path / "one")})
    _write_images(tmp_path / "two", {"a": 3}, (4, 4), "L")
    (tmp_path / "two" / "b").mkdir()
    with pytest.raises(DataError, match=r"\['b'\] hold no .png/.jpg images"):
        load("image_folder", {"path": str(tmp_path / "two")})
    (tmp_path / "two" / "b" / "x.png").write_bytes(b"not a png")
    (tmp_path / "two" / "b" / "y.png").write_bytes(b"not a png")
    (tmp_path / "two" / "b" / "z.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="x.png: not a readable image"):
        load("image_folder", {"path": str(tmp_path / "two")})


def test_npz_predefined_split_is_used_as_given(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    y = np.tile([0, 1], 15)
    names = np.array(["train"] * 20 + ["val"] * 4 + ["test"] * 6)
    ds = load("npz", _npz(tmp_path, x=rng.normal(size=(30, 3)), y=y, split=names))
    s = split(ds, 0, 0.15, 0.25)
    np.testing.assert_array_equal(s.test[0], ds.x[24:])
    np.testing.assert_array_equal(s.val[1], y[20:24])
    with pytest.raises(DataError, match=r"split holds \['dev'\]; use train, val and test"):
        load(
            "npz",
            _npz(tmp_path, x=np.zeros((6, 2)), y=np.repeat([0, 1], 3), split=np.array(["dev"] * 6)),
        )
    with pytest.raises(DataError, match="has no test samples"):
        load(
            "npz",
            _npz(
                tmp_path,
                x=np.zeros((6, 2)),
                y=np.repeat([0, 1], 3),
                split=np.array([0, 0, 0, 0, 1, 1]),
            ),
        )
