"""The paper's "simple shapes" images (Fig. 1, 6, 10): a seeded generator and a shape counter.

Construction, following the authors' released generator (shapes/gen_simple_shapes_dataset.py in
locuslab/diffusion-model-hallucination), re-implemented and seeded:
  - a 64 x 64 grayscale image, white shapes (1.0) on black (0.0); the drawing area is three vertical
    strips of 21 px (triangle | square | pentagon, left to right), 63 x 63 in all, so the last row and
    column stay black;
  - each shape is present independently with probability 0.5, at most one of each, in its own strip; images
    with no shape are redrawn (P(a kind is present | at least one is) = 0.5 / (1 - 0.125) = 4/7);
  - areas: square 8 x 8 = 64 px; triangle equilateral of side 12 pointing down, 64 px; pentagon regular with
    circumradius 5.45 and a vertex pointing right, 70 px. The released code draws a square of side 8, a
    triangle of side 11 and a pentagon of circumradius 5 with PIL outlines, asserting 64, 65 +- 2 and 70 +- 2.
Differences from the released code (its quirks, not the paper's description):
  - seeded (numpy.random.default_rng), no module-level state, no files;
  - positions are uniform over every integer placement inside the strip with a 1 px margin to the strip and
    canvas borders (the released code confines the square to the left two thirds and top seven eighths of
    its strip, and lets the triangle's and the pentagon's rightmost vertex be clipped by the strip's edge).
    The margin keeps shapes in neighbouring strips at least 2 px apart, so they never touch;
  - rasterised by testing pixel centres against the polygon (no outline, no anti-aliasing): every copy of a
    shape has exactly the same pixels.
Other sizes scale every length by size / 64 (strips are size // 3 px); areas scale by (size / 64)^2.

The counter reads any image: threshold at 0.5, 8-connected components, each assigned to the strip its columns
fall in; see count_shapes for the area rules.
"""
import math

import numpy as np
from scipy import ndimage

from . import pixels
from ..support import params
from .pixels import FOREGROUND, as_images

KINDS = ("triangle", "square", "pentagon")  # one per strip, left to right
LABELS = ("in_support", "hallucinated", "invalid")
PAPER_SIZE = 64
MIN_SIZE = 32  # below this a shape has fewer than ~16 pixels and loses its form
MARGIN = 1  # px kept empty at each strip border and at the canvas border
P_PRESENT = 0.5
NOISE_FRACTION = 0.25  # components below this fraction of the smallest shape area are noise (< 16 px at 64)
MERGE_FACTOR = 1.5  # components above this multiple of their strip's shape area hold >= 2 copies (> 96 px)

_SQUARE_SIDE, _TRIANGLE_SIDE, _PENTAGON_RADIUS = 8.0, 12.0, 5.45  # at size 64


def make_shapes(n: int, seed: int, size: int = PAPER_SIZE) -> tuple[np.ndarray, list[dict]]:
    """n images (n x size x size, float32 in {0, 1}) and, per image, {kind: (row, col) centre} per shape."""
    n = params.integer("n", n, low=1)
    size = params.integer("size", size, low=MIN_SIZE)
    rng = np.random.default_rng(params.integer("seed", seed, low=0))
    present = _presence(n, rng)
    strip, stamps = size // 3, shape_stamps(size)
    images = np.zeros((n, size, size), dtype=np.float32)
    meta = [{} for _ in range(n)]
    for k, kind in enumerate(KINDS):
        stamp = stamps[kind]
        h, w = stamp.shape
        rows = rng.integers(MARGIN, 3 * strip - MARGIN - h, size=n, endpoint=True)
        cols = rng.integers(k * strip + MARGIN, (k + 1) * strip - MARGIN - w, size=n, endpoint=True)
        centre = np.argwhere(stamp).mean(0)
        for i in np.flatnonzero(present[:, k]):
            images[i, rows[i]:rows[i] + h, cols[i]:cols[i] + w][stamp] = 1.0
            meta[i][kind] = (float(rows[i] + centre[0]), float(cols[i] + centre[1]))
    return images, meta


def shape_stamps(size: int = PAPER_SIZE) -> dict[str, np.ndarray]:
    """The pixels of each shape at this image size (boolean arrays cropped to the shape)."""
    s = params.integer("size", size, low=MIN_SIZE) / PAPER_SIZE
    a, t, r = _SQUARE_SIDE * s, _TRIANGLE_SIDE * s, _PENTAGON_RADIUS * s
    cx, cy = r * math.cos(math.radians(36)), math.ceil(r * math.sin(math.radians(72)))
    pentagon = [(cx + r * math.cos(math.radians(d)), cy - r * math.sin(math.radians(d)))
                for d in range(0, 360, 72)]
    return {"triangle": _polygon([(0, 0), (t, 0), (t / 2, t * math.sqrt(3) / 2)]),
            "square": _polygon([(0, 0), (a, 0), (a, a), (0, a)]),
            "pentagon": _polygon(pentagon)}


def shape_areas(size: int = PAPER_SIZE) -> np.ndarray:
    """Pixel area of each kind at this size, in KINDS order (64, 64, 70 at size 64)."""
    return np.array([int(v.sum()) for v in shape_stamps(size).values()])


def counts_from_metadata(meta: list[dict]) -> np.ndarray:
    """The generator's own counts (n x 3, 0 or 1 per kind) from make_shapes' metadata."""
    return np.array([[int(kind in m) for kind in KINDS] for m in meta], dtype=int).reshape(-1, 3)


def count_shapes(images, *, foreground: float = FOREGROUND, noise_fraction: float = NOISE_FRACTION,
                 merge_factor: float = MERGE_FACTOR) -> tuple[np.ndarray, np.ndarray]:
    """Shapes per strip (n x 3 int) and a label per image among LABELS, for images in [0, 1].

    Pixels above `foreground` (0.5) are foreground; 8-connected components smaller than `noise_fraction` of the
    smallest shape area are ignored; a component spanning two strips makes the image "invalid"; one larger than
    `merge_factor` times its strip's shape area is a merge of round(area / shape area) >= 2 copies. Labels:
    "invalid" (a straddling component, or no shape), else "hallucinated" (some strip holds >= 2 copies), else
    "in_support". The thresholds' defaults are the module's constants (THRESHOLD_STEPS: how far one step moves).
    """
    x = as_images(images, MIN_SIZE)
    areas = shape_areas(x.shape[-1])
    image, area, first, shape, straddle = _components(x, foreground, noise_fraction)
    keep = shape & ~straddle
    copies = np.where(area > merge_factor * areas[first], np.maximum(2, np.rint(area / areas[first])), 1)
    counts = np.zeros((len(x), 3), dtype=int)
    np.add.at(counts, (image[keep], first[keep]), copies[keep].astype(int))
    invalid = np.bincount(image[straddle], minlength=len(x)).astype(bool) | (counts.sum(1) == 0)
    labels = np.where(invalid, "invalid", np.where(counts.max(1) >= 2, "hallucinated", "in_support"))
    return counts, labels


def _components(x: np.ndarray, foreground: float = FOREGROUND, noise_fraction: float = NOISE_FRACTION):
    """The 8-connected foreground components of images x (never across images): per component its image, area,
    first strip, whether it is shape-sized (not noise), and whether it spans two strips (and is shape-sized)."""
    strip, areas = x.shape[-1] // 3, shape_areas(x.shape[-1])
    eight_in_plane = np.pad(np.ones((1, 3, 3), bool), ((1, 1), (0, 0), (0, 0)))
    lab, m = ndimage.label(x > foreground, structure=eight_in_plane)
    area = np.bincount(lab.ravel(), minlength=m + 1)[1:]
    boxes = ndimage.find_objects(lab)
    image = np.array([b[0].start for b in boxes], dtype=int)
    first = np.minimum([b[2].start // strip for b in boxes], 2).astype(int)
    last = np.minimum([(b[2].stop - 1) // strip for b in boxes], 2).astype(int)
    shape = area >= noise_fraction * areas.min()
    return image, area, first, shape, shape & (first != last)


def invalid_reasons(images) -> dict[str, int]:
    """Why count_shapes calls images "invalid", per reason: a component spanning two strips no larger than
    MERGE_FACTOR shapes (a clean shape drawn across a strip border), a larger one (a blob), or no shape at all."""
    x = as_images(images, MIN_SIZE)
    image, area, _, _, straddle = _components(x)
    widest = np.zeros(len(x), dtype=int)  # the largest straddling component of each image (0: none)
    np.maximum.at(widest, image[straddle], area[straddle])
    widest = widest[count_shapes(x)[1] == "invalid"]
    one = (widest > 0) & (widest <= MERGE_FACTOR * shape_areas(x.shape[-1]).max())
    return {"one shape across a strip border": int(one.sum()),
            "larger blob across strips": int((widest > 0).sum() - one.sum()), "no shape": int((widest == 0).sum())}


THRESHOLD_STEPS = {"foreground": 0.1, "noise_fraction": 0.125, "merge_factor": 0.25}  # one step of each


def threshold_moves(images) -> list[dict]:
    """How many labels change when each of count_shapes' thresholds moves one step (THRESHOLD_STEPS) down or up
    from its default, the others kept: one row per threshold and direction, with the moves by (from, to)."""
    x = as_images(images, MIN_SIZE)
    _, base = count_shapes(x)
    defaults = {"foreground": FOREGROUND, "noise_fraction": NOISE_FRACTION, "merge_factor": MERGE_FACTOR}
    rows = []
    for name, step in THRESHOLD_STEPS.items():
        for sign in (-1, 1):
            value = round(defaults[name] + sign * step, 6)
            rows.append({"threshold": name, "default": defaults[name], "value": value,
                         **pixels.label_moves(base, count_shapes(x, **{name: value})[1])})
    return rows


def count_samples(x0) -> tuple[np.ndarray, np.ndarray]:
    """count_shapes of a sampler's output (a tensor N x 1 x size x size in [-1, 1])."""
    return count_shapes(pixels.to_unit(x0[:, 0].numpy()))


def hallucinated(images) -> np.ndarray:
    """True where count_shapes labels an image "hallucinated" (a strip holds two or more copies)."""
    return count_shapes(images)[1] == "hallucinated"


def baselines(images) -> dict[str, np.ndarray]:
    """The scores that never look at a trajectory, beside which the metric is judged on the shapes: the foreground
    pixel count, and the largest of the three strips' (one per kind of shape)."""
    return {"foreground pixels": pixels.foreground_pixels(images),
            "largest strip's foreground pixels": pixels.strip_foreground_pixels(images, len(KINDS)).max(1)}


def _presence(n, rng):
    """n rows of three independent Bernoulli(P_PRESENT) draws, redrawing rows with no shape."""
    rows = np.zeros((0, 3), dtype=bool)
    while len(rows) < n:
        draw = rng.random((2 * (n - len(rows)) + 8, 3)) < P_PRESENT
        rows = np.concatenate([rows, draw[draw.any(1)]])
    return rows[:n]


def _polygon(vertices, eps=1e-9):
    """Pixels whose centres lie inside a convex polygon (vertices as (x, y), y down), cropped to the shape."""
    v = np.asarray(vertices, dtype=np.float64)
    h, w = math.ceil(v[:, 1].max()) + 1, math.ceil(v[:, 0].max()) + 1
    y, x = np.mgrid[0:h, 0:w] + 0.5
    a, b = v[:, :, None, None], np.roll(v, -1, 0)[:, :, None, None]
    cross = (b[:, 0] - a[:, 0]) * (y - a[:, 1]) - (b[:, 1] - a[:, 1]) * (x - a[:, 0])
    inside = (cross >= -eps).all(0) | (cross <= eps).all(0)
    r, c = np.nonzero(inside)
    return inside[r.min():r.max() + 1, c.min():c.max() + 1]
