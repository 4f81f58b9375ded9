"""A fixed, seeded perturbed copy of the test set, for "robust accuracy".

Robust accuracy asks how much a model's accuracy survives small, realistic input
changes that it was not necessarily trained on. The perturbations are deliberately
fixed (not tied to any augmentation policy) so that every candidate in a sweep is
scored on the very same perturbed pixels, and mild enough that a person still reads
each digit correctly.

Images: each sample independently gets exactly one perturbation, chosen uniformly:

* ``shift``  - whole-pixel translation by (dy, dx) in {-2..2}^2 minus (0, 0), zero fill;
* ``rotate`` - rotation by +15 or -15 degrees about the centre, bilinear, zero fill;
* ``noise``  - additive gaussian noise, sigma 0.1, then clipped to [0, 1];
* ``scale``  - zoom about the centre by a factor 0.9 or 1.1, bilinear, zero fill.

Tabular: gaussian noise, sigma 0.3, on the standardized features (i.e. 0.3 std).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.train.augment_ops import affine_warp, rotation_matrices, shift_pixels

SEVERITIES: dict[str, Any] = {
    "shift_px": (1, 2),  # Chebyshev distance of the whole-pixel shift
    "rotate_deg": 15.0,  # +/- this many degrees
    "noise_sigma": 0.1,  # gaussian sigma on [0, 1] pixels
    "scale_factor": (0.9, 1.1),  # zoom out / in
    "tabular_noise_sigma": 0.3,  # gaussian sigma on standardized features
}

IMAGE_PERTURBATIONS = ("shift", "rotate", "noise", "scale")

# Mixed into the seed so the perturbation draws differ from the split/training draws
# that use the same config seed.
_SALT = 0x0B0B57


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng([_SALT, seed])


def assign(n: int, seed: int) -> np.ndarray:
    """The perturbation name each of `n` test images gets under `seed` (what `perturb` uses)."""
    return np.array(IMAGE_PERTURBATIONS)[_rng(seed).integers(0, len(IMAGE_PERTURBATIONS), size=n)]


def _perturb_images(x: np.ndarray, seed: int) -> np.ndarray:
    n = len(x)
    rng = _rng(seed)
    kind = rng.integers(0, len(IMAGE_PERTURBATIONS), size=n)  # same draw as assign()
    # Draw every parameter for every sample up front so each sample's result depends
    # only on the seed and its position, not on what the other samples got.
    offsets = np.array(
        [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3) if (dy, dx) != (0, 0)]
    )
    shift = offsets[rng.integers(0, len(offsets), size=n)]
    sign = rng.integers(0, 2, size=n) * 2.0 - 1.0
    noise = rng.standard_normal(x.shape, dtype=np.float32) * np.float32(SEVERITIES["noise_sigma"])

    rotations = rotation_matrices(SEVERITIES["rotate_deg"] * sign)
    lo, hi = SEVERITIES["scale_factor"]
    zooms = np.eye(2)[None] / np.where(sign > 0, hi, lo)[:, None, None]

    out = x.copy()
    pick = {name: np.flatnonzero(kind == i) for i, name in enumerate(IMAGE_PERTURBATIONS)}
    i = pick["shift"]
    out[i] = shift_pixels(x[i], shift[i, 0], shift[i, 1])
    i = pick["rotate"]
    out[i] = affine_warp(x[i], rotations[i])
    i = pick["noise"]
    out[i] = x[i] + noise[i]
    i = pick["scale"]
    out[i] = affine_warp(x[i], zooms[i])
    return np.clip(out, 0.0, 1.0)


def perturb(x: np.ndarray, seed: int, data_kind: str) -> np.ndarray:
    """A perturbed float32 copy of `x` (see the module docstring); same seed, same array.

    Images are (N, H, W, C) in [0, 1]; tabular data is (N, F) standardized features.
    The input is not modified.
    """
    x = np.asarray(x, dtype=np.float32)
    if data_kind == "image":
        if x.ndim != 4:
            raise ValueError(f"image test sets are (N, H, W, C), got shape {x.shape}")
        return _perturb_images(x, seed).astype(np.float32, copy=False)
    if data_kind == "tabular":
        if x.ndim != 2:
            raise ValueError(f"tabular test sets are (N, F), got shape {x.shape}")
        sigma = np.float32(SEVERITIES["tabular_noise_sigma"])
        return x + sigma * _rng(seed).standard_normal(x.shape, dtype=np.float32)
    raise ValueError(f"data_kind must be 'image' or 'tabular', got {data_kind!r}")


def describe(data_kind: str) -> str:
    """One line for the report stating the perturbations and their severities."""
    if data_kind == "image":
        lo, hi = SEVERITIES["scale_factor"]
        return (
            "each test image gets one of (uniformly, fixed seed): "
            f"shift by {SEVERITIES['shift_px'][0]}-{SEVERITIES['shift_px'][1]} px, "
            f"rotation +/-{SEVERITIES['rotate_deg']:g} deg, "
            f"gaussian noise sigma {SEVERITIES['noise_sigma']:g}, "
            f"scale x{lo:g} or x{hi:g}"
        )
    if data_kind == "tabular":
        return (
            f"gaussian noise sigma {SEVERITIES['tabular_noise_sigma']:g} "
            "on standardized features (fixed seed)"
        )
    raise ValueError(f"data_kind must be 'image' or 'tabular', got {data_kind!r}")
