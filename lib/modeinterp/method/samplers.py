"""Samplers: DDPM ancestral (all steps or a strided subset) and DDIM.

Each sampler is a plain function: it takes its random generator, runs the reverse process in chunks of rows,
and returns the samples, the trajectory variance of x0_hat over any number of windows (streamed, memory
O(N x D)), and, on request, the full trajectories of the first few samples for plotting. `model(x_t, t)`
predicts eps; `t` is passed as a Python int, the same for every row of a step. The computation runs on the
generator's device (the model must be there too); what is returned is on the CPU. Every sample draws its noise
from its own stream (see `noise`), seeded by the generator and the sample's index: the samples and the metric do
not depend on `chunk`. `reverse` is that loop for any step function (modeinterp.hf runs diffusers' schedulers
in it).
"""
import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial

import torch
from tqdm.auto import tqdm

from . import diffusion
from ..support import parallel
from .diffusion import Schedule, predict_x0
from .metric import Welford
from .noise import Streams, run_seed
from ..support.runtime import show_progress
from .windows import Window, timesteps

NOISE = "counter-based Box-Muller"  # how samplers draw noise: part of the key of any model trained on samples


@dataclass
class Samples:
    """What a sampler returns."""

    x0: torch.Tensor  # the samples, N x ...
    timesteps: list[int]  # the timesteps visited, noisiest first
    variance: dict[Window, torch.Tensor] = field(default_factory=dict)  # window -> metric, shape N
    local: dict[str, dict[Window, torch.Tensor]] = field(default_factory=dict)  # aggregation -> window -> N
    x_t: torch.Tensor | None = None  # steps x n_trajectories x ...: the state entering each step
    x0_hat: torch.Tensor | None = None  # steps x n_trajectories x ...: x0_hat at each step


def ddpm(model, schedule: Schedule, n: int, shape: Sequence[int], generator: torch.Generator, *,
         n_steps: int | None = None, windows: Sequence[Window] = (), n_trajectories: int = 0,
         noise: str = "beta", clip: float | None = None, chunk: int = 2048, progress: bool = True,
         aggregations: dict | None = None, processes: int = 1) -> Samples:
    """DDPM ancestral sampling; noise: the variance of the noise added at each step, beta_t ('beta', as the
    paper) or the posterior's ('posterior').

    clip: clamp x0_hat to [-clip, clip] at every step (images in [-1, 1]: clip=1, as in DDPM's image code).
    aggregations: name -> f(variance map, x0) -> N (e.g. metric.largest_patch(4)), reported in `local` beside the
    paper's mean over dimensions.
    processes: split the samples by index over this many processes (one GPU each on CUDA; see parallel); the
    model and aggregations must then be picklable. The result does not depend on it (per-sample noise).
    """
    if noise not in ("beta", "posterior"):
        raise ValueError(f"noise must be 'beta' or 'posterior'; got {noise!r}")
    ts = timesteps(schedule.T, n_steps)
    advance = EpsAdvance(partial(_ddpm_step, noise), model, schedule.alpha_bar.tolist(), ts, clip)
    return reverse(advance, ts, n, shape, generator, windows, n_trajectories, chunk, progress, aggregations, processes)


def _ddpm_step(kind, x_t, eps, x0_hat, t, ab_t, ab_prev, noise):
    """One DDPM step from x_t with noise of `kind` ('beta' or 'posterior'; the last step, noise None, returns
    the posterior mean)."""
    mean, posterior_var = diffusion.posterior(x_t, x0_hat, ab_t, ab_prev)
    if noise is None:  # the last step returns the mean
        return mean
    var = 1 - ab_t / ab_prev if kind == "beta" else posterior_var  # beta_t, or the posterior's
    return mean + math.sqrt(var) * noise


def ddim(model, schedule: Schedule, n: int, shape: Sequence[int], generator: torch.Generator, *,
         n_steps: int | None = None, eta: float | Callable[[int], float] = 0.0, windows: Sequence[Window] = (),
         n_trajectories: int = 0, clip: float | None = None, chunk: int = 2048, progress: bool = True,
         aggregations: dict | None = None, processes: int = 1) -> Samples:
    """DDIM (Song et al., 2021): deterministic at eta=0, DDPM-like noise at eta=1; `eta` may be a function
    of the timestep t (e.g. stochastic only in some steps). clip, aggregations, processes: as for ddpm (with
    processes > 1 a function eta must be picklable, e.g. eta_below)."""
    ts = timesteps(schedule.T, n_steps)
    advance = EpsAdvance(partial(_ddim_step, eta_schedule(eta, ts)), model, schedule.alpha_bar.tolist(), ts, clip)
    return reverse(advance, ts, n, shape, generator, windows, n_trajectories, chunk, progress, aggregations, processes)


def _ddim_step(eta_at, x_t, eps, x0_hat, t, ab_t, ab_prev, noise):
    """One DDIM step from x_t with eta_at(t)."""
    sigma = eta_at(t) * math.sqrt((1 - ab_prev) / (1 - ab_t) * (1 - ab_t / ab_prev))
    x_prev = math.sqrt(ab_prev) * x0_hat + math.sqrt(max(1 - ab_prev - sigma**2, 0.0)) * eps
    return x_prev if noise is None or sigma == 0 else x_prev + sigma * noise


def eta_schedule(eta: float | Callable[[int], float], ts: Sequence[int]) -> Callable[[int], float]:
    """DDIM's eta as a (picklable) function of the timestep, checked to lie in [0, 1] at every timestep in ts."""
    eta_at = eta if callable(eta) else partial(_constant, eta)
    for t in ts:
        if not 0 <= eta_at(t) <= 1:
            raise ValueError(f"eta must be in [0, 1]; got {eta_at(t)} at t={t}")
    return eta_at


def _constant(value: float, t: int) -> float:
    return value


@dataclass
class EpsAdvance:
    """Our reverse step from eps = model(x_t, t): x0_hat (clamped to [-clip, clip] if clip), then `step`."""

    step: Callable
    model: Callable
    alpha_bar: list[float]
    ts: list[int]
    clip: float | None

    def __call__(self, x, i, t, noise):
        ab_t = self.alpha_bar[t]
        ab_prev = self.alpha_bar[self.ts[i + 1]] if i + 1 < len(self.ts) else 1.0
        eps = self.model(x, t)
        x0_hat = predict_x0(x, eps, ab_t)
        if self.clip is not None:  # clamp x0_hat and make eps consistent with it
            x0_hat = x0_hat.clamp(-self.clip, self.clip)
            eps = (x - math.sqrt(ab_t) * x0_hat) / math.sqrt(1 - ab_t)
        return x0_hat, self.step(x, eps, x0_hat, t, ab_t, ab_prev, noise.randn() if i + 1 < len(self.ts) else None)

    def to(self, device) -> "EpsAdvance":
        """A copy whose model (an nn.Module) is on `device`; the caller's model stays where it is."""
        if not isinstance(self.model, torch.nn.Module):
            return self
        return replace(self, model=copy.deepcopy(self.model).to(device))


@torch.no_grad()
def reverse(advance, ts, n, shape, generator, windows=(), n_trajectories=0, chunk=2048, progress=True,
            aggregations=None, processes=1) -> Samples:
    """The reverse process shared by every sampler: chunks of rows, each run through the timesteps `ts`, in one
    process or split by sample index over `processes` (see parallel; `advance` and `aggregations` must then be
    picklable).

    advance(x_t, i, t, noise) -> (x0_hat, x_prev) takes one step (the i-th, at timestep t); `noise` holds the
    chunk's per-sample streams (see `noise`), already past x_T: a sampler reads one draw per step but the
    last.
    """
    processes = parallel.check(processes, generator.device)
    windows = [tuple(w) for w in windows]
    for lo, hi in windows:
        if not any(lo <= t <= hi for t in ts):
            raise ValueError(f"window ({lo}, {hi}) holds no timestep the sampler visits")
    job = (advance, list(ts), shape, run_seed(generator), windows, n_trajectories, chunk, progress,
           dict(aggregations or {}))
    if processes == 1:
        return _rows(*job, 0, n, generator.device)
    if hasattr(advance, "to"):  # a copy on the CPU travels to the processes, not the GPU's memory
        job = (advance.to("cpu"), *job[1:])
    parts = parallel.run(_shard, (n, job, generator.device), processes, generator.device)
    return Samples(
        x0=torch.cat([p.x0 for p in parts]), timesteps=list(ts),
        variance={w: torch.cat([p.variance[w] for p in parts]) for w in windows},
        local={name: {w: torch.cat([p.local[name][w] for p in parts]) for w in windows} for name in job[-1]},
        x_t=parts[0].x_t, x0_hat=parts[0].x0_hat)


def _shard(n: int, job: tuple, device) -> Samples:
    """This process's slice of the samples 0..n-1 (in one of parallel.run's processes)."""
    index, world = parallel.rank()
    device = parallel.local_device(device)
    advance = job[0].to(device) if hasattr(job[0], "to") else job[0]
    return _rows(advance, *job[1:], n * index // world, n * (index + 1) // world, device)


@torch.no_grad()
def _rows(advance, ts, shape, seed, windows, n_trajectories, chunk, progress, aggregations, first, stop,
          device) -> Samples:
    """Samples first..stop-1 of the run seeded `seed`: chunks of rows, each run through every timestep."""
    xs, variances, traj_x, traj_x0 = [], {w: [] for w in windows}, [], []
    local = {name: {w: [] for w in windows} for name in aggregations}
    starts = range(first, stop, chunk)
    bar = tqdm(total=len(starts) * len(ts), desc="sampling", disable=not show_progress(progress) or first > 0,
               leave=False)
    for start in starts:
        rows = min(chunk, stop - start)
        noise = Streams(seed, start, rows, shape, len(ts), device)  # x_T, then one draw per step
        x = noise.randn()
        acc = {w: Welford() for w in windows}
        record = start == 0 and n_trajectories > 0
        for i, t in enumerate(ts):
            x0_hat, x_prev = advance(x, i, t, noise)
            for (lo, hi), a in acc.items():
                if lo <= t <= hi:
                    a.add(x0_hat)
            if record:
                traj_x.append(x[:n_trajectories].clone())
                traj_x0.append(x0_hat[:n_trajectories].clone())
            x = x_prev
            bar.update()
        xs.append(x.cpu())
        for w, a in acc.items():
            variances[w].append(a.variance().cpu())
            for name, aggregate in aggregations.items():
                local[name][w].append(aggregate(a.variance_map(), x).cpu())
    bar.close()
    return Samples(
        x0=torch.cat(xs) if xs else torch.empty(0, *shape), timesteps=list(ts),
        variance={w: torch.cat(v) if v else torch.empty(0) for w, v in variances.items()},
        local={name: {w: torch.cat(v) if v else torch.empty(0) for w, v in per.items()} for name, per in local.items()},
        x_t=torch.stack(traj_x).cpu() if traj_x else None, x0_hat=torch.stack(traj_x0).cpu() if traj_x0 else None)


def eta_below(t_max: int, eta: float = 1.0) -> Callable[[int], float]:
    """An eta schedule for `ddim`: stochastic (`eta`) at timesteps below t_max, deterministic above."""
    return partial(_eta_below, t_max, eta)


def _eta_below(t_max: int, eta: float, t: int) -> float:
    return eta if t < t_max else 0.0
