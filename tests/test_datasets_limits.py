"""Dataset validation exactly at each minimum, and the exact values the loaders produce."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from harness.errors import DataError
from harness.train.datasets import Dataset, Normalization, labels, load, split, validate


def _npz(tmp_path: Path, **arrays: np.ndarray) -> dict[str, str]:
    path = tmp_path / "data.npz"
    np.savez(path, **arrays)
    return {"path": str(path)}


def _dataset(counts: list[int]) -> Dataset:
    y = np.repeat(np.arange(len(counts)), counts)
    x = np.arange(len(y) * 2, dtype=np.float32).reshape(len(y), 2)
    return Dataset("d", "tabular", x, y, tuple(str(i) for i in range(len(counts))))


def test_three_samples_of_every_class_is_the_minimum() -> None:
    assert validate(_dataset([3, 3, 3])).n_classes == 3  # one per split
    with pytest.raises(DataError) as err:
        validate(_dataset([3, 2, 3]))
    assert str(err.value) == (
        "d: 1 class(es) have fewer than 3 samples (1); every class needs one per split"
    )
    with pytest.raises(DataError, match=r"2 class\(es\) have fewer than 3 samples \(0, 2\)"):
        validate(_dataset([0, 4, 1]))


def test_labels_start_at_zero() -> None:
    ds = _dataset([3, 3])
    bad = Dataset("d", "tabular", ds.x, ds.y - 1, ds.classes)
    with pytest.raises(DataError) as err:
        validate(bad)
    assert str(err.value) == "d: labels must be class ids 0..K-1; found -1"


def test_samples_must_match_labels_and_be_finite() -> None:
    ds = _dataset([3, 3])
    with pytest.raises(DataError, match="d: x has 6 samples but y has 5"):
        validate(Dataset("d", "tabular", ds.x, ds.y[:5], ds.classes))
    x = ds.x.copy()
    x[5, 1] = np.inf
    with pytest.raises(DataError, match="d: x holds NaN or infinite values"):
        validate(Dataset("d", "tabular", x, ds.y, ds.classes))


@pytest.mark.parametrize(
    ("peak", "scale"),
    [
        (1.0, 1.0),
        (0.5, 1.0),
        (1.5, 255.0),
        (255.0, 255.0),
        (200.0, 255.0),
        (256.0, 256.0),
        (1000.0, 1000.0),
    ],
)
def test_pixels_above_one_are_rescaled_by_255_or_by_their_maximum(
    tmp_path: Path, peak: float, scale: float
) -> None:
    x = np.zeros((6, 2, 2))
    x[0, 0, 0] = peak
    ds = load("npz", _npz(tmp_path, x=x, y=np.repeat([0, 1], 3)))
    assert ds.x.shape == (6, 2, 2, 1) and ds.x.dtype == np.float32
    assert ds.x[0, 0, 0, 0] == np.float32(peak / scale)


@pytest.mark.parametrize(("ndim", "kind"), [(2, "tabular"), (3, "image"), (4, "image")])
def test_kind_follows_the_number_of_axes(tmp_path: Path, ndim: int, kind: str) -> None:
    x = np.zeros((6, *([2] * (ndim - 1))))
    assert load("npz", _npz(tmp_path, x=x, y=np.repeat([0, 1], 3))).kind == kind


@pytest.mark.parametrize("ndim", [1, 5])
def test_other_shapes_are_refused(tmp_path: Path, ndim: int) -> None:
    x = np.zeros((6, *([1] * (ndim - 1))))
    with pytest.raises(DataError, match=r"expected \(N, F\) or \(N, H, W\[, C\]\)"):
        load("npz", _npz(tmp_path, x=x, y=np.repeat([0, 1], 3)))


def test_class_names_count_up_to_the_largest_id(tmp_path: Path) -> None:
    ds = load("npz", _npz(tmp_path, x=np.zeros((9, 2)), y=np.repeat([0, 1, 2], 3)))
    assert ds.classes == ("0", "1", "2") and ds.y.dtype == np.int64


def test_a_predefined_split_needs_every_part(tmp_path: Path) -> None:
    y = np.repeat([0, 1], 3)
    ok = load("npz", _npz(tmp_path, x=np.zeros((6, 2)), y=y, split=np.array([0, 0, 1, 2, 0, 0])))
    assert ok.assignment.tolist() == [0, 0, 1, 2, 0, 0]
    names = np.array(["train", "val", "test", "train", "train", "train"])
    named = load("npz", _npz(tmp_path, x=np.zeros((6, 2)), y=y, split=names))
    assert named.assignment.tolist() == [0, 1, 2, 0, 0, 0]
    with pytest.raises(DataError, match="the predefined split has no val samples"):
        load("npz", _npz(tmp_path, x=np.zeros((6, 2)), y=y, split=np.array([0, 0, 2, 2, 0, 0])))
    with pytest.raises(DataError, match="split holds \\['dev'\\]; use train, val and test"):
        load("npz", _npz(tmp_path, x=np.zeros((6, 2)), y=y, split=np.array(["dev"] * 6)))
    with pytest.raises(DataError, match="split must give each of the 6 samples"):
        load("npz", _npz(tmp_path, x=np.zeros((6, 2)), y=y, split=np.array([0, 1, 2, 3, 0, 0])))


def test_image_folder_needs_two_classes(tmp_path: Path) -> None:
    root = tmp_path / "imgs"
    (root / "cat").mkdir(parents=True)
    for i in range(3):
        Image.new("L", (4, 4), color=i * 100).save(root / "cat" / f"{i}.png")
    with pytest.raises(DataError, match="found 1 class subfolder\\(s\\); need at least 2"):
        load("image_folder", {"path": str(root)})
    (root / "dog").mkdir()
    for i in range(3):
        Image.new("L", (4, 4), color=255).save(root / "dog" / f"{i}.png")
    ds = load("image_folder", {"path": str(root)})
    assert ds.classes == ("cat", "dog") and ds.y.tolist() == [0, 0, 0, 1, 1, 1]
    assert ds.x[:, 0, 0, 0].tolist() == pytest.approx([0, 100 / 255, 200 / 255, 1, 1, 1])


def test_normalisation_by_hand_and_a_constant_feature_keeps_unit_scale() -> None:
    # Feature 0: train values; feature 1 is constant (std 0 -> 1, so no division by zero).
    x = np.array([[float(i), 5.0] for i in range(12)], dtype=np.float32)
    y = np.repeat([0, 1, 2], 4)
    ds = Dataset(
        "d", "tabular", x, y, ("0", "1", "2"), np.array([0, 0, 0, 1, 2, 0, 0, 1, 2, 0, 1, 2])
    )
    s = split(ds, 0, 0.15, 0.25)
    train = x[[0, 1, 2, 5, 6, 9], 0]
    assert s.normalization == Normalization((float(train.mean()), 5.0), (float(train.std()), 1.0))
    assert s.model_input(np.array([[4.0, 5.0]], np.float32)).tolist() == [
        [pytest.approx((4.0 - train.mean()) / train.std(), rel=1e-6), 0.0]
    ]
    raw = split(ds, 0, 0.15, 0.25, normalize=False)
    assert raw.normalization == Normalization((0.0, 0.0), (1.0, 1.0))


def test_split_sizes_follow_the_fractions() -> None:
    ds = _dataset([20, 20])  # 40 samples: test 25% = 10, validation 15% of 40 = 6
    s = split(ds, 0, 0.15, 0.25)
    assert (len(s.train[1]), len(s.val[1]), len(s.test[1])) == (24, 6, 10)


def test_the_shipped_datasets_exactly() -> None:
    digits = load("digits", {})
    assert (digits.name, digits.kind, digits.x.shape, digits.x.dtype) == (
        "digits", "image", (1797, 8, 8, 1), np.float32,
    )  # fmt: skip
    assert digits.x.max() == 1.0 and digits.x.min() == 0.0  # 4-bit pixels / 16
    assert digits.classes == tuple("0123456789") and np.bincount(digits.y)[0] == 178
    cancer = load("breast_cancer", {})
    assert (cancer.name, cancer.kind, cancer.x.shape, cancer.x.dtype) == (
        "breast_cancer", "tabular", (569, 30), np.float32,
    )  # fmt: skip
    assert cancer.classes == ("malignant", "benign") and np.bincount(cancer.y).tolist() == [
        212,
        357,
    ]


def test_image_normalisation_is_per_channel_over_samples_and_pixels() -> None:
    # Channel 0 holds 0..23 over (N, H, W); channel 1 is 10x channel 0.
    base = np.arange(24, dtype=np.float32).reshape(6, 2, 2)
    x = np.stack([base, base * 10], axis=-1) / 240.0
    ds = Dataset("img", "image", x, np.repeat([0, 1], 3), ("0", "1"), np.array([0, 0, 1, 2, 0, 0]))
    s = split(ds, 0, 0.15, 0.25)
    train = x[[0, 1, 4, 5]]
    assert s.normalization.mean == pytest.approx(tuple(train.mean(axis=(0, 1, 2))), rel=1e-6)
    assert s.normalization.std == pytest.approx(tuple(train.std(axis=(0, 1, 2))), rel=1e-6)
    model_in = s.model_input(x[:1])
    assert model_in.shape == (1, 2, 2, 2) and model_in.dtype == np.float32  # N, C, H, W
    expected = (x[0, 1, 0, 1] - s.normalization.mean[1]) / s.normalization.std[1]
    assert model_in[0, 1, 1, 0] == pytest.approx(expected, rel=1e-5)
    assert s.input_shape == (2, 2, 2)
    assert s.normalization.spec() == {
        "mean": list(s.normalization.mean),
        "std": list(s.normalization.std),
    }


def test_the_split_is_stratified_and_each_fraction_of_the_whole() -> None:
    ds = _dataset([40, 20])  # 60 samples: test 25% = 15, validation 15% of 60 = 9
    s = split(ds, 3, 0.15, 0.25)
    assert (len(s.train[1]), len(s.val[1]), len(s.test[1])) == (36, 9, 15)
    assert np.bincount(s.test[1]).tolist() == [10, 5]  # in the 2:1 proportion of the data
    assert np.bincount(s.train[1]).tolist() == [24, 12]
    again = split(ds, 3, 0.15, 0.25)
    assert again.test[0].tolist() == s.test[0].tolist()
    other = split(ds, 4, 0.15, 0.25)
    assert other.test[0].tolist() != s.test[0].tolist()
    assert other.val[0].tolist() != s.val[0].tolist()


def test_a_class_with_no_sample_at_all_is_named() -> None:
    ds = _dataset([3, 3])
    with pytest.raises(DataError, match=r"1 class\(es\) have fewer than 3 samples \(2\)"):
        validate(Dataset("d", "tabular", ds.x, ds.y, ("0", "1", "2")))
    empty = Dataset("d", "tabular", np.zeros((0, 2), np.float32), np.zeros(0, np.int64), ())
    assert validate(empty) is empty
    with pytest.raises(DataError, match="^p: y holds no labels; give one class id per sample$"):
        labels(np.zeros(0, np.int64), Path("p"))


def test_npz_problems_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "data.npz"
    with pytest.raises(DataError) as err:
        load("npz", {"path": str(path)})
    assert (
        str(err.value) == f"{path}: no such file; give the path of an .npz holding arrays x and y"
    )
    np.savez(path, x=np.array([object()] * 6, dtype=object), y=np.repeat([0, 1], 3))
    with pytest.raises(DataError, match=f"^{path}: array 'x' holds Python objects"):
        load("npz", {"path": str(path)})  # object arrays would need pickle: refused
    cases = [
        ({"x": np.zeros(6), "y": np.repeat([0, 1], 3)}, "x has shape (6,)"),
        ({"x": np.zeros((6, 2)), "y": np.zeros((6, 1), int)}, "y must be a 1-D integer array"),
        ({"x": np.zeros((6, 2)), "y": np.repeat([0, 1], 3), "split": np.zeros(6, int)},
         "the predefined split has no val or test samples"),
    ]  # fmt: skip
    for arrays, message in cases:
        np.savez(path, **arrays)
        with pytest.raises(DataError) as err:
            load("npz", {"path": str(path)})
        assert str(err.value).startswith(f"{path}: ") and message in str(err.value)


def test_npz_arrays_become_float32_samples_and_int64_labels(tmp_path: Path) -> None:
    path = tmp_path / "table.npz"
    split = np.array([0, 0, 1, 2, 0, 0], np.int32)
    np.savez(
        path, x=np.arange(12).reshape(6, 2), y=np.repeat([0, 1], 3).astype(np.int8), split=split
    )
    ds = load("npz", {"path": str(path)})
    assert ds.name == "table" and ds.x.dtype == np.float32 and ds.y.dtype == np.int64
    assert ds.assignment.dtype == np.int64 and ds.x[5].tolist() == [10.0, 11.0]


def test_image_folder_colour_sizes_and_16_bit_grey(tmp_path: Path) -> None:
    root = tmp_path / "pets"
    for cls, size in (("cat", (4, 4)), ("dog", (8, 8))):
        (root / cls).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", size, color=(255, 0, 0)).save(root / cls / f"{i}.png")
    ds = load("image_folder", {"path": str(root)})
    assert ds.name == "pets" and ds.x.shape == (6, 4, 4, 3) and ds.x.dtype == np.float32
    assert ds.y.dtype == np.int64 and ds.x[5, 0, 0].tolist() == [1.0, 0.0, 0.0]  # resized
    grey = tmp_path / "grey"
    for cls in ("a", "b"):
        (grey / cls).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((4, 4), 1000 * i, np.uint16)).save(grey / cls / f"{i}.png")
    assert load("image_folder", {"path": str(grey)}).x.shape == (6, 4, 4, 1)
    (grey / "a" / "3.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="3.png: not a readable image"):
        load("image_folder", {"path": str(grey)})
    with pytest.raises(DataError) as err:
        load("image_folder", {"path": str(tmp_path / "none")})
    assert str(err.value) == (
        f"{tmp_path / 'none'}: not a folder; give a folder with one subfolder of images per class"
    )


def test_the_shapes_dataset_keeps_its_own_split_and_class_names() -> None:
    ds = load("shapes", {"train_samples": 3, "val_samples": 2, "test_samples": 1,
                         "image_size": 16})  # fmt: skip
    assert (ds.name, ds.kind) == ("shapes", "image")
    assert ds.classes == ("disk", "ring", "triangle", "square", "plus", "star", "crescent",
                          "half-disk", "bar", "dots")  # fmt: skip
    assert ds.x.shape == (6, 16, 16, 3) and ds.y.shape == (6,)
    assert ds.assignment is not None and ds.assignment.tolist() == [0, 0, 0, 1, 1, 2]


def test_a_label_table_stops_at_ten_thousand_classes_or_one_per_sample() -> None:
    where = Path("data.npz")
    y = np.array([0, 9_999, 1])  # 10,000 classes from 3 samples: still allowed
    assert len(labels(y, where)[1]) == 10_000
    with pytest.raises(DataError) as err:
        labels(np.array([0, 10_000, 1]), where)
    assert str(err.value) == (
        "data.npz: labels go up to 10,000 but there are only 3 samples; "
        "labels must be class ids 0..K-1"
    )


def test_one_sample_of_one_class_is_named_in_the_error() -> None:
    with pytest.raises(DataError, match=r"^data\.npz: y holds only class 4; accuracy needs"):
        labels(np.array([4]), Path("data.npz"))


def test_x_of_text_is_refused_with_its_file_and_dtype(tmp_path: Path) -> None:
    params = _npz(tmp_path, x=np.array([["a", "b"]] * 6), y=np.repeat([0, 1], 3))
    with pytest.raises(DataError) as err:
        load("npz", params)
    assert str(err.value) == f"{params['path']}: x must hold numbers; got dtype <U1"


@pytest.mark.parametrize(
    ("n_empty", "shown"),
    [(10, "0, 1, 2, 3, 4, 5, 6, 7, 8, 9"),
     (11, "0, 1, 2, 3, 4, 5, 6, 7, 8, 9 and 1 more"),
     (13, "0, 1, 2, 3, 4, 5, 6, 7, 8, 9 and 3 more")],
)  # fmt: skip
def test_classes_short_of_samples_are_listed_ten_then_counted(n_empty: int, shown: str) -> None:
    ds = _dataset([2] * n_empty + [3, 3])  # the first n_empty classes have 2 samples each
    with pytest.raises(DataError) as err:
        validate(ds)
    assert str(err.value) == (
        f"d: {n_empty} class(es) have fewer than 3 samples ({shown}); "
        "every class needs one per split"
    )


def test_the_test_split_is_the_configured_fraction() -> None:
    ds = _dataset([10, 10])  # 20 samples
    s = split(ds, seed=0, val_fraction=0.2, test_fraction=0.4)
    assert [len(part[1]) for part in (s.train, s.val, s.test)] == [8, 4, 8]
    assert split(ds, 0, 0.2, 0.4).val[1].tolist() == s.val[1].tolist()  # the seed decides
    assert sorted(s.test[1].tolist()) == [0] * 4 + [1] * 4  # stratified


@pytest.mark.parametrize("mode", ["1", "I;16"])
def test_black_and_white_and_16_bit_folders_load_as_one_channel(tmp_path: Path, mode: str) -> None:
    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        for i in range(3):
            Image.new(mode, (4, 4), color=i % 2).save(tmp_path / cls / f"{i}.png")
    ds = load("image_folder", {"path": str(tmp_path)})
    assert ds.x.shape == (6, 4, 4, 1) and ds.y.dtype == np.int64


def test_a_folder_of_palette_images_loads_their_colours_not_their_indices(tmp_path: Path) -> None:
    for cls, index in (("a", 0), ("b", 1)):
        (tmp_path / cls).mkdir()
        for i in range(3):
            img = Image.new("P", (2, 2), color=index)
            img.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)  # 0: red, 1: blue
            img.save(tmp_path / cls / f"{i}.png")
    ds = load("image_folder", {"path": str(tmp_path)})
    assert ds.x.shape == (6, 2, 2, 3)
    assert ds.x[0, 0, 0].tolist() == [1.0, 0.0, 0.0] and ds.x[3, 1, 1].tolist() == [0.0, 0.0, 1.0]


def test_a_gray_image_in_a_colour_folder_loads_as_colour(tmp_path: Path) -> None:
    for cls, mode, colour in (("a", "RGB", (255, 0, 0)), ("b", "L", 51)):
        (tmp_path / cls).mkdir()
        for i in range(3):
            Image.new(mode, (2, 2), color=colour).save(tmp_path / cls / f"{i}.png")
    ds = load("image_folder", {"path": str(tmp_path)})
    assert ds.x.shape == (6, 2, 2, 3)
    assert ds.x[3, 0, 0].tolist() == pytest.approx([0.2, 0.2, 0.2])  # 51 / 255 in each channel


@pytest.mark.parametrize(
    ("y", "message"),
    [
        # fractions, or a table of floats: regression targets, sent to `bench --task regress`
        (np.array([0.5, 1.0, 0.0, 1.0]), "REGRESS float64(4,)"),
        (np.array([[0.0], [1.0], [0.0], [1.0]]), "REGRESS float64(4, 1)"),
        # whole numbers stored as floats, or integers in a table: the plain message
        (np.array([0.0, 1.0, 0.0, 2.0]), "y must be a 1-D integer array of class ids; got float64(4,)"),
        (np.zeros((4, 1), int), "y must be a 1-D integer array of class ids; got int64(4, 1)"),
    ],
)  # fmt: skip
def test_float_labels_that_are_not_class_ids_point_to_regression(
    y: np.ndarray, message: str
) -> None:
    path = Path("data/d.npz")
    regress = (
        "y must be a 1-D integer array of class ids, but it holds {} values (regression "
        "targets?); a sweep trains and scores classifiers only: score a regression model "
        "with `harness bench MODEL --data d.npz --task regress` (MAE, RMSE)"
    )
    expected = regress.format(message[8:]) if message.startswith("REGRESS ") else message
    with pytest.raises(DataError) as err:
        labels(y, path)
    assert str(err.value) == f"{path}: {expected}"
