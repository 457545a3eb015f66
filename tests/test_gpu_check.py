"""The GPU check's settings (ci/gpu_check.yaml), stand-in data and noise check, without running a notebook."""
import sys
from pathlib import Path

import numpy as np
import papermill as pm
import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "ci"))
import gpu_check  # noqa: E402
import run_notebooks  # noqa: E402

from modeinterp.experiments import digits, hands, labels  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
OVERRIDES = gpu_check.overrides()
SET_BY_THE_RUNNER = {"device", "cache_dir", "out_dir", "hands_dir", "mnist_dir", "labels_file"}
TYPES = {"int": int, "float": (int, float), "bool": bool, "str": str, "list": list}


def test_every_notebook_has_an_entry_and_nothing_else_does():
    assert NOTEBOOKS
    assert set(OVERRIDES) == {p.stem for p in NOTEBOOKS}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_overrides_name_only_the_notebooks_parameters_with_their_types(path):
    known = pm.inspect_notebook(str(path))
    values = OVERRIDES[path.stem]
    assert values, "an empty entry would run the notebook at the paper's full scale"
    assert set(values) <= set(known), set(values) - set(known)
    assert not set(values) & SET_BY_THE_RUNNER, "device and folders are set by ci/gpu_check.py"
    for name, value in values.items():
        assert isinstance(value, TYPES[known[name]["inferred_type_name"]]), (name, value)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_point_every_folder_into_the_output_and_name_real_data(path, tmp_path):
    params = gpu_check.parameters(path, OVERRIDES, "cuda", tmp_path)
    run_notebooks.check_names(path, params)  # exits if a name is unknown
    known = pm.inspect_notebook(str(path))
    assert params.get("device") == ("cuda" if "device" in known else None)  # notebook 06 runs nothing on one
    assert Path(params.get("cache_dir", tmp_path / "models")) == tmp_path / "models"
    assert Path(params["out_dir"]) == tmp_path / "figures" / path.stem
    for name in ("hands_dir", "mnist_dir", "labels_file"):
        if name in params:
            assert Path(params[name]).is_relative_to(tmp_path) and Path(params[name]).exists(), name


def test_the_11k_hands_stand_in_loads_with_the_real_loader(tmp_path):
    folder = gpu_check.write_11k_hands(tmp_path / "11k", n=26)
    images, names = hands.load_11k_hands(folder, n=100, size=32)
    assert len(names) == 22  # dorsal without accessories: rows 5 and 18 are palmar, 8 and 21 wear accessories
    assert images.shape == (22, 32, 32) and images.dtype == np.float32
    assert images.min() < 0.6 < 0.85 < images.max()  # a darker hand on a white background


def test_the_hand_labels_hold_both_kinds_in_each_half_and_leave_some_unlabelled(tmp_path):
    path = gpu_check.write_hand_labels(tmp_path / "labels.csv", 100)
    counts = labels.label_counts(labels.read_labels(path), 100)
    labelled = counts[counts != labels.UNLABELLED]
    assert 0 < (counts == labels.UNLABELLED).sum() < 100 and -1 in labelled
    for half in (labelled[::2], labelled[1::2]):
        assert 0 < hands.hand_labels(half).sum() < len(half)


def test_the_mnist_stand_in_loads_with_the_real_loader(tmp_path):
    images, labels = digits.load_mnist(gpu_check.write_mnist(tmp_path / "mnist", n=50))
    assert images.shape == (50, 1, 28, 28) and set(labels.tolist()) == set(range(10))
    assert images.min() == -1 and images.max() == 1
    assert (images[:, :, :2] == -1).all() and (images[:, :, :, -2:] == -1).all()  # centred, as MNIST


def test_the_noise_check_runs_and_finds_the_cpu_equal_to_itself():
    assert gpu_check.check_noise("cpu", rows=100) == 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_computes_the_same_noise_integers_as_the_cpu():
    assert gpu_check.check_noise("cuda") < 1e-5  # the normal numbers: float32 rounding of log, cos and sin
