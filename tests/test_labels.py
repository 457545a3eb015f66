"""Hand labels: the labels file's format and errors, and the round trip through save_for_labelling."""
import pytest

from modeinterp.experiments import hands, labels
from modeinterp.support.params import ParameterError


def test_read_labels(tmp_path):
    good = tmp_path / "labels.csv"
    good.write_text("sample,fingers\n0,5\n3,6\n7,-1\n\n12,4\n")
    assert labels.read_labels(good) == {0: 5, 3: 6, 7: -1, 12: 4}
    bad = {"sample,count\n0,5\n": "line 1", "": "line 1", "sample,fingers\n0,5\n1,five\n": "line 3",
           "sample,fingers\n0,5\n1,5,2\n": "line 3", "sample,fingers\n0,5\n0,4\n": "line 3",
           "sample,fingers\n-1,5\n": "line 2", "sample,fingers\n0,-2\n": "line 2"}
    for text, line in bad.items():
        good.write_text(text)
        with pytest.raises(ValueError, match=line):
            labels.read_labels(good)


def test_labelling_round_trip(tmp_path):
    images, _ = hands.make_hands(3, seed=0)
    folder = labels.save_for_labelling(images, tmp_path / "samples")
    assert sorted(p.name for p in folder.glob("*.png")) == ["00000.png", "00001.png", "00002.png"]
    template = (folder / "labels.csv").read_text()
    assert labels.read_labels(folder / "labels.csv") == {}  # nothing labelled yet
    (folder / "labels.csv").write_text(template.replace("0,\n", "0,5\n").replace("2,\n", "2,6\n"))
    counts = labels.label_counts(labels.read_labels(folder / "labels.csv"), 3)
    assert counts.tolist() == [5, labels.UNLABELLED, 6]
    with pytest.raises(ValueError, match="outside"):
        labels.label_counts({7: 5}, 3)


def test_the_labels_file_is_checked_before_any_compute(tmp_path):
    path = tmp_path / "labels.csv"
    labels.check_file("", 10)  # no labels yet
    for text, why in [(None, "No such file"), ("sample,count\n", "line 1"), ("sample,fingers\n12,5\n", "outside 0..9")]:
        if text is not None:
            path.write_text(text)
        with pytest.raises(ParameterError) as e:
            labels.check_file(str(path), 10)
        assert str(e.value).startswith(f"parameter 'labels_file' must be a CSV 'sample,fingers' of samples "
                                       f"0..n_samples-1, or empty; got '{path}'") and why in str(e.value)
    path.write_text("sample,fingers\n9,5\n")
    labels.check_file(str(path), 10)
