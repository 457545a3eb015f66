"""Noise schedules, forward noising q(x_t | x_0), the eps-prediction loss and the predicted clean sample.

Timesteps are 0-indexed: t = 0 is the least noisy step and t = T - 1 the noisiest; `alpha_bar[t]` is the
product of (1 - beta_s) for s <= t, as in Ho et al. (2020) shifted by one.
"""
import math
from dataclasses import dataclass

import torch

from ..support import params

SCHEDULES = ("linear", "cosine")


@dataclass(frozen=True)
class Schedule:
    """A discrete noise schedule: betas and the cumulative alpha_bar, float64."""

    betas: torch.Tensor

    @property
    def T(self) -> int:
        return len(self.betas)

    @property
    def alphas(self) -> torch.Tensor:
        return 1.0 - self.betas

    @property
    def alpha_bar(self) -> torch.Tensor:
        return torch.cumprod(self.alphas, 0)


def linear_schedule(T: int, beta_1: float = 0.001, beta_T: float = 0.2) -> Schedule:
    """The paper's linear schedule: betas evenly spaced from beta_1 to beta_T (0.001 to 0.2) for any T."""
    params.integer("T", T, low=2)
    return Schedule(torch.linspace(beta_1, beta_T, T, dtype=torch.float64))


def cosine_schedule(T: int, s: float = 0.008, max_beta: float = 0.999) -> Schedule:
    """The cosine schedule of Nichol & Dhariwal (2021): alpha_bar(t) = cos^2(((t/T + s)/(1 + s)) pi/2)."""
    params.integer("T", T, low=2)
    f = lambda u: math.cos((u + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
    betas = [min(1 - f((t + 1) / T) / f(t / T), max_beta) for t in range(T)]
    return Schedule(torch.tensor(betas, dtype=torch.float64))


def make_schedule(kind: str, T: int) -> Schedule:
    """The schedule named `kind` ('linear' or 'cosine') with T steps."""
    params.choice("schedule", kind, SCHEDULES)
    return linear_schedule(T) if kind == "linear" else cosine_schedule(T)


def q_sample(schedule: Schedule, x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """Forward noising: x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps."""
    ab = _per_row(schedule.alpha_bar.to(x0.device)[t], x0)
    return ab.sqrt() * x0 + (1 - ab).sqrt() * eps


def predict_x0(x_t: torch.Tensor, eps: torch.Tensor, alpha_bar_t: float) -> torch.Tensor:
    """The predicted clean sample x0_hat = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t)."""
    return (x_t - math.sqrt(1 - alpha_bar_t) * eps) / math.sqrt(alpha_bar_t)


def posterior(x_t: torch.Tensor, x0_hat: torch.Tensor, alpha_bar_t: float, alpha_bar_prev: float):
    """Mean and variance of q(x_prev | x_t, x_0 = x0_hat) between two (possibly non-adjacent) timesteps."""
    beta = 1 - alpha_bar_t / alpha_bar_prev  # the beta of this (respaced) step
    mean = (math.sqrt(alpha_bar_prev) * beta * x0_hat + math.sqrt(1 - beta) * (1 - alpha_bar_prev) * x_t) / (1 - alpha_bar_t)
    return mean, beta * (1 - alpha_bar_prev) / (1 - alpha_bar_t)


def sample_t(n: int, T: int, generator: torch.Generator, low_t_share: float = 0.0,
             low_t_max: int = 50) -> torch.Tensor:
    """Training timesteps: uniform on 0..T-1, except a share `low_t_share` drawn uniform on 0..low_t_max-1."""
    t = torch.randint(0, T, (n,), generator=generator, device=generator.device)
    n_low = int(round(low_t_share * n))
    if n_low:
        t[:n_low] = torch.randint(0, min(low_t_max, T), (n_low,), generator=generator, device=generator.device)
    return t


def eps_loss(model, schedule: Schedule, x0: torch.Tensor, t: torch.Tensor,
             generator: torch.Generator) -> torch.Tensor:
    """The eps-prediction loss of DDPM: mean squared error between eps and model(x_t, t)."""
    eps = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=x0.device)
    x_t = q_sample(schedule, x0, t, eps).to(x0.dtype)
    return torch.mean((model(x_t, t) - eps) ** 2)


def _per_row(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Reshape per-row values to broadcast against `like`, in its dtype."""
    return values.to(like.dtype).reshape(-1, *([1] * (like.dim() - 1)))
