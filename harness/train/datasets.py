"""Datasets: built-in ones shipped by scikit-learn, and the user's .npz files.

Every loader returns raw samples; `split` makes the seeded, stratified
train/validation/test split and `Normalization` (fitted on train only) is
recorded so that every runtime gets identically prepared inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import DataError
from harness.registry import Registry
from harness.train import shapes
from harness.train.npz import read_npz

__all__ = ["DATASETS", "Dataset", "Normalization", "Splits", "load", "read_npz", "split"]


@dataclass(frozen=True)
class Dataset:
    """Samples as float32: images (N, H, W, C) in [0, 1], tabular (N, F); labels int64, or
    float32 targets (no classes) for imported regression models."""

    name: str
    kind: str  # "image" or "tabular"
    x: np.ndarray
    y: np.ndarray
    classes: tuple[str, ...]
    # Optional predefined split per sample: 0 train, 1 validation, 2 test.
    assignment: np.ndarray | None = None

    @property
    def n_classes(self) -> int:
        return len(self.classes)


@dataclass(frozen=True)
class Normalization:
    """Per-channel (images) or per-feature (tabular) mean/std, fitted on the train split."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def apply(self, x: np.ndarray) -> np.ndarray:
        mean = np.asarray(self.mean, dtype=np.float32)
        std = np.asarray(self.std, dtype=np.float32)
        return ((x - mean) / std).astype(np.float32)

    def spec(self) -> dict[str, Any]:
        return {"mean": list(self.mean), "std": list(self.std)}


@dataclass(frozen=True)
class Splits:
    """The seeded split; the test split is never seen by training or calibration."""

    dataset: Dataset
    train: tuple[np.ndarray, np.ndarray]
    val: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]
    normalization: Normalization

    def model_input(self, x: np.ndarray) -> np.ndarray:
        """Normalise and lay out samples as the exported model expects (images as NCHW)."""
        x = self.normalization.apply(x)
        if self.dataset.kind == "image":
            x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        return x

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one sample as the model sees it (C, H, W) or (F,)."""
        return tuple(self.model_input(self.test[0][:1]).shape[1:])


def _digits(params: dict[str, Any]) -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images.astype(np.float32) / 16.0)[..., None]
    return Dataset("digits", "image", x, bunch.target.astype(np.int64), tuple(map(str, range(10))))


def _breast_cancer(params: dict[str, Any]) -> Dataset:
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    classes = tuple(str(n) for n in bunch.target_names)
    return Dataset(
        "breast_cancer",
        "tabular",
        bunch.data.astype(np.float32),
        bunch.target.astype(np.int64),
        classes,
    )


def _npz(params: dict[str, Any]) -> Dataset:
    path = Path(params["path"])
    arrays = read_npz(path)
    x = numeric(arrays["x"], path)
    kind = _kind_of(x, path)
    if kind == "image":
        x = _images_last(x)
    raw_y = np.asarray(arrays["y"])
    y, classes = (targets(raw_y, path), ()) if raw_y.dtype.kind == "f" else labels(raw_y, path)
    assignment = _assignment(arrays.get("split"), len(y), path)
    return validate(Dataset(path.stem, kind, x, y, classes, assignment))


SPLIT_NAMES = {"train": 0, "val": 1, "test": 2}


def _assignment(split_arr: np.ndarray | None, n: int, path: Path) -> np.ndarray | None:
    """An optional 'split' array: per sample 'train'/'val'/'test' (or 0/1/2)."""
    if split_arr is None:
        return None
    if split_arr.dtype.kind in "US":
        unknown = sorted({str(v) for v in split_arr} - set(SPLIT_NAMES))
        if unknown:
            raise DataError(f"{path}: split holds {unknown}; use train, val and test")
        split_arr = np.vectorize(SPLIT_NAMES.get)(split_arr.astype(str))
    values = np.asarray(split_arr)
    if values.shape != (n,) or not np.isin(values, (0, 1, 2)).all():
        raise DataError(f"{path}: split must give each of the {n} samples train/val/test (0/1/2)")
    missing = [name for name, v in SPLIT_NAMES.items() if not (values == v).any()]
    if missing:
        raise DataError(f"{path}: the predefined split has no {' or '.join(missing)} samples")
    return values.astype(np.int64)


def _kind_of(x: np.ndarray, path: Path) -> str:
    if x.ndim == 2:
        return "tabular"
    if x.ndim in (3, 4):
        return "image"
    raise DataError(f"{path}: x has shape {x.shape}; expected (N, F) or (N, H, W[, C])")


def _images_last(x: np.ndarray) -> np.ndarray:
    """(N, H, W[, C]) -> (N, H, W, C) in [0, 1]; 8-bit pixel values are rescaled."""
    if x.ndim == 3:
        x = x[..., None]
    if x.size and x.max() > 1.0:
        x = x / 255.0 if x.max() <= 255.0 else x / x.max()
    return x.astype(np.float32)


def numeric(x: np.ndarray, path: Path) -> np.ndarray:
    """x as float32; text, objects or complex numbers are refused by name."""
    if x.dtype.kind not in "biuf":
        raise DataError(f"{path}: x must hold numbers; got dtype {x.dtype}")
    if x.ndim == 0 or len(x) == 0:
        raise DataError(
            f"{path}: x holds no samples (shape {x.shape}); give at least one per class"
        )
    return np.asarray(x, dtype=np.float32)


def labels(y: np.ndarray, path: Path) -> tuple[np.ndarray, tuple[str, ...]]:
    """Class ids as int64 and their names "0".."K-1", or a DataError naming the problem."""
    if y.dtype.kind == "f" and y.size and (y.ndim != 1 or not np.all(np.mod(y, 1) == 0)):
        raise DataError(
            f"{path}: y must be a 1-D integer array of class ids, but it holds "
            f"{y.dtype}{y.shape} values (regression targets?); a sweep trains and scores "
            "classifiers only: score a regression model with "
            f"`harness bench MODEL --data {path.name} --task regress` (MAE, RMSE)"
        )
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise DataError(
            f"{path}: y must be a 1-D integer array of class ids; got {y.dtype}{y.shape}"
        )
    if y.size == 0:
        raise DataError(f"{path}: y holds no labels; give one class id per sample")
    if int(y.min()) < 0:
        raise DataError(f"{path}: labels must be class ids 0..K-1; found {int(y.min())}")
    n = int(y.max()) + 1
    if n > max(len(y), 10_000):  # a stray huge id would allocate a table of 10^12 classes
        raise DataError(
            f"{path}: labels go up to {n - 1:,} but there are only {len(y):,} samples; "
            "labels must be class ids 0..K-1"
        )
    present = len(np.unique(y))
    if present < 2:
        raise DataError(
            f"{path}: y holds only class {int(y[0])}; accuracy needs at least 2 classes"
        )
    return y.astype(np.int64), tuple(str(i) for i in range(n))


def targets(y: np.ndarray, path: Path) -> np.ndarray:
    """Float targets of a regression model (one value or an array per sample) as float32;
    which models may use them is checked with the config (harness.config.tasks_section)."""
    if y.ndim == 0 or len(y) == 0:
        raise DataError(f"{path}: y holds no targets; give one value (or array) per sample")
    if not np.isfinite(y).all():
        raise DataError(f"{path}: y holds NaN or infinite targets; clean or drop those samples")
    return np.asarray(y, dtype=np.float32)


def check_samples(x: np.ndarray, y: np.ndarray, name: str) -> None:
    """One label per sample, and only finite inputs."""
    if len(x) != len(y):
        raise DataError(f"{name}: x has {len(x)} samples but y has {len(y)}")
    if not np.isfinite(x).all():
        raise DataError(f"{name}: x holds NaN or infinite values; clean or impute them first")


def validate(ds: Dataset) -> Dataset:
    """Reject data no model could be trained on, with a message naming the fix."""
    check_samples(ds.x, ds.y, ds.name)
    if not ds.classes:  # regression targets: nothing to count per class
        return ds
    if ds.y.min(initial=0) < 0:
        raise DataError(f"{ds.name}: labels must be class ids 0..K-1; found {int(ds.y.min())}")
    counts = np.bincount(ds.y, minlength=ds.n_classes)
    empty = [ds.classes[i] for i in np.flatnonzero(counts < 3)]
    if empty:
        shown = ", ".join(empty[:10]) + (
            f" and {len(empty) - 10:,} more" if len(empty) > 10 else ""
        )
        raise DataError(
            f"{ds.name}: {len(empty):,} class(es) have fewer than 3 samples ({shown}); "
            "every class needs one per split"
        )
    return ds


IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}


def _image_folder(params: dict[str, Any]) -> Dataset:
    """One subfolder per class of PNG/JPEG files; sizes differing from the first are resized."""
    from PIL import Image, UnidentifiedImageError

    root = Path(params["path"])
    if not root.is_dir():
        raise DataError(
            f"{root}: not a folder; give a folder with one subfolder of images per class"
        )
    class_dirs = sorted(d for d in root.iterdir() if d.is_dir())
    if len(class_dirs) < 2:
        raise DataError(f"{root}: found {len(class_dirs)} class subfolder(s); need at least 2")
    files = {
        d.name: sorted(f for f in d.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        for d in class_dirs
    }
    empty = [name for name, found in files.items() if not found]
    if empty:
        raise DataError(f"{root}: class folder(s) {empty} hold no .png/.jpg images")
    images, labels = [], []
    size: tuple[int, int] | None = None
    color = any(
        _mode(path) not in ("L", "1", "I", "I;16") for found in files.values() for path in found[:5]
    )
    for label, found in enumerate(files.values()):
        for path in found:
            try:
                with Image.open(path) as opened:
                    img = opened.convert("RGB" if color else "L")
                    size = size or img.size
                    if img.size != size:
                        img = img.resize(size, Image.Resampling.BILINEAR)
                    images.append(np.asarray(img, dtype=np.float32) / 255.0)
            except (OSError, UnidentifiedImageError) as exc:
                raise DataError(f"{path}: not a readable image ({exc})") from None
            labels.append(label)
    x = np.stack(images)
    if x.ndim == 3:
        x = x[..., None]
    return validate(Dataset(root.name, "image", x, np.asarray(labels, np.int64), tuple(files)))


def _mode(path: Path) -> str:
    from PIL import Image

    try:
        with Image.open(path) as img:
            return str(img.mode)
    except OSError:
        return "L"


def _shapes(params: dict[str, Any]) -> Dataset:
    x, y, assignment = shapes.load_shapes(params)
    return Dataset("shapes", "image", x, y, shapes.CLASSES, assignment)


DATASETS: Registry[Callable[[dict[str, Any]], Dataset]] = Registry("dataset")
DATASETS.register("digits", _digits)
DATASETS.register("breast_cancer", _breast_cancer)
DATASETS.register("npz", _npz)
DATASETS.register("image_folder", _image_folder)
DATASETS.register("shapes", _shapes)

# Integer settings a dataset takes from the config's [dataset] table: name -> (default, lo, hi).
INT_PARAMS: dict[str, dict[str, tuple[int, int, int]]] = {"shapes": shapes.PARAMS}

# Bumped whenever a generated dataset's code makes other samples from the same settings:
# the revision is part of every cache key, so models trained on the old samples are not
# reused. Datasets not listed have no revision (their keys stay as they were).
REVISIONS: dict[str, int] = {"shapes": shapes.REVISION}


def load(name: str, params: dict[str, Any]) -> Dataset:
    return DATASETS.get(name)(params)


def split(
    ds: Dataset, seed: int, val_fraction: float, test_fraction: float, normalize: bool = True
) -> Splits:
    """Stratified train/val/test split from the seed, normalisation fitted on train (or none:
    samples as stored, for models trained elsewhere with their own preprocessing)."""
    from sklearn.model_selection import train_test_split

    if ds.assignment is not None:
        # The data's own split wins: the user decided what the test set is.
        train, val, test = (np.flatnonzero(ds.assignment == v) for v in (0, 1, 2))
    else:
        idx = np.arange(len(ds.y))
        strata = ds.y if ds.classes else None  # regression targets: a plain seeded split
        rest, test = train_test_split(
            idx, test_size=test_fraction, random_state=seed, stratify=strata
        )
        val_share = val_fraction / (1.0 - test_fraction)
        train, val = train_test_split(
            rest, test_size=val_share, random_state=seed + 1,
            stratify=None if strata is None else strata[rest],
        )  # fmt: skip
    x_train = ds.x[train]
    axes = (0, 1, 2) if ds.kind == "image" else (0,)
    mean = x_train.mean(axis=axes)
    std = x_train.std(axis=axes)
    std = np.where(std < 1e-6, 1.0, std)
    if not normalize:
        mean, std = np.zeros_like(mean), np.ones_like(std)
    norm = Normalization(tuple(float(v) for v in mean), tuple(float(v) for v in std))
    return Splits(
        dataset=ds,
        train=(ds.x[train], ds.y[train]),
        val=(ds.x[val], ds.y[val]),
        test=(ds.x[test], ds.y[test]),
        normalization=norm,
    )
