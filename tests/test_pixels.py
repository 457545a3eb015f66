"""Pixel helpers: value ranges, image arrays, strips and foreground counts on hand-made images."""
import numpy as np
import pytest

from modeinterp.experiments import pixels, shapes
from modeinterp.method import metric


def test_model_range_round_trip():
    images, _ = shapes.make_shapes(3, seed=0)
    signed = pixels.to_signed(images)
    assert signed.min() == -1 and signed.max() == 1
    assert np.array_equal(pixels.to_unit(signed), images)
    assert pixels.to_unit([[-3.0, 3.0]]).tolist() == [[0, 1]]


def test_strip_edges_give_the_last_strip_the_rest():
    assert metric.strip_edges(64, 3) == [0, 21, 42, 64]
    assert metric.strip_edges(32, 3) == [0, 10, 20, 32]
    assert metric.strip_edges(8, 1) == [0, 8]


def test_foreground_counts_per_image_and_per_strip():
    x = np.zeros((2, 1, 7, 7), np.float32)  # a channel axis of 1 is dropped
    x[0, 0, 0, [0, 1, 2, 6]] = 1.0  # strips of columns 0-1, 2-3, 4-6
    x[1, 0, 3, 3] = 0.5  # not above FOREGROUND
    assert pixels.foreground_pixels(x).tolist() == [4, 0]
    assert pixels.strip_foreground_pixels(x).tolist() == [[2, 1, 1], [0, 0, 0]]
    with pytest.raises(ValueError, match="with size >= 8; got shape"):
        pixels.as_images(x, min_size=8)


def test_label_moves_counts_each_change_by_its_pair():
    moved = pixels.label_moves(np.array(["a", "b", "b", "c"]), np.array(["a", "c", "c", "a"]))
    assert moved == {"moved": 3, "n": 4, "moves": {"b -> c": 2, "c -> a": 1}}
    assert pixels.label_moves([5, 4], [5, 4]) == {"moved": 0, "n": 2, "moves": {}}
