"""`shapes`: a generated colour image set where augmentation matters (no download needed).

Ten shape classes (disk, ring, triangle, square, plus, star, crescent, half-disk, bar,
pair of dots) are drawn at a random position, scale, rotation and colour, filled with a
random stripe texture, over a random textured background (blotches, stripes, checks or
a gradient between two near colours) with small distractor blobs and pixel noise; a shape
too close to its background in brightness is drawn in the inverse colour. Shapes are drawn as signed
membership tests on 2x supersampled coordinates, then averaged down (anti-aliased edges).

Deterministic per seed: every image's parameters come from its split's own seeded stream,
so the held-out test images are the same whatever the size of the training split. Each
split holds every class equally often (counts differ by at most one).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["CLASSES", "PARAMS", "REVISION", "load_shapes", "render"]

CLASSES = (
    "disk", "ring", "triangle", "square", "plus", "star", "crescent", "half-disk", "bar", "dots",
)  # fmt: skip

# name: (default, lowest, highest); the config's [dataset] table may set each of them.
PARAMS: dict[str, tuple[int, int, int]] = {
    "train_samples": (8000, 100, 200_000),
    "val_samples": (1000, 10, 50_000),
    "test_samples": (2500, 10, 50_000),
    "image_size": (32, 16, 128),
    "data_seed": (0, 0, 2**31 - 1),
}

# Bump REVISION whenever the images of a seed change (it is part of the cache keys).
# 2: quieter textures (background spread 0.15 -> 0.06, stripe depth 0.3 -> 0.12) and
# more contrast (0.25 -> 0.3): on revision 1 ResNet-8 was still near 37% after 5 of the
# suite's epochs, far from the 80-97% the suite is meant to reach in its time budget.
REVISION = 2
MIN_CONTRAST = 0.3  # mean brightness difference between a shape and its background
BACKGROUND_SPREAD = 0.06  # how far a background texture's second colour is from its first
STRIPE_DEPTH = 0.12  # the deepest shading of the stripes on a shape

Mask = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _polygon(sides: int, radius: float) -> Mask:
    """Inside a regular polygon of circumradius `radius` with a vertex on +v."""

    def inside(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        theta = np.arctan2(u, v)
        sector = 2 * np.pi / sides
        local = (theta + sector / 2) % sector - sector / 2
        apothem = radius * np.cos(np.pi / sides)
        return np.hypot(u, v) * np.cos(local) < apothem

    return inside


def _star(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    theta, r = np.arctan2(u, v), np.hypot(u, v)
    return r < 0.38 + 0.55 * (0.5 + 0.5 * np.cos(5 * theta)) ** 3


SHAPES: dict[str, Mask] = {
    "disk": lambda u, v: np.hypot(u, v) < 0.8,
    "ring": lambda u, v: (np.hypot(u, v) < 0.9) & (np.hypot(u, v) > 0.55),
    "triangle": _polygon(3, 0.95),
    "square": lambda u, v: (np.abs(u) < 0.65) & (np.abs(v) < 0.65),
    "plus": lambda u, v: (
        ((np.abs(u) < 0.26) & (np.abs(v) < 0.9)) | ((np.abs(v) < 0.26) & (np.abs(u) < 0.9))
    ),
    "star": _star,
    "crescent": lambda u, v: (np.hypot(u, v) < 0.85) & (np.hypot(u - 0.4, v) > 0.65),
    "half-disk": lambda u, v: (np.hypot(u, v) < 0.9) & (v < 0.1),
    "bar": lambda u, v: (np.abs(u) < 0.9) & (np.abs(v) < 0.28),
    "dots": lambda u, v: (np.hypot(u - 0.5, v) < 0.38) | (np.hypot(u + 0.5, v) < 0.38),
}


def _colours(rng: np.random.Generator, n: int) -> np.ndarray:
    """Random saturated-or-not RGB colours in [0, 1], shape (n, 3)."""
    base = rng.uniform(0, 1, (n, 3))
    grey = rng.uniform(0, 1, (n, 1))
    saturation = rng.uniform(0.2, 1.0, (n, 1))
    return grey + saturation * (base - grey)


def _background(rng: np.random.Generator, n: int, side: int) -> np.ndarray:
    """(n, side, side, 3) textured backgrounds: blurred noise, stripes, checks or gradient."""
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32) / side
    kind = rng.integers(0, 4, n)
    c1 = _colours(rng, n)
    # the texture's second colour near the first: busy, but quieter than the shape's edge
    c2 = np.clip(c1 + BACKGROUND_SPREAD * rng.uniform(-1, 1, (n, 3)), 0, 1)
    angle = rng.uniform(0, np.pi, n)
    freq = rng.uniform(2, 7, n)
    coarse = rng.uniform(0, 1, (n, 5, 5))
    out = np.empty((n, side, side), np.float32)
    for i in range(n):
        proj = xx * np.cos(angle[i]) + yy * np.sin(angle[i])
        if kind[i] == 0:  # smooth blotches: 5x5 noise upsampled bilinearly
            idx = np.linspace(0, 4, side)
            lo = np.floor(idx).astype(int).clip(0, 3)
            t = idx - lo
            rows = coarse[i][lo] * (1 - t)[:, None] + coarse[i][lo + 1] * t[:, None]
            out[i] = rows[:, lo] * (1 - t) + rows[:, lo + 1] * t
        elif kind[i] == 1:
            out[i] = 0.5 + 0.5 * np.sin(2 * np.pi * freq[i] * proj)
        elif kind[i] == 2:
            out[i] = (np.floor(xx * freq[i]) + np.floor(yy * freq[i])) % 2
        else:
            out[i] = proj / max(float(proj.max()), 1e-6)
    w = out[..., None]
    return (c1[:, None, None, :] * w + c2[:, None, None, :] * (1 - w)).astype(np.float32)


def render(n: int, seed: int | np.random.SeedSequence, image_size: int = 32) -> tuple:
    """`n` images (n, H, W, 3) float32 in [0, 1] and their int64 labels, balanced."""
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % len(CLASSES)).astype(np.int64)
    side = 2 * image_size  # supersampled
    radius = rng.uniform(0.28, 0.45, n) * side  # the shape's unit circle, in pixels
    margin = side / 2 - 0.7 * radius
    cx = side / 2 + rng.uniform(-1, 1, n) * margin
    cy = side / 2 + rng.uniform(-1, 1, n) * margin
    rot = rng.uniform(0, 2 * np.pi, n)
    colour = _colours(rng, n)
    stripe_angle = rng.uniform(0, np.pi, n)
    stripe_freq = rng.uniform(0.5, 3.0, n)
    stripe_depth = STRIPE_DEPTH * rng.uniform(0, 1, n)
    n_blobs = rng.integers(0, 3, n)
    blobs = rng.uniform(0, 1, (n, 3, 3))  # x, y, radius per distractor
    blob_colour = _colours(rng, 3 * n).reshape(n, 3, 3)
    noise_sigma = rng.uniform(0.01, 0.05, n)
    pixel_noise = rng.standard_normal((n, image_size, image_size, 3)).astype(np.float32)

    img = _background(rng, n, side)
    # a shape whose brightness is too close to its background's is drawn in the inverse colour
    near = np.abs(colour.mean(1) - img.mean(axis=(1, 2, 3))) < MIN_CONTRAST
    colour[near] = 1.0 - colour[near]
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32) + 0.5
    for i in range(n):
        for b in range(n_blobs[i]):
            bx, by, br = blobs[i, b] * (side, side, 0.08 * side) + (0, 0, 0.03 * side)
            img[i][np.hypot(xx - bx, yy - by) < br] = blob_colour[i, b]
        dx, dy = (xx - cx[i]) / radius[i], (yy - cy[i]) / radius[i]
        c, s = np.cos(rot[i]), np.sin(rot[i])
        u, v = c * dx + s * dy, -s * dx + c * dy
        mask = SHAPES[CLASSES[y[i]]](u, v)
        stripes = np.sin(stripe_freq[i] * np.pi * (u * np.cos(stripe_angle[i]) + v))
        shade = 1.0 - stripe_depth[i] * (0.5 + 0.5 * stripes)
        img[i][mask] = (colour[i] * shade[mask][:, None]).astype(np.float32)
    img = img.reshape(n, image_size, 2, image_size, 2, 3).mean(axis=(2, 4))
    img += pixel_noise * noise_sigma[:, None, None, None].astype(np.float32)
    return np.clip(img, 0, 1).astype(np.float32), y


def load_shapes(params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train, validation and test images with labels and the split assignment (0/1/2)."""
    p = {key: int(params.get(key, default)) for key, (default, _, _) in PARAMS.items()}
    streams = np.random.SeedSequence([p["data_seed"], 1]).spawn(3)
    parts = [
        render(p[f"{split}_samples"], stream, p["image_size"])
        for split, stream in zip(("train", "val", "test"), streams, strict=True)
    ]
    x = np.concatenate([part[0] for part in parts])
    y = np.concatenate([part[1] for part in parts])
    assignment = np.concatenate(
        [np.full(len(part[1]), k, np.int64) for k, part in enumerate(parts)]
    )
    return x, y, assignment
