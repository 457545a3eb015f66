"""The hallucination metric: the variance of x0_hat over a window of reverse steps (how well it detects: see
detection), and the plug-in point it shares with every other per-sample statistic of the reverse loop.

The paper's "Hal": for each sample, the population variance of x0_hat across the steps of a window, per
dimension, averaged over dimensions. High variance means the trajectory cannot decide between modes.

A `Statistic` is what the reverse loop (samplers.reverse, the diffusers adapter) and the post-hoc path (`posthoc`)
stream: for each chunk of rows it starts an accumulator, feeds it every visited step as a `Visit`, and finishes
with one number per row. The paper's metric is one (`WindowVariance`); the local aggregations of its variance map
are others, sharing its accumulator.
"""
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple, Protocol

import numpy as np
import torch

from .diffusion import Schedule, predict_x0, q_sample
from .noise import Streams, run_seed


class Welford:
    """Streaming mean and population variance over a sequence of tensors: memory O(N x D), not O(N x T x D)."""

    def __init__(self):
        self.n, self.mean, self.m2 = 0, None, None

    def add(self, x: torch.Tensor) -> None:
        """Add one step's x0_hat (shape N x ...)."""
        x = x.detach().to(torch.float64)
        self.n += 1
        if self.mean is None:
            self.mean, self.m2 = x.clone(), torch.zeros_like(x)
            return
        delta = x - self.mean
        self.mean += delta / self.n
        self.m2 += delta * (x - self.mean)

    def variance_map(self) -> torch.Tensor:
        """Per-sample, per-dimension population variance (shape N x ...)."""
        if self.n == 0:
            raise ValueError("no steps were added: the window holds no sampled timestep")
        return self.m2 / self.n

    def variance(self) -> torch.Tensor:
        """Per-sample variance, averaged over all but the first dimension (shape N): the paper's metric."""
        return self.variance_map().flatten(1).mean(1)


class Visit(NamedTuple):
    """What a statistic sees at one visited timestep t: the state x_t entering it, the model's eps (None if the
    step rule does not return it), x0_hat, the state x_prev it leads to (None in the post-hoc path), and the
    noise z drawn there (the reverse loop: the step's, None at the last step; the post-hoc path: the noise that
    made x_t from the finished sample)."""

    t: int
    x_t: torch.Tensor
    eps: torch.Tensor | None
    x0_hat: torch.Tensor
    x_prev: torch.Tensor | None
    z: torch.Tensor | None = None


class Statistic(Protocol):
    """A per-sample statistic streamed through the reverse loop. `start(shared, index)` returns the accumulator of
    one chunk of rows, the samples `index` (so that any noise it draws is per sample, see noise.Streams.at), which
    has add(visit); statistics that can share one accumulator return the same object from the chunk's `shared`
    dict, and the loop feeds each accumulator once per visit. `finish(accumulator, x0)` gives one number (or one
    row of numbers) per sample (x0: the finished samples). An optional `check(timesteps)` rejects a run that
    cannot feed it, before any compute; an optional `to(device)` returns it ready for that device."""

    def start(self, shared: dict, index: torch.Tensor): ...

    def finish(self, accumulator, x0: torch.Tensor) -> torch.Tensor: ...


def check_window(window, timesteps) -> None:
    """A window (lo, hi) must hold a visited timestep t, lo <= t <= hi."""
    lo, hi = window
    if not any(lo <= t <= hi for t in timesteps):
        raise ValueError(f"window ({lo}, {hi}) holds no timestep the sampler visits")


def check(statistics: dict, timesteps) -> None:
    """Every statistic that can check the visited timesteps does so (see Statistic), before any compute."""
    for stat in statistics.values():
        if hasattr(stat, "check"):
            stat.check(list(timesteps))


class _WindowWelford:
    """The accumulator of every WindowVariance over one window: a Welford of the x0_hat visited inside it."""

    def __init__(self, window):
        self.window, self.welford = window, Welford()

    def add(self, visit: Visit) -> None:
        lo, hi = self.window
        if lo <= visit.t <= hi:
            self.welford.add(visit.x0_hat)


@dataclass(frozen=True)
class WindowVariance:
    """Hal (Aithal et al. 2024): the population variance of x0_hat over the visited timesteps t with lo <= t <= hi
    of `window`, per dimension, then averaged over dimensions (aggregate None, the paper's) or reduced by
    `aggregate(variance map, x0) -> N` (e.g. largest_patch). Statistics over one window share one Welford. Cost:
    no network evaluation beyond the sampler's."""

    window: tuple[int, int]
    aggregate: Callable | None = None

    def check(self, timesteps) -> None:
        """The window must hold a visited timestep."""
        check_window(self.window, timesteps)

    def start(self, shared: dict, index: torch.Tensor) -> _WindowWelford:
        return shared.setdefault(("x0_hat variance", tuple(self.window)), _WindowWelford(tuple(self.window)))

    def finish(self, accumulator: _WindowWelford, x0: torch.Tensor) -> torch.Tensor:
        if self.aggregate is None:
            return accumulator.welford.variance()
        return self.aggregate(accumulator.welford.variance_map(), x0)


VARIANCE = "variance"  # the name of the paper's metric among window_statistics' keys


class WindowKey(NamedTuple):
    """The key of a window statistic in Samples.stats: the aggregation's name (VARIANCE: the paper's mean) and the
    window."""

    name: str
    window: tuple[int, int]


def window_statistics(windows, aggregations: dict | None = None) -> dict[WindowKey, WindowVariance]:
    """The paper's metric over each window (key WindowKey(VARIANCE, window)) and each local aggregation of its
    variance map (WindowKey(name, window)), all over one Welford per window."""
    aggregations = dict(aggregations or {})
    if VARIANCE in aggregations:
        raise ValueError(f"aggregations: {VARIANCE!r} names the paper's metric; choose another name")
    out = {}
    for w in (tuple(w) for w in windows):
        out[WindowKey(VARIANCE, w)] = WindowVariance(w)
        out.update({WindowKey(name, w): WindowVariance(w, f) for name, f in aggregations.items()})
    return out


def by_window(stats: dict[Hashable, torch.Tensor], name: str = VARIANCE) -> dict[tuple[int, int], torch.Tensor]:
    """One window statistic's results by window (see window_statistics)."""
    return {k.window: v for k, v in stats.items() if isinstance(k, WindowKey) and k.name == name}


# Local aggregations of an image's variance map v (N x C x H x W), ours, beside the paper's mean over pixels: a
# disagreement about one small shape is a few percent of the pixels, and the mean dilutes it. Each is a function
# (v, x0) -> N, where x0 holds the finished samples (in [-1, 1]).

def largest_patch(side: int):
    """The largest mean variance over non-overlapping side x side patches (remainder rows/columns dropped)."""
    if side < 1:
        raise ValueError(f"side must be a positive integer; got {side}")
    return partial(_largest_patch, side)  # a partial, not a closure: samplers may send it to other processes


def _largest_patch(side: int, v: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.avg_pool2d(v.mean(1, keepdim=True), side).flatten(1).amax(1)


def strip_edges(width: int, n_strips: int) -> list[int]:
    """The column edges of n_strips vertical strips of width // n_strips (the last takes the rest): n_strips + 1
    edges from 0 to width."""
    step = width // n_strips
    return [i * step for i in range(n_strips)] + [width]


def largest_strip(n_strips: int):
    """The largest mean variance over n_strips vertical strips (see pixels.strip_edges)."""
    if n_strips < 1:
        raise ValueError(f"n_strips must be a positive integer; got {n_strips}")
    return partial(_largest_strip, n_strips)


def _largest_strip(n_strips: int, v: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
    edges = strip_edges(v.shape[-1], n_strips)
    return torch.stack([v[..., a:b].flatten(1).mean(1) for a, b in zip(edges, edges[1:])], 1).amax(1)


def per_foreground_pixel(v: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
    """The summed variance divided by the finished sample's foreground pixels (x0 > 0, at least one)."""
    return v.flatten(1).sum(1) / (x0 > 0).flatten(1).sum(1).clamp_min(1).to(v.dtype)


def trajectory_variance(x0_hats: torch.Tensor) -> torch.Tensor:
    """The metric from stored trajectories (steps x N x ...): population variance over steps, mean over dims."""
    return x0_hats.to(torch.float64).var(0, unbiased=False).flatten(1).mean(1)


@torch.no_grad()
def posthoc(model, schedule: Schedule, x0: torch.Tensor, steps: list[int], generator: torch.Generator,
            statistics: dict[Hashable, Statistic], chunk: int = 2048) -> dict[Hashable, torch.Tensor]:
    """Re-noise finished samples x0 to each timestep in `steps`, predict eps and x0_hat there, and feed them to
    each statistic as a Visit (x_prev None); returns name -> one number per sample. Each sample's noise comes from
    its own stream (see `noise`): the result does not depend on `chunk`."""
    out, seed = {name: [] for name in statistics}, run_seed(generator)
    check(statistics, steps)
    for start, x in zip(range(0, len(x0), chunk), x0.to(generator.device).split(chunk)):
        accumulators = started(statistics, torch.arange(start, start + len(x), device=x.device))
        noise = Streams(seed, start, len(x), x.shape[1:], len(steps), x.device)
        for t in steps:
            z = noise.randn().to(x.dtype)
            tt = torch.full((len(x),), t, dtype=torch.long, device=x.device)
            x_t = q_sample(schedule, x, tt, z)
            eps = model(x_t, t)
            feed(accumulators, Visit(t, x_t, eps, predict_x0(x_t, eps, float(schedule.alpha_bar[t])), None, z))
        for name, value in finished(statistics, accumulators, x).items():
            out[name].append(value)
    return {name: torch.cat(v) if v else torch.empty(0) for name, v in out.items()}


def started(statistics: dict[Hashable, Statistic], index: torch.Tensor) -> dict[Hashable, object]:
    """Each statistic's accumulator for one chunk of rows, the samples `index` (shared where the statistics share
    one)."""
    shared = {}
    return {name: stat.start(shared, index) for name, stat in statistics.items()}


def feed(accumulators: dict[Hashable, object], visit: Visit) -> None:
    """Add one visit to every distinct accumulator, once."""
    for accumulator in {id(a): a for a in accumulators.values()}.values():
        accumulator.add(visit)


def finished(statistics: dict[Hashable, Statistic], accumulators: dict, x0: torch.Tensor) -> dict:
    """Each statistic's numbers for one chunk of rows (on the CPU)."""
    return {name: stat.finish(accumulators[name], x0).cpu() for name, stat in statistics.items()}


def posthoc_variance(model, schedule: Schedule, x0: torch.Tensor, steps: list[int],
                     generator: torch.Generator, chunk: int = 2048) -> torch.Tensor:
    """The paper's metric post hoc (as for MNIST): x0 re-noised to each timestep in `steps` (see posthoc), the
    variance of the x0_hat predicted there (shape N)."""
    if len(steps) == 0:
        raise ValueError("steps must hold at least one timestep")
    stat = WindowVariance((min(steps), max(steps)))
    return posthoc(model, schedule, x0, steps, generator, {VARIANCE: stat}, chunk)[VARIANCE]


def agreement(x0_hats: torch.Tensor, x0: torch.Tensor) -> np.ndarray:
    """Per step, the Pearson correlation of x0_hat (steps x N x ...) with the final samples x0 (N x ...),
    averaged over samples: when in the reverse process the model commits to what it will draw."""
    b = x0.flatten(1).double()
    b = b - b.mean(-1, keepdim=True)
    return np.array([_mean_correlation(x0_hat.flatten(1).double(), b).item() for x0_hat in x0_hats])


def _mean_correlation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The mean over rows of the Pearson correlation of a's rows with b's (b centred), one step at a time so that
    memory stays O(N x D), not O(steps x N x D)."""
    a = a - a.mean(-1, keepdim=True)
    return ((a * b).sum(-1) / (a.norm(dim=-1) * b.norm(dim=-1)).clamp_min(1e-12)).mean()
