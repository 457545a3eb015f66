"""Detectors of hallucinated samples beside the paper's variance, each a small unit with its cost in network
evaluations (NFE) per sample, run on the same samples and labels (notebook 07).

Two kinds, both plug-ins of the library's loops (metric.Statistic):
- streamed while sampling (`samplers.ddpm(..., statistics=...)`): the paper's variance (metric.WindowVariance), the
  re-noising uncertainty (`Renoising`) and the trajectory curvature (`Curvature`). The last two return one number
  per visited step of their window (N x S, `steps` says which), which `window_score` reduces over any window
  inside it, so that one run serves every candidate window;
- on the finished samples (`metric.posthoc`, which re-noises them to given timesteps): the denoising loss
  (`DenoisingLoss`) and the posterior variance (`PosteriorVariance`). The sensitivity to the initial noise
  (`initial_noise_sensitivity`) reruns the sampler itself.

Every noise a detector draws comes from per-sample streams (noise.Streams.at) seeded by its `seed`, so its numbers
depend neither on chunks nor on processes. Where our setting differs from a paper's (DDPM ancestral sampling with
250 strided steps, windows in timesteps), the docstring says what was adapted.
"""
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from . import metric, samplers
from .metric import Visit
from .noise import Streams


def steps(window: Sequence[int], timesteps: Sequence[int]) -> list[int]:
    """The visited timesteps inside `window` (lo <= t <= hi), in the order visited."""
    lo, hi = window
    return [t for t in timesteps if lo <= t <= hi]


def window_score(per_step: torch.Tensor, visited: Sequence[int], window: Sequence[int], reduce: str = "sum"
                 ) -> torch.Tensor:
    """A per-step detector's score over a window: its columns (one per visited step, `visited` their timesteps)
    with lo <= t <= hi, reduced by 'sum', 'mean' or 'max' (one number per sample)."""
    if reduce not in ("sum", "mean", "max"):
        raise ValueError(f"reduce must be 'sum', 'mean' or 'max'; got {reduce!r}")
    inside = set(steps(window, visited))
    columns = [i for i, t in enumerate(visited) if t in inside]
    if not columns:
        raise ValueError(f"window {tuple(window)} holds none of the visited steps {visited[0]}..{visited[-1]}")
    chosen = per_step[:, columns]
    return chosen.amax(1) if reduce == "max" else (chosen.sum(1) if reduce == "sum" else chosen.mean(1))


class _PerStep:
    """The accumulator of a per-step detector: at each visited step inside `window`, `at_step(visit, streams)`
    gives one number per sample (streams: the samples' own noise of `seed`, drawn on first use)."""

    def __init__(self, window, at_step: Callable, seed: int, index: torch.Tensor):
        self.window, self.at_step, self.seed, self.index = window, at_step, seed, index
        self.columns, self.streams = [], None

    def add(self, visit: Visit) -> None:
        if self.window[0] <= visit.t <= self.window[1]:
            if self.streams is None:
                self.streams = Streams.at(self.seed, self.index.cpu(), visit.x_t.shape[1:], visit.x_t.device)
            self.columns.append(self.at_step(visit, self.streams).double().cpu())

    def per_step(self, rows: int) -> torch.Tensor:
        """rows x steps (steps: those visited inside the window)."""
        if not self.columns:
            return torch.zeros(rows, 0, dtype=torch.float64)
        return torch.stack(self.columns, 1)


@dataclass(frozen=True, kw_only=True)
class _Network:
    """What the detectors that call the network share: the eps model and the schedule's alpha_bar (t = 0..T-1)."""

    model: Callable
    alpha_bar: list[float]
    seed: int = 0  # of the noise the detector draws, per sample

    to = samplers.EpsStep.to  # a copy whose model (an nn.Module) is on a device; the caller's stays


@dataclass(frozen=True, kw_only=True)
class _WindowDetector(_Network):
    """A detector with one number per visited step of `window` (N x S), reduced later by window_score."""

    window: tuple[int, int]

    def check(self, timesteps) -> None:
        """The window must hold a visited timestep."""
        metric.check_window(self.window, timesteps)

    def start(self, shared: dict, index: torch.Tensor) -> _PerStep:
        return _PerStep(self.window, self.at_step, self.seed, index)

    def finish(self, accumulator: _PerStep, x0: torch.Tensor) -> torch.Tensor:
        return accumulator.per_step(len(x0))


@dataclass(frozen=True, kw_only=True)
class Renoising(_WindowDetector):
    """Re-noising (aleatoric) uncertainty, after De Vita and Belagiannis (WACV 2025, arXiv 2412.00205; read in
    their code, Michedev/diffusion-uncertainty, the "centered" DDIM scheduler): at each visited step t of
    `window`, x0_hat is re-noised M times to the same level t, x~_m = sqrt(abar_t) x0_hat + sqrt(1 - abar_t) e_m,
    and per pixel the mean over m of (eps_theta(x~_m, t) - eps_t)^2 is taken, centred on eps_t, the step's own
    prediction (not on the mean of the M); summed over pixels, one number per step (N x S). Their per-sample score
    sums over the steps of a window (window_score(..., 'sum')), high meaning low quality; their README runs M = 5
    over the last 10 of 50 DDIM steps, with a "zigzag" variant (re-noising x_prev by one step) not built here.
    Cost: M NFE per step of the window, no backward pass."""

    M: int = 5

    def __post_init__(self):
        if self.M < 1:
            raise ValueError(f"M must be a positive integer; got {self.M}")

    def at_step(self, visit: Visit, streams: Streams) -> torch.Tensor:
        """The mean squared deviation of the re-noised predictions at this step, summed over pixels."""
        if visit.eps is None:
            raise ValueError("Renoising needs the step's eps: use a step rule that returns it (samplers.DDPMStep)")
        ab, total = self.alpha_bar[visit.t], 0.0
        for _ in range(self.M):
            x = math.sqrt(ab) * visit.x0_hat + math.sqrt(1 - ab) * streams.randn().to(visit.x0_hat.dtype)
            total = total + (self.model(x, visit.t) - visit.eps).double().pow(2)
        return (total / self.M).flatten(1).sum(1)


@dataclass(frozen=True, kw_only=True)
class Curvature(_WindowDetector):
    """The trajectory curvature of RODS (Tian et al. 2025, arXiv 2507.12201): with the score s(x) = -eps_theta(x,
    t) / sqrt(1 - abar_t), g = grad_x ||s(x_t)|| and u = g / ||g||, the change of that gradient a step rho along
    its own direction, H_t = ||grad_x ||s(x_t + rho u)|| - g||, at each visited step of `window` (N x S). Only
    the paper's abstract was readable here (a curvature cue flagged in mid-trajectory steps; over 70% of
    hallucinations detected on AFHQv2, FFHQ and 11k Hands); the formula is that of a public re-implementation,
    whose per-step thresholds and rho are its own. Our per-sample score is H's maximum over a window
    (window_score(..., 'max')), rho in units of x_t (whose norm is about sqrt(dimension)), both chosen on held-out
    samples. Cost per step: 2 NFE and 2 backward passes."""

    rho: float = 0.1

    def __post_init__(self):
        if not self.rho > 0:
            raise ValueError(f"rho must be positive; got {self.rho}")

    def _grad_norm(self, x: torch.Tensor, t: int) -> torch.Tensor:
        """grad_x ||s(x)|| per row (rows are separate samples, so the gradient of the sum is each row's)."""
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            score = self.model(x, t).double() / -math.sqrt(1 - self.alpha_bar[t])
            (g,) = torch.autograd.grad(score.flatten(1).norm(dim=1).sum(), x)
        return g.detach()

    def at_step(self, visit: Visit, streams: Streams | None) -> torch.Tensor:
        """H_t per sample."""
        g = self._grad_norm(visit.x_t, visit.t)
        norm = g.flatten(1).norm(dim=1).clamp_min(1e-30).view(-1, *[1] * (g.dim() - 1))
        moved = self._grad_norm(visit.x_t + self.rho * g / norm, visit.t)
        return (moved - g).double().flatten(1).norm(dim=1)


@dataclass(frozen=True, kw_only=True)
class PosteriorVariance(_Network):
    """The posterior variance of the denoiser at one small timestep t of the finished sample x0: the trace of
    Cov[x0 | x_t] = (1 - abar_t) / sqrt(abar_t) x the Jacobian of x0_hat with respect to x_t (Manor and Michaeli,
    ICLR 2024, arXiv 2309.13598: Cov[x | y] = sigma_y^2 d mu(y) / d y; they find its principal components, the
    trace is ours), estimated by `probes` Hutchinson probes v (Rademacher), tr J ~ v . (J v), each v^T J the
    gradient of v . x0_hat. By default it is taken where FLIPD (Kamkari et al., NeurIPS 2024, arXiv 2406.03537)
    takes its trace, at x_t = sqrt(abar_t) x0 with no noise added (FLIPD = D - sqrt(1 - abar_t) tr(d eps / d x_t)
    + ||eps||^2 there, which is this trace times abar_t / (1 - abar_t) plus ||eps||^2); renoised=True takes it at
    the re-noised sample of the post-hoc visit instead. Fed by metric.posthoc with t among its steps (the mean
    over the visits at t). Neither paper tested it on hallucinations. Cost: `probes` NFE and backward passes
    per visit."""

    t: int
    probes: int = 4
    renoised: bool = False

    def __post_init__(self):
        if self.probes < 1:
            raise ValueError(f"probes must be a positive integer; got {self.probes}")

    def check(self, timesteps) -> None:
        _check_t(self.t, timesteps)

    def start(self, shared: dict, index: torch.Tensor) -> _PerStep:
        return _PerStep((self.t, self.t), self.at_step, self.seed, index)

    def at_step(self, visit: Visit, streams: Streams) -> torch.Tensor:
        """(1 - abar_t) / sqrt(abar_t) x the Hutchinson estimate of tr(d x0_hat / d x_t) per sample."""
        ab, total = self.alpha_bar[visit.t], 0.0
        at = visit.x_t if self.renoised else visit.x_t - math.sqrt(1 - ab) * visit.z  # sqrt(abar) x0 by default
        for _ in range(self.probes):
            v = torch.sign(streams.randn()).to(visit.x_t.dtype)  # Rademacher, from the sample's own stream
            with torch.enable_grad():
                x = at.detach().requires_grad_(True)
                x0_hat = (x - math.sqrt(1 - ab) * self.model(x, visit.t)) / math.sqrt(ab)
                (vj,) = torch.autograd.grad((x0_hat * v).sum(), x)  # v^T J, row by row
            total = total + (vj * v).double().flatten(1).sum(1)
        return (1 - ab) / math.sqrt(ab) * total / self.probes

    def finish(self, accumulator: _PerStep, x0: torch.Tensor) -> torch.Tensor:
        return accumulator.per_step(len(x0)).mean(1)


@dataclass(frozen=True)
class DenoisingLoss:
    """The denoising loss behind the local-intrinsic-dimension filter of Sobieski et al. (arXiv 2605.05026, 2026),
    after Yeats et al. (arXiv 2510.12975; read in their code, ericyeats/score-matching-lid): the finished sample
    re-noised k times at one small timestep t, the mean over the k draws of ||eps_k - eps_theta(sqrt(abar_t) x0 +
    sqrt(1 - abar_t) eps_k, t)||^2, summed over dimensions and not normalised (its limit as t -> 0 is the local
    intrinsic dimension; high = hallucinated). Fed by metric.posthoc with steps [t] * k (eps_k is the visit's z);
    visits at other timesteps are ignored, so that one post-hoc run serves several t. Yeats et al. use k = 8,
    Sobieski et al. k = 32; both find it sensitive to t, so t is its hyperparameter. Cost: k NFE."""

    t: int

    def check(self, timesteps) -> None:
        _check_t(self.t, timesteps)

    def start(self, shared: dict, index: torch.Tensor) -> _PerStep:
        return _PerStep((self.t, self.t), _denoising_loss, 0, index)

    def finish(self, accumulator: _PerStep, x0: torch.Tensor) -> torch.Tensor:
        return accumulator.per_step(len(x0)).mean(1)


def _check_t(t: int, timesteps) -> None:
    """A post-hoc detector at timestep t needs t among the post-hoc steps."""
    if t not in timesteps:
        raise ValueError(f"the post-hoc steps do not include t={t}")


def _denoising_loss(visit: Visit, streams: Streams) -> torch.Tensor:
    """||z - eps_theta||^2 per sample at one post-hoc visit."""
    return (visit.z - visit.eps).double().flatten(1).pow(2).sum(1)


@torch.no_grad()
def initial_noise_sensitivity(step: Callable, timesteps: Sequence[int], run_seed: int, index, shape, *,
                              beta: float = 0.1, reruns: int = 8, seed: int = 0, chunk: int = 64,
                              device="cpu", last_step_noise: bool = False) -> torch.Tensor:
    """Sensitivity to the noise, after the LMI of Sobieski et al. (arXiv 2605.05026, 2026; only their abstract was
    readable here, the rest from a secondary summary): the samples `index` of the run seeded `run_seed` rerun
    `reruns` times with every draw of their noise moved by beta xi (a plain additive perturbation, xi per-sample
    draws of a run seeded seed + j for rerun j; samplers.resume), and the trace of the covariance over the reruns
    of the final sample: the per-pixel variance summed over pixels (shape: len(index); high = hallucinated).
    Adapted: they perturb x_T of a deterministic sampler (about 32 reruns); a stochastic sampler such as our
    DDPM is a deterministic function of all its noise (x_T and every step's z), so all of it is perturbed: with
    DDIM at eta = 0 (no z used) that is their x_T + beta xi. Perturbing x_T alone under DDPM measured nothing
    (the later noise washes it out: tied scores on the 2D grid). Cost: reruns x len(timesteps) NFE per sample.
    last_step_noise: as the run's sampler (hf.step says it for a diffusers scheduler)."""
    if reruns < 2:
        raise ValueError(f"reruns must be at least 2 (a variance over reruns); got {reruns}")
    if not beta > 0:
        raise ValueError(f"beta must be positive; got {beta}")
    index = torch.as_tensor(index, dtype=torch.int64).reshape(-1)
    finals = [samplers.resume(step, timesteps, run_seed, index, shape, perturb=(beta, seed + j), chunk=chunk,
                              device=device, last_step_noise=last_step_noise)[0].double() for j in range(reruns)]
    return torch.stack(finals).var(0, unbiased=False).flatten(1).sum(1)
