"""The Gaussian mixture: density, exact score and denoiser, labeller."""
import math

import pytest
import torch

from modeinterp import mixtures
from modeinterp.runtime import generator


def test_density_integrates_to_one():
    gm = mixtures.mixture([1, 2, 4], 0.05, [0.5, 0.3, 0.2])
    x = torch.linspace(-10, 15, 500_001, dtype=torch.float64)[:, None]
    for ab in (1.0, 0.9, 0.2):
        assert torch.trapezoid(gm.log_prob(x, ab).exp(), x[:, 0]).item() == pytest.approx(1, abs=1e-6)


@pytest.mark.parametrize("ab", [0.999, 0.9, 0.3])
def test_score_is_the_gradient_of_the_log_density(ab):
    gm = mixtures.mixture([[0, 0], [1, 0], [0, 1]], 0.1, [0.2, 0.3, 0.5])
    x = torch.randn(50, 2, generator=generator(3), dtype=torch.float64).requires_grad_()
    (grad,) = torch.autograd.grad(gm.log_prob(x, ab).sum(), x)
    assert torch.allclose(gm.score(x.detach(), ab), grad, rtol=1e-8, atol=1e-8)


def test_denoiser_is_the_posterior_mean():
    """E[x0 | x_t] by Monte Carlo: draw (x0, x_t) pairs, average x0 over x_t in a thin bin."""
    gm = mixtures.mixture([1, 2, 3], 0.05)
    ab, n = 0.8, 2_000_000
    x0 = gm.sample(n, generator(0)).double()
    x_t = math.sqrt(ab) * x0 + math.sqrt(1 - ab) * torch.randn(x0.shape, generator=generator(1), dtype=torch.float64)
    for centre in (1.2, 1.55, 2.0):
        sel = (x_t[:, 0] - centre).abs() < 0.005
        mc = x0[sel].mean().item()
        se = x0[sel].std().item() / math.sqrt(sel.sum().item())
        assert abs(gm.denoise(torch.tensor([[centre]]), ab).item() - mc) < 4 * se + 1e-3


def test_sample_mode_weights():
    gm = mixtures.mixture([1, 2, 3], 0.05, [0.5, 0.3, 0.2])
    counts = torch.bincount(gm.mode_of(gm.sample(100_000, generator(0))), minlength=3) / 100_000
    assert torch.allclose(counts, torch.tensor([0.5, 0.3, 0.2], dtype=counts.dtype), atol=0.006)


def test_labeller_uses_six_sigma():
    gm = mixtures.mixture([1, 2, 3], 0.05)
    x = torch.tensor([[1.0], [1 + 5.9 * 0.05], [1 + 6.1 * 0.05], [1.5], [3.4]])
    assert gm.hallucinated(x).tolist() == [False, False, True, True, True]
    assert gm.between_modes(x).tolist() == [False, True, True, True, False]


def test_bad_mixtures_are_clear_errors():
    with pytest.raises(ValueError, match="std must be > 0"):
        mixtures.mixture([1, 2], 0)
    with pytest.raises(ValueError, match="weights must be 2 non-negative numbers summing to 1"):
        mixtures.mixture([1, 2], 0.1, [0.5, 0.6])
