"""The procedural hands, the finger counter and the 11k Hands loader: known answers from the construction."""
import csv

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from modeinterp.experiments import hands, pixels
from modeinterp.support.params import ParameterError

EIGHT = np.ones((3, 3), bool)


@pytest.fixture(scope="module")
def five():
    """2,000 five-finger training hands at the default size 32 and their metadata."""
    return hands.make_hands(2000, seed=0)


def star(angles, size=32, palm=5.0, reach=12.0, half_width=1.2):
    """A disc with straight spokes at `angles` (degrees clockwise from up), drawn without the generator."""
    rows, cols = np.mgrid[0:size, 0:size] + 0.5
    y, x = size / 2 - rows, cols - size / 2
    image = np.hypot(x, y) <= palm
    for angle in np.radians(angles):
        along = x * np.sin(angle) + y * np.cos(angle)
        across = x * np.cos(angle) - y * np.sin(angle)
        image |= (along >= 0) & (along <= reach) & (np.abs(across) <= half_width)
    return image.astype(np.float32)[None]


def test_deterministic_per_seed_and_different_across_seeds():
    a, meta_a = hands.make_hands(50, seed=7)
    b, meta_b = hands.make_hands(50, seed=7)
    c, meta_c = hands.make_hands(50, seed=8)
    assert np.array_equal(a, b) and meta_a == meta_b
    assert not np.array_equal(a, c) and meta_a != meta_c


def test_shapes_dtype_range_and_anti_aliasing(five):
    images, meta = five
    assert images.shape == (2000, 32, 32) and images.dtype == np.float32 and len(meta) == 2000
    assert images.min() == 0 and images.max() == 1
    grey = (images > 0) & (images < 1)
    assert grey.any(1).any(1).all()  # every hand has anti-aliased edges
    assert (images == 1).sum((1, 2)).min() > 40  # and a solid interior
    x64, _ = hands.make_hands(3, seed=0, size=64)
    assert x64.shape == (3, 64, 64) and x64.dtype == np.float32 and 0 <= x64.min() and x64.max() == 1


def test_every_hand_is_one_component_inside_the_canvas(five):
    images, _ = five
    border = np.concatenate([images[:, 0], images[:, -1], images[:, :, 0], images[:, :, -1]], 1)
    assert border.max() == 0  # the 1 px margin
    structure = np.pad(EIGHT[None], ((1, 1), (0, 0), (0, 0)))
    assert ndimage.label(images > 0.5, structure=structure)[1] == len(images)
    area = pixels.foreground_pixels(images)
    assert np.array_equal(area, (images > 0.5).sum((1, 2))) and 100 < area.min() and area.max() < 400


def test_metadata_covers_the_documented_ranges(five):
    _, meta = five
    assert {m["fingers"] for m in meta} == {5} and {len(m["widths"]) for m in meta} == {5}
    sides = [m["hand"] for m in meta]
    assert 0.45 < sides.count("left") / len(sides) < 0.55 and set(sides) == {"left", "right"}
    rotation = np.array([m["rotation"] for m in meta])
    assert np.abs(rotation).max() <= hands.ROTATION and rotation.min() < -28 and rotation.max() > 28
    a = np.array([m["palm"][0] for m in meta])
    assert hands.PALM_HALF_WIDTH[0] <= a.min() and a.max() <= hands.PALM_HALF_WIDTH[1]
    widths = np.array([m["widths"] for m in meta])
    assert widths.min() >= 2.0 and (widths[:, 0] > widths[:, 1:].mean(1)).all()  # the thumb is thicker
    length = np.array([np.hypot(*(np.array(m["ends"]) - m["starts"]).T) for m in meta])
    assert (length[:, 0] < length[:, 1:].max(1)).all()  # and shorter than the longest finger
    centres = np.array([m["centre"] for m in meta])
    assert np.ptp(centres, 0).min() > 5  # positions vary


def test_thumb_side_follows_the_hand(five):
    _, meta = five
    for m in meta[:200]:
        starts, ends, _ = hands._placed_fingers(m)
        thumb_right = ends[0][0] > m["centre"][1]  # image column of the thumb tip vs the palm centre
        assert thumb_right == (m["hand"] == "left")  # a right hand seen from the back: thumb on the left


def test_counter_reads_every_five_finger_hand(five):
    images, _ = five
    counts = hands.count_fingers(images)
    assert counts.dtype.kind == "i" and np.array_equal(counts, np.full(2000, 5))
    assert not hands.hand_labels(counts).any()
    assert np.array_equal(hands.count_fingers(images[:50, None]), counts[:50])  # a channel axis is accepted


def test_counter_reads_five_finger_hands_at_size_64():
    images, meta = hands.make_hands(500, seed=1, size=64)
    assert meta[0]["scale"] == 2 and np.array_equal(hands.count_fingers(images), np.full(500, 5))


@pytest.mark.parametrize("fingers", [4, 6])
def test_counter_reads_four_and_six_finger_hands(fingers):
    images, meta = hands.make_hands(300, seed=2, fingers=fingers)
    assert {m["fingers"] for m in meta} == {fingers}
    counts = hands.count_fingers(images)
    assert np.array_equal(counts, np.full(300, fingers)) and hands.hand_labels(counts).all()


def test_fingers_as_an_array():
    fingers = np.array([3, 4, 5, 6, 7] * 20)
    images, meta = hands.make_hands(100, seed=3, fingers=fingers)
    assert [m["fingers"] for m in meta] == fingers.tolist()
    assert np.array_equal(hands.count_fingers(images), fingers)
    same, _ = hands.make_hands(100, seed=3, fingers=fingers.tolist())  # a list works too
    assert np.array_equal(images, same)


@pytest.mark.parametrize("angles", [[0, 40, 80, 120, 160], [-90, -45, 0, 45, 90, 135], [0], [180, 300]])
def test_counter_on_drawn_stars_including_a_spoke_across_angle_zero(angles):
    assert hands.count_fingers(star(angles)).tolist() == [len(angles)]


def test_unreadable_images_and_noise():
    blank = np.zeros((1, 32, 32), np.float32)
    speck = blank.copy()
    speck[0, 10:13, 10:13] = 1  # palm radius 2 px: no hand
    assert hands.count_fingers(np.concatenate([blank, speck])).tolist() == [-1, -1]
    x = star([-60, -20, 20, 60, 100])
    x[0, 29:31, 1:3] = 1  # a detached blob: not the largest component
    assert hands.count_fingers(x).tolist() == [5]
    assert hands.count_fingers(star([-60, -20, 20, 60])).tolist() == [4]


def test_hand_labels():
    labels = hands.hand_labels(np.array([5, 4, 6, -1, 5, 0]))
    assert labels.dtype == bool and labels.tolist() == [False, True, True, True, False, True]
    assert hands.hand_labels([5]).tolist() == [False]


@pytest.fixture(scope="module")
def wide():
    """Hands of 3 to 7 fingers at 64x64 with fingers at least 3 px apart, and their metadata."""
    return hands.make_hands(250, seed=4, size=64, fingers=np.tile([3, 4, 5, 6, 7], 50), min_gap=3.0)


def finger_gaps(meta, size):
    """The smallest distance (px) between neighbouring fingers along the nominal counting circles, per hand."""
    s = size / hands.UNIT
    gaps = []
    for m in meta:
        a = m["palm"][0] / s
        rho = np.linspace(hands.COUNT_RADII[0] * a, hands.COUNT_RADII[-1] * a, 5)[:, None] * s
        t = np.radians(np.arange(0, 360, 1.0))[None]
        points = np.stack([rho * np.sin(t), rho * np.cos(t)], -1).reshape(-1, 2)
        clearance = hands._segment_distance(points, np.array(m["starts"]), np.array(m["ends"])) - np.array(m["widths"])[:, None] / 2
        gaps.append(2 * np.sort(clearance, 0)[1].min())
    return np.array(gaps)


def test_min_gap_keeps_fingers_apart_and_its_default_is_the_old_drawing(wide):
    _, meta = wide
    assert finger_gaps(meta, 64).min() >= 3.0 and min(min(m["widths"]) for m in meta) >= 3.0
    default, meta_default = hands.make_hands(200, seed=5, size=64)
    assert 2.0 <= finger_gaps(meta_default, 64).min() < 3.0  # the old drawing: MIN_GAP x 2 px at 64
    same, _ = hands.make_hands(200, seed=5, size=64, min_gap=2.0)
    assert np.array_equal(default, same)


def test_both_counters_read_every_wide_hand(wide):
    images, meta = wide
    fingers = np.array([m["fingers"] for m in meta])
    counts, labels = hands.read_hands(images)
    assert np.array_equal(counts, np.stack([fingers, fingers], 1))
    assert labels.tolist() == ["in_support" if k == 5 else "hallucinated" for k in fingers]


def test_second_counter_on_drawn_stars_and_unreadable_images():
    assert hands.count_fingers_opened(star([-90, -45, 0, 45, 90, 135], size=64, palm=10, reach=24, half_width=2.4)).tolist() == [6]
    assert hands.count_fingers_opened(star([0, 40, 80, 120, 160], size=64, palm=10, reach=24, half_width=2.4)).tolist() == [5]
    blank = np.zeros((2, 64, 64), np.float32)
    blank[1, 20:25, 20:25] = 1  # no disk of radius 5 px fits: no palm
    assert hands.count_fingers_opened(blank).tolist() == [-1, -1]


def test_readings_of_two_counts():
    counts = np.array([[5, 5], [4, 4], [6, 6], [5, 4], [-1, 5], [5, -1], [0, 0]])
    assert hands._reading(counts).tolist() == ["in_support", "hallucinated", "hallucinated", "disagree",
                                                "unreadable", "unreadable", "hallucinated"]
    assert set(hands.READINGS) >= set(hands._reading(counts))


def test_threshold_moves_one_row_per_threshold_and_direction(wide):
    images, _ = wide
    rows = hands.threshold_moves(images[:40])
    assert len(rows) == 2 * len(hands.THRESHOLD_STEPS) and all(r["n"] == 40 for r in rows)
    assert all(r["moved"] == sum(r["moves"].values()) for r in rows)
    border = [r for r in rows if r["threshold"] == "border" and r["value"] < hands.OPEN_BORDER][0]
    assert border["value"] == 0.5 and border["counter"] == "opening"


@pytest.mark.parametrize("call, name", [
    (lambda: hands.make_hands(5, 0, size=64, min_gap=1.0), "min_gap"),
    (lambda: hands.make_hands(5, 0, size=64, min_gap=5.0), "min_gap"),
    (lambda: hands.make_hands(5, 0, size=64, min_gap="3"), "min_gap"),
    (lambda: hands.make_hands(0, seed=0), "n"),
    (lambda: hands.make_hands(2.5, seed=0), "n"),
    (lambda: hands.make_hands(5, seed=-1), "seed"),
    (lambda: hands.make_hands(5, 0, size=16), "size"),
    (lambda: hands.make_hands(5, 0, size=40), "size"),
    (lambda: hands.make_hands(5, 0, size=32.0), "size"),
    (lambda: hands.make_hands(5, 0, fingers=0), "fingers"),
    (lambda: hands.make_hands(5, 0, fingers=8), "fingers"),
    (lambda: hands.make_hands(5, 0, fingers=5.0), "fingers"),
    (lambda: hands.make_hands(5, 0, fingers=True), "fingers"),
    (lambda: hands.make_hands(5, 0, fingers=[5, 5]), "fingers"),
    (lambda: hands.make_hands(2, 0, fingers=[5, 9]), "fingers"),
    (lambda: hands.make_hands(2, 0, fingers=[5.0, 4.0]), "fingers"),
    (lambda: hands.load_11k_hands("nowhere", aspect="side"), "aspect"),
    (lambda: hands.load_11k_hands("nowhere", n=0), "n"),
    (lambda: hands.load_11k_hands("nowhere", size=4), "size"),
])
def test_bad_parameters_are_clear_errors(call, name):
    with pytest.raises(ParameterError, match=f"^parameter '{name}' must be .*; got "):
        call()


# ---- 11k Hands, on a tiny fake copy in its distributed layout

ROWS = [  # id, aspectOfHand, accessories; the image of row i is a flat grey of level 20 * (i + 1)
    (0, "dorsal right", 0), (1, "dorsal left", 0), (2, "palmar right", 0), (3, "dorsal right", 1),
    (4, "palmar left", 0), (5, "dorsal left", 0), (6, "dorsal right", 0), (7, "palmar right", 1),
    (8, "dorsal left", 0),
]


@pytest.fixture
def fake_11k(tmp_path):
    """HandInfo.csv with the real columns and small landscape JPEGs of flat grey levels in Hands/."""
    (tmp_path / "Hands").mkdir()
    columns = ["id", "age", "gender", "skinColor", "accessories", "nailPolish", "aspectOfHand", "imageName",
               "irregularities"]
    with open(tmp_path / "HandInfo.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(columns)
        for i, aspect, accessories in ROWS:
            name = f"Hand_{i:07d}.jpg"
            w.writerow([i, 23, "male", "fair", accessories, 0, aspect, name, 0])
            rgb = np.full((30, 40, 3), [20 * (i + 1), 20 * (i + 1), 20 * (i + 1)], np.uint8)
            Image.fromarray(rgb).save(tmp_path / "Hands" / name, quality=95)
    return tmp_path


def names(aspect, accessories=0):
    return [f"Hand_{i:07d}.jpg" for i, a, acc in ROWS if (aspect is None or a.startswith(aspect))
            and acc == accessories]


def test_load_11k_hands_filters_resizes_and_scales(fake_11k):
    images, got = hands.load_11k_hands(fake_11k, size=16)
    assert got == names("dorsal")  # dorsal, without accessories, in file order
    assert images.shape == (len(got), 16, 16) and images.dtype == np.float32
    assert 0 <= images.min() and images.max() <= 1
    levels = [20 * (int(name[5:12]) + 1) / 255 for name in got]
    assert np.allclose(images.mean((1, 2)), levels, atol=0.02)  # grayscale of the right file
    assert hands.load_11k_hands(fake_11k, size=16, aspect="palmar")[1] == names("palmar")
    assert hands.load_11k_hands(str(fake_11k), size=8, aspect=None)[1] == names(None)


def test_load_11k_hands_picks_n_by_seed(fake_11k):
    pool = names("dorsal")
    a, names_a = hands.load_11k_hands(fake_11k, n=2, size=8, seed=1)
    b, names_b = hands.load_11k_hands(fake_11k, n=2, size=8, seed=1)
    assert len(names_a) == 2 and set(names_a) <= set(pool) and names_a == sorted(names_a)
    assert names_a == names_b and np.array_equal(a, b)
    picks = {tuple(hands.load_11k_hands(fake_11k, n=2, size=8, seed=s)[1]) for s in range(10)}
    assert len(picks) > 1


def test_load_11k_hands_errors(fake_11k, tmp_path_factory):
    empty = tmp_path_factory.mktemp("empty")
    for folder in (empty / "missing", empty):
        with pytest.raises(FileNotFoundError) as e:
            hands.load_11k_hands(folder)
        message = str(e.value)
        assert hands.HANDS_URL in message and "HandInfo.csv" in message and "Hands/*.jpg" in message
    with open(fake_11k / "HandInfo.csv", "a", newline="") as f:
        csv.writer(f).writerow([9, 23, "male", "fair", 0, 0, "dorsal right", "Hand_0000009.jpg", 0])
    with pytest.raises(FileNotFoundError, match="Hand_0000009.jpg"):
        hands.load_11k_hands(fake_11k)
    (fake_11k / "HandInfo.csv").write_text("id,accessories,aspectOfHand,imageName\n1,1,dorsal right,a.jpg\n")
    with pytest.raises(ValueError, match="no 11k Hands image without accessories"):
        hands.load_11k_hands(fake_11k)


def test_the_11k_hands_check_reads_the_folder_before_any_compute(fake_11k, tmp_path_factory):
    """An empty folder, a HandInfo.csv listing a missing photograph, or procedural hands of a size they cannot be
    drawn at fail the check, naming the parameter (and the folder's absolute path)."""
    hands.check_dataset("11k", fake_11k, "dorsal")
    hands.check_dataset("procedural", "nowhere", "dorsal", 48)
    empty = tmp_path_factory.mktemp("empty")
    with pytest.raises(ParameterError) as e:
        hands.check_dataset("11k", empty, "dorsal")
    assert str(e.value).startswith("parameter 'hands_dir' must be a folder holding 11k Hands") and str(empty) in str(e.value)
    (fake_11k / "Hands" / "Hand_0000005.jpg").unlink()
    hands.check_dataset("11k", fake_11k, "palmar")  # the missing one is dorsal
    with pytest.raises(ParameterError, match=r"hands_dir.*1 of the 5 photographs .* e.g. Hand_0000005.jpg"):
        hands.check_dataset("11k", fake_11k, "dorsal")
    with pytest.raises(ParameterError, match="parameter 'size' must be a multiple of 16"):
        hands.check_dataset("procedural", "nowhere", "dorsal", 40)
    with pytest.raises(ParameterError, match="parameter 'dataset'"):
        hands.check_dataset("photos", fake_11k, "dorsal")


def test_read_samples_reads_a_samplers_output_as_read_hands_reads_the_images(wide):
    import torch
    images, _ = wide
    x0 = torch.from_numpy(pixels.to_signed(images[:20]))[:, None]
    counts, labels = hands.read_samples(x0)
    assert np.array_equal(counts, hands.read_hands(images[:20])[0]) and labels.shape == (20,)
