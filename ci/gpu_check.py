"""The GPU check: every notebook with its paper-scale file (ci/paper/<name>.yaml), shortened by the overrides
in ci/gpu_check.yaml (few training steps, samples, sampling steps, sweep points and generations; the paper's
image sizes and U-Net levels, narrower U-Nets: see that file), on one device. It exits non-zero if any notebook
fails, after running the others.

    make gpu-check                 # or: python ci/gpu_check.py            (CUDA, meant to take a few minutes)
    make gpu-check DEVICE=cpu      # or: python ci/gpu_check.py --device cpu   (the same settings on the CPU)
    python ci/gpu_check.py notebooks/04_hands.ipynb   # some notebooks only

Everything goes to runs/gpu-check/ (git-ignored): the executed notebooks, models/ (the model cache, emptied
first so that every model trains on this device), figures/<name>/, and data/: small stand-ins, in their real
formats, for the datasets the paper files name (11k Hands: HandInfo.csv and Hands/*.jpg, drawn from procedural
hands; MNIST: IDX files, from scikit-learn's 8x8 digits enlarged to 28x28), which cannot ship and are never
downloaded, so that the real loaders run. First it runs a tiny training-budget study (ci/study.py's code) on the
device into study.json. The numbers the notebooks print mean nothing here.
"""
import argparse
import csv
import resource
import shutil
import sys
import time
import traceback
from pathlib import Path

import numpy as np
import papermill as pm
import torch
import yaml
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run_notebooks  # noqa: E402

from modeinterp.experiments import budget, digits, hands
from modeinterp.method import noise
from modeinterp.support import runtime  # noqa: E402

OVERRIDES = run_notebooks.ROOT / "ci" / "gpu_check.yaml"
OUT = run_notebooks.ROOT / "runs" / "gpu-check"
HANDS_PHOTO = (1600, 1200)  # width x height of an 11k Hands photograph
HAND_RGB, BACKGROUND_RGB = (150, 105, 80), (235, 235, 235)  # a hand on a white sheet, as in 11k Hands
N_HAND_PHOTOS = 130  # 110 usable (dorsal, no accessories), 10 palmar, 10 with accessories
N_DIGITS = 600  # the MNIST stand-in's training images
STUDY = dict(checkpoints=[20, 40], n_train=200, n_samples=100, sampling_steps=20, n_trajectories=4, chunk=50,
             last_k=3, seeds=2)  # the study's code path only: too short to draw readable shapes


def overrides(path: Path = OVERRIDES) -> dict:
    """notebook stem -> parameters replacing the paper file's (ci/gpu_check.yaml)."""
    return yaml.safe_load(path.read_text()) or {}


def parameters(notebook: Path, shortened: dict, device: str, out: Path) -> dict:
    """The paper file's parameters, then the check's overrides, the device and folders under `out`; writes the
    stand-in data that the parameters name (11k Hands, MNIST) under out/data and points the notebook there."""
    params = run_notebooks.parameters_for(notebook, argparse.Namespace(paper=True, params=None, p=None))
    params.update(shortened.get(notebook.stem) or {})
    known = pm.inspect_notebook(str(notebook))
    where = dict(device=device, cache_dir=str(out / "models"), out_dir=str(out / "figures" / notebook.stem))
    params.update({name: value for name, value in where.items() if name in known})  # 06 has no device
    data = out / "data"
    if params.get("dataset") == "11k":
        params.update(hands_dir=str(write_11k_hands(data / "11k_hands", params.get("seed", 0))),
                      labels_file=str(write_hand_labels(data / "11k_hands_labels.csv", params["n_samples"])))
    if params.get("dataset") == "mnist":
        params.update(mnist_dir=str(write_mnist(data / "mnist")))
    return params


def write_11k_hands(folder: Path, seed: int = 0, n: int = N_HAND_PHOTOS) -> Path:
    """A small 11k Hands in its distributed layout: HandInfo.csv (its columns) and Hands/Hand_<id>.jpg,
    landscape 1600 x 1200 photographs of a procedural hand (hands.make_hands) on a white background."""
    (folder / "Hands").mkdir(parents=True, exist_ok=True)
    images, meta = hands.make_hands(n, seed + 11, size=128)
    columns = ["id", "age", "gender", "skinColor", "accessories", "nailPolish", "aspectOfHand", "imageName",
               "irregularities"]
    with open(folder / "HandInfo.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(columns)
        for i, (image, m) in enumerate(zip(images, meta)):
            name = f"Hand_{i:07d}.jpg"
            aspect = "palmar" if i % 13 == 5 else "dorsal"
            w.writerow([i, 20 + i % 50, "male" if i % 2 else "female", "fair", int(i % 13 == 8), 0,
                        f"{aspect} {m['hand']}", name, 0])
            alpha = image[..., None]
            rgb = (alpha * HAND_RGB + (1 - alpha) * BACKGROUND_RGB).round().astype(np.uint8)
            Image.fromarray(rgb).resize(HANDS_PHOTO, Image.Resampling.BILINEAR).save(folder / "Hands" / name,
                                                                                     quality=90)
    return folder


def write_hand_labels(path: Path, n_samples: int) -> Path:
    """Hand labels ('sample,fingers') for the generated samples: a fixed pattern of 5, 5, 4, 6 fingers (one
    -1, unreadable), the last tenth left blank (unlabelled), so that both halves of the detection split hold
    both kinds whatever the samples look like."""
    pattern = (5, 5, 4, 6)
    labelled = n_samples - n_samples // 10
    rows = [f"{i},{-1 if i == 7 else pattern[i % 4]}" if i < labelled else f"{i}," for i in range(n_samples)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("sample,fingers\n" + "\n".join(rows) + "\n")
    return path


def write_mnist(folder: Path, n: int = N_DIGITS) -> Path:
    """MNIST's training IDX files (gzipped, as distributed) holding scikit-learn's 8x8 digits (and labels),
    enlarged to 24 x 24 (each pixel 3 x 3) and centred in 28 x 28, as MNIST centres its digits."""
    images, labels = digits.load_digits()
    x = ((images[:n, 0].numpy() + 1) * 127.5).round().astype(np.uint8)
    x = np.pad(np.kron(x, np.ones((3, 3), np.uint8)), ((0, 0), (2, 2), (2, 2)))
    folder.mkdir(parents=True, exist_ok=True)
    digits.write_idx(folder / "train-images-idx3-ubyte.gz", x)
    digits.write_idx(folder / "train-labels-idx1-ubyte.gz", labels[:n].numpy().astype(np.uint8))
    return folder


def check_noise(device: str, seed: int = 12345, rows: int = 10_000) -> float:
    """The noise on `device` against the CPU's (modeinterp.method.noise): raises if one of its integers
    (sample keys, pair bits) differs; returns the largest difference of its normal numbers (float32
    rounding)."""
    keys = {d: noise.sample_keys(seed, 0, rows, d) for d in ("cpu", device)}
    bits = {d: noise.pair_bits(k, noise.pair_offsets(0, 64, d)).cpu() for d, k in keys.items()}
    if not (torch.equal(keys[device].cpu(), keys["cpu"]) and torch.equal(bits[device], bits["cpu"])):
        raise RuntimeError(f"the noise's integers on {device} differ from the CPU's")
    here, there = (noise.Streams(seed, 0, rows, (3, 8, 8), 2, d) for d in ("cpu", device))
    return max(float((there.randn().cpu() - here.randn()).abs().max()) for _ in range(2))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebooks", nargs="*", type=Path, help="default: every notebooks/*.ipynb")
    ap.add_argument("--device", default="cuda", help="'cuda' (default), 'cuda:N', 'cpu' or 'mps'")
    ap.add_argument("--out", type=Path, default=OUT, help="output folder (default runs/gpu-check)")
    args = ap.parse_args(argv)
    try:
        runtime.device(args.device)
    except ValueError as e:
        sys.exit(f"gpu-check: {e}")
    notebooks = [n.resolve() for n in args.notebooks] or sorted(run_notebooks.NOTEBOOKS.glob("[0-9]*.ipynb"))
    shortened, out = overrides(), args.out.resolve()
    missing = [nb.stem for nb in notebooks if nb.stem not in shortened]
    if missing:
        sys.exit(f"gpu-check: no overrides for {', '.join(missing)} in {OVERRIDES.name}")
    shutil.rmtree(out / "models", ignore_errors=True)  # train every model afresh, on this device
    shutil.rmtree(out / "study", ignore_errors=True)
    (out / "study.json").unlink(missing_ok=True)
    jobs = []
    for nb in notebooks:
        params = parameters(nb, shortened, args.device, out)
        run_notebooks.check_names(nb, params)
        jobs.append((nb, params))
    minutes, failed = {}, []
    try:
        difference = check_noise(args.device)
        print(f"noise on {args.device}: the CPU's integers, normal numbers within {difference:.1e}",
              flush=True)
    except Exception:
        failed.append("noise")
        print(f"FAILED noise:\n{traceback.format_exc()}", file=sys.stderr, flush=True)
    start, cpu = time.perf_counter(), _kernel_cpu()
    try:  # the training-budget study (notebook 06 reads the committed one): a tiny run on the device
        budget.run_study(budget.study_config(**STUDY), out / "study", out / "study.json", device=args.device)
        print("ran the training-budget study (tiny) on", args.device, flush=True)
    except Exception:
        failed.append("study")
        print(f"FAILED study:\n{traceback.format_exc()}", file=sys.stderr, flush=True)
    minutes["study (ci/study.py)"] = (time.perf_counter() - start) / 60, (_kernel_cpu() - cpu) / 60
    for nb, params in jobs:
        start, cpu = time.perf_counter(), _kernel_cpu()
        try:
            run_notebooks.run(nb, params, out / nb.name)
        except Exception:
            failed.append(nb.stem)
            print(f"FAILED {nb.stem}:\n{traceback.format_exc()}", file=sys.stderr, flush=True)
        minutes[nb.stem] = (time.perf_counter() - start) / 60, (_kernel_cpu() - cpu) / 60
    print(f"\ngpu-check on {args.device} (minutes: wall clock, and CPU time of the notebook's kernel):")
    for stem, (wall, cpu) in minutes.items():
        print(f"  {stem:<24} {wall:5.1f} wall {cpu:5.1f} CPU  {'FAILED' if stem in failed else 'ok'}")
    wall, cpu = (sum(m[i] for m in minutes.values()) for i in (0, 1))
    print(f"  {'total':<24} {wall:5.1f} wall {cpu:5.1f} CPU", flush=True)
    return 1 if failed else 0


def _kernel_cpu() -> float:
    """Seconds of CPU used by finished child processes (each notebook's kernel, once it has exited)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    sys.exit(main())
