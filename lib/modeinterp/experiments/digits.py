"""Handwritten digits for the recursive-training experiment: scikit-learn's 8x8 digits, or MNIST (IDX files).

The default, `load_digits()`, needs no network: the 1,797 8x8 digits ship inside scikit-learn. Real MNIST
(28x28, as in the paper) is read from its standard IDX files in a local folder; nothing is downloaded.
Images come back as float32 tensors N x 1 x H x W scaled to [-1, 1], labels as int64 tensors of length N.
"""
import gzip
import zlib
from pathlib import Path

import numpy as np
import sklearn.datasets
import torch

from ..support import params

MNIST_URL = "https://yann.lecun.com/exdb/mnist/"
IMAGES_MAGIC, LABELS_MAGIC = 0x00000803, 0x00000801  # uint8 (0x08), with 3 or 1 dimensions
_GZIP_MAGIC = b"\x1f\x8b"


def load_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's 8x8 digits: images N x 1 x 8 x 8 in [-1, 1] (from 0..16), labels 0..9."""
    data = sklearn.datasets.load_digits()
    images = torch.from_numpy(data.images.astype(np.float32) / 8.0 - 1.0)[:, None]
    return images, torch.from_numpy(data.target.astype(np.int64))


def load(name: str, folder=None) -> tuple[torch.Tensor, torch.Tensor]:
    """The training set by name: 'digits' (8x8, bundled; `folder` ignored) or 'mnist' (28x28, in `folder`)."""
    params.choice("dataset", name, ("digits", "mnist"))
    if name == "digits":
        return load_digits()
    if folder is None:
        params.fail("folder", "the folder holding the MNIST IDX files when dataset is 'mnist'", folder)
    return load_mnist(folder)


def check_dataset(name: str, folder) -> None:
    """Check the parameters `dataset` and `mnist_dir` before any compute: for 'mnist', MNIST's training files in
    `folder` are read (readable, consistent); nothing is downloaded."""
    params.choice("dataset", name, ("digits", "mnist"))
    if name == "mnist":
        try:
            load_mnist(folder)
        except (OSError, ValueError) as e:
            params.fail("mnist_dir", "a folder holding MNIST's IDX files (train-images-idx3-ubyte and "
                        "train-labels-idx1-ubyte, plain or .gz; nothing is downloaded)", str(Path(folder).resolve()),
                        because=str(e))


def load_mnist(folder, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST from its IDX files in `folder` (plain or .gz): images N x 1 x 28 x 28 in [-1, 1], labels 0..9."""
    params.choice("split", split, ("train", "test"))
    prefix = "train" if split == "train" else "t10k"
    image_path = _find(Path(folder), f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte")
    label_path = _find(Path(folder), f"{prefix}-labels-idx1-ubyte", f"{prefix}-images-idx3-ubyte")
    images, labels = read_idx(image_path), read_idx(label_path)
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"{image_path}: expected 28 x 28 images; got an array of shape {images.shape}")
    if labels.ndim != 1 or labels.max(initial=0) > 9:
        raise ValueError(f"{label_path}: expected a 1-d array of digit labels 0..9; got shape {labels.shape}")
    if len(images) != len(labels):
        raise ValueError(f"{image_path} holds {len(images)} images but {label_path} holds "
                         f"{len(labels)} labels")
    x = torch.from_numpy(images.astype(np.float32) / 127.5 - 1.0)[:, None]
    return x, torch.from_numpy(labels.astype(np.int64))


def _find(folder: Path, name: str, partner: str) -> Path:
    """`folder/name` or `folder/name.gz`; a FileNotFoundError saying what to put where if neither exists."""
    for path in (folder / name, folder / f"{name}.gz"):
        if path.is_file():
            return path
    folder = folder.resolve()
    where = "the folder" if folder.is_dir() else "the folder, which does not exist,"
    raise FileNotFoundError(
        f"MNIST file {name} (or {name}.gz) not found in {where} {folder}. Expected {name} and {partner} "
        f"(plain or .gz) there. MNIST is at {MNIST_URL} (or any mirror) and must be put there by hand: "
        "nothing is downloaded.")


def read_idx(path) -> np.ndarray:
    """A uint8 array from an IDX file (images 0x00000803: n x rows x cols; labels 0x00000801: n), or a .gz."""
    path = Path(path)
    data = path.read_bytes()
    try:
        data = gzip.decompress(data) if data[:2] == _GZIP_MAGIC else data
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise ValueError(f"{path}: not a readable gzip file (truncated?): {e}") from None
    if len(data) < 4:
        raise ValueError(f"{path}: truncated IDX file ({len(data)} bytes, no header)")
    magic = int.from_bytes(data[:4], "big")
    ndim = magic & 0xFF
    if magic >> 8 != 0x08 or not 1 <= ndim <= 3:
        raise ValueError(f"{path}: bad IDX magic number 0x{magic:08x}; expected "
                         f"0x{IMAGES_MAGIC:08x} (images) or 0x{LABELS_MAGIC:08x} (labels)")
    if len(data) < 4 + 4 * ndim:
        raise ValueError(f"{path}: truncated IDX file ({len(data)} bytes, header incomplete)")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    body = data[4 + 4 * ndim:]
    if len(body) != int(np.prod(shape)):
        raise ValueError(f"{path}: truncated or oversized IDX file: header says shape {shape} "
                         f"({int(np.prod(shape))} bytes of data) but {len(body)} bytes follow")
    return np.frombuffer(body, dtype=np.uint8).reshape(shape).copy()


def write_idx(path, array) -> Path:
    """Write a uint8 array (1 to 3 dimensions) as an IDX file, gzipped if `path` ends in .gz (for tests)."""
    array = np.asarray(array)
    if array.dtype != np.uint8 or not 1 <= array.ndim <= 3:
        raise ValueError(f"write_idx needs a uint8 array with 1 to 3 dimensions; got {array.dtype} "
                         f"{array.shape}")
    header = (0x0800 | array.ndim).to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in array.shape)
    data = header + np.ascontiguousarray(array).tobytes()
    path = Path(path)
    path.write_bytes(gzip.compress(data, mtime=0) if path.name.endswith(".gz") else data)
    return path
