"""The digit datasets: sklearn's 8x8 digits, IDX files (plain and gzipped) and MNIST read from a folder."""
import gzip

import numpy as np
import pytest
import torch

from modeinterp.experiments import digits
from modeinterp.support.params import ParameterError

from modeinterp.experiments.quality import holdout


def write_mnist(folder, n=50, split="train", gz=False, n_labels=None):
    """Small MNIST-like IDX files in `folder`; returns the uint8 images and labels written."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, n if n_labels is None else n_labels, dtype=np.uint8)
    prefix, ext = ("train" if split == "train" else "t10k"), (".gz" if gz else "")
    digits.write_idx(folder / f"{prefix}-images-idx3-ubyte{ext}", images)
    digits.write_idx(folder / f"{prefix}-labels-idx1-ubyte{ext}", labels)
    return images, labels


def test_load_digits_shape_range_and_labels():
    x, y = digits.load_digits()
    assert x.shape == (1797, 1, 8, 8) and x.dtype == torch.float32
    assert x.min() == -1 and x.max() == 1
    assert y.shape == (1797,) and y.dtype == torch.int64
    assert sorted(y.unique().tolist()) == list(range(10))


@pytest.mark.parametrize("name", ["a-idx3-ubyte", "a-idx3-ubyte.gz"])
def test_idx_round_trip(tmp_path, name):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    labels = np.array([7, 0, 255], dtype=np.uint8)
    assert np.array_equal(digits.read_idx(digits.write_idx(tmp_path / name, images)), images)
    assert np.array_equal(digits.read_idx(digits.write_idx(tmp_path / ("l" + name), labels)), labels)
    if name.endswith(".gz"):
        assert gzip.decompress((tmp_path / name).read_bytes())[:4] == b"\x00\x00\x08\x03"


def test_gzipped_content_is_read_whatever_the_name(tmp_path):
    labels = np.array([1, 2, 3], dtype=np.uint8)
    data = gzip.decompress(digits.write_idx(tmp_path / "x.gz", labels).read_bytes())
    (tmp_path / "plain").write_bytes(gzip.compress(data))
    assert np.array_equal(digits.read_idx(tmp_path / "plain"), labels)


def test_bad_magic_and_truncated_files_are_errors_naming_the_file(tmp_path):
    bad = tmp_path / "bad-idx"
    bad.write_bytes(b"\x00\x00\x0d\x03" + b"\x00" * 20)
    with pytest.raises(ValueError, match=r"bad-idx: bad IDX magic number 0x00000d03"):
        digits.read_idx(bad)
    good = digits.write_idx(tmp_path / "short-idx", np.zeros((4, 5, 5), np.uint8)).read_bytes()
    (tmp_path / "short-idx").write_bytes(good[:-1])
    with pytest.raises(ValueError, match="short-idx: truncated"):
        digits.read_idx(tmp_path / "short-idx")
    (tmp_path / "head-idx").write_bytes(good[:6])
    with pytest.raises(ValueError, match="head-idx: truncated"):
        digits.read_idx(tmp_path / "head-idx")
    zipped = digits.write_idx(tmp_path / "cut.gz", np.zeros((4, 5, 5), np.uint8)).read_bytes()
    (tmp_path / "cut.gz").write_bytes(zipped[:-6])
    with pytest.raises(ValueError, match="cut.gz"):
        digits.read_idx(tmp_path / "cut.gz")


def test_write_idx_rejects_what_idx_cannot_hold(tmp_path):
    with pytest.raises(ValueError, match="uint8"):
        digits.write_idx(tmp_path / "f", np.zeros(3, np.float32))


@pytest.mark.parametrize("split,gz", [("train", False), ("train", True), ("test", False)])
def test_load_mnist_from_small_idx_files(tmp_path, split, gz):
    images, labels = write_mnist(tmp_path, split=split, gz=gz)
    x, y = digits.load_mnist(tmp_path, split)
    assert x.shape == (50, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert x.min() >= -1 and x.max() <= 1
    assert torch.allclose(x[:, 0], torch.from_numpy(images).float() / 127.5 - 1)
    assert y.tolist() == labels.tolist()
    if split == "train":
        assert torch.equal(digits.load("mnist", tmp_path)[0], x)


def test_missing_mnist_says_what_to_put_where(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte.*does not exist") as e:
        digits.load_mnist(tmp_path / "nowhere")
    assert "yann.lecun.com/exdb/mnist" in str(e.value) and "nothing is downloaded" in str(e.value)
    digits.write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
        digits.load_mnist(tmp_path, "test")


def test_mismatched_mnist_counts_are_an_error(tmp_path):
    write_mnist(tmp_path, n=50, n_labels=49)
    with pytest.raises(ValueError, match="50 images but .* 49 labels"):
        digits.load_mnist(tmp_path)


def test_load_validates_its_parameters(tmp_path):
    with pytest.raises(ParameterError, match="parameter 'dataset' must be one of 'digits', 'mnist'; got 'x'"):
        digits.load("x")
    with pytest.raises(ParameterError, match="parameter 'folder'"):
        digits.load("mnist")
    with pytest.raises(ParameterError, match="parameter 'split'"):
        digits.load_mnist(tmp_path, "valid")
    assert digits.load("digits")[0].shape == (1797, 1, 8, 8)


def test_holdout_is_seeded_and_disjoint():
    x, y = torch.arange(100.0)[:, None], torch.arange(100)
    a = holdout(x, y, seed=3)
    assert [len(t) for t in a] == [80, 80, 20, 20]
    assert torch.equal(a[2], holdout(x, y, seed=3)[2])
    assert not torch.equal(a[2], holdout(x, y, seed=4)[2])
    assert sorted(torch.cat([a[1], a[3]]).tolist()) == list(range(100))


def test_mnist_images_of_another_size_are_an_error(tmp_path):
    digits.write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((3, 8, 8), np.uint8))
    digits.write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(3, np.uint8))
    with pytest.raises(ValueError, match="train-images-idx3-ubyte: expected 28 x 28 images"):
        digits.load_mnist(tmp_path)


def test_the_mnist_check_reads_the_folder_before_any_compute(tmp_path):
    """An empty folder, a missing folder, or a truncated file fails the check of `mnist_dir`, with its absolute
    path; a readable MNIST (or the bundled digits) passes."""
    digits.check_dataset("digits", tmp_path / "nowhere")  # the folder is not used
    for folder in (tmp_path, tmp_path / "nowhere"):
        with pytest.raises(ParameterError) as e:
            digits.check_dataset("mnist", folder)
        message = str(e.value)
        assert message.startswith("parameter 'mnist_dir' must be a folder holding MNIST's IDX files")
        assert f"got '{folder.resolve()}'" in message and "train-images-idx3-ubyte" in message
        assert "nothing is downloaded" in message and "\n" not in message
    write_mnist(tmp_path)
    digits.check_dataset("mnist", tmp_path)
    image_file = tmp_path / "train-images-idx3-ubyte"
    image_file.write_bytes(image_file.read_bytes()[:-100])
    with pytest.raises(ParameterError, match="mnist_dir.*truncated"):
        digits.check_dataset("mnist", tmp_path)
    with pytest.raises(ParameterError, match="dataset"):
        digits.check_dataset("cifar", tmp_path)
