"""Augmentation preview grids as PNG mosaics: one row per sample, one column per variant."""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from harness.train.datasets import Splits

TILE = 56  # pixels per tile: 8x8 digits are enlarged with nearest-neighbour, not smoothed
GAP = 3


def mosaic_png(pixels: Any) -> bytes:
    """(n, v, H, W, C) uint8 -> PNG bytes of an n x v grid on a white background."""
    from PIL import Image

    grid = np.asarray(pixels, dtype=np.uint8)
    n, v, h, w, c = grid.shape
    scale = max(1, TILE // max(h, w))
    th, tw = h * scale, w * scale
    canvas = np.full((n * (th + GAP) + GAP, v * (tw + GAP) + GAP, 3), 255, dtype=np.uint8)
    for i in range(n):
        for j in range(v):
            tile = grid[i, j].repeat(scale, 0).repeat(scale, 1)
            if c == 1:
                tile = np.repeat(tile, 3, axis=2)
            top, left = GAP + i * (th + GAP), GAP + j * (tw + GAP)
            canvas[top : top + th, left : left + tw] = tile[..., :3]
    out = io.BytesIO()
    # No timestamps or text chunks: the same pixels give the same bytes (reproducible sites).
    Image.fromarray(canvas, "RGB").save(out, format="PNG", optimize=False)
    return out.getvalue()


def slug(name: str) -> str:
    """A file-name-safe form of a policy name (names may hold anything)."""
    text = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")
    return text or "policy"


PREVIEW_SAMPLES = 4
PREVIEW_VARIANTS = 6


def policy_previews(policies: Sequence[Any], splits: Splits, seed: int) -> list[dict[str, Any]]:
    """A few training images under each policy, as 8-bit pixels, for the report's grids."""
    from harness.train.augment import preview

    x, y = splits.train[0][:PREVIEW_SAMPLES], splits.train[1][:PREVIEW_SAMPLES]
    onehot = np.eye(splits.dataset.n_classes, dtype=np.float32)[y]
    out = []  # a list, not a dict: the config's order of policies is kept
    for policy in policies:
        grid = preview(policy, x, onehot, seed, n_variants=PREVIEW_VARIANTS)
        pixels = np.round(np.clip(grid, 0, 1) * 255).astype(np.uint8).tolist()
        out.append({"name": policy.name, "describe": policy.describe(), "pixels": pixels})
    return out
