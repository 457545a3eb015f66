"""Gaussian mixtures with known modes: sampling, log density, the exact noised score, and a labeller.

Every mode has the same isotropic standard deviation `std`. Noising with alpha_bar gives again a mixture, with
means sqrt(alpha_bar) mu_k and variance alpha_bar std^2 + 1 - alpha_bar, so the score, the optimal eps and the
optimal denoiser E[x_0 | x_t] are exact at every t: the oracle the learned model is compared with.
"""
import math
from dataclasses import dataclass
from typing import NamedTuple

import torch

from .diffusion import Schedule

HALLUCINATION_SIGMAS = 6.0  # the paper's 1D rule: farther than 6 std from every mean


@dataclass(frozen=True)
class GaussianMixture:
    """K modes with means (K x D), one shared std, and weights summing to one. Means and weights stay on the
    CPU; the methods taking points x compute on x's device (so ExactEps also runs on a GPU)."""

    means: torch.Tensor
    std: float
    weights: torch.Tensor

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    @property
    def nearest_spacing(self) -> float:
        """The smallest distance between two means (the grid's scaled spacing)."""
        if len(self.means) < 2:
            raise ValueError("a mixture with one mode has no spacing")
        d = torch.cdist(self.means, self.means)
        return float(d[~torch.eye(len(d), dtype=torch.bool)].min())

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """n points (n x D, float32)."""
        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        noise = torch.randn((n, self.dim), generator=generator, dtype=torch.float64)
        return (self.means[k] + self.std * noise).float()

    def log_prob(self, x: torch.Tensor, alpha_bar: float = 1.0) -> torch.Tensor:
        """Log density of the mixture noised to alpha_bar (1 = the data) at points x (N x D)."""
        return torch.logsumexp(self._log_joint(x, alpha_bar), dim=1)

    def responsibilities(self, x: torch.Tensor, alpha_bar: float) -> torch.Tensor:
        """p(mode k | x_t) for the mixture noised to alpha_bar (N x K)."""
        return torch.softmax(self._log_joint(x, alpha_bar), dim=1)

    def score(self, x: torch.Tensor, alpha_bar: float) -> torch.Tensor:
        """The exact score grad log p_t(x) of the noised mixture (N x D)."""
        x = x.to(torch.float64)
        centred = x[:, None, :] - math.sqrt(alpha_bar) * self.means.to(x.device)[None]
        r = self.responsibilities(x, alpha_bar)
        return -(r[:, :, None] * centred).sum(1) / self._noised_var(alpha_bar)

    def eps(self, x: torch.Tensor, alpha_bar: float) -> torch.Tensor:
        """The optimal eps-prediction: -sqrt(1 - alpha_bar) * score."""
        return -math.sqrt(1 - alpha_bar) * self.score(x, alpha_bar)

    def denoise(self, x: torch.Tensor, alpha_bar: float) -> torch.Tensor:
        """The optimal denoiser E[x_0 | x_t] (Tweedie's formula)."""
        return (x.to(torch.float64) - math.sqrt(1 - alpha_bar) * self.eps(x, alpha_bar)) / math.sqrt(alpha_bar)

    def sigmas_to_nearest(self, x: torch.Tensor) -> torch.Tensor:
        """Distance from each point to its nearest mean, in units of std (shape N)."""
        return torch.cdist(x.to(torch.float64), self.means.to(x.device)).min(1).values / self.std

    def hallucinated(self, x: torch.Tensor, sigmas: float = HALLUCINATION_SIGMAS) -> torch.Tensor:
        """The labeller: True where a sample lies farther than `sigmas` std from every mean."""
        return self.sigmas_to_nearest(x) > sigmas

    def between_modes(self, x: torch.Tensor) -> torch.Tensor:
        """1D only: True where a sample lies strictly between the smallest and the largest mean."""
        self._one_dimensional("between_modes")
        return (x[:, 0] > self.means.min()) & (x[:, 0] < self.means.max())

    def gaps(self, x: torch.Tensor) -> list["Gap"]:
        """1D only: every gap between neighbouring means, left to right, with how many points x lie strictly
        inside it."""
        self._one_dimensional("gaps")
        ends, v = self.means[:, 0].sort().values.tolist(), x[:, 0].to(torch.float64)
        return [Gap(a, b, int(((v > a) & (v < b)).sum())) for a, b in zip(ends, ends[1:])]

    def _one_dimensional(self, what):
        if self.dim != 1:
            raise ValueError(f"{what} is defined for 1D mixtures; this one has D={self.dim}")

    def mode_of(self, x: torch.Tensor) -> torch.Tensor:
        """Index of the nearest mean for each point (shape N)."""
        return torch.cdist(x.to(torch.float64), self.means.to(x.device)).argmin(1)

    def _noised_var(self, alpha_bar):
        return alpha_bar * self.std**2 + 1 - alpha_bar

    def _log_joint(self, x, alpha_bar):
        x = x.to(torch.float64)
        var = self._noised_var(alpha_bar)
        sq = torch.cdist(x, math.sqrt(alpha_bar) * self.means.to(x.device)) ** 2
        log_w = torch.log(self.weights.to(x.device))[None]
        return log_w - sq / (2 * var) - 0.5 * self.dim * math.log(2 * math.pi * var)


class Gap(NamedTuple):
    """The points strictly between two neighbouring means of a 1D mixture (see GaussianMixture.gaps)."""

    low: float
    high: float
    count: int

    @property
    def width(self) -> float:
        return self.high - self.low


def narrowest_and_widest(gaps: list[Gap]) -> tuple[Gap, Gap]:
    """The narrowest gap and the widest (the leftmost of each where widths tie)."""
    return min(gaps, key=_width), max(gaps, key=_width)


def describe_gaps(gaps: list[Gap], what: str) -> str:
    """The counts per gap on one line: '143 hallucinations between 1 and 2, 56 between 2 and 4'."""
    return ", ".join(f"{g.count}{' ' + what if k == 0 else ''} between {g.low:g} and {g.high:g}"
                     for k, g in enumerate(gaps))


def _width(gap: Gap) -> float:
    return gap.width


def mixture(means, std: float, weights=None) -> GaussianMixture:
    """A mixture from a list of means (numbers for 1D, pairs for 2D); equal weights by default."""
    m = torch.as_tensor(means, dtype=torch.float64)
    m = m[:, None] if m.dim() == 1 else m
    if m.dim() != 2 or len(m) < 1:
        raise ValueError(f"means must be a list of numbers or of points; got shape {tuple(m.shape)}")
    if not std > 0:
        raise ValueError(f"std must be > 0; got {std}")
    w = torch.full((len(m),), 1.0 / len(m), dtype=torch.float64) if weights is None else \
        torch.as_tensor(weights, dtype=torch.float64)
    if w.shape != (len(m),) or (w < 0).any() or abs(float(w.sum()) - 1) > 1e-9:
        raise ValueError(f"weights must be {len(m)} non-negative numbers summing to 1; got {weights}")
    return GaussianMixture(m, float(std), w)


def grid(n_side: int = 5, spacing: float = 2.0, std: float = 0.05, angle_deg: float = 0.0) -> GaussianMixture:
    """The paper's 2D grid: means spacing*(i, j), i, j centred, rotated by angle_deg (45: the "diamond"), then
    means and std divided by sqrt(std^2 + var of the means) so each coordinate has unit variance."""
    if n_side < 2:
        raise ValueError(f"n_side must be at least 2; got {n_side}")
    ticks = spacing * (torch.arange(n_side, dtype=torch.float64) - (n_side - 1) / 2)
    means = torch.cartesian_prod(ticks, ticks)
    a = math.radians(angle_deg)
    rotation = torch.tensor([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]], dtype=torch.float64)
    means = means @ rotation.T
    scale = math.sqrt(std**2 + float(ticks.pow(2).mean()))  # the paper's sqrt(0.05^2 + 8) for 5 x 5, spacing 2
    return mixture((means / scale).tolist(), std / scale)


def segment_distance(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Distance from each point x (N x D) to each segment [a_p, b_p] (P x D): shape N x P."""
    x = x.to(torch.float64)
    ab = b - a
    u = ((x[:, None, :] - a[None]) * ab[None]).sum(-1) / (ab**2).sum(-1)[None]
    closest = a[None] + u.clamp(0, 1)[..., None] * ab[None]
    return (x[:, None, :] - closest).norm(dim=-1)


def mode_pairs(gm: GaussianMixture, max_length: float) -> tuple[torch.Tensor, torch.Tensor]:
    """All pairs of modes (i < j) no farther apart than max_length: indices (P x 2) and lengths (P)."""
    d = torch.cdist(gm.means, gm.means)
    i, j = torch.triu_indices(len(d), len(d), offset=1)
    keep = d[i, j] <= max_length + 1e-9
    return torch.stack([i[keep], j[keep]], 1), d[i, j][keep]


class Segment(NamedTuple):
    """For each point, the nearest segment between two modes (see nearest_segment)."""

    index: torch.Tensor  # into mode_pairs
    length: torch.Tensor  # the pair's distance
    distance: torch.Tensor  # from the point to the segment
    a: torch.Tensor  # the segment's endpoints (N x D each)
    b: torch.Tensor


def nearest_segment(gm: GaussianMixture, x: torch.Tensor, max_length: float) -> Segment:
    """For each point, the nearest segment between two modes at most max_length apart."""
    pairs, lengths = (v.to(x.device) for v in mode_pairs(gm, max_length))
    means = gm.means.to(x.device)
    a, b = means[pairs[:, 0]], means[pairs[:, 1]]
    dist, k = segment_distance(x, a, b).min(1)
    return Segment(k, lengths[k], dist, a[k], b[k])


class ExactEps:
    """The oracle denoiser: model(x_t, t) returning the mixture's exact eps under a schedule."""

    def __init__(self, gm: GaussianMixture, schedule: Schedule):
        self.gm, self.alpha_bar = gm, schedule.alpha_bar.tolist()

    def __call__(self, x: torch.Tensor, t: int) -> torch.Tensor:
        return self.gm.eps(x, self.alpha_bar[int(t)]).to(x.dtype)
