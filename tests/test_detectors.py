"""The detectors against closed forms on a Gaussian, whose exact eps is known (mixtures.ExactEps): x0 ~ N(mu, s^2 I)
noised to x_t = a x0 + g z (a = sqrt(abar_t), g = sqrt(1 - abar_t)) is N(a mu, v I) with v = a^2 s^2 + g^2, and
eps(x) = g (x - a mu) / v."""
import math

import pytest
import torch

from modeinterp.method import detectors, diffusion, metric, mixtures, samplers
from modeinterp.support.runtime import generator

MU, S, D = [0.5, -1.0, 2.0], 0.3, 3


@pytest.fixture(scope="module")
def gaussian():
    schedule = diffusion.linear_schedule(100)
    gm = mixtures.mixture([MU], S)
    return schedule, mixtures.ExactEps(gm, schedule)


def constants(schedule, t):
    ab = schedule.alpha_bar[t].item()
    a, g = math.sqrt(ab), math.sqrt(1 - ab)
    return a, g, a * a * S * S + g * g


def test_the_denoising_loss_has_its_closed_form(gaussian):
    """E||z - eps(a x0 + g z)||^2 = D (1 - g^2/v)^2 + g^2 a^2 ||x0 - mu||^2 / v^2."""
    schedule, eps = gaussian
    t, k = 20, 4000
    x0 = torch.tensor([MU, [1.0, 0.0, 0.0], [3.0, -3.0, 1.0]], dtype=torch.float64)
    out = metric.posthoc(eps, schedule, x0, [t] * k, generator(0), {"loss": detectors.DenoisingLoss(t)})["loss"]
    a, g, v = constants(schedule, t)
    expected = D * (1 - g * g / v) ** 2 + (g * a / v) ** 2 * (x0 - torch.tensor(MU, dtype=torch.float64)).pow(2).sum(1)
    # each draw's loss is a quadratic form in z: its sd is under 3 times its mean here
    assert torch.allclose(out, expected, rtol=4 * 3 / math.sqrt(k)), (out, expected)
    assert out[2] > 2 * out[0]  # far from the data, a larger loss


def test_the_posterior_variance_is_exact_for_a_gaussian(gaussian):
    """tr Cov[x0 | x_t] = D s^2 g^2 / v whatever x_t; the Jacobian is a multiple of I, so Rademacher probes give
    it exactly."""
    schedule, eps = gaussian
    ab = schedule.alpha_bar.tolist()
    x0 = torch.randn(5, D, generator=generator(1), dtype=torch.float64)
    stats = {(t, renoised): detectors.PosteriorVariance(model=eps, alpha_bar=ab, t=t, probes=2, renoised=renoised)
             for t in (10, 30) for renoised in (False, True)}
    out = metric.posthoc(eps, schedule, x0, [10, 30], generator(2), stats)
    for t, renoised in stats:
        a, g, v = constants(schedule, t)
        torch.testing.assert_close(out[t, renoised], torch.full((5,), D * S * S * g * g / v, dtype=torch.float64))


def test_the_posterior_variance_is_larger_between_modes():
    schedule = diffusion.linear_schedule(100)
    gm = mixtures.mixture([[-1.0], [1.0]], 0.1)
    eps, ab = mixtures.ExactEps(gm, schedule), schedule.alpha_bar.tolist()
    x0 = torch.tensor([[-1.0], [0.0], [1.0]], dtype=torch.float64)
    out = metric.posthoc(eps, schedule, x0, [5] * 50, generator(0),
                         {"pv": detectors.PosteriorVariance(model=eps, alpha_bar=ab, t=5, probes=1)})["pv"]
    assert out[1] > 5 * max(out[0], out[2])  # measured: 0.125 against 0.008


def test_renoising_has_its_closed_form(gaussian):
    """The re-noised prediction minus the step's eps is (g^2 / v)(e_m - eps_t): its mean square over m is
    (g^2/v)^2 (D + ||eps_t||^2) in expectation."""
    schedule, eps = gaussian
    ab = schedule.alpha_bar.tolist()
    t, M = 30, 4000
    x_t = torch.randn(4, D, generator=generator(3), dtype=torch.float64)
    e = eps(x_t, t)
    visit = metric.Visit(t, x_t, e, diffusion.predict_x0(x_t, e, ab[t]), None)
    stat = detectors.Renoising(model=eps, alpha_bar=ab, window=(0, 99), M=M)
    acc = stat.start({}, torch.arange(4))
    acc.add(visit)
    out = stat.finish(acc, x_t)[:, 0]
    a, g, v = constants(schedule, t)
    expected = (g * g / v) ** 2 * (D + e.pow(2).sum(1))
    assert torch.allclose(out, expected, rtol=4 * math.sqrt(2 / M) * 2), (out, expected)


def test_the_curvature_vanishes_for_a_gaussian_and_not_between_modes(gaussian):
    """For a Gaussian, grad ||s|| = (x - a mu) / (v ||x - a mu||), the same a step along itself: H = 0. Between
    two modes the score's norm bends."""
    schedule, eps = gaussian
    ab = schedule.alpha_bar.tolist()
    t = 50
    stat = detectors.Curvature(model=eps, alpha_bar=ab, window=(0, 99), rho=0.05)
    x = torch.randn(6, D, generator=generator(4), dtype=torch.float64)
    a, g, v = constants(schedule, t)
    centred = x - a * torch.tensor(MU, dtype=torch.float64)
    torch.testing.assert_close(stat._grad_norm(x, t), centred / (v * centred.norm(dim=1, keepdim=True)))
    assert stat.at_step(metric.Visit(t, x, None, x, None), None).abs().max() < 1e-9
    gm = mixtures.mixture([[-1.0], [1.0]], 0.1)
    two = detectors.Curvature(model=mixtures.ExactEps(gm, schedule), alpha_bar=ab, window=(0, 99), rho=0.05)
    x = math.sqrt(ab[10]) * torch.tensor([[0.1], [1.0]], dtype=torch.float64)  # between the modes, at one
    h = two.at_step(metric.Visit(10, x, None, None, None), None)
    assert h[0] > 100 * h[1]  # measured: 7.5 against 0.003


def test_streamed_detectors_do_not_depend_on_chunks_or_processes(gaussian):
    schedule, eps = gaussian
    ab = schedule.alpha_bar.tolist()
    stats = {"renoising": detectors.Renoising(model=eps, alpha_bar=ab, window=(20, 60), M=2, seed=5),
             "curvature": detectors.Curvature(model=eps, alpha_bar=ab, window=(30, 50))}

    def run(**options):
        return samplers.ddpm(eps, schedule, 12, (D,), generator(6), n_steps=25, statistics=stats, progress=False,
                             **options)

    a, b, c = run(chunk=12), run(chunk=5), run(chunk=5, processes=2)
    visited = detectors.steps((20, 60), a.timesteps)
    assert a.stats["renoising"].shape == (12, len(visited)) and a.stats["renoising"].min() > 0
    assert a.stats["curvature"].shape == (12, len(detectors.steps((30, 50), a.timesteps)))
    for other in (b, c):
        for name in stats:
            torch.testing.assert_close(other.stats[name], a.stats[name], rtol=0, atol=0)
    total = detectors.window_score(a.stats["renoising"], visited, (20, 60))
    torch.testing.assert_close(total, a.stats["renoising"].sum(1))
    first = detectors.window_score(a.stats["renoising"], visited, (visited[0], visited[0]), "max")
    torch.testing.assert_close(first, a.stats["renoising"][:, 0])


def test_the_noise_sensitivity_perturbs_every_draw_of_a_samples_noise():
    """A step that adds each z to x_t carries x_T + sum of z's to the end: with every draw moved by beta xi_j, the
    reruns' variance is that of beta times the sum of xi_j's draws; a rerun with beta ~ 0 is the sample itself."""
    def add(x_t, t, t_prev, z):
        return x_t, x_t + (0 if z is None else z)

    ts = [9, 6, 3, 0]
    run = samplers.reverse(add, ts, 6, (2,), generator(0), progress=False)
    index = [4, 1]
    out = detectors.initial_noise_sensitivity(add, ts, run.seed, index, (2,), beta=0.5, reruns=3, seed=9)
    moved = [0.5 * sum(_draws(9 + j, index, len(ts))).double() for j in range(3)]  # x_T and 3 steps' z
    torch.testing.assert_close(out, torch.stack(moved).var(0, unbiased=False).sum(1))
    again, _ = samplers.resume(add, ts, run.seed, index, (2,), perturb=(0.0, 9))
    torch.testing.assert_close(again, run.x0[index])
    with pytest.raises(ValueError, match="reruns must be at least 2"):
        detectors.initial_noise_sensitivity(add, ts, run.seed, index, (2,), reruns=1)


def _draws(seed, index, n):
    from modeinterp.method.noise import Streams
    streams = Streams.at(seed, index, (2,))
    return [streams.randn().clone() for _ in range(n)]


def test_bad_settings_are_clear_errors(gaussian):
    schedule, eps = gaussian
    ab = schedule.alpha_bar.tolist()
    with pytest.raises(ValueError, match="M must be"):
        detectors.Renoising(model=eps, alpha_bar=ab, window=(0, 9), M=0)
    with pytest.raises(ValueError, match="rho must be"):
        detectors.Curvature(model=eps, alpha_bar=ab, window=(0, 9), rho=0)
    with pytest.raises(ValueError, match="holds no timestep"):
        samplers.ddpm(eps, schedule, 2, (D,), generator(0), n_steps=5, progress=False,
                      statistics={"r": detectors.Renoising(model=eps, alpha_bar=ab, window=(1, 2))})
    with pytest.raises(ValueError, match="do not include t=7"):
        metric.posthoc(eps, schedule, torch.zeros(2, D), [5], generator(0), {"l": detectors.DenoisingLoss(7)})
    with pytest.raises(ValueError, match="reduce must be"):
        detectors.window_score(torch.zeros(2, 1), [5], (0, 9), "median")
