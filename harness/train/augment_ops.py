"""Augmentation ops: a registry of small pure functions on float32 batches.

Every op works on a common magnitude scale 0..10 (as in RandAugment) so that a policy
can say "strength 4" without knowing each op's units; `Op.scale` documents what 10
means physically. Magnitude 0 is always the identity, and a sample's random
parameters (sign, direction, box position, mixing partner) are drawn for the whole
batch at once from the caller's generator, so the same generator state gives the
same pixels.

Two shapes of op:

* per-sample ops see only the selected samples and return their new values; labels
  pass through untouched (geometry, photometric, noise, cutout, dropout);
* mixing ops see the whole batch and the selected indices, because a selected
  sample is mixed with a partner drawn from the batch, and they rewrite the soft
  labels with the same weights (mixup, cutmix).

Geometry uses bilinear interpolation with zero fill (mode="constant", cval=0)
everywhere: bilinear is a convex combination so values stay in [0, 1], and zero is
the background of digit images.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from harness.registry import Registry

IMAGE = frozenset({"image"})
TABULAR = frozenset({"tabular"})
BOTH = IMAGE | TABULAR

# (selected samples, per-sample magnitudes 0..10, rng) -> new values of those samples
SampleFn = Callable[[np.ndarray, np.ndarray, np.random.Generator], np.ndarray]
# (batch, labels, selected indices, per-sample magnitudes, rng) -> new batch and labels
MixFn = Callable[
    [np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.random.Generator],
    tuple[np.ndarray, np.ndarray],
]


@dataclass(frozen=True)
class Op:
    """One augmentation. `kinds` says which data it fits; `scale` what magnitude 10 means.

    `random_pool` marks ops that RandAugment/TrivialAugment may draw by default: ops
    that keep the label and the digit's handedness (so not hflip, mixup or cutmix).
    """

    name: str
    kinds: frozenset[str]
    scale: str
    sample_fn: SampleFn | None = None
    mix_fn: MixFn | None = None
    uses_magnitude: bool = True
    random_pool: bool = True

    def apply(
        self,
        x: np.ndarray,
        y: np.ndarray,
        idx: np.ndarray,
        magnitudes: np.ndarray,
        rng: np.random.Generator,
    ) -> tuple[np.ndarray, np.ndarray]:
        """New (x, y) with this op applied to samples `idx`; the inputs are not modified."""
        if self.mix_fn is not None:
            return self.mix_fn(x, y, idx, magnitudes, rng)
        assert self.sample_fn is not None
        out = x.copy()
        out[idx] = self.sample_fn(x[idx], magnitudes, rng)
        return out, y


OPS: Registry[Op] = Registry("augmentation op")


def fits(kind: str, *, pool_only: bool = False) -> list[str]:
    """Sorted names of the ops that apply to `kind` data (optionally only the random pool)."""
    return [
        name
        for name in OPS
        if kind in OPS.get(name).kinds and (OPS.get(name).random_pool or not pool_only)
    ]


def register(op: Op) -> None:
    OPS.register(op.name, op)


# --- helpers -----------------------------------------------------------------------------


def _signs(rng: np.random.Generator, n: int) -> np.ndarray:
    """+1 or -1 per sample: RandAugment applies a magnitude in a random direction."""
    return rng.integers(0, 2, size=n) * 2.0 - 1.0


def _per_sample(values: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Reshape (n,) so it broadcasts against a batch of any rank."""
    return values.reshape((-1,) + (1,) * (x.ndim - 1)).astype(np.float32)


def affine_warp(
    x: np.ndarray, matrices: np.ndarray, shifts: np.ndarray | None = None
) -> np.ndarray:
    """Warp each image (n, H, W, C) about its centre by its own 2x2 matrix, then shift it.

    `matrices[i]` maps an output pixel's (row, col) offset from the centre to the input
    offset it samples; `shifts[i]` moves the content by (rows, cols). Samples whose
    transform is the identity are copied bit for bit, so magnitude 0 is exactly the
    identity. Bilinear, zero fill; the centre is ((H-1)/2, (W-1)/2), as in
    scipy.ndimage.rotate(reshape=False).
    """
    from scipy.ndimage import affine_transform

    out = x.copy()
    h, w = x.shape[1:3]
    centre = np.array([(h - 1) / 2.0, (w - 1) / 2.0])
    if shifts is None:
        shifts = np.zeros((len(x), 2))
    for i, (m, t) in enumerate(zip(matrices, shifts, strict=True)):
        if np.array_equal(m, np.eye(2)) and not t.any():
            continue
        full = np.eye(3)
        full[:2, :2] = m
        offset = np.zeros(3)
        offset[:2] = centre - m @ centre - m @ t
        out[i] = affine_transform(x[i], full, offset=offset, order=1, mode="constant", cval=0.0)
    return out


def shift_pixels(x: np.ndarray, dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
    """Shift each image by whole pixels (dy[i], dx[i]) with zero fill, vectorised by gathering."""
    n, h, w = x.shape[:3]
    pad = int(max(np.abs(dy).max(initial=0), np.abs(dx).max(initial=0)))
    if pad == 0:
        return x.copy()
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    rows = np.arange(h)[None, :] - dy[:, None] + pad  # output row r samples input row r - dy
    cols = np.arange(w)[None, :] - dx[:, None] + pad
    return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]


def _box_masks(
    shape: tuple[int, ...], heights: np.ndarray, widths: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """(n, H, W, 1) boolean boxes of the given sizes centred uniformly in the image, clipped."""
    n, h, w = shape[:3]
    cy = rng.integers(0, h, size=n)
    cx = rng.integers(0, w, size=n)
    top = cy - heights // 2
    left = cx - widths // 2
    rows = np.arange(h)[None, :]
    cols = np.arange(w)[None, :]
    in_rows = (rows >= top[:, None]) & (rows < (top + heights)[:, None])
    in_cols = (cols >= left[:, None]) & (cols < (left + widths)[:, None])
    return (in_rows[:, :, None] & in_cols[:, None, :])[..., None]


def _mix_weights(m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Weight kept by each sample: lam ~ Beta(a, a) with a = 0.1 * magnitude; 1 at magnitude 0."""
    alpha = np.maximum(0.1 * m, 1e-3)
    lam = rng.beta(alpha, alpha)
    return np.where(m > 0, lam, 1.0)


# --- geometry (image) ----------------------------------------------------------------------


def rotation_matrices(degrees: np.ndarray) -> np.ndarray:
    """(n, 2, 2) matrices for `affine_warp` matching scipy.ndimage.rotate(image, degrees)."""
    theta = np.deg2rad(degrees)
    c, s = np.cos(theta), np.sin(theta)
    return np.stack([np.stack([c, s], -1), np.stack([-s, c], -1)], 1)


def _rotate(x: np.ndarray, m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return affine_warp(x, rotation_matrices(3.0 * m * _signs(rng, len(x))))


def _translate(x: np.ndarray, m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    angle = rng.uniform(0.0, 2 * np.pi, size=len(x))
    h, w = x.shape[1:3]
    shifts = np.stack([0.03 * m * h * np.sin(angle), 0.03 * m * w * np.cos(angle)], axis=1)
    return affine_warp(x, np.repeat(np.eye(2)[None], len(x), axis=0), shifts)


def _scale(x: np.ndarray, m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    factor = 1.0 + 0.03 * m * _signs(rng, len(x))
    return affine_warp(x, np.eye(2)[None] / factor[:, None, None])


def _shear(x: np.ndarray, m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    amount = 0.03 * m * _signs(rng, len(x))
    horizontal = rng.integers(0, 2, size=len(x)).astype(bool)
    mats = np.repeat(np.eye(2)[None], len(x), axis=0)
    mats[horizontal, 0, 1] = amount[horizontal]
    mats[~horizontal, 1, 0] = amount[~horizontal]
    return affine_warp(x, mats)


def _crop(x: np.ndarray, m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Pad by up to 25% of the side with zeros, then crop back at a random offset."""
    h, w = x.shape[1:3]
    pad_y = np.rint(0.025 * m * h).astype(np.int64)
    pad_x = np.rint(0.025 * m * w).astype(np.int64)
    dy = rng.integers(-pad_y, pad_y + 1)
    dx = rng.integers(-pad_x, pad_x + 1)
    return shift_pixels(x, dy, dx)


def _hflip(x: np.ndarray, m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return x[:, :, ::-1, :].copy()


# --- photometric and noise -------------------------------------------------------------------


def _brightness(x: np.ndarray, m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return x + _per_sample(0.05 * m * _signs(rng, len(x)), x)


def _contrast(x: np.ndarray, m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Scale each sample's deviation from its own mean; written as x + d so 0 is exact."""
    change = _per_sample(0.05 * m * _signs(rng, len(x)), x)
    mean = x.mean(axis=tuple(range(1, x.ndim)), keepdims=True)
    return x + change * (x - mean)


def _noise(x: np.ndarray, m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    sigma = _per_sample(0.03 * m, x)
    return x + sigma * rng.standard_normal(x.shape, dtype=np.float32)


def _cutout(x: np.ndarray, m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = x.shape[1:3]
    heights = np.rint(0.05 * m * h).astype(np.int64)
    widths = np.rint(0.05 * m * w).astype(np.int64)
    return np.where(_box_masks(x.shape, heights, widths, rng), np.float32(0.0), x)


def _dropout(x: np.ndarray, m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Zero (the standardised mean) each feature with probability 0.05 * magnitude."""
    keep = rng.random(x.shape) >= _per_sample(0.05 * m, x)
    return np.where(keep, x, np.float32(0.0))


# --- mixing (batch) ---------------------------------------------------------------------------


def _mixup(
    x: np.ndarray, y: np.ndarray, idx: np.ndarray, m: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    partner = rng.permutation(len(x))[idx]
    lam = _mix_weights(m, rng)
    out_x, out_y = x.copy(), y.copy()
    out_x[idx] = _per_sample(lam, x) * x[idx] + _per_sample(1 - lam, x) * x[partner]
    out_y[idx] = _per_sample(lam, y) * y[idx] + _per_sample(1 - lam, y) * y[partner]
    return out_x, out_y


def _cutmix(
    x: np.ndarray, y: np.ndarray, idx: np.ndarray, m: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Paste a partner's box; labels mix by the box's actual (clipped) share of the image."""
    partner = rng.permutation(len(x))[idx]
    side = np.sqrt(1.0 - _mix_weights(m, rng))
    h, w = x.shape[1:3]
    heights = np.rint(side * h).astype(np.int64)
    widths = np.rint(side * w).astype(np.int64)
    mask = _box_masks((len(idx), h, w), heights, widths, rng)
    share = mask.mean(axis=(1, 2, 3))
    out_x, out_y = x.copy(), y.copy()
    out_x[idx] = np.where(mask, x[partner], x[idx])
    out_y[idx] = _per_sample(1 - share, y) * y[idx] + _per_sample(share, y) * y[partner]
    return out_x, out_y


for _op in (
    Op("rotate", IMAGE, "10 = rotate by 30 degrees, random sign", _rotate),
    Op("translate", IMAGE, "10 = shift by 30% of the size in a random direction", _translate),
    Op("scale", IMAGE, "10 = zoom by a factor 1.3 or 0.7 (random)", _scale),
    Op("shear", IMAGE, "10 = shear 0.3 (about 17 degrees) along a random axis and sign", _shear),
    Op("crop", IMAGE, "10 = zero-pad by 25% of the size, crop back at a random offset", _crop),
    Op(
        "hflip",
        IMAGE,
        "magnitude ignored; mirrors left-right",
        _hflip,
        uses_magnitude=False,
        random_pool=False,
    ),
    Op("brightness", IMAGE, "10 = add +/-0.5 to every pixel", _brightness),
    Op("contrast", IMAGE, "10 = scale the deviation from the mean by 0.5 or 1.5", _contrast),
    Op("noise", BOTH, "10 = add gaussian noise sigma 0.3 (pixels, or feature stds)", _noise),
    Op("cutout", IMAGE, "10 = zero a box half the height and width, anywhere", _cutout),
    Op("dropout", TABULAR, "10 = zero each feature with probability 0.5", _dropout),
    Op(
        "mixup",
        BOTH,
        "10 = mix weight ~ Beta(1, 1); 2 = Beta(0.2, 0.2)",
        mix_fn=_mixup,
        random_pool=False,
    ),
    Op(
        "cutmix",
        IMAGE,
        "10 = box area share ~ Beta(1, 1); 2 = Beta(0.2, 0.2)",
        mix_fn=_cutmix,
        random_pool=False,
    ),
):
    register(_op)
