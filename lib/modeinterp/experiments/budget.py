"""The training-budget study (`make study`, notebook 06): does detection improve with training?

Two series, each one training run at a constant learning rate with checkpoints at geometrically spaced steps, and
at each checkpoint the window study with the controls of its notebook: the simple shapes (notebook 03's network,
labelled by the shape counter) and the procedural hands (notebook 04's network, labelled by both finger counters). The records are
written to a JSON file (figures/06_training_budget/study.json for the defaults) that notebook 06 reads: a window's
results are keyed there by its label (study.window_labels).
"""
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch

from . import fork, hands, images, pixels, shapes, study
from ..method import detection, diffusion, train
from ..support import claims, parallel, params
from ..support.files import atomic
from ..support.runtime import setup

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


STUDY = dict(  # notebook 03's data, network and sampler (ci/paper/study.yaml: the paper's scale)
    series="shapes", size=64, fold=2, base=32, mults=[1, 2, 4], n_train=5000, T=1000, batch=64, lr=0.001, ema=0.995,
    warmup_steps=150, checkpoints=[750, 1500, 3000, 6000, 12000, 24000], seeds=2, n_samples=300, n_trajectories=32,
    sampling_steps=250, paper_window=[0.70, 0.85], decision_agreement=[0.25, 0.75], last_k=10,
    candidate_windows=[[0.0, 0.02], [0.0, 0.05], [0.0, 0.1], [0.1, 0.2], [0.2, 0.3], [0.3, 0.4], [0.4, 0.5],
                       [0.5, 0.6], [0.6, 0.7], [0.7, 0.85], [0.85, 1.0]],
    retention=0.95, seed=0, chunk=64,
    fork_pairs=32, fork_continuations=3, fork_at=[0.85, 0.775, 0.7, 0.6, 0.5])  # notebook 03's fork test (0 pairs: none)
# notebook 04's procedural hands and network (fold 2, base 16), its paper range t=600..900 and its fork test, with
# one more fork (t=300: at t=449 the hands' counts still changed); the same constant rate and checkpoints as the shapes
HANDS = {**STUDY, "series": "hands", "base": 16, "min_gap": 3.0, "paper_window": [0.60, 0.90],
         "fork_at": [0.9, 0.8, 0.7, 0.6, 0.45, 0.3]}
SERIES = {"shapes": STUDY, "hands": HANDS}
NAMES = {"shapes": "shapes-study", "hands": "hands-study"}  # the models' names (part of their cache key)


def study_config(series: str = "shapes", **overrides) -> dict:
    """A series' settings (SERIES: 'shapes' or 'hands') with `overrides` (unknown names are an error)."""
    if series not in SERIES:
        raise ValueError(f"series must be one of {sorted(SERIES)}; got {series!r}")
    defaults = SERIES[series]
    unknown = sorted(set(overrides) - set(defaults))
    if unknown:
        raise ValueError(f"unknown study setting(s) {unknown}; allowed: {sorted(defaults)}")
    s = {**defaults, **overrides, "series": series}
    if sorted(set(s["checkpoints"])) != list(s["checkpoints"]) or s["checkpoints"][0] < 1:
        raise ValueError(f"checkpoints must be increasing positive step counts; got {s['checkpoints']}")
    if s["seeds"] < 1:
        raise ValueError(f"seeds must be at least 1; got {s['seeds']}")
    return s


def model_config(s: dict) -> images.ImageConfig:
    """The image-model configuration of a series' single run: warmup over warmup_steps (whatever the total), then
    a constant rate, so that the checkpoint at s steps does not depend on the last checkpoint; EMA weights."""
    steps = s["checkpoints"][-1]
    extra = dict(n_train=s["n_train"], decay="constant")
    if s["series"] == "hands":
        extra = dict(n_train=s["n_train"], aspect="dorsal", min_gap=s["min_gap"], decay="constant")
    return images.ImageConfig(NAMES[s["series"]], s["size"], T=s["T"], steps=steps, batch=s["batch"], lr=s["lr"],
                              seed=s["seed"], arch=dict(fold=s["fold"], base=s["base"], mults=s["mults"]), ema=s["ema"],
                              warmup=(s["warmup_steps"] + 0.5) / steps, extra=extra)


def training_images(s: dict) -> np.ndarray:
    """A series' training images in [0, 1] (n_train x size x size), drawn with its seed."""
    if s["series"] == "hands":
        return hands.make_hands(s["n_train"], s["seed"], s["size"], min_gap=s["min_gap"])[0]
    return shapes.make_shapes(s["n_train"], s["seed"], s["size"])[0]


def label(s: dict, x: np.ndarray) -> dict:
    """A series' labels of generated images x in [0, 1]: hallucinated and readable (keep) per image, the groups
    within which the AUROC is also taken (shapes: equal shape count), the pixel baselines, the counts by kind, and
    for the fork test the per-image counts, the labels, the groups its pairs are matched on and the reader of
    samples."""
    if s["series"] == "hands":
        counts, reading = hands.read_hands(x)
        hal, keep = reading == "hallucinated", np.isin(reading, ["in_support", "hallucinated"])
        kinds = {"four": hal & (counts[:, 0] == 4), "six": hal & (counts[:, 0] == 6)}
        kinds["other"] = hal & ~kinds["four"] & ~kinds["six"]
        return dict(hal=hal, keep=keep, groups=None, baselines=hands.baselines(x, keep),
                    kinds={k: int(v.sum()) for k, v in kinds.items()}, counts=counts, labels=reading,
                    pair_groups=np.zeros(len(x), int), read=hands.read_samples)
    counts, labels = shapes.count_shapes(x)
    return dict(hal=labels == "hallucinated", keep=labels != "invalid", groups=counts.sum(1),
                baselines=shapes.baselines(x), kinds={}, counts=counts, labels=labels, pair_groups=counts.sum(1),
                read=shapes.count_samples)


def fork_record(s: dict, model, schedule, ws, lab: dict, seed: int, device: str = "cpu") -> dict | None:
    """The fork test of a study's record (its notebook's, with the series' settings), as plain numbers: per fork
    timestep each class's share of changed continuations with its standard error, and the disagreement's AUROC at
    the timestep chosen on half of the pairs, on the other half, with the smallest difference that half could
    detect at the 5% level. None without pairs."""
    hal_pick, in_pick = fork.matched(lab["labels"], lab["pair_groups"], s["fork_pairs"])
    if len(hal_pick) < 2:
        return None
    tested = np.r_[hal_pick, in_pick]
    forks = fork.fork_timesteps(ws.timesteps, s["fork_at"], s["T"])
    ft = fork.fork_test(study.sampler_step(model, schedule), ws.timesteps, ws.run.seed, tested, lab["hal"][tested],
                        lab["counts"][tested], lab["read"], (1, s["size"], s["size"]), forks=forks,
                        continuations=s["fork_continuations"], seed=seed + 2, chunk=s["chunk"], device=device)
    t_best, best = ft.best()
    return dict(timesteps=forks, pairs=len(hal_pick), **{f"changed_{k}": ft.share(k).tolist() for k in fork.CLASSES},
                **{f"changed_{k}_se": ft.share_se(k).tolist() for k in fork.CLASSES}, best_t=t_best,
                auroc=best.auroc, auroc_se=best.se, detectable=ft.detectable_difference(held_out=True))


def _checkpoint_path(work: Path, step: int) -> Path:
    return work / f"step-{step}.pt"


def _train(s: dict, work: Path, device: str = "cpu") -> None:
    """Train the study's model once (on `device`), saving the averaged weights at every checkpoint (atomically),
    then its losses. An interrupted run resumes from its training checkpoint in `work` (train.Checkpoint): its
    callback sees the steps after the resumed one, and the step files saved before stay."""
    config = model_config(s)
    setup(s["seed"])
    if (work / "loss.json").exists() and all(_checkpoint_path(work, c).exists() for c in s["checkpoints"]):
        return
    x = torch.from_numpy(pixels.to_signed(training_images(s)))[:, None]

    def keep(step, model):
        if step in s["checkpoints"]:
            train.save({"config": config.to_dict(), "step": step, "state": {k: v.detach().cpu().clone() for k, v in
                        model.state_dict().items()}}, _checkpoint_path(work, step))

    losses = train.train_model(config, {config.name: x}, progress=False, device=device, callback=keep,
                               cache_dir=work)["loss"]
    with atomic(work / "loss.json") as tmp:
        tmp.write_text(json.dumps(losses))
    train.drop_checkpoint(config, work)


def evaluate(s: dict, work: Path, step: int, seed: int, device: str = "cpu") -> dict:
    """The window study of the checkpoint at `step`, sampled with `seed` (on `device`), labelled by the series'
    counters."""
    setup(seed)
    payload = train.load(_checkpoint_path(work, step))
    config = images.ImageConfig.from_dict(payload["config"])
    model = config.build()
    model.load_state_dict(payload["state"])
    model.to(device).eval()
    schedule = diffusion.make_schedule(config.schedule, config.T)
    start = time.perf_counter()
    ws = study.window_study(model, schedule, s["n_samples"], (1, s["size"], s["size"]),
                            sampling_steps=s["sampling_steps"], paper_window=s["paper_window"],
                            decision_agreement=s["decision_agreement"], last_k=s["last_k"],
                            candidate_windows=params.intervals("candidate_windows", s["candidate_windows"]),
                            seed=seed, device=device, chunk=s["chunk"], n_trajectories=s["n_trajectories"],
                            aggregations=study.image_aggregations(s["size"], n_strips=3 if s["series"] == "shapes" else None))
    lab = label(s, pixels.to_unit(ws.run.x0[:, 0].numpy()))
    hal, keep = lab["hal"], lab["keep"]
    record = dict(step=step, seed=seed, n_samples=s["n_samples"], hallucinated=int(hal.sum()),
                  in_support=int((keep & ~hal).sum()), invalid=int((~keep).sum()),
                  hallucination_rate=float(hal.mean()), kinds=lab["kinds"], windows={}, detection={})
    if hal.sum() < 2 or (keep & ~hal).sum() < 2:
        return {**record, "minutes": (time.perf_counter() - start) / 60}
    c = study.compare(ws, hal, keep, s["retention"], lab["groups"], lab["baselines"])
    for aggregation, d in c.detections.items():
        record["windows"][aggregation] = c.windows[aggregation].labelled(c.labels)
        record["detection"][aggregation] = {label: _row(r) for label, r in d.labelled(c.labels).items()}
    record["detection"]["no trajectory"] = {name: _row(d) for name, d in c.baselines.items()}
    if s["fork_pairs"]:
        record["fork"] = fork_record(s, model, schedule, ws, lab, seed, device)
    return {**record, "minutes": (time.perf_counter() - start) / 60}


def _row(d: detection.Detection) -> dict:
    """A detection as plain numbers, with the AUROC's standard error."""
    return dict(auroc=d.auroc, auroc_se=d.se, within=d.within,
                removed=d.op.removed, retention=d.op.retention)


def run_study(s: dict, work: str | os.PathLike, results: str | os.PathLike, workers: int = 2,
              device: str = "cpu", train_too: bool = True) -> list[dict]:
    """Train once (one process) while evaluating each checkpoint as it appears (the other `workers` - 1 processes;
    with one worker, training then the evaluations in turn), all on `device`; write every record to `results`
    (JSON) as it comes. Checkpoints (in a folder of `work` named by the
    model's configuration) and records already in `results` are reused, so an interrupted study can be rerun.
    train_too=False evaluates only the checkpoints already saved (while a training runs elsewhere)."""
    params.integer("workers", workers, low=1)
    work, results = Path(work) / train.config_key(model_config(s)), Path(results)  # other settings, other folder
    work.mkdir(parents=True, exist_ok=True)
    saved = json.loads(results.read_text()) if results.exists() else {"settings": s, "records": []}
    if saved["settings"] != s:
        raise ValueError(f"{results} holds a study with other settings: remove it or choose another path")
    done = saved["records"]
    todo = [(c, s["seed"] + k) for k in range(s["seeds"]) for c in s["checkpoints"]]  # each seed at every checkpoint
    todo = [job for job in todo if not any((r["step"], r["seed"]) == job for r in done)]
    if not train_too:
        todo = [job for job in todo if _checkpoint_path(work, job[0]).exists()]
    if not todo:
        return done
    with parallel.workers(workers) as submit:  # they stop with this process (see support.parallel)
        training = submit(_train, s, work, device) if train_too else None
        pending = {}
        while todo or pending:
            trained = training is None or training.done()
            ready = [job for job in todo if _checkpoint_path(work, job[0]).exists() or trained]
            if training is not None and training.done() and training.exception() is not None:
                raise training.exception()
            for job in ready:
                todo.remove(job)
                pending[submit(evaluate, s, work, *job, device)] = job
            for future in [f for f in pending if f.done()]:
                record = future.result()
                del pending[future]
                done = sorted(done + [record], key=lambda r: (r["step"], r["seed"]))
                with atomic(results) as tmp:
                    tmp.write_text(json.dumps({"settings": s, "records": done}, indent=1) + "\n")
                print(f"step {record['step']} seed {record['seed']}: {record['hallucinated']} hallucinated of "
                      f"{record['n_samples']}, {record['minutes']:.1f} min", flush=True)
            time.sleep(2)
        if training is not None:
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


def trend(records: list[dict], aggregation: str, window: str, field: str = "auroc", from_step: int = 0
          ) -> tuple[float, float]:
    """The weighted least-squares slope of `field` against log10(training steps), over every record from
    `from_step` on (per tenfold more training), and its standard error."""
    steps, v, se = series([r for r in records if r["step"] >= from_step], aggregation, window, field)
    return slope(np.log10(steps), v, se)


def values_at(records: list[dict], steps, aggregation: str | None = None, window: str | None = None,
              field: str = "auroc") -> list[float]:
    """Every record's number at the checkpoints `steps` (one per sampling seed): with an aggregation and a window,
    its detection `field` (see value; records too few to detect left out); without, the record's own `field`
    ('hallucination_rate', or 'invalid' as a share of its samples)."""
    rows = [r for r in records if r["step"] in set(steps)]
    if aggregation is None:
        return [r["invalid"] / r["n_samples"] if field == "invalid" else r[field] for r in rows]
    return [value(r, aggregation, window, field)[0] for r in rows if r["detection"]]


def invalid_share(records: list[dict], step: int) -> float:
    """The largest share of unreadable (invalid) samples among the records at checkpoint `step`."""
    return max(r["invalid"] / r["n_samples"] for r in records if r["step"] == step)


def first_usable(records: list[dict], max_invalid: float = 0.05) -> int:
    """The first checkpoint from which on every record has under `max_invalid` of its samples unreadable."""
    steps = sorted({r["step"] for r in records})
    usable = [s for i, s in enumerate(steps) if all(invalid_share(records, t) < max_invalid for t in steps[i:])]
    if not usable:
        raise ValueError(f"no checkpoint from which on fewer than {max_invalid:.0%} of the samples are unreadable")
    return usable[0]

def fork_series(records: list[dict], seed: int | None = None):
    """The fork test's held-out AUROC against training steps: steps, AUROC, standard error and the detectable
    difference, over the records that ran it (of one sampling seed, if given)."""
    rows = [r for r in records if r.get("fork") and (seed is None or r["seed"] == seed)]
    return (np.array([r["step"] for r in rows]), np.array([r["fork"]["auroc"] for r in rows]),
            np.array([r["fork"]["auroc_se"] for r in rows]), np.array([r["fork"]["detectable"] for r in rows]))


def trends(records: list[dict], keys, usable: int | None) -> dict:
    """Per (aggregation, window) in keys: the slope per tenfold steps over every record ('all'), from the first
    usable checkpoint on ('usable', nan without two usable checkpoints) and the value at the last checkpoint
    ('last': mean over seeds, standard error, seeds)."""
    last, steps = max(r["step"] for r in records), sorted({r["step"] for r in records})
    fit_usable = usable is not None and sum(step >= usable for step in steps) >= 2
    none = (float("nan"), float("nan"))
    return {key: dict(all=trend(records, *key), usable=trend(records, *key, from_step=usable) if fit_usable else none,
                      last=at_step(records, last, *key)) for key in keys}


def resolved(slope: tuple[float, float]) -> bool:
    """Whether a fitted slope (value, standard error) lies more than two standard errors from zero."""
    return abs(slope[0]) > 2 * slope[1]


PAPER_RATE = 0.05  # the paper's hallucination rate on its shapes (about 5%)


def conclusion(name: str, s: dict, records: list[dict], usable: int | None, labels, max_invalid: float) -> str:
    """What one series shows, rendered from its records (markdown bullets; rules: claims.versus_chance, two
    standard errors for a trend). name: how the series is called ('shapes', 'hands')."""
    steps = s["checkpoints"]
    first, last, before = steps[0], steps[-1], steps[:-1]
    mean, paper, best = study.MEAN, labels.paper, labels.best
    rate = {step: values_at(records, [step], field="hallucination_rate") for step in steps}
    pw, bw = trend(records, mean, paper), trend(records, mean, best)
    fit_usable = usable is not None and sum(step >= usable for step in steps) >= 2
    from_each = "; ".join(f"from {step:,} on {claims.pm(*trend(records, mean, paper, from_step=step))}"
                          for step in before[1:] if sum(t >= step for t in steps) >= 2)
    baselines = list(next(r for r in records if r["detection"])["detection"]["no trajectory"])
    unreadable = ", ".join(f"{claims.span([100 * v for v in values_at(records, [step], field='invalid')], 0)}% at "
                           f"{step:,}" for step in steps)
    lines = [
        f"**{name.capitalize()}** ({s['size']}x{s['size']}, checkpoints {first:,} to {last:,} steps, {s['seeds']} seeds "
        f"of {s['n_samples']} samples each):",
        f"- **Unreadable samples** by checkpoint: {unreadable} " + (
            f"(the first checkpoint from which on under {max_invalid:.0%}: {usable:,})." if usable is not None
            else f"(no checkpoint from which on under {max_invalid:.0%})."),
        "- **The hallucination rate** is " + ", ".join(
            f"{claims.span([100 * v for v in rate[step]], 0)}% at {step:,}" for step in steps) +
        f" (the paper's shapes: about {PAPER_RATE:.0%}); "
        + ("it reaches the paper's rate." if min(rate[last]) <= PAPER_RATE else
           f"it stays above the paper's rate at {last:,} steps."),
        f"- **In the paper's window** the AUROC is {claims.span(values_at(records, before, mean, paper))} up to "
        f"{before[-1]:,} steps and {claims.span(values_at(records, [last], mean, paper))} at {last:,}; the slope over "
        f"every record is {claims.pm(*pw)} per tenfold steps ({'a resolved trend' if resolved(pw) else 'no resolved trend'}); "
        f"from later checkpoints on: {from_each}. " + (
            f"From the first usable checkpoint ({usable:,}) on: {claims.pm(*trend(records, mean, paper, from_step=usable))}."
            if fit_usable else f"Fewer than two checkpoints have under {max_invalid:.0%} unreadable from there on, so "
            "no slope is fitted over usable checkpoints alone.")
        + f" At {last:,} steps it removes {claims.span([100 * v for v in values_at(records, [last], mean, paper, 'removed')], 0)}%"
        f" of the hallucinations at {s['retention']:.0%} kept (the paper: 95% on its shapes).",
        f"- **The best held-out window** scores {claims.span(values_at(records, steps, mean, best))} (slope {claims.pm(*bw)}); "
        + "; ".join(f"{b} (no trajectory) {claims.span(values_at(records, steps, 'no trajectory', b))}" for b in baselines)
        + ".",
    ]
    forks = [r for r in records if r.get("fork")]
    if forks:
        at_last = [r["fork"] for r in forks if r["step"] == last]
        lines.append(
            "- **The fork test** (the disagreement of continuations at the fork timestep chosen on half of the pairs, "
            "AUROC on the other half): " + ", ".join(
                f"{claims.pm(r['fork']['auroc'], r['fork']['auroc_se'], 2)} at {r['step']:,}" for r in forks
                if r["seed"] == forks[0]["seed"]) + f" (first seed); the smallest difference from 0.5 its held-out half "
            f"could detect is {forks[0]['fork']['detectable']:.2f}." + (
                "" if not at_last else f" At {last:,} steps: " + ", ".join(
                    f"{claims.versus_chance(f['auroc'], f['auroc_se'])} ({f['auroc']:.2f})" for f in at_last) + "."))
    return "\n".join(lines)


def verdict(name: str, s: dict, records: list[dict], labels) -> str:
    """The answer to 'does the paper's window recover as hallucinations fall?' for one series, from its last
    checkpoint and its trend."""
    last = s["checkpoints"][-1]
    rate = float(np.mean(values_at(records, [last], field="hallucination_rate")))
    auroc, se, _ = at_step(records, last, study.MEAN, labels.paper)
    slope = trend(records, study.MEAN, labels.paper)
    rises = slope[0] > 2 * slope[1]
    at_last = [r for r in records if r["step"] == last]
    n_hal, n_in = sum(r["hallucinated"] for r in at_last), sum(r["in_support"] for r in at_last)
    power = (f" With {n_hal} hallucinated samples there (every seed), an AUROC within "
             f"{detection.detectable_auroc_difference(n_hal, n_in):.2f} of 0.5 is no evidence of a difference."
             if n_hal and n_in else "")
    if rises and min(values_at(records, [last], field="hallucination_rate")) <= PAPER_RATE:
        return (f"On the {name}, the paper's window recovers as hallucinations fall: {claims.pm(auroc, se)} at {last:,} "
                f"steps, where {rate:.0%} of samples hallucinate (slope {claims.pm(*slope)} per tenfold steps).{power}")
    head = (f"On the {name}, the paper's window {'gains' if rises else 'does not gain'} with training "
            f"(slope {claims.pm(*slope)} per tenfold steps) and scores {claims.pm(auroc, se)} at {last:,} steps, "
            f"where the model hallucinates in {rate:.0%} of samples: ")
    if rises:
        return head + ("the paper's rate is not reached within this budget, so whether the window recovers there is "
                       "not answered here." + power)
    return head + f"the image claim fails on models that hallucinate at {rate:.0%} after {last:,} steps." + power


def ship(s: dict, work: str | os.PathLike, config: images.ImageConfig, cache_dir: str | os.PathLike) -> Path:
    """Store a series' final checkpoint as the trained model of `config` (a notebook's default) in `cache_dir`,
    without training it again: `config` must be the series' run (model_config) under another name, and training
    does not depend on the name (tests/test_budget.py), so the stored weights are those `config` trains (`make
    models` remakes them from scratch). The loss history is the run's. Returns the file written."""
    run = model_config(s)
    if {**config.to_dict(), "name": run.name} != run.to_dict():
        theirs, ours = config.to_dict(), run.to_dict()
        differ = sorted(k for k in set(theirs) | set(ours) if k != "name" and theirs.get(k) != ours.get(k))
        raise ValueError(f"the configuration differs from the {s['series']} study's run in {differ}: it would train "
                         "another model")
    work = Path(work) / train.config_key(run)
    step, loss = _checkpoint_path(work, s["checkpoints"][-1]), work / "loss.json"
    if not (step.is_file() and loss.is_file()):
        raise FileNotFoundError(f"the study's run is not finished in {work}: run `make study` first")
    payload = train.load(step)
    path = train.cache_path(config, cache_dir)
    train.save({"config": config.to_dict(), "state": payload["state"], "loss": json.loads(loss.read_text())}, path)
    return path
