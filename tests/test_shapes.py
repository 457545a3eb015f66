"""The simple-shapes generator and the shape counter: known answers from the construction."""
import math

import numpy as np
import pytest
from scipy import ndimage

from modeinterp.experiments import pixels, shapes

N = 5000
EIGHT = np.ones((3, 3), bool)


@pytest.fixture(scope="module")
def data():
    """5,000 training images at the paper's 64 x 64, their metadata and the counter's reading."""
    images, meta = shapes.make_shapes(N, seed=0)
    counts, labels = shapes.count_shapes(images)
    return images, meta, counts, labels


def test_documented_sizes_and_areas():
    assert shapes.shape_areas(64).tolist() == [64, 64, 70]
    assert {k: v.shape for k, v in shapes.shape_stamps(64).items()} == \
        {"triangle": (10, 12), "square": (8, 8), "pentagon": (10, 9)}
    triangle = shapes.shape_stamps(64)["triangle"]
    assert triangle[0].all() and triangle[-1].sum() == 2  # pointing down
    for stamp in shapes.shape_stamps(64).values():
        assert (stamp == stamp[:, ::-1]).all() or (stamp == stamp[::-1]).all()  # one mirror symmetry
    assert shapes.shape_areas(32).tolist() == [16, 16, 18]


def test_deterministic_per_seed_and_different_across_seeds():
    a, meta_a = shapes.make_shapes(200, seed=7)
    b, meta_b = shapes.make_shapes(200, seed=7)
    c, _ = shapes.make_shapes(200, seed=8)
    assert np.array_equal(a, b) and meta_a == meta_b
    assert not np.array_equal(a, c)
    assert a.dtype == np.float32 and a.shape == (200, 64, 64) and set(np.unique(a)) == {0.0, 1.0}


def test_every_image_holds_one_to_three_whole_shapes_in_their_own_strips(data):
    images, meta, _, _ = data
    present = shapes.counts_from_metadata(meta)
    assert present.sum(1).min() == 1 and present.sum(1).max() == 3  # no all-black image
    areas = shapes.shape_areas(64)
    assert 60 <= areas.min() and areas.max() <= 70
    # each strip holds exactly its kind's area, or nothing
    assert np.array_equal(pixels.strip_foreground_pixels(images), present * areas)
    assert np.array_equal(pixels.foreground_pixels(images), present @ areas)
    # each shape is one 8-connected component, so components = shapes
    structure = np.pad(EIGHT[None], ((1, 1), (0, 0), (0, 0)))
    assert ndimage.label(images > 0.5, structure=structure)[1] == present.sum()
    # the 1 px margins: strip borders, the canvas border and the padding row/column stay black
    assert images[:, :, [0, 20, 21, 41, 42, 62, 63]].max() == 0 and images[:, [0, 62, 63]].max() == 0
    for i, m in enumerate(meta):
        for k, kind in enumerate(shapes.KINDS):
            if kind in m:
                assert 21 * k < m[kind][1] < 21 * (k + 1)
                assert images[i, int(m[kind][0]), int(m[kind][1])] == 1.0  # a convex shape holds its centre


def test_positions_cover_every_placement_in_the_strip(data):
    _, meta, _, _ = data
    rows = np.array([m["square"][0] for m in meta if "square" in m])
    cols = np.array([m["square"][1] for m in meta if "square" in m])
    # top-left row in 1..54 and column in 22..33, centre 3.5 further: every placement appears in 5,000 images
    assert np.array_equal(np.unique(rows), np.arange(1, 55) + 3.5)
    assert np.array_equal(np.unique(cols), np.arange(22, 34) + 3.5)


def test_presence_frequencies_match_the_rejection_construction(data):
    _, meta, _, _ = data
    present = shapes.counts_from_metadata(meta)
    se = math.sqrt(4 / 7 * 3 / 7 / N)
    assert np.all(np.abs(present.mean(0) - 4 / 7) < 4 * se)  # P(present | not all absent) = 0.5 / (1 - 1/8)
    per_count = np.bincount(present.sum(1), minlength=4)[1:] / N  # 1, 2, 3 shapes: 3/7, 3/7, 1/7
    expected = np.array([3, 3, 1]) / 7
    assert np.all(np.abs(per_count - expected) < 4 * np.sqrt(expected * (1 - expected) / N))


def test_counter_reads_every_training_image(data):
    _, meta, counts, labels = data
    assert np.array_equal(counts, shapes.counts_from_metadata(meta))
    assert (labels == "in_support").all()
    assert not shapes.hallucinated(data[0][:100]).any()


@pytest.mark.parametrize("size", [32, 48])
def test_counter_reads_training_images_at_other_sizes(size):
    images, meta = shapes.make_shapes(1000, seed=1, size=size)
    counts, labels = shapes.count_shapes(images[:, None])  # a channel axis is accepted
    assert np.array_equal(counts, shapes.counts_from_metadata(meta)) and (labels == "in_support").all()


def test_two_squares_in_the_square_strip_are_hallucinated(data):
    images, meta, _, _ = data
    with_square = [i for i, m in enumerate(meta) if "square" in m]
    i = with_square[0]
    j = next(j for j in with_square if abs(meta[j]["square"][0] - meta[i]["square"][0]) >= 10)
    x = images[i].copy()
    x[:, 21:42] = np.maximum(x[:, 21:42], images[j][:, 21:42])  # paste j's square next to i's
    counts, labels = shapes.count_shapes(x[None])
    assert counts[0].tolist() == [int("triangle" in meta[i]), 2, int("pentagon" in meta[i])]
    assert labels.tolist() == ["hallucinated"] and shapes.hallucinated(x[None]).tolist() == [True]


def test_touching_copies_are_a_merge_counted_as_two():
    x = np.zeros((1, 64, 64), np.float32)
    square = shapes.shape_stamps(64)["square"]
    x[0, 10:18, 25:33][square] = 1
    x[0, 18:26, 25:33][square] = 1  # an 8 x 16 blob: 128 px > 1.5 * 64
    counts, labels = shapes.count_shapes(x)
    assert counts.tolist() == [[0, 2, 0]] and labels.tolist() == ["hallucinated"]


def test_empty_and_straddling_images_are_invalid():
    x = np.zeros((2, 64, 64), np.float32)
    x[1, 30:38, 17:25] = 1  # a square across the triangle | square border
    counts, labels = shapes.count_shapes(x)
    assert counts.tolist() == [[0, 0, 0], [0, 0, 0]] and labels.tolist() == ["invalid", "invalid"]
    assert shapes.count_shapes(x[:1])[1].tolist() == ["invalid"]  # a batch without any component


def test_noise_threshold_is_a_quarter_of_the_smallest_shape():
    x = np.zeros((2, 64, 64), np.float32)
    x[0, 30:33, 25:30] = 1  # 15 px: noise, so the image is empty
    x[1, 30:34, 25:29] = 1  # 16 px: a shape
    counts, labels = shapes.count_shapes(x)
    assert counts.tolist() == [[0, 0, 0], [0, 1, 0]] and labels.tolist() == ["invalid", "in_support"]


def test_small_isolated_noise_is_ignored(data):
    images, meta, _, _ = data
    x = images[:500].copy()
    x[:, 0, [3, 30, 50]] = 1  # single pixels in the empty top row
    x[:, 62:64, 10:12] = 1  # a 2 x 2 blob in the empty bottom rows
    x[:, 62:64, 40:45] = 1  # a 10 px blob across the square | pentagon border: noise, not a straddling shape
    counts, labels = shapes.count_shapes(x)
    assert np.array_equal(counts, shapes.counts_from_metadata(meta[:500])) and (labels == "in_support").all()
    noisy = images + np.random.default_rng(1).normal(0, 0.2, images.shape).astype(np.float32)
    assert (pixels.foreground_pixels(noisy) > pixels.foreground_pixels(images)).mean() > 0.9  # noise is there
    counts, labels = shapes.count_shapes(noisy)
    assert np.mean((counts == shapes.counts_from_metadata(meta)).all(1)) > 0.99


@pytest.mark.parametrize("call, message", [
    (lambda: shapes.make_shapes(0, seed=0), "parameter 'n' must be an integer in [1, inf]; got 0"),
    (lambda: shapes.make_shapes(-3, seed=0), "parameter 'n' must be an integer in [1, inf]; got -3"),
    (lambda: shapes.make_shapes(2.5, seed=0), "parameter 'n' must be an integer; got 2.5"),
    (lambda: shapes.make_shapes(5, 0, size=31), "parameter 'size' must be an integer in [32, inf]; got 31"),
    (lambda: shapes.make_shapes(5, seed=-1), "parameter 'seed' must be an integer in [0, inf]; got -1"),
    (lambda: shapes.count_shapes(np.zeros((64, 64))), "images must be n x size x size"),
    (lambda: shapes.count_shapes(np.zeros((2, 16, 16))), "with size >= 32; got shape (2, 16, 16)"),
])
def test_bad_parameters_are_clear_errors(call, message):
    with pytest.raises(ValueError) as e:
        call()
    assert message in str(e.value)


def test_threshold_moves_count_the_labels_each_step_changes(data):
    images = data[0][:200]
    rows = shapes.threshold_moves(images)
    assert [(r["threshold"], r["value"]) for r in rows] == [("foreground", 0.4), ("foreground", 0.6),
                                                            ("noise_fraction", 0.125), ("noise_fraction", 0.375),
                                                            ("merge_factor", 1.25), ("merge_factor", 1.75)]
    assert all(r["moved"] == 0 and r["n"] == 200 for r in rows)  # drawn images sit far from every threshold
    x = np.zeros((1, 64, 64), np.float32)
    x[0, 10:18, 25:36] = 1  # an 8 x 11 blob: 88 px, between 1.25 and 1.5 squares
    moved = {(r["threshold"], r["value"]): r for r in shapes.threshold_moves(x)}
    assert moved[("merge_factor", 1.25)]["moves"] == {"in_support -> hallucinated": 1}
    assert moved[("merge_factor", 1.75)]["moved"] == 0


def test_invalid_images_are_told_apart_by_reason():
    x = np.zeros((4, 64, 64), np.float32)
    x[1, 30:38, 17:25] = 1  # one square across the triangle | square border
    x[2, 30:50, 15:30] = 1  # a 300 px blob across it
    x[3, 30:38, 25:33] = 1  # a square where it belongs: not invalid
    assert shapes.invalid_reasons(x) == {"one shape across a strip border": 1, "larger blob across strips": 1,
                                         "no shape": 1}
