"""The hallucination metric: the variance of x0_hat over a window of reverse steps (how well it detects: see
detection).

The paper's "Hal": for each sample, the population variance of x0_hat across the steps of a window, per
dimension, averaged over dimensions. High variance means the trajectory cannot decide between modes.
"""
from functools import partial

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
def posthoc_variance(model, schedule: Schedule, x0: torch.Tensor, steps: list[int],
                     generator: torch.Generator, chunk: int = 2048) -> torch.Tensor:
    """Re-noise finished samples x0 to each timestep in `steps`, predict x0_hat, return the metric (shape N).
    Each sample's noise comes from its own stream (see `noise`): the result does not depend on `chunk`."""
    out, seed = [], run_seed(generator)
    for start, x in zip(range(0, len(x0), chunk), x0.to(generator.device).split(chunk)):
        acc = Welford()
        noise = Streams(seed, start, len(x), x.shape[1:], len(steps), x.device)
        for t in steps:
            eps = noise.randn().to(x.dtype)
            tt = torch.full((len(x),), t, dtype=torch.long, device=x.device)
            x_t = q_sample(schedule, x, tt, eps)
            acc.add(predict_x0(x_t, model(x_t, t), float(schedule.alpha_bar[t])))
        out.append(acc.variance().cpu())
    return torch.cat(out)


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
