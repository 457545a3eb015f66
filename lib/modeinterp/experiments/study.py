"""The window study of an image model, and the training-budget study built on it.

A window study (notebooks 03 and 04): record a few full trajectories to find where the model decides what it
draws (the decision window), then sample with the metric streamed over the paper's window, the last steps, the
decision window and a list of candidate windows, for the paper's mean over pixels and for local aggregations.
`compare` measures detection against labels for every aggregation, with the best candidate window chosen on one
half of the samples and reported on the other.

The training-budget study (`make study`, notebook 06) asks whether detection on the shapes improves with
training: one training run at a constant learning rate, checkpoints at geometrically spaced steps, and at each
checkpoint the same window study, labelled by the shape counter, with the same controls.
"""
import json
import math
import multiprocessing
import os
import re
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import images, pixels, shapes
from ..method import detection, diffusion, metric, samplers, train, windows
from ..support import claims, params
from ..support.files import atomic
from ..support.runtime import generator, setup

MEAN = "mean over pixels (paper)"


@dataclass
class WindowStudy:
    """What a window study recorded: the probe's agreement per visited step, the windows, and the run."""

    timesteps: list[int]
    agreement: np.ndarray  # corr(x0_hat, final sample) per visited step, noisiest first
    named: dict  # name -> window: the paper's window, the last steps, the decision window
    candidates: list  # windows the best is selected from
    run: samplers.Samples


def window_study(model, schedule: diffusion.Schedule, n: int, shape, *, sampling_steps: int, paper_window,
                 decision_agreement, last_k: int, candidate_windows, seed: int, device="cpu", chunk: int = 250,
                 n_trajectories: int = 32, aggregations: dict | None = None,
                 paper_name: str = "paper's window", processes: int = 1) -> WindowStudy:
    """Probe n_trajectories full trajectories (seed + 1) for the decision window, then draw n samples (seed) with
    strided DDPM (posterior noise, x0_hat clipped to [-1, 1]) and the metric over every window, split over
    `processes` processes (see samplers.ddpm; the probe runs in this one).
    Windows are given as fractions of T: paper_window one pair, candidate_windows a list of pairs."""
    T = schedule.T
    ts = windows.timesteps(T, sampling_steps)
    options = dict(n_steps=sampling_steps, noise="posterior", clip=1.0, chunk=chunk)
    probe = samplers.ddpm(model, schedule, n_trajectories, shape, generator(seed + 1, device),
                          n_trajectories=n_trajectories, **options)
    agreement = metric.agreement(probe.x0_hat, probe.x0)
    named = {paper_name: windows.windows_from_fractions([paper_window], T)[0],
             f"last {last_k} steps": windows.last_visited(T, sampling_steps, last_k),
             "decision window": windows.decision_window(ts, agreement, *decision_agreement)}
    candidates = windows.windows_from_fractions(candidate_windows, T)
    all_windows = list(dict.fromkeys(list(named.values()) + candidates))
    run = samplers.ddpm(model, schedule, n, shape, generator(seed, device), windows=all_windows,
                        aggregations=aggregations, processes=processes, **options)
    return WindowStudy(ts, agreement, named, candidates, run)


def image_aggregations(size: int, n_strips: int | None = None) -> dict:
    """The local aggregations reported beside the paper's mean, fixed before looking at any result: the largest
    (size/8)-pixel patch (about one shape at 32x32), the variance per foreground pixel and, for the shapes,
    the largest of the three strips."""
    out = {f"largest {size // 8}x{size // 8} patch": metric.largest_patch(size // 8),
           "per foreground pixel": metric.per_foreground_pixel}
    if n_strips:
        out["largest strip"] = metric.largest_strip(n_strips)
    return out


def claim_key(aggregation: str) -> str:
    """A claim-name prefix for an aggregation: 'largest 4x4 patch' -> 'largest_4x4_patch'."""
    return re.sub(r"[^a-z0-9]+", "_", aggregation.lower()).strip("_")


def compare(ws: WindowStudy, hallucinated, keep, retention: float = 0.95, groups=None) -> dict:
    """For the paper's mean (MEAN) and each local aggregation: ({window name: Detection}, best candidate), on
    the samples where `keep` is true (see detection.compare_windows)."""
    out = {}
    for name, per_window in {MEAN: ws.run.variance, **ws.run.local}.items():
        scores = {w: v.numpy()[keep] for w, v in per_window.items()}
        out[name] = detection.compare_windows(scores, hallucinated, ws.named, ws.candidates, retention, groups)
    return out


def aggregation_claims(table: dict, window: str, key: str, within: str | None = None) -> list[dict]:
    """The claims of the local aggregations (ours) in `table` (compare's result): AUROC in the named `window`
    (claimed as <aggregation>_<key>_auroc) and in the best window on the held-out half, and, if `within` names the
    groups, the best window's AUROC within them."""
    out = []
    for aggregation, (rows, best) in table.items():
        if aggregation == MEAN:
            continue
        name, b = claim_key(aggregation), rows[detection.BEST]
        out += [claims.claim(f"{name}_{key}_auroc", round(rows[window].auroc, 3), None, f"ours: {aggregation}, {window}"),
                claims.claim(f"{name}_best_auroc", round(b.auroc, 3), None,
                             f"ours: {aggregation}, best window t={best[0]}..{best[1]}, held-out half")]
        if within:
            out.append(claims.claim(f"{name}_best_auroc_{claim_key(within)}", round(b.within, 3), None,
                                    f"ours: {aggregation}, best window, {within}"))
    return out


def summary(table: dict, named: dict) -> str:
    """One line per aggregation and window: AUROC (+- its standard error), AUROC within groups, removed at the
    operating point."""
    lines = []
    for aggregation, (rows, best) in table.items():
        lines.append(aggregation)
        lines += [detection.describe(name, best if name == detection.BEST else named[name], row)
                  for name, row in rows.items()]
    return "\n".join(lines)


SE_FLOOR = 1e-3  # standard errors below this count as this in a fit (an AUROC of exactly 1 has error 0)


def slope(x, y, se) -> tuple[float, float]:
    """Weighted least-squares slope of y on x with known standard errors `se` of y (at least SE_FLOOR), and its
    standard error."""
    x, y, w = np.asarray(x, float), np.asarray(y, float), 1 / np.maximum(np.asarray(se, float), SE_FLOOR) ** 2
    if len(x) < 2 or np.ptp(x) == 0:
        raise ValueError("a slope needs at least two distinct x")
    xm = np.sum(w * x) / np.sum(w)
    sxx = np.sum(w * (x - xm) ** 2)
    return float(np.sum(w * (x - xm) * y) / sxx), float(1 / math.sqrt(sxx))


# ---- the training-budget study on the simple shapes

STUDY = dict(  # the study's defaults (ci/study.yaml overrides them): notebook 03's data, network and sampling
    size=32, fold=2, base=32, n_train=5000, T=1000, batch=64, lr=0.001, ema=0.995, warmup_steps=150,
    checkpoints=[750, 1500, 3000, 6000, 12000], seeds_last=3, n_samples=1000, n_trajectories=32,
    sampling_steps=250, paper_window=[0.70, 0.85], decision_agreement=[0.25, 0.75], last_k=10,
    candidate_windows=[0.0, 0.02, 0.0, 0.05, 0.0, 0.1, 0.1, 0.2, 0.2, 0.3, 0.3, 0.4, 0.4, 0.5, 0.5, 0.6, 0.6, 0.7,
                       0.7, 0.85, 0.85, 1.0],
    retention=0.95, seed=0, chunk=250)


def study_config(**overrides) -> dict:
    """The study's settings: STUDY with `overrides` (unknown names are an error)."""
    unknown = sorted(set(overrides) - set(STUDY))
    if unknown:
        raise ValueError(f"unknown study setting(s) {unknown}; allowed: {sorted(STUDY)}")
    s = {**STUDY, **overrides}
    if sorted(set(s["checkpoints"])) != list(s["checkpoints"]) or s["checkpoints"][0] < 1:
        raise ValueError(f"checkpoints must be increasing positive step counts; got {s['checkpoints']}")
    if s["seeds_last"] < 1:
        raise ValueError(f"seeds_last must be at least 1; got {s['seeds_last']}")
    return s


def model_config(s: dict) -> images.ImageConfig:
    """The image-model configuration of the study's single run: warmup over warmup_steps (whatever the total), then
    a constant rate, so that the checkpoint at s steps does not depend on the last checkpoint; EMA weights."""
    steps = s["checkpoints"][-1]
    return images.ImageConfig("shapes-study", s["size"], T=s["T"], steps=steps, batch=s["batch"], lr=s["lr"],
                              seed=s["seed"], arch=dict(fold=s["fold"], base=s["base"]), ema=s["ema"],
                              warmup=(s["warmup_steps"] + 0.5) / steps,
                              extra=dict(n_train=s["n_train"], decay="constant"))


def _checkpoint_path(work: Path, step: int) -> Path:
    return work / f"step-{step}.pt"


def _train(s: dict, work: Path, device: str = "cpu") -> None:
    """Train the study's model once (on `device`), saving the averaged weights at every checkpoint (atomically)."""
    config = model_config(s)
    setup(s["seed"])
    if all(_checkpoint_path(work, c).exists() for c in s["checkpoints"]):
        return
    x = torch.from_numpy(pixels.to_signed(shapes.make_shapes(s["n_train"], s["seed"], s["size"])[0]))[:, None]

    def keep(step, model):
        if step in s["checkpoints"]:
            train.save({"config": config.to_dict(), "step": step, "state": {k: v.detach().cpu().clone() for k, v in
                        model.state_dict().items()}}, _checkpoint_path(work, step))

    losses = train.train_model(config, {config.name: x}, progress=False, device=device, callback=keep)["loss"]
    with atomic(work / "loss.json") as tmp:
        tmp.write_text(json.dumps(losses))


def evaluate(s: dict, work: Path, step: int, seed: int, device: str = "cpu") -> dict:
    """The window study of the checkpoint at `step`, sampled with `seed` (on `device`), labelled by the shape
    counter."""
    setup(seed)
    payload = train.load(_checkpoint_path(work, step))
    config = images.ImageConfig.from_dict(payload["config"])
    model = config.build()
    model.load_state_dict(payload["state"])
    model.to(device).eval()
    schedule = diffusion.make_schedule(config.schedule, config.T)
    start = time.perf_counter()
    ws = window_study(model, schedule, s["n_samples"], (1, s["size"], s["size"]), sampling_steps=s["sampling_steps"],
                      paper_window=s["paper_window"], decision_agreement=s["decision_agreement"], last_k=s["last_k"],
                      candidate_windows=params.intervals("candidate_windows", s["candidate_windows"]),
                      seed=seed, device=device, chunk=s["chunk"], n_trajectories=s["n_trajectories"],
                      aggregations=image_aggregations(s["size"], n_strips=3), paper_name="paper's window")
    x = pixels.to_unit(ws.run.x0[:, 0].numpy())
    counts, labels = shapes.count_shapes(x)
    keep = labels != "invalid"
    hal, groups = labels[keep] == "hallucinated", counts[keep].sum(1)
    record = dict(step=step, seed=seed, n_samples=s["n_samples"], hallucinated=int(hal.sum()),
                  in_support=int((~hal).sum()), invalid=int((~keep).sum()),
                  hallucination_rate=float((labels == "hallucinated").mean()), windows={}, detection={})
    if hal.sum() < 2 or (~hal).sum() < 2:
        return {**record, "minutes": (time.perf_counter() - start) / 60}
    for aggregation, (rows, best) in compare(ws, hal, keep, s["retention"], groups).items():
        record["windows"][aggregation] = {**ws.named, detection.BEST: best}
        record["detection"][aggregation] = {name: _row(r) for name, r in rows.items()}
    baselines = {name: b[keep] for name, b in shapes.baselines(x).items()}
    record["detection"]["no trajectory"] = {
        name: _row(detection.detection(b, hal, s["retention"], groups)) for name, b in baselines.items()}
    return {**record, "minutes": (time.perf_counter() - start) / 60}


def _row(d: detection.Detection) -> dict:
    """A detection as plain numbers, with the AUROC's standard error."""
    return dict(auroc=d.auroc, auroc_se=d.se, within=d.within,
                removed=d.op.removed, retention=d.op.retention)


def run_study(s: dict, work: str | os.PathLike, results: str | os.PathLike, workers: int = 2,
              device: str = "cpu") -> list[dict]:
    """Train once (one process) while evaluating each checkpoint as it appears (the other processes), all on
    `device`; write every record to `results` (JSON) as it comes. Checkpoints (in a folder of `work` named by the
    model's configuration) and records already in `results` are reused, so an interrupted study can be rerun."""
    work, results = Path(work) / train.config_key(model_config(s)), Path(results)  # other settings, other folder
    work.mkdir(parents=True, exist_ok=True)
    saved = json.loads(results.read_text()) if results.exists() else {"settings": s, "records": []}
    if saved["settings"] != s:
        raise ValueError(f"{results} holds a study with other settings: remove it or choose another path")
    done = saved["records"]
    todo = [(c, s["seed"]) for c in s["checkpoints"]] + [(s["checkpoints"][-1], s["seed"] + k)
                                                         for k in range(1, s["seeds_last"])]
    todo = [job for job in todo if not any((r["step"], r["seed"]) == job for r in done)]
    if not todo:
        return done
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max(2, workers), mp_context=ctx) as pool:
        training = pool.submit(_train, s, work, device)
        pending = {}
        while todo or pending:
            ready = [job for job in todo if _checkpoint_path(work, job[0]).exists() or training.done()]
            if training.done() and training.exception() is not None:
                raise training.exception()
            for job in ready:
                todo.remove(job)
                pending[pool.submit(evaluate, s, work, *job, device)] = job
            for future in [f for f in pending if f.done()]:
                record = future.result()
                del pending[future]
                done = sorted(done + [record], key=lambda r: (r["step"], r["seed"]))
                with atomic(results) as tmp:
                    tmp.write_text(json.dumps({"settings": s, "records": done}, indent=1) + "\n")
                print(f"step {record['step']} seed {record['seed']}: {record['hallucinated']} hallucinated of "
                      f"{record['n_samples']}, {record['minutes']:.1f} min", flush=True)
            time.sleep(2)
        training.result()
    loss = work / "loss.json"
    if loss.exists():
        data = json.loads(results.read_text())
        data["loss"] = json.loads(loss.read_text())
        with atomic(results) as tmp:
            tmp.write_text(json.dumps(data, indent=1) + "\n")
    return done



# ---- reading a study's results (notebook 06)

def load(path: str | os.PathLike) -> dict:
    """A study's results file: {"settings", "records", "loss"} (see run_study)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no study results at {path}: run `make study` (or ci/study.py) first")
    return json.loads(path.read_text())


def value(record: dict, aggregation: str, window: str, field: str = "auroc") -> tuple[float, float]:
    """One record's `field` ('auroc', 'within' or 'removed') for an aggregation and a window, with its standard
    error (AUROC: Hanley & McNeil; removed: binomial over the hallucinated samples it was measured on)."""
    row = record["detection"][aggregation][window]
    if field == "auroc":
        return row["auroc"], row["auroc_se"]
    n = record["hallucinated"] / (2 if window == detection.BEST else 1)
    if field == "removed":
        return row["removed"], math.sqrt(max(row["removed"] * (1 - row["removed"]), 1 / n) / n)
    return row[field], math.nan


def series(records: list[dict], aggregation: str, window: str, field: str = "auroc", seed: int | None = None):
    """Steps, values and standard errors of `field` over the records (of one sampling seed, if given)."""
    rows = [r for r in records if r["detection"] and (seed is None or r["seed"] == seed)]
    if not rows:
        raise ValueError("no record holds detection numbers (too few hallucinated or in-support samples)")
    v = np.array([value(r, aggregation, window, field) for r in rows])
    return np.array([r["step"] for r in rows]), v[:, 0], v[:, 1]


def at_step(records: list[dict], step: int, aggregation: str, window: str, field: str = "auroc"):
    """The mean of `field` over the sampling seeds at `step`, its standard error, and the number of seeds."""
    _, v, se = series([r for r in records if r["step"] == step], aggregation, window, field)
    return float(v.mean()), float(np.sqrt(np.sum(se**2)) / len(v)), len(v)


def trend(records: list[dict], aggregation: str, window: str, field: str = "auroc") -> tuple[float, float]:
    """The weighted least-squares slope of `field` against log10(training steps), over every record (per tenfold
    more training), and its standard error."""
    steps, v, se = series(records, aggregation, window, field)
    return slope(np.log10(steps), v, se)
