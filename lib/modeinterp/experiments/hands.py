"""Hands (the paper's hands experiment, extra or missing fingers): a procedural hand generator whose finger
count is known by construction, a finger counter that reads only pixels, and a loader for the real 11k Hands
dataset (Afifi 2019), which is not downloaded here.

Construction (make_hands). Lengths below are pixels at size 32 and scale with size / 32. One hand per image,
white (1.0) on black (0.0), drawn in hand coordinates (palm centre at the origin, y up), then mirrored,
rotated and placed:
  - palm: an ellipse of half-width a in PALM_HALF_WIDTH and half-height b = a x PALM_ASPECT (upright, b >= a);
  - fingers: capsules (segments with round ends). The non-thumb fingers fan out from the palm centre at
    FINGER_SPACING degrees apart (each gap drawn on its own), the fan tilted by FAN_TILT; finger tips reach
    a x FINGER_REACH from the centre, the outer fingers shorter (by LENGTH_PROFILE at the ends of the fan);
    widths are a x FINGER_WIDTH. The thumb is one of the `fingers`: it starts low on the palm's side
    (THUMB_BASE), THUMB_GAP degrees beyond the first finger, reaches a x THUMB_REACH and is a x THUMB_WIDTH
    wide: thicker than the others and, as its base is low on the side, shorter than the longest finger (it
    must still cross the counting circles). A hand has no wrist or forearm: only palm and fingers are drawn;
  - a right hand (seen from the back, as in 11k Hands' dorsal images) has the thumb on the image's left; a
    left hand is its mirror image (probability 1/2); the hand is rotated by up to ROTATION degrees (mostly
    upright) and placed uniformly among the positions that keep it, with a 1 px margin, inside the canvas;
  - rendered by supersampling (SUPERSAMPLE x SUPERSAMPLE points per pixel) and averaging: edges are
    anti-aliased, the interior is exactly 1.0;
  - fingers are 2.0 to 2.8 px wide, the thumb 2.5 to 3.5 px. A hand is redrawn unless its fingers are
    separable where the counter looks, checked geometrically on the drawing parameters (the counter is not
    called): every circle around the palm centre with radius in [COUNT_RADII[0] x a, COUNT_RADII[-1] x a] lies
    MIN_GAP px outside the palm, every finger's full width reaches MIN_REACH px beyond the outer circle, and
    neighbouring fingers are >= MIN_GAP px apart along each circle. With the ranges above this is a guarantee,
    not a filter: it rejects 2 in 10,000 draws at 7 fingers and none at 4 to 6 (the smallest gap is ~1.0 px,
    the median 1.2 to 1.5 px). make_hands' min_gap asks for wider gaps (px at the image's size, up to MAX_GAP
    at 32): then it is a filter, which keeps the hands whose fingers are spread wider or drawn thinner (at 1.5 px,
    i.e. 3 px at 64x64, about 55%, 42% and 34% of the drawings of four, five and six fingers pass).
Metadata per image: fingers, hand ("left"/"right"), rotation (degrees), centre (row, col) of the palm in
continuous pixel coordinates (pixel (i, j) spans [i, i + 1) x [j, j + 1)), palm (a, b) px, scale (size / 32),
angles (degrees from up, thumb first), and starts, ends, widths of the finger capsules in px in hand
coordinates (before mirroring and rotation; thumb first).

Counter (count_fingers), which looks only at pixels: threshold at 0.5 (pixels.FOREGROUND), keep the
largest 8-connected component (detached blobs are ignored); the palm radius r is the maximum of its Euclidean
distance transform and the palm centre the centroid of the palm core, the pixels at distance >= CORE x r
(fingers are far thinner than the palm, so the core is the middle of the palm; on the drawn hands the
centroid sits ~0.7 px towards the fingers and r within 0.65 px of a). Sample circles of radius k x r (k in
COUNT_RADII) at CIRCLE_SAMPLES angles, bilinear on the image restricted to the component (and its 1 px
border), and count the runs of values > 0.5, circularly (a run across angle 0 counts once). The count is the
median over the radii. As no wrist is drawn, nothing but fingers is expected on the circles; on a generated
image a wrist-like stub would count as a finger. -1 where the image has no foreground or the palm radius is
below MIN_PALM px (scaled by size / 32).
Second counter (count_fingers_opened), which shares only the threshold and the largest component with the first:
the palm is the largest component of the morphological opening of the hand with a disk of radius OPEN_RADIUS
(wider than any finger, narrower than any palm); the fingers are the 8-connected components of the hand outside
the palm grown by OPEN_BORDER, those of at least MIN_FINGER_AREA counted (lengths px at size 32, scaled). -1 where
the opening leaves nothing (no disk of radius OPEN_RADIUS fits: the counterpart of MIN_PALM). It reads every
drawn hand of 3 to 7 fingers at 64x64 with min_gap 3 px, but at 32x32 it fuses fingers 1 px apart (it reads
about three in four five-finger hands as five): fingers that close are below what it resolves. read_hands
applies both and labels each image (READINGS): in support (both five), hallucinated (both the same other
count), disagree, or unreadable (either -1).

"hallucinated" (hand_labels) is a count other than 5, including -1. On the drawn hands the counter is exact: all of 20,000
five-finger hands and 10,000 each of four and six fingers at size 32, and of 3,000 five-finger hands at 64.

Real data (load_11k_hands): the dataset as distributed, a folder with HandInfo.csv and Hands/*.jpg
(1600 x 1200 photographs of a hand on a white background). Images are converted to grayscale and resized to
size x size without cropping (the aspect ratio is not kept), values in [0, 1]; they are not inverted.
"""
import csv
import math
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from ..support import params
from .pixels import FOREGROUND, as_images, foreground_pixels, label_moves, to_unit

FIVE = 5  # a hand with any other count is "hallucinated"
MIN_FINGERS, MAX_FINGERS = 1, 7
MIN_SIZE, SIZE_STEP, DEFAULT_SIZE = 32, 16, 32
UNIT = 32  # lengths below are pixels at this size
SUPERSAMPLE = 4
MARGIN = 1.0  # px (at UNIT) kept empty at the canvas border

PALM_HALF_WIDTH = (4.2, 5.0)  # a: the scale of the hand
PALM_ASPECT = (1.0, 1.15)  # b / a
FINGER_SPACING = (27.0, 32.0)  # degrees between neighbouring non-thumb fingers
FAN_TILT = (-4.0, 8.0)  # degrees, towards the little finger
FINGER_REACH = (2.65, 2.95)  # tip distance from the palm centre / a, longest finger
LENGTH_PROFILE = 0.1  # the outermost fingers are this fraction shorter
FINGER_WIDTH = (0.48, 0.56)  # / a
THUMB_GAP = (36.0, 46.0)  # degrees between the thumb and the first finger
THUMB_BASE = (-0.4, -0.3)  # (x / a, y / b) of the thumb's base, on the thumb's side
THUMB_REACH = (2.4, 2.6)  # / a, from the palm centre
THUMB_WIDTH = (0.6, 0.7)  # / a
ROTATION = 30.0  # degrees, uniform in [-ROTATION, ROTATION]
MIN_GAP = 1.0  # px (at UNIT) between neighbouring fingers, and between the palm and the circles
MAX_GAP = 2.0  # px (at UNIT): the widest finger gap make_hands can ask for (its draws are rejected more often)
MIN_REACH = 0.5  # px (at UNIT): every finger's full width reaches this far beyond the outer circle
MAX_TRIES = 1000

COUNT_RADII = (1.7, 1.8, 1.9)  # counting circles, in palm radii
CORE = 0.5  # palm core: distance >= CORE x palm radius
CIRCLE_SAMPLES = 720
MIN_PALM = 2.5  # px at UNIT: a smaller palm radius is no hand (drawn palms: 4.2 to 5.0)

OPEN_RADIUS = 2.5  # px at UNIT: the opening's disk, wider than a thumb (<= 3.5 px), narrower than a palm (>= 8.4)
OPEN_BORDER = 1.0  # px at UNIT: the palm is grown by this much before the fingers are cut off it
MIN_FINGER_AREA = 3.0  # px^2 at UNIT: a smaller component outside the palm is no finger (a drawn one: >= ~10)
# one step of each threshold (counter, default, step), for threshold_moves; the steps are our choice
THRESHOLD_STEPS = {("circles", "foreground"): (FOREGROUND, 0.1), ("circles", "radii"): (COUNT_RADII, 0.1),
                   ("opening", "foreground"): (FOREGROUND, 0.1), ("opening", "palm_radius"): (OPEN_RADIUS, 0.5),
                   ("opening", "border"): (OPEN_BORDER, 0.5), ("opening", "min_area"): (MIN_FINGER_AREA, 1.0)}
READINGS = ("in_support", "hallucinated", "disagree", "unreadable")

HANDS_URL = "https://sites.google.com/view/11khands"
ASPECTS = ("dorsal", "palmar", None)


def make_hands(n: int, seed: int, size: int = DEFAULT_SIZE, fingers=FIVE,
               min_gap: float | None = None) -> tuple[np.ndarray, list[dict]]:
    """n hands (n x size x size, float32 in [0, 1]) with `fingers` (an int or n ints) fingers; metadata.
    min_gap: px (at `size`) between neighbouring fingers along the counting circles; None: MIN_GAP x size / 32."""
    n = params.integer("n", n, low=1)
    rng = np.random.default_rng(params.integer("seed", seed, low=0))
    size = _size(size)
    counts = _fingers(fingers, n)
    gap = MIN_GAP if min_gap is None else check_min_gap(min_gap, size) * UNIT / size
    images = np.zeros((n, size, size), dtype=np.float32)
    meta = []
    for i in range(n):
        hand = _draw_hand(rng, int(counts[i]), size, gap)
        images[i] = _render(hand, size)
        meta.append(hand)
    return images, meta


def count_fingers(images, foreground: float = FOREGROUND, radii=COUNT_RADII) -> np.ndarray:
    """Fingers per image (int, -1 where no hand can be read), from the pixels alone: runs crossing circles
    around the palm (the first counter; its thresholds' defaults are the module's constants)."""
    x = as_images(images, MIN_SIZE)
    return np.array([_count_one(image, foreground, radii) for image in x], dtype=int).reshape(-1)


def count_fingers_opened(images, foreground: float = FOREGROUND, palm_radius: float = OPEN_RADIUS,
                         border: float = OPEN_BORDER, min_area: float = MIN_FINGER_AREA) -> np.ndarray:
    """Fingers per image (int, -1 where no palm can be read), by the second counter, which shares no step with
    the first but the threshold: the palm is what survives a morphological opening with a disk of radius
    `palm_radius` (px at size 32, scaled), the fingers the components left outside the palm grown by `border`
    px, those of at least `min_area` px^2 (at size 32, scaled) counted."""
    x = as_images(images, MIN_SIZE)
    return np.array([_count_opened(image, foreground, palm_radius, border, min_area) for image in x],
                    dtype=int).reshape(-1)


def read_hands(images) -> tuple[np.ndarray, np.ndarray]:
    """Both counters on every image: counts (n x 2: circles, opening) and a label per image (READINGS):
    "unreadable" where either counter reads no hand, "disagree" where they read different counts, else
    "in_support" (both five) or "hallucinated" (both the same other count)."""
    counts = np.stack([count_fingers(images), count_fingers_opened(images)], 1)
    return counts, _reading(counts)


def read_samples(x0) -> tuple[np.ndarray, np.ndarray]:
    """read_hands of a sampler's output (a tensor N x 1 x size x size in [-1, 1])."""
    return read_hands(to_unit(x0[:, 0].numpy()))


def threshold_moves(images) -> list[dict]:
    """How many read_hands labels change when each counter threshold moves one step (THRESHOLD_STEPS) down or
    up from its default, the others kept: one row per threshold and direction, with the moves by (from, to)."""
    x = as_images(images, MIN_SIZE)
    counts, base = read_hands(x)
    rows = []
    for (counter, name), (default, step) in THRESHOLD_STEPS.items():
        for sign in (-1, 1):
            value = np.round(np.add(default, sign * step), 6).tolist()
            value = tuple(value) if isinstance(value, list) else value
            moved_counts = counts.copy()
            column, read = (0, count_fingers) if counter == "circles" else (1, count_fingers_opened)
            moved_counts[:, column] = read(x, **{name: value})
            rows.append({"counter": counter, "threshold": name, "default": default, "value": value,
                         **label_moves(base, _reading(moved_counts))})
    return rows


def hand_labels(counts) -> np.ndarray:
    """True ("hallucinated") where a finger count is not 5, including -1 (unreadable)."""
    return np.asarray(counts).reshape(-1) != FIVE


def baselines(images, scored) -> dict[str, np.ndarray]:
    """The scores that never look at a trajectory, beside which the metric is judged on the hands: the foreground
    pixel count, and its distance from the median count of the `scored` (readable) hands."""
    foreground = foreground_pixels(images)
    return {"foreground pixels": foreground,
            "pixels' distance from the median": np.abs(foreground - np.median(foreground[np.asarray(scored, bool)]))}


def check_dataset(name: str, folder, aspect: str | None = "dorsal", size: int = DEFAULT_SIZE) -> None:
    """Check the parameters `dataset`, `hands_dir`, `aspect` and `size` before any compute: 'procedural' draws
    hands of this size (see make_hands); for '11k', `folder` must hold HandInfo.csv and every photograph of
    `aspect` it lists (without accessories); nothing is downloaded."""
    params.choice("dataset", name, ("procedural", "11k"))
    aspect = params.choice("aspect", aspect, ASPECTS)
    if name == "procedural":
        _size(size)
        return
    folder = Path(folder).resolve()
    try:
        names = _select(_hand_info(folder), aspect)
        missing = [name for name in names if not (folder / "Hands" / name).is_file()]
        if missing:
            raise FileNotFoundError(f"{len(missing)} of the {len(names)} photographs HandInfo.csv lists are not in "
                                    f"{folder / 'Hands'}, e.g. {missing[0]}")
    except (OSError, ValueError) as e:
        params.fail("hands_dir", f"a folder holding 11k Hands (HandInfo.csv and Hands/*.jpg, from {HANDS_URL})",
                    str(folder), because=str(e))


def load_11k_hands(folder, n: int = 5000, size: int = 128, seed: int = 0,
                   aspect: str | None = "dorsal") -> tuple[np.ndarray, list[str]]:
    """n images of 11k Hands (n x size x size, float32 grayscale in [0, 1], file order) and their names."""
    n = params.integer("n", n, low=1)
    size = params.integer("size", size, low=8)
    rng = np.random.default_rng(params.integer("seed", seed, low=0))
    aspect = params.choice("aspect", aspect, ASPECTS)
    folder = Path(folder)
    names = _select(_hand_info(folder), aspect)
    if len(names) > n:
        names = [names[i] for i in np.sort(rng.choice(len(names), n, replace=False))]
    images = np.stack([_load_jpeg(folder / "Hands" / name, size) for name in names])
    return images, names


# ---- generator


def check_min_gap(min_gap: float, size: int) -> float:
    """The parameter `min_gap` (px at `size`): at least MIN_GAP x size / 32, at most MAX_GAP x size / 32."""
    return params.real("min_gap", min_gap, low=MIN_GAP * size / UNIT, high=MAX_GAP * size / UNIT)


def _size(size):
    """The image size: an integer >= MIN_SIZE, a multiple of SIZE_STEP."""
    size = params.integer("size", size, low=MIN_SIZE)
    if size % SIZE_STEP:
        params.fail("size", f"a multiple of {SIZE_STEP}, at least {MIN_SIZE}", size)
    return size


def _fingers(fingers, n):
    """Finger counts per image (length n) from an integer or a sequence of n integers."""
    allowed = f"an integer in [{MIN_FINGERS}, {MAX_FINGERS}] or a sequence of n = {n} such integers"
    if np.ndim(fingers) == 0:
        if isinstance(fingers, (bool, np.bool_)) or not isinstance(fingers, (int, np.integer)):
            params.fail("fingers", allowed, fingers)
        return np.full(n, params.integer("fingers", int(fingers), low=MIN_FINGERS, high=MAX_FINGERS))
    counts = np.asarray(fingers)
    if (counts.shape != (n,) or counts.dtype.kind not in "iu" or counts.min() < MIN_FINGERS
            or counts.max() > MAX_FINGERS):
        params.fail("fingers", allowed, fingers)
    return counts.astype(int)


def _draw_hand(rng, fingers, size, gap=MIN_GAP):
    """Drawing parameters of one hand that passes the separability check and fits the canvas."""
    for _ in range(MAX_TRIES):
        hand = _hand_shape(rng, fingers)
        if not _separable(hand, gap):
            continue
        hand["left"] = bool(rng.random() < 0.5)
        hand["rotation"] = float(rng.uniform(-ROTATION, ROTATION))
        low, high = _extent(hand)
        room = UNIT - 2 * MARGIN - (high - low)
        if (room < 0).any():
            continue
        col = MARGIN - low[0] + rng.uniform(0, room[0])
        row = MARGIN + high[1] + rng.uniform(0, room[1])  # rows grow downwards, hand y upwards
        return _to_meta(hand, fingers, size / UNIT, (row, col))
    raise RuntimeError(f"no {fingers}-finger hand fits after {MAX_TRIES} draws")  # not reached in the range


def _hand_shape(rng, fingers):
    """Palm and finger capsules in hand coordinates (px at UNIT, palm centre at 0, y up, thumb at -x)."""
    a = rng.uniform(*PALM_HALF_WIDTH)
    b = a * rng.uniform(*PALM_ASPECT)
    m = fingers - 1
    gaps = rng.uniform(*FINGER_SPACING, size=max(m - 1, 0))
    angles = np.concatenate([[0.0], np.cumsum(gaps)])[:m]
    angles = angles - angles.mean() + rng.uniform(*FAN_TILT) if m else np.array([rng.uniform(*FAN_TILT)])
    u = (np.arange(m) - (m - 1) / 2) / max((m - 1) / 2, 1)
    reach = a * rng.uniform(*FINGER_REACH) * (1 - LENGTH_PROFILE * np.abs(u)) * rng.uniform(0.96, 1.0, m)
    widths = a * rng.uniform(*FINGER_WIDTH, size=m)
    thumb_angle = angles[0] - rng.uniform(*THUMB_GAP)
    thumb_base = np.array([THUMB_BASE[0] * a, THUMB_BASE[1] * b])
    thumb_tip = _tip(thumb_base, thumb_angle, a * rng.uniform(*THUMB_REACH))
    starts = [thumb_base] + [np.zeros(2)] * m
    ends = [thumb_tip] + [_direction(t) * r for t, r in zip(angles[:m], reach)]
    widths = np.concatenate([[a * rng.uniform(*THUMB_WIDTH)], widths])
    return {"a": a, "b": b, "starts": np.array(starts), "ends": np.array(ends), "widths": widths,
            "angles": np.concatenate([[thumb_angle], angles[:m]])}


def _direction(angle):
    """Unit vector at `angle` degrees from up (+y) towards +x."""
    t = math.radians(angle)
    return np.array([math.sin(t), math.cos(t)])


def _tip(base, angle, reach):
    """The point along `angle` from `base` at distance `reach` from the origin."""
    d = _direction(angle)
    proj = base @ d
    return base + d * (-proj + math.sqrt(proj ** 2 - base @ base + reach ** 2))


def _separable(hand, gap=MIN_GAP):
    """Whether the nominal counting circles miss the palm, cross every finger and keep fingers `gap` apart."""
    a, b = hand["a"], hand["b"]
    low, high = COUNT_RADII[0] * a, COUNT_RADII[-1] * a
    tips = np.hypot(*hand["ends"].T) - hand["widths"] / 2
    if low < b + MIN_GAP or (tips < high + MIN_REACH).any() or (np.hypot(*hand["starts"].T) > b).any():
        return False
    rho = np.linspace(low, high, 5)[:, None]
    t = np.radians(np.arange(0, 360, 1.0))[None]
    points = np.stack([rho * np.sin(t), rho * np.cos(t)], -1).reshape(-1, 2)
    clearance = _segment_distance(points, hand["starts"], hand["ends"]) - hand["widths"][:, None] / 2
    return bool(len(clearance) < 2 or 2 * np.sort(clearance, 0)[1].min() >= gap)


def _segment_distance(points, starts, ends):
    """Distance from each point (P x 2) to each segment (S x 2 -> S x P)."""
    d = ends - starts
    q = points[None] - starts[:, None]
    t = np.clip((q * d[:, None]).sum(-1) / (d * d).sum(-1)[:, None], 0, 1)
    return np.hypot(*(q - t[..., None] * d[:, None]).transpose(2, 0, 1))


def _transform(points, left, rotation):
    """Hand coordinates -> placed coordinates (mirrored for a left hand, rotated; still y up, no offset)."""
    p = np.asarray(points, dtype=np.float64) * ([-1, 1] if left else [1, 1])
    t = math.radians(rotation)
    return p @ np.array([[math.cos(t), math.sin(t)], [-math.sin(t), math.cos(t)]])


def _extent(hand):
    """Lowest and highest (x, y) of the placed hand relative to the palm centre."""
    a, b, t = hand["a"], hand["b"], math.radians(hand["rotation"])
    half = np.hypot([a * math.cos(t), a * math.sin(t)], [b * math.sin(t), b * math.cos(t)])
    ends = np.concatenate([_transform(hand[k], hand["left"], hand["rotation"]) for k in ("starts", "ends")])
    r = np.concatenate([hand["widths"], hand["widths"]])[:, None] / 2
    return np.minimum(-half, (ends - r).min(0)), np.maximum(half, (ends + r).max(0))


def _to_meta(hand, fingers, s, centre):
    """The drawing parameters in image pixels (centre given at UNIT), as plain Python values."""
    return {"fingers": fingers, "hand": "left" if hand["left"] else "right", "rotation": hand["rotation"],
            "centre": (float(centre[0] * s), float(centre[1] * s)), "palm": (hand["a"] * s, hand["b"] * s),
            "scale": s, "angles": hand["angles"].tolist(), "starts": (hand["starts"] * s).tolist(),
            "ends": (hand["ends"] * s).tolist(), "widths": (hand["widths"] * s).tolist()}


def _render(meta, size):
    """Anti-aliased image of one hand: the fraction of SUPERSAMPLE^2 points per pixel inside the hand."""
    k = SUPERSAMPLE
    fine = np.zeros((size * k, size * k), dtype=bool)
    (row, col), (a, b), t = meta["centre"], meta["palm"], math.radians(meta["rotation"])
    reach = max(a, b)
    rows, cols, window = _window(fine, row - reach, row + reach, col - reach, col + reach)
    x, y = cols - col, row - rows  # y up
    u, v = x * math.cos(t) + y * math.sin(t), y * math.cos(t) - x * math.sin(t)
    window |= (u / a) ** 2 + (v / b) ** 2 <= 1
    for (x0, y0), (x1, y1), w in zip(*_placed_fingers(meta)):
        r = w / 2
        rows, cols, window = _window(fine, min(y0, y1) - r, max(y0, y1) + r, min(x0, x1) - r, max(x0, x1) + r)
        dx, dy = x1 - x0, y1 - y0
        s = np.clip(((cols - x0) * dx + (rows - y0) * dy) / (dx * dx + dy * dy), 0, 1)
        window |= (cols - x0 - s * dx) ** 2 + (rows - y0 - s * dy) ** 2 <= r * r
    return fine.reshape(size, k, size, k).mean((1, 3), dtype=np.float32)


def _window(fine, top, bottom, left, right):
    """Point coordinates (rows as a column, cols as a row, in pixels) and the view of `fine` they cover."""
    k, n = SUPERSAMPLE, fine.shape[0]
    r0, r1 = max(int(top * k), 0), min(int(math.ceil(bottom * k)) + 1, n)
    c0, c1 = max(int(left * k), 0), min(int(math.ceil(right * k)) + 1, n)
    rows = ((np.arange(r0, r1, dtype=np.float32) + 0.5) / k)[:, None]
    cols = (np.arange(c0, c1, dtype=np.float32) + 0.5) / k
    return rows, cols, fine[r0:r1, c0:c1]


def _placed_fingers(meta):
    """Finger starts and ends in image coordinates ((col, row) pairs, px) and widths."""
    centre = np.array([meta["centre"][1], meta["centre"][0]])
    flip = np.array([1, -1])  # y up -> rows down
    place = [_transform(meta[key], meta["hand"] == "left", meta["rotation"]) for key in ("starts", "ends")]
    return centre + place[0] * flip, centre + place[1] * flip, meta["widths"]


# ---- counter


def _count_one(image, foreground=FOREGROUND, radii=COUNT_RADII):
    """The median number of finger runs over the counting circles of one image (-1 if no palm)."""
    mask = _largest_component(image > foreground)
    if mask is None:
        return -1
    dt = ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]
    r = dt.max()
    if r < MIN_PALM * image.shape[-1] / UNIT:
        return -1
    centre = np.argwhere(dt >= CORE * r).mean(0)
    values = np.where(ndimage.binary_dilation(mask, np.ones((3, 3), bool)), image, 0)
    return int(np.median([_runs(_circle(values, centre, k * r), foreground) for k in radii]))


def _count_opened(image, foreground, palm_radius, border, min_area):
    """Components outside the opened palm of one image's largest component (-1 if the opening is empty)."""
    s = image.shape[-1] / UNIT
    mask = _largest_component(image > foreground)
    palm = None if mask is None else _largest_component(ndimage.binary_opening(mask, _disk(palm_radius * s)))
    if palm is None:
        return -1
    outside = mask & ~ndimage.binary_dilation(palm, _disk(border * s))
    lab, _ = ndimage.label(outside, structure=np.ones((3, 3), bool))
    return int((np.bincount(lab.ravel())[1:] >= min_area * s * s).sum())


def _disk(radius):
    """A boolean disk of the given radius (px) on the smallest odd square grid that holds it."""
    k = int(radius)
    y, x = np.mgrid[-k:k + 1, -k:k + 1]
    return x * x + y * y <= radius * radius


def _reading(counts):
    """read_hands' label per row of counts (n x 2)."""
    return np.select([(counts < 0).any(1), counts[:, 0] != counts[:, 1], counts[:, 0] == FIVE],
                     ["unreadable", "disagree", "in_support"], "hallucinated")


def _largest_component(mask):
    """The largest 8-connected component of a boolean image, or None if it is empty."""
    lab, m = ndimage.label(mask, structure=np.ones((3, 3), bool))
    if m == 0:
        return None
    return lab == np.argmax(np.bincount(lab.ravel())[1:]) + 1


def _circle(values, centre, radius):
    """Bilinear samples of an image on a circle (CIRCLE_SAMPLES angles), 0 outside the canvas."""
    t = np.linspace(0, 2 * np.pi, CIRCLE_SAMPLES, endpoint=False)
    coords = np.stack([centre[0] - radius * np.cos(t), centre[1] + radius * np.sin(t)])
    return ndimage.map_coordinates(values, coords, order=1, mode="constant", cval=0.0)


def _runs(samples, foreground=FOREGROUND):
    """Runs of samples above `foreground` around a circle (one run across the start counts once)."""
    on = samples > foreground
    return int((on & ~np.roll(on, 1)).sum())


# ---- real data


def _hand_info(folder):
    """Rows of folder/HandInfo.csv, with a FileNotFoundError saying what to download if it is missing."""
    info = folder / "HandInfo.csv"
    if not folder.is_dir() or not info.is_file():
        raise FileNotFoundError(
            f"11k Hands not found: expected {info} and {folder / 'Hands'}/*.jpg. Download HandInfo.csv and "
            f"Hands.zip from {HANDS_URL} and unpack them so that the folder holds HandInfo.csv and "
            f"Hands/*.jpg")
    with open(info, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        missing = {"aspectOfHand", "accessories", "imageName"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{info} lacks 11k Hands' column(s) {', '.join(sorted(missing))}")
        return list(reader)


def _select(rows, aspect):
    """imageNames of rows without accessories whose aspectOfHand starts with `aspect` (any if None)."""
    names = [row["imageName"].strip() for row in rows
             if row["accessories"].strip() == "0"
             and (aspect is None or row["aspectOfHand"].strip().lower().startswith(aspect))]
    if not names:
        raise ValueError(f"no 11k Hands image without accessories has aspect {aspect!r} in HandInfo.csv")
    return names


def _load_jpeg(path, size):
    """One photograph as a size x size grayscale float32 array in [0, 1]."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} is listed in HandInfo.csv but missing (Hands.zip from {HANDS_URL})")
    with Image.open(path) as image:
        image.draft("L", (size, size))  # JPEG decoding at a reduced scale, still >= size
        gray = image.convert("L").resize((size, size), Image.Resampling.LANCZOS)
    return np.asarray(gray, dtype=np.float32) / 255
