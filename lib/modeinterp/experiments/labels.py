"""Hand labels of generated samples: write samples out for labelling, read the filled-in labels back.

save_for_labelling writes each sample as a PNG and a template labels.csv (header `sample,fingers`); a person
fills in the finger count of each sample (-1 for unreadable); read_labels reads it back and label_counts turns
it into one count per sample, UNLABELLED where none was given.
"""
import csv
from pathlib import Path

import numpy as np
from PIL import Image

from ..support import params
from ..support.files import atomic
from .hands import MIN_SIZE
from .pixels import as_images

UNLABELLED = -2  # label_counts: a sample nobody labelled


def read_labels(path) -> dict[int, int]:
    """Finger counts from a CSV with header `sample,fingers` (sample id -> count, -1 for unreadable)."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    header = ",".join(rows[0]) if rows else ""
    if [c.strip() for c in header.split(",")] != ["sample", "fingers"]:
        raise ValueError(f"{path}, line 1: the header must be 'sample,fingers'; got {header!r}")
    labels = {}
    for line, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row) or (len(row) == 2 and not row[1].strip()):
            continue  # a blank line, or a sample not labelled yet (as in save_for_labelling's template)
        sample, fingers = _label_row(path, line, row)
        if sample in labels:
            raise ValueError(f"{path}, line {line}: sample {sample} is labelled twice")
        labels[sample] = fingers
    return labels


def check_file(path, n: int) -> None:
    """Check the parameter `labels_file` before any compute: empty (no labels yet), or a labels CSV (see
    read_labels) that names samples 0..n-1 only."""
    if not path:
        return
    try:
        label_counts(read_labels(path), n)
    except (OSError, ValueError) as e:
        params.fail("labels_file", "a CSV 'sample,fingers' of samples 0..n_samples-1, or empty", str(Path(path).resolve()),
                    because=str(e))


def label_counts(labels: dict[int, int], n: int) -> np.ndarray:
    """Finger counts of samples 0..n-1 from hand labels (see read_labels); UNLABELLED where a sample has none."""
    n = params.integer("n", n, low=1)
    outside = sorted(k for k in labels if not 0 <= k < n)
    if outside:
        raise ValueError(f"labels name samples outside 0..{n - 1}: {outside[:5]}")
    counts = np.full(n, UNLABELLED, dtype=int)
    counts[list(labels)] = list(labels.values())
    return counts


def save_for_labelling(images, folder) -> Path:
    """Write each image (in [0, 1]) as folder/<sample>.png and a labels template folder/labels.csv to fill in."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    x = as_images(images, MIN_SIZE)
    for i, image in enumerate(x):
        with atomic(folder / f"{i:05d}.png") as tmp:
            Image.fromarray((255 * np.clip(image, 0, 1)).round().astype(np.uint8)).save(tmp, format="PNG")
    with atomic(folder / "labels.csv") as tmp:
        tmp.write_text("sample,fingers\n" + "".join(f"{i},\n" for i in range(len(x))))
    return folder


def _label_row(path, line, row):
    """(sample, fingers) of one labels row, with a ValueError naming the line."""
    text = ",".join(row)
    try:
        sample, fingers = (int(c) for c in row) if len(row) == 2 else (None, None)
    except ValueError:
        sample = None
    if sample is None:
        raise ValueError(f"{path}, line {line}: expected two integers 'sample,fingers'; got {text!r}")
    if sample < 0 or fingers < -1:
        raise ValueError(f"{path}, line {line}: sample must be >= 0 and fingers >= -1; got {text!r}")
    return sample, fingers
