"""Schedules, forward noising and the posterior against closed forms."""
import math

import pytest
import torch

from modeinterp.method import diffusion
from modeinterp.support.runtime import generator


def test_linear_schedule_has_the_papers_endpoints_for_any_T():
    for T in (10, 100, 1000):
        s = diffusion.linear_schedule(T)
        assert s.T == T
        assert s.betas[0].item() == pytest.approx(0.001) and s.betas[-1].item() == pytest.approx(0.2)
        assert torch.all(s.alpha_bar[1:] < s.alpha_bar[:-1])


def test_cosine_schedule_matches_its_formula():
    T, s_ = 1000, 0.008
    s = diffusion.cosine_schedule(T)
    f = lambda u: math.cos((u + s_) / (1 + s_) * math.pi / 2) ** 2  # noqa: E731
    for t in (0, 10, 500, 900):
        assert s.alpha_bar[t].item() == pytest.approx(f((t + 1) / T) / f(0), rel=1e-9)


def test_unknown_schedule_is_a_clear_error():
    with pytest.raises(ValueError, match="parameter 'schedule' must be one of 'linear', 'cosine'"):
        diffusion.make_schedule("quadratic", 100)


def test_forward_noising_moments():
    s = diffusion.linear_schedule(100)
    n, t = 200_000, 30
    x0 = torch.full((n, 1), 2.0, dtype=torch.float64)
    eps = torch.randn(x0.shape, generator=generator(1), dtype=torch.float64)
    x_t = diffusion.q_sample(s, x0, torch.full((n,), t), eps)
    ab = s.alpha_bar[t].item()
    se_mean = math.sqrt((1 - ab) / n)
    assert abs(x_t.mean().item() - 2 * math.sqrt(ab)) < 4 * se_mean
    assert x_t.var().item() == pytest.approx(1 - ab, rel=4 * math.sqrt(2 / n))


def test_posterior_equals_gaussian_conditioning():
    """q(x_prev | x_t, x0) from the joint Gaussian of (x_prev, x_t) given x0, for adjacent and strided steps."""
    s = diffusion.linear_schedule(1000)
    x0, x_t = torch.tensor([0.7], dtype=torch.float64), torch.tensor([-0.3], dtype=torch.float64)
    for t, prev in [(500, 499), (500, 400), (10, 0)]:
        ab_t, ab_p = s.alpha_bar[t].item(), s.alpha_bar[prev].item()
        a = ab_t / ab_p
        cov, var_t = math.sqrt(a) * (1 - ab_p), 1 - ab_t
        mean_ref = math.sqrt(ab_p) * x0 + cov / var_t * (x_t - math.sqrt(ab_t) * x0)
        var_ref = (1 - ab_p) - cov**2 / var_t
        mean, var = diffusion.posterior(x_t, x0, ab_t, ab_p)
        assert mean.item() == pytest.approx(mean_ref.item(), rel=1e-10)
        assert var == pytest.approx(var_ref, rel=1e-10)


def test_predict_x0_inverts_the_forward_process():
    s = diffusion.linear_schedule(100)
    x0 = torch.randn(1000, 2, dtype=torch.float64)
    eps = torch.randn(1000, 2, dtype=torch.float64)
    x_t = diffusion.q_sample(s, x0, torch.full((1000,), 40), eps)
    assert torch.allclose(diffusion.predict_x0(x_t, eps, s.alpha_bar[40].item()), x0, atol=1e-9)


def test_low_t_share_draws_from_the_smallest_steps():
    t = diffusion.sample_t(10_000, 1000, generator(0), low_t_share=0.5, low_t_max=50)
    assert (t[:5000] < 50).all() and (t[5000:] >= 50).float().mean() > 0.9
