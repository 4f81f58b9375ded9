"""The perturbed test set: fixed by its seed, and perturbed by exactly the stated severities."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from harness.train.robust import IMAGE_PERTURBATIONS, SEVERITIES, assign, describe, perturb

SHAPES = [(64, 8, 8, 1), (32, 16, 16, 3)]


def _images(shape: tuple[int, ...]) -> np.ndarray:
    """Mid-grey pixels, so sigma-0.1 noise is (almost) never clipped."""
    return np.random.default_rng(0).uniform(0.3, 0.7, shape).astype(np.float32)


def _shifted(img: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Zero-filled integer shift, written independently of the harness's gather."""
    h, w = img.shape[:2]
    out = np.zeros_like(img)
    out[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = img[
        max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


def _zoomed(img: np.ndarray, factor: float) -> np.ndarray:
    centre = (np.array(img.shape) - 1) / 2.0
    matrix = np.diag([1 / factor, 1 / factor, 1.0])
    offset = centre - matrix @ centre
    offset[2] = 0.0
    return ndimage.affine_transform(img, matrix, offset=offset, order=1, cval=0.0)


@pytest.mark.parametrize("shape", SHAPES, ids=["8x8x1", "16x16x3"])
def test_image_perturbation_is_fixed_by_the_seed(shape: tuple[int, ...]) -> None:
    x = _images(shape)
    x0 = x.copy()
    a = perturb(x, 0, "image")
    assert a.shape == x.shape and a.dtype == np.float32
    assert a.min() >= 0.0 and a.max() <= 1.0
    np.testing.assert_array_equal(a, perturb(x, 0, "image"))
    np.testing.assert_array_equal(x, x0)
    assert not np.array_equal(a, perturb(x, 1, "image"))
    assert set(assign(len(x), 0)) == set(IMAGE_PERTURBATIONS)


@pytest.mark.parametrize("shape", SHAPES, ids=["8x8x1", "16x16x3"])
def test_each_image_gets_one_perturbation_at_the_stated_severity(shape: tuple[int, ...]) -> None:
    x = _images(shape)
    out = perturb(x, 3, "image")
    kinds = assign(len(x), 3)
    lo_px, hi_px = SEVERITIES["shift_px"]
    shifts = [
        (dy, dx)
        for dy in range(-hi_px, hi_px + 1)
        for dx in range(-hi_px, hi_px + 1)
        if lo_px <= max(abs(dy), abs(dx)) <= hi_px
    ]
    deg = SEVERITIES["rotate_deg"]
    noise = []
    for img, got, kind in zip(x, out, kinds, strict=True):
        assert not np.array_equal(img, got)
        if kind == "shift":
            assert any(np.array_equal(got, _shifted(img, *s)) for s in shifts)
        elif kind == "rotate":
            candidates = [
                ndimage.rotate(img, a, reshape=False, order=1, cval=0.0) for a in (deg, -deg)
            ]
            assert min(np.abs(got - c).max() for c in candidates) < 1e-5
        elif kind == "scale":
            candidates = [_zoomed(img, f) for f in SEVERITIES["scale_factor"]]
            assert min(np.abs(got - c).max() for c in candidates) < 1e-5
        else:
            noise.append(got - img)
    assert np.concatenate(noise, axis=None).std() == pytest.approx(
        SEVERITIES["noise_sigma"], rel=0.1
    )


def test_tabular_perturbation_is_gaussian_noise_of_the_stated_sigma() -> None:
    x = np.random.default_rng(0).standard_normal((500, 20)).astype(np.float32)
    a = perturb(x, 0, "tabular")
    assert a.dtype == np.float32 and a.shape == x.shape
    np.testing.assert_array_equal(a, perturb(x, 0, "tabular"))
    assert not np.array_equal(a, perturb(x, 1, "tabular"))
    diff = a - x
    assert diff.std() == pytest.approx(SEVERITIES["tabular_noise_sigma"], rel=0.05)
    assert abs(diff.mean()) < 0.02


def test_describe_states_the_severities() -> None:
    image = describe("image")
    for part in ("1-2 px", "15 deg", "sigma 0.1", "x0.9", "x1.1"):
        assert part in image
    assert "sigma 0.3" in describe("tabular")
    assert "\n" not in image
    with pytest.raises(ValueError):
        describe("audio")
    with pytest.raises(ValueError):
        perturb(np.zeros((2, 3), np.float32), 0, "image")
