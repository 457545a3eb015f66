"""Samplers: DDPM ancestral (all steps or a strided subset) and DDIM, with the paper's metric streamed.

A sampler is a step rule run by one reverse loop (`reverse`). The rule takes x_t at timestep t to x0_hat and to
x_{t_prev}, the state at the next visited timestep, and may return the model's eps too (`DDPMStep`, `DDIMStep`;
modeinterp.interfaces.hf wraps diffusers' schedulers in the same form). The loop, `_reverse_chunk`, is the
algorithm as one reads it: x_T ~ N(0, I); at every visited t, z ~ N(0, I) (z = 0 at the last step, as DDPM's
Algorithm 2), the step, and every statistic's update (metric.Statistic: the paper's variance of x0_hat over each
window, by Welford's method, is one; memory O(N x D), not O(N x T x D)). Around it: chunks of rows, and the
samples split by index over processes (support.parallel), neither of which changes a number.

`model(x_t, t)` predicts eps; `t` is passed as a Python int, the same for every row of a step. The computation runs
on the generator's device (the model must be there too); what is returned is on the CPU. Every sample draws its
noise from its own stream (see `noise`), seeded by the generator and the sample's index: the samples and the
metric depend neither on `chunk` nor on `processes`.
"""
import copy
import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial

import torch
from tqdm.auto import tqdm

from . import diffusion, metric
from ..support import parallel
from .diffusion import Schedule, predict_x0
from .noise import Streams, run_seed
from ..support.runtime import show_progress
from .windows import Window, timesteps

NOISE = "counter-based Box-Muller"  # how samplers draw noise: part of the key of any model trained on samples


@dataclass
class Samples:
    """What a sampler returns."""

    x0: torch.Tensor  # the samples, N x ...
    timesteps: list[int]  # the timesteps visited, noisiest first
    stats: dict[Hashable, torch.Tensor] = field(default_factory=dict)  # each statistic's result by name, shape N
    x_t: torch.Tensor | None = None  # steps x n_trajectories x ...: the state entering each step
    x0_hat: torch.Tensor | None = None  # steps x n_trajectories x ...: x0_hat at each step
    seed: int | None = None  # the run's seed: sample i's noise is stream i of it (see `resume`)

    @property
    def variance(self) -> dict[Window, torch.Tensor]:
        """The paper's metric by window (metric.window_statistics), shape N each."""
        return metric.by_window(self.stats)

    @property
    def local(self) -> dict[str, dict[Window, torch.Tensor]]:
        """The local aggregations of the variance map: name -> window -> N."""
        names = dict.fromkeys(k.name for k in self.stats if isinstance(k, metric.WindowKey))
        return {name: metric.by_window(self.stats, name) for name in names if name != metric.VARIANCE}


# ---- the samplers: a step rule each, run by `reverse`

def ddpm(model, schedule: Schedule, n: int, shape: Sequence[int], generator: torch.Generator, *,
         n_steps: int | None = None, windows: Sequence[Window] = (), n_trajectories: int = 0,
         noise: str = "beta", clip: float | None = None, chunk: int = 2048, progress: bool = True,
         aggregations: dict | None = None, statistics: dict | None = None, processes: int = 1) -> Samples:
    """DDPM ancestral sampling; noise: the variance of the noise added at each step, beta_t ('beta', as the
    paper) or the posterior's ('posterior').

    clip: clamp x0_hat to [-clip, clip] at every step (images in [-1, 1]: clip=1, as in DDPM's image code).
    windows: the paper's metric over each (`variance`); aggregations: name -> f(variance map, x0) -> N (e.g.
    metric.largest_patch(4)), reported in `local` beside the paper's mean over dimensions.
    statistics: further name -> metric.Statistic, streamed alike, results in `stats` by name.
    processes: split the samples by index over this many processes (one GPU each on CUDA; see parallel); the
    model, aggregations and statistics must then be picklable. The result does not depend on it (per-sample noise).
    """
    if noise not in DDPMStep.NOISE:
        raise ValueError(f"noise must be 'beta' or 'posterior'; got {noise!r}")
    step = DDPMStep(model=model, alpha_bar=schedule.alpha_bar.tolist(), clip=clip, noise=noise)
    return reverse(step, timesteps(schedule.T, n_steps), n, shape, generator, windows=windows,
                   n_trajectories=n_trajectories, chunk=chunk, progress=progress, aggregations=aggregations,
                   statistics=statistics, processes=processes)


def ddim(model, schedule: Schedule, n: int, shape: Sequence[int], generator: torch.Generator, *,
         n_steps: int | None = None, eta: float | Callable[[int], float] = 0.0, windows: Sequence[Window] = (),
         n_trajectories: int = 0, clip: float | None = None, chunk: int = 2048, progress: bool = True,
         aggregations: dict | None = None, statistics: dict | None = None, processes: int = 1) -> Samples:
    """DDIM (Song et al., 2021): deterministic at eta=0, DDPM-like noise at eta=1; `eta` may be a function
    of the timestep t (e.g. stochastic only in some steps). clip, windows, aggregations, statistics, processes: as
    for ddpm (with processes > 1 a function eta must be picklable, e.g. eta_below)."""
    ts = timesteps(schedule.T, n_steps)
    step = DDIMStep(model=model, alpha_bar=schedule.alpha_bar.tolist(), clip=clip, eta=eta_schedule(eta, ts))
    return reverse(step, ts, n, shape, generator, windows=windows, n_trajectories=n_trajectories, chunk=chunk,
                   progress=progress, aggregations=aggregations, statistics=statistics, processes=processes)


@dataclass(frozen=True, kw_only=True)
class EpsStep:
    """What DDPM's and DDIM's steps share: eps = model(x_t, t) and x0_hat from it, clamped to [-clip, clip]
    (with eps made consistent) if clip is set. Picklable, so that processes can run it."""

    model: Callable
    alpha_bar: list[float]  # alpha_bar[t] for t = 0..T-1
    clip: float | None = None

    def x0_hat(self, x_t: torch.Tensor, t: int, t_prev: int | None):
        """(alpha_bar_t, alpha_bar_prev, eps, x0_hat) at timestep t; alpha_bar_prev = 1 at the last step."""
        ab_t = self.alpha_bar[t]
        ab_prev = 1.0 if t_prev is None else self.alpha_bar[t_prev]
        eps = self.model(x_t, t)
        x0_hat = predict_x0(x_t, eps, ab_t)
        if self.clip is not None:
            x0_hat = x0_hat.clamp(-self.clip, self.clip)
            eps = (x_t - math.sqrt(ab_t) * x0_hat) / math.sqrt(1 - ab_t)
        return ab_t, ab_prev, eps, x0_hat

    def to(self, device) -> "EpsStep":
        """A copy whose model (an nn.Module) is on `device`; the caller's model stays where it is."""
        if not isinstance(self.model, torch.nn.Module):
            return self
        return replace(self, model=copy.deepcopy(self.model).to(device))


@dataclass(frozen=True, kw_only=True)
class DDPMStep(EpsStep):
    """One step of DDPM's ancestral sampler (Ho et al., 2020, Algorithm 2) from t to t_prev, strided or not."""

    NOISE = ("beta", "posterior")
    noise: str = "beta"  # the variance of the noise added: beta of the (strided) step, or the posterior's

    def __call__(self, x_t: torch.Tensor, t: int, t_prev: int | None, z: torch.Tensor | None):
        """(x0_hat, x_prev, eps): x_prev the mean of q(x_prev | x_t, x0_hat) plus the noise z scaled to its
        variance."""
        ab_t, ab_prev, eps, x0_hat = self.x0_hat(x_t, t, t_prev)
        mean, posterior_var = diffusion.posterior(x_t, x0_hat, ab_t, ab_prev)
        if z is None:  # the last step returns the mean
            return x0_hat, mean, eps
        var = 1 - ab_t / ab_prev if self.noise == "beta" else posterior_var
        return x0_hat, mean + math.sqrt(var) * z, eps


@dataclass(frozen=True, kw_only=True)
class DDIMStep(EpsStep):
    """One DDIM step (Song et al., 2021, eq. 12) from t to t_prev with eta(t)."""

    eta: Callable[[int], float]  # see eta_schedule

    def __call__(self, x_t: torch.Tensor, t: int, t_prev: int | None, z: torch.Tensor | None):
        """(x0_hat, x_prev, eps): x_prev is x0_hat noised back to t_prev along eps, plus sigma_t z."""
        ab_t, ab_prev, eps, x0_hat = self.x0_hat(x_t, t, t_prev)
        sigma = self.eta(t) * math.sqrt((1 - ab_prev) / (1 - ab_t) * (1 - ab_t / ab_prev))
        x_prev = math.sqrt(ab_prev) * x0_hat + math.sqrt(max(1 - ab_prev - sigma**2, 0.0)) * eps
        return x0_hat, x_prev if z is None or sigma == 0 else x_prev + sigma * z, eps


def eta_schedule(eta: float | Callable[[int], float], ts: Sequence[int]) -> Callable[[int], float]:
    """DDIM's eta as a (picklable) function of the timestep, checked to lie in [0, 1] at every timestep in ts."""
    eta_at = eta if callable(eta) else partial(_constant, eta)
    for t in ts:
        if not 0 <= eta_at(t) <= 1:
            raise ValueError(f"eta must be in [0, 1]; got {eta_at(t)} at t={t}")
    return eta_at


def _constant(value: float, t: int) -> float:
    return value


def eta_below(t_max: int, eta: float = 1.0) -> Callable[[int], float]:
    """An eta schedule for `ddim`: stochastic (`eta`) at timesteps below t_max, deterministic above."""
    return partial(_eta_below, t_max, eta)


def _eta_below(t_max: int, eta: float, t: int) -> float:
    return eta if t < t_max else 0.0


# ---- the reverse process, shared by every sampler

@dataclass(frozen=True, kw_only=True)
class Work:
    """One sampling run but for which samples: what every chunk of rows, in every process, runs."""

    step: Callable  # step(x_t, t, t_prev, z) -> (x0_hat, x_prev[, eps]); t_prev is None at the last step
    timesteps: list[int]  # visited, noisiest first
    shape: tuple[int, ...]  # of one sample
    seed: int  # the run's seed: sample i's noise is stream i of it (see noise)
    statistics: dict[Hashable, metric.Statistic] = field(default_factory=dict)  # name -> what is streamed
    n_trajectories: int = 0  # samples 0..n_trajectories-1 have x_t and x0_hat recorded at every step
    chunk: int = 2048  # rows run at once
    progress: bool = True
    last_step_noise: bool = False  # whether the last step adds noise too (some diffusers schedulers)

    def to(self, device) -> "Work":
        """This run with its step's model, and any statistic that can move, on `device` (the rest as it is)."""
        step = self.step.to(device) if hasattr(self.step, "to") else self.step
        statistics = {name: stat.to(device) if hasattr(stat, "to") else stat for name, stat in self.statistics.items()}
        return replace(self, step=step, statistics=statistics)


@torch.no_grad()
def reverse(step: Callable, timesteps: Sequence[int], n: int, shape: Sequence[int], generator: torch.Generator, *,
            windows: Sequence[Window] = (), n_trajectories: int = 0, chunk: int = 2048, progress: bool = True,
            aggregations: dict | None = None, statistics: dict | None = None, processes: int = 1,
            last_step_noise: bool = False) -> Samples:
    """Run `step` (see Work) through `timesteps` for n samples of `shape`, streaming the metric over `windows` (with
    its `aggregations`, see metric.window_statistics) and any further `statistics` (name -> metric.Statistic), in
    this process or split by sample index over `processes` (then `step` and what is streamed must be picklable)."""
    processes = parallel.check(processes, generator.device)
    statistics = {**metric.window_statistics(windows, aggregations), **(statistics or {})}
    metric.check(statistics, timesteps)
    work = Work(step=step, timesteps=list(timesteps), shape=tuple(shape), seed=run_seed(generator),
                statistics=statistics, n_trajectories=n_trajectories, chunk=chunk, progress=progress,
                last_step_noise=last_step_noise)
    if processes == 1:
        return _rows(work, 0, n, generator.device)
    # a copy on the CPU travels to the processes, not the GPU's memory
    parts = parallel.run(_shard, (work.to("cpu"), n, generator.device), processes, generator.device)
    return _joined(work, parts)


def _shard(work: Work, n: int, device) -> Samples:
    """This process's slice of the samples 0..n-1 (in one of parallel.run's processes): whole chunks, the same
    chunks of rows that one process would run, so that a network whose rounding depends on how many rows it
    computes at once (e.g. oneDNN's convolutions) gives the same samples in any number of processes."""
    index, world = parallel.rank()
    device = parallel.local_device(device)
    chunks = math.ceil(n / work.chunk)
    first, stop = (min(n, work.chunk * (chunks * i // world)) for i in (index, index + 1))
    return _rows(work.to(device), first, stop, device)


def _rows(work: Work, first: int, stop: int, device) -> Samples:
    """Samples first..stop-1, a chunk of rows at a time."""
    starts = range(first, stop, work.chunk)
    bar = tqdm(total=len(starts) * len(work.timesteps), desc="sampling", leave=False,
               disable=not show_progress(work.progress) or first > 0)
    parts = [_reverse_chunk(work, start, min(work.chunk, stop - start), device, bar.update) for start in starts]
    bar.close()
    return _joined(work, parts)


@torch.no_grad()
def _reverse_chunk(work: Work, start: int, rows: int, device, tick: Callable = lambda: None) -> Samples:
    """Samples start..start+rows-1 from x_T to x_0, every statistic streamed (e.g. the variance of x0_hat over
    every window)."""
    ts = work.timesteps
    streams = Streams(work.seed, start, rows, work.shape, len(ts), device)  # x_T, then a draw per step but the last
    x_t = streams.randn()  # x_T ~ N(0, I)
    accumulators = metric.started(work.statistics, torch.arange(start, start + rows, device=device))
    kept = max(0, min(rows, work.n_trajectories - start))  # rows whose trajectories are recorded
    trajectory = torch.empty(2, len(ts), kept, *work.shape) if kept else None  # x_t and x0_hat, on the CPU
    for i, visit in enumerate(_walk(work.step, ts, x_t, streams, work.last_step_noise)):
        metric.feed(accumulators, visit)
        if kept:
            trajectory[0, i], trajectory[1, i] = visit.x_t[:kept], visit.x0_hat[:kept]
        x_t = visit.x_prev
        tick()
    return Samples(x0=x_t.cpu(), timesteps=list(ts), seed=work.seed,
                   stats=metric.finished(work.statistics, accumulators, x_t),
                   x_t=trajectory[0] if kept else None, x0_hat=trajectory[1] if kept else None)


def _walk(step: Callable, ts: Sequence[int], x_t: torch.Tensor, streams: Streams, last_step_noise: bool = False):
    """The reverse process from x_t (entering ts[0]): yields a metric.Visit at every visited t (eps None if the
    step does not return it), z drawn from `streams` at every step but the last (z = 0 there, as DDPM's
    Algorithm 2, unless last_step_noise)."""
    ts = list(ts)
    for t, t_prev in zip(ts, ts[1:] + [None]):
        z = streams.randn() if t_prev is not None or last_step_noise else None
        x0_hat, x_prev, *eps = step(x_t, t, t_prev, z)
        yield metric.Visit(t, x_t, eps[0] if eps else None, x0_hat, x_prev, z)
        x_t = x_prev


@torch.no_grad()
def resume(step: Callable, timesteps: Sequence[int], seed: int, index: Sequence[int], shape: Sequence[int], *,
           x_t: torch.Tensor | None = None, perturb: tuple[float, int] | None = None, keep: Sequence[int] = (),
           chunk: int = 256, device="cpu", last_step_noise: bool = False) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
    """Samples `index` of the run seeded `seed` (`Samples.seed`), each with its own noise stream, through
    `timesteps`: from x_T (drawn as `reverse` draws it, so that a sample comes back as that run drew it, up to
    the rounding of a different batch) or, if x_t is given (one row per index), from those states entering
    timesteps[0] (a fork: e.g. fresh continuations under a new seed). perturb = (beta, seed) adds to every draw of
    a sample's noise (x_T and each step's z) beta times the same draw of its stream in a run seeded `seed`: a
    rerun of the sample as a function of all its noise, perturbed. Returns (x_0, {t: x_t entering t, for each
    visited t in keep}), on the CPU."""
    index, ts = torch.as_tensor(index, dtype=torch.int64).reshape(-1), list(timesteps)
    if x_t is not None and len(x_t) != len(index):
        raise ValueError(f"x_t must hold one row per index: {len(index)}; got {len(x_t)}")
    missing = sorted(set(keep) - set(ts))
    if missing:
        raise ValueError(f"keep holds timesteps the sampler does not visit: {missing[:5]}")
    x0, kept = [], {t: [] for t in keep}
    for start in range(0, len(index), chunk):
        rows = index[start:start + chunk]
        streams = Streams.at(seed, rows, shape, device)
        if perturb is not None:
            streams = _Perturbed(streams, Streams.at(perturb[1], rows, shape, device), perturb[0])
        x = streams.randn() if x_t is None else x_t[start:start + chunk].to(device)
        for visit in _walk(step, ts, x, streams, last_step_noise):
            if visit.t in kept:
                kept[visit.t].append(visit.x_t.cpu())
            x = visit.x_prev
        x0.append(x.cpu())
    empty = torch.empty(0, *shape)
    return (torch.cat(x0) if x0 else empty), {t: torch.cat(v) if v else empty for t, v in kept.items()}


class _Perturbed:
    """Noise streams whose every draw is moved by beta times the same draw of other streams (see resume)."""

    def __init__(self, streams: Streams, other: Streams, beta: float):
        self.streams, self.other, self.beta = streams, other, beta

    def randn(self) -> torch.Tensor:
        return self.streams.randn() + self.beta * self.other.randn()


def _joined(work: Work, parts: list[Samples]) -> Samples:
    """The samples of consecutive parts (chunks, or processes' slices) as one."""
    def cat(tensors, empty):
        return torch.cat(tensors) if tensors else empty

    return Samples(
        x0=cat([p.x0 for p in parts], torch.empty(0, *work.shape)), timesteps=list(work.timesteps),
        stats={name: cat([p.stats[name] for p in parts], torch.empty(0)) for name in work.statistics},
        x_t=_trajectories([p.x_t for p in parts]), x0_hat=_trajectories([p.x0_hat for p in parts]), seed=work.seed)


def _trajectories(parts: list[torch.Tensor | None]) -> torch.Tensor | None:
    """The recorded trajectories of consecutive parts (steps x rows x ...) as one, or None if none recorded any."""
    recorded = [p for p in parts if p is not None]
    return torch.cat(recorded, dim=1) if len(recorded) > 1 else (recorded[0] if recorded else None)
