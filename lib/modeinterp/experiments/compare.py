"""Detectors compared on the same samples and labels (notebook 07): the paper's variance, five published detectors
(method.detectors), our fork disagreement and the scores that never look at a trajectory.

One section at a time: its model samples `n_samples` with the paper's variance over every candidate window; the
section's labeller reads them. The cheap detectors score every sample; the expensive ones score the first samples
only, replayed bit for bit (the same seed and chunks: `stream_subset` checks it). Each detector's settings
(window, t, rho, beta, fork timestep) are its candidates: the best is chosen on the even-indexed samples and
reported on the odd-indexed ones (detection.choose), the same budget for every detector. Costs are counted in
network evaluations (NFE) and backward passes per sample, and measured in seconds per sample.
"""
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from . import budget, fork, pixels
from ..method import detection, detectors, diffusion, metric, mixtures, samplers, windows
from ..support import params
from ..support.runtime import generator

PAPER = "variance of x0_hat (paper)"
RENOISING = "re-noising uncertainty"
CURVATURE = "curvature (RODS)"
LOSS = "denoising loss (LID)"
POSTERIOR = "posterior variance"
INITIAL = "initial-noise sensitivity (LMI)"
FORK = "fork disagreement (ours)"
ORACLE = "distance to the nearest mode (oracle)"  # the toys' labelling rule as a score: a check, not evidence


@dataclass(frozen=True)
class Settings:
    """What a comparison runs: sample counts, candidates per detector, the detectors' own sizes."""

    n_samples: int  # sampled and scored by the cheap detectors
    n_stream: int  # the first n_stream are scored by the streamed expensive detectors (a multiple of chunk)
    n_rerun: int  # the first n_rerun are scored by the initial-noise sensitivity and the fork disagreement
    candidate_windows: list  # fractions of T: the windows of the variance, the re-noising and the curvature
    loss_t: list  # fractions of T: the denoising loss's and the posterior variance's timesteps
    rho: list  # the curvature's step sizes
    beta: list  # the initial-noise perturbations
    fork_at: list  # fractions of T: the fork timesteps
    M: int = 5  # re-noisings per step
    k: int = 8  # re-noisings of the denoising loss
    probes: int = 2  # Hutchinson probes of the posterior variance
    reruns: int = 4  # reruns of the initial-noise sensitivity
    continuations: int = 3  # per fork timestep
    retention: float = 0.95
    seed: int = 0
    chunk: int = 64

    def check(self, T: int) -> None:
        """Clear errors before any compute."""
        params.integer("n_samples", self.n_samples, low=4)
        params.integer("chunk", self.chunk, low=1)
        params.integer("n_stream", self.n_stream, low=0, high=self.n_samples)
        if self.n_stream % self.chunk and self.n_stream != self.n_samples:
            params.fail("n_stream", f"a multiple of chunk ({self.chunk}), so that its samples replay bit for bit",
                        self.n_stream)
        params.integer("n_rerun", self.n_rerun, low=0, high=self.n_samples)
        params.intervals("candidate_windows", self.candidate_windows)
        for name, low, high in (("loss_t", 0, 1), ("fork_at", 0, 1), ("rho", 0, None), ("beta", 0, None)):
            for v in params.reals(name, getattr(self, name), min_len=0):
                params.real(name, v, low=low, high=high, low_open=name in ("rho", "beta"))
        for name in ("M", "k", "probes", "continuations"):
            params.integer(name, getattr(self, name), low=1)
        params.integer("reruns", self.reruns, low=2)
        params.real("retention", self.retention, low=0.5, high=1)


@dataclass
class Scored:
    """One detector's candidate scores on the samples it scored (the first n of them), and its costs."""

    name: str
    candidates: dict  # label of a setting -> score per scored sample
    nfe: float  # network evaluations per sample (beyond sampling)
    backward: float = 0.0  # backward passes per sample
    seconds: float = float("nan")  # measured, per sample
    note: str = ""


@dataclass
class Row:
    """A detector's held-out result."""

    name: str
    chosen: str
    detection: detection.Detection
    n_scored: int
    n_hallucinated: int  # on the reporting half
    ranking: dict  # every candidate's AUROC on the choosing half
    nfe: float
    backward: float
    seconds: float
    note: str = ""
    n_in_support: int = 0  # on the reporting half

    def detectable(self, level: float = 0.05) -> float:
        """The smallest distance of an AUROC from chance that the reporting half's samples detect at `level`
        (detection.detectable_auroc_difference): a measured difference below it is no evidence of one."""
        return detection.detectable_auroc_difference(self.n_hallucinated, self.n_in_support, level)


@dataclass
class Comparison:
    """A section's comparison: the rows (best first as measured), and what was sampled."""

    section: str
    rows: list[Row]
    n_samples: int
    hallucinated: np.ndarray
    kept: np.ndarray
    sampling_seconds: float  # per sample
    scored: list[Scored] = field(default_factory=list)


def window_columns(ws: Sequence, T: int) -> list[tuple[str, tuple[int, int]]]:
    """(label, window in timesteps) per candidate window given as fractions of T."""
    return [(f"t={w[0]}..{w[1]}", w) for w in windows.windows_from_fractions(ws, T)]


@dataclass(frozen=True)
class Sampler:
    """A section's sampler as `run` calls it, sample(n, windows, statistics) -> Samples: samplers.ddpm from a fresh
    generator(seed, device) at every call, so that it draws the same first n samples every time (those of the
    section's notebook, for its seed and options). options: ddpm's keywords (n_steps, noise, clip, chunk,
    processes, progress). A class rather than a closure, so that a notebook needs no function of its own."""

    model: Callable
    schedule: diffusion.Schedule
    shape: tuple
    seed: int
    device: object = "cpu"
    options: dict = field(default_factory=dict)

    def __call__(self, n: int, windows: Sequence, statistics: dict) -> samplers.Samples:
        return samplers.ddpm(self.model, self.schedule, n, self.shape, generator(self.seed, self.device),
                             windows=windows, statistics=statistics, **self.options)

    def step(self) -> samplers.DDPMStep:
        """The step rule it samples with (the reruns of the initial-noise sensitivity and the fork disagreement)."""
        return samplers.DDPMStep(model=self.model, alpha_bar=self.schedule.alpha_bar.tolist(),
                                 clip=self.options.get("clip"), noise=self.options.get("noise", "beta"))


@dataclass(frozen=True)
class MixtureLabels:
    """A toy section's labels as `run` reads them: hallucinated farther than 6 standard deviations from every
    mode (notebooks 01 and 02), every sample readable, no groups, and one baseline, the distance to the nearest
    mode in standard deviations (ORACLE): the labelling rule itself, so a check of the pipeline, not evidence."""

    mixture: mixtures.GaussianMixture

    def __call__(self, x0: torch.Tensor) -> dict:
        return dict(hal=self.mixture.hallucinated(x0).numpy(), keep=np.ones(len(x0), bool), groups=None,
                    baselines={ORACLE: self.mixture.sigmas_to_nearest(x0).numpy()})


@dataclass(frozen=True)
class ImageLabels:
    """An image section's labels as `run` reads them: budget.label of the samples mapped to [0, 1] ('shapes': the
    shape counter, groups of equal shape count, the pixel baselines; 'hands': both finger counters, the pixel
    baselines), with the counts that the fork disagreement compares its continuations with."""

    series: str

    def __call__(self, x0: torch.Tensor) -> dict:
        return budget.label({"series": self.series}, pixels.to_unit(x0[:, 0].numpy()))


def run(section: str, sample: Callable, label: Callable, model, alpha_bar: list[float], schedule, T: int,
        settings: Settings, *, step=None, read: Callable | None = None, progress: bool = True,
        device="cpu") -> Comparison:
    """Compare every detector on one section. sample(n, windows, statistics) -> Samples draws the section's
    first n samples (always the same for the same n: its own seed and chunk; e.g. a Sampler); label(x0) -> dict
    with 'hal', 'keep' (per sample), 'groups' (or None), 'baselines' (name -> score) and, for the fork
    disagreement, 'counts'. step and read (the sampler's step rule and the section's counter) enable the fork
    disagreement; model and alpha_bar feed the detectors that call the network; schedule the post-hoc ones.
    device: where the model is (the post-hoc detectors and the reruns compute there)."""
    settings.check(T)
    cand = window_columns(settings.candidate_windows, T)
    start = time.perf_counter()
    main = sample(settings.n_samples, [w for _, w in cand], {})
    sampling = (time.perf_counter() - start) / settings.n_samples
    lab = label(main.x0)
    hal, keep = np.asarray(lab["hal"], bool), np.asarray(lab["keep"], bool)
    scored = [Scored(PAPER, {name: main.variance[w].numpy() for name, w in cand}, 0.0, seconds=0.0,
                     note="streamed with the sampler")]
    scored += _streamed(sample, main, model, alpha_bar, cand, settings, sampling)
    scored += _posthoc(model, alpha_bar, schedule, main.x0, T, settings, device)
    if settings.n_rerun and step is not None and settings.beta:
        scored.append(_initial(step, main, settings, device))
    if settings.n_rerun and step is not None and read is not None and settings.fork_at:
        scored.append(_fork(step, main, lab, read, T, settings, device))
    for name, score in lab["baselines"].items():
        scored.append(Scored(name, {"": np.asarray(score, float)}, 0.0, seconds=0.0, note="no trajectory"))
    rows = [_row(s, hal, keep, lab.get("groups"), settings.retention) for s in scored]
    rows = [r for r in rows if r is not None]
    return Comparison(section, sorted(rows, key=lambda r: -r.detection.auroc), settings.n_samples, hal, keep,
                      sampling, scored)


def _streamed(sample, main, model, alpha_bar, cand, settings, sampling) -> list[Scored]:
    """The re-noising uncertainty and the curvature over the union of the candidate windows, on the first
    n_stream samples, each in its own replay (timed apart)."""
    n = settings.n_stream
    if n == 0:
        return []
    union = (min(w[0] for _, w in cand), max(w[1] for _, w in cand))
    visited = detectors.steps(union, main.timesteps)
    out = []
    kinds = [(RENOISING, {"": detectors.Renoising(model=model, alpha_bar=alpha_bar, window=union, M=settings.M,
                                                  seed=settings.seed + 11)}, "sum", settings.M, 0)]
    kinds += [(CURVATURE, {f"rho={r:g}": detectors.Curvature(model=model, alpha_bar=alpha_bar, window=union, rho=r)
                           for r in settings.rho}, "max", 2, 2)]
    for name, stats, reduce, nfe, backward in kinds:
        if not stats:
            continue
        start = time.perf_counter()
        sub = sample(n, [], stats)
        seconds = (time.perf_counter() - start) / n - sampling
        if not torch.equal(sub.x0, main.x0[:n]):
            raise RuntimeError(f"{name}: the first {n} samples did not replay bit for bit")
        candidates = {}
        for setting, _ in stats.items():
            for wname, w in cand:
                key = f"{wname}, {setting}" if setting else wname
                candidates[key] = detectors.window_score(sub.stats[setting], visited, w, reduce).numpy()
        per_step = len(stats) * nfe
        out.append(Scored(name, candidates, per_step * len(visited), len(stats) * backward * len(visited), seconds,
                          f"{reduce} over the window; costs over all {len(visited)} steps of t={union[0]}..{union[1]}"))
    return out


def _posthoc(model, alpha_bar, schedule, x0, T, settings, device="cpu") -> list[Scored]:
    """The denoising loss and the posterior variance at each candidate t, on every sample."""
    ts = sorted({int(round(f * (T - 1))) for f in settings.loss_t})
    if not ts:
        return []
    out = []
    g = generator(settings.seed + 12, device)
    start = time.perf_counter()
    loss = metric.posthoc(model, schedule, x0, [t for t in ts for _ in range(settings.k)], g,
                          {t: detectors.DenoisingLoss(t) for t in ts}, chunk=settings.chunk)
    out.append(Scored(LOSS, {f"t={t}": v.numpy() for t, v in loss.items()}, settings.k * len(ts),
                      seconds=(time.perf_counter() - start) / len(x0), note=f"k={settings.k} draws per t"))
    g = generator(settings.seed + 13, device)
    start = time.perf_counter()
    stats = {t: detectors.PosteriorVariance(model=model, alpha_bar=alpha_bar, t=t, probes=settings.probes,
                                            seed=settings.seed + 14) for t in ts}
    pv = metric.posthoc(model, schedule, x0, ts, g, stats, chunk=settings.chunk)
    out.append(Scored(POSTERIOR, {f"t={t}": v.numpy() for t, v in pv.items()}, (1 + settings.probes) * len(ts),
                      settings.probes * len(ts), (time.perf_counter() - start) / len(x0),
                      f"{settings.probes} Hutchinson probes per t"))
    return out


def _initial(step, main, settings, device="cpu") -> Scored:
    """The initial-noise sensitivity of the first n_rerun samples for each beta."""
    n, candidates = settings.n_rerun, {}
    start = time.perf_counter()
    for beta in settings.beta:
        candidates[f"beta={beta:g}"] = detectors.initial_noise_sensitivity(
            step, main.timesteps, main.seed, range(n), tuple(main.x0.shape[1:]), beta=beta, reruns=settings.reruns,
            seed=settings.seed + 15, chunk=settings.chunk, device=device).numpy()
    steps = len(main.timesteps)
    return Scored(INITIAL, candidates, settings.reruns * steps * len(settings.beta), 0.0,
                  (time.perf_counter() - start) / n, f"{settings.reruns} reruns per beta")


def _fork(step, main, lab, read, T, settings, device="cpu") -> Scored:
    """The share of a sample's continuations whose counts change, per fork timestep, on the first n_rerun
    samples (it reads the continuations with the section's counter: not training-free in the labeller's sense)."""
    n = settings.n_rerun
    forks = fork.fork_timesteps(main.timesteps, settings.fork_at, T)
    start = time.perf_counter()
    ft = fork.fork_test(step, main.timesteps, main.seed, np.arange(n), np.asarray(lab["hal"])[:n],
                        np.asarray(lab["counts"])[:n], read, tuple(main.x0.shape[1:]), forks=forks,
                        continuations=settings.continuations, seed=settings.seed + 16, chunk=settings.chunk,
                        device=device)
    share = ft.changed.mean(2)
    ts = main.timesteps
    nfe = settings.continuations * sum(len(ts) - ts.index(t) for t in forks) + len(ts)
    return Scored(FORK, {f"fork at t={t}": share[:, f] for f, t in enumerate(forks)}, nfe, 0.0,
                  (time.perf_counter() - start) / n, "reads its continuations with the section's counter")


def _row(s: Scored, hal, keep, groups, retention) -> Row | None:
    """A detector's held-out row on the readable samples it scored (None if they hold too few of a class; its
    AUROC within groups None if no group of the reporting half holds both kinds)."""
    n = len(next(iter(s.candidates.values())))
    rows = keep[:n]
    h = hal[:n][rows]
    half = ~detection.held_out(int(rows.sum()))
    if min(h[half].sum(), (~h[half]).sum(), h[~half].sum(), (~h[~half]).sum()) < 2:
        return None
    g = None if groups is None else np.asarray(groups)[:n][rows]
    if g is not None and not any(0 < h[~half][g[~half] == v].sum() < (g[~half] == v).sum() for v in np.unique(g[~half])):
        g = None  # no group of the reporting half holds both kinds (a small subset): no AUROC within groups
    chosen, d, ranking = detection.choose({k: np.asarray(v)[rows] for k, v in s.candidates.items()}, h, retention, g)
    return Row(s.name, chosen, d, n, int(h[~half].sum()), ranking, s.nfe, s.backward, s.seconds, s.note,
               int((~h[~half]).sum()))


def table(c: Comparison) -> str:
    """The comparison as text: one line per detector, best first."""
    lines = [f"{c.section}: {c.hallucinated[c.kept].sum()} hallucinated of {c.kept.sum()} readable samples "
             f"({c.n_samples} drawn; sampling {c.sampling_seconds * 1000:.1f} ms per sample)"]
    for r in c.rows:
        within = "" if r.detection.within is None else f", within groups {r.detection.within:.3f}"
        lines.append(f"{r.name:>34}: AUROC {r.detection.auroc:.3f} +- {r.detection.se:.3f}{within} "
                     f"[{r.chosen or 'no setting'}; {r.n_hallucinated} hallucinated and {r.n_in_support} in support held "
                     f"out of {r.n_scored} scored]; {r.detection.op.removed:.0%} removed at {r.detection.op.retention:.0%} kept; "
                     f"{r.nfe:g} NFE + {r.backward:g} backward per sample, {r.seconds * 1000:.1f} ms")
    return "\n".join(lines)
