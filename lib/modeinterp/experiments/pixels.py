"""Pixel handling shared by the image datasets (shapes, hands): value ranges, image arrays, foreground counts.

Datasets draw images in [0, 1]; diffusion models are trained on [-1, 1] (to_signed) and their samples read back
in [0, 1] (to_unit). A pixel above FOREGROUND is foreground.
"""
from collections import Counter

import numpy as np

from ..method.metric import strip_edges

FOREGROUND = 0.5  # a pixel is foreground if its value is above this


def to_signed(images) -> np.ndarray:
    """Map [0, 1] images to [-1, 1], the range a diffusion model is trained on."""
    return 2 * np.asarray(images, dtype=np.float32) - 1


def to_unit(x) -> np.ndarray:
    """Map [-1, 1] model outputs back to [0, 1], clipped, for the counter."""
    return np.clip((np.asarray(x, dtype=np.float32) + 1) / 2, 0, 1)


def as_images(images, min_size: int = 1) -> np.ndarray:
    """Images as a float array n x size x size (a channel axis of 1 is dropped), size at least min_size."""
    x = np.asarray(images, dtype=np.float32)
    if x.ndim == 4 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim != 3 or x.shape[1] != x.shape[2] or x.shape[2] < min_size:
        raise ValueError(f"images must be n x size x size (or n x 1 x size x size) with size >= {min_size}; "
                         f"got shape {x.shape}")
    return x


def foreground_pixels(images) -> np.ndarray:
    """Baseline: the number of pixels above FOREGROUND per image (shape n)."""
    return (as_images(images) > FOREGROUND).sum((1, 2))


def strip_foreground_pixels(images, n_strips: int = 3) -> np.ndarray:
    """Baseline: pixels above FOREGROUND per vertical strip (n x n_strips; see strip_edges)."""
    x = as_images(images) > FOREGROUND
    edges = strip_edges(x.shape[-1], n_strips)
    return np.stack([x[:, :, a:b].sum((1, 2)) for a, b in zip(edges, edges[1:])], 1)


def label_moves(base, moved) -> dict:
    """How many of n labels differ between two labellings of the same images (moved, n) and the moves by
    "from -> to" (moves), as threshold_moves reports them."""
    base, moved = np.asarray(base), np.asarray(moved)
    pairs = zip(base[moved != base], moved[moved != base])
    return {"moved": int((moved != base).sum()), "n": len(base),
            "moves": dict(sorted(Counter(f"{a} -> {b}" for a, b in pairs).items()))}

