"""The diffusers adapter: the same process as our samplers, on a diffusers scheduler and UNet2DModel."""
import sys

import pytest
import torch
from diffusers import DDIMScheduler, DDPMScheduler, UNet2DModel

from modeinterp.method import detectors, diffusion, metric, mixtures, samplers
from modeinterp.experiments import toy
from modeinterp.interfaces import hf
from modeinterp.support.params import ParameterError
from modeinterp.support.runtime import generator

WINDOWS = [(0, 4), (0, 19), (5, 12)]


@pytest.fixture(scope="module")
def mlp():
    """An untrained toy MLP (fixed seed) on 2D points and its T=20 schedule."""
    torch.manual_seed(0)
    config = toy.ToyConfig("hf", [[-1, 0], [1, 0]], 0.1, n_train=100, T=20, steps=1, batch=64, lr=1e-3, seed=0,
                           width=32)
    return config.build().eval(), diffusion.linear_schedule(20)


@pytest.fixture(scope="module")
def unet():
    """An untrained tiny UNet2DModel (8x8, one channel): built from a config, no weights downloaded."""
    torch.manual_seed(0)
    return UNet2DModel(sample_size=8, in_channels=1, out_channels=1, layers_per_block=1, block_out_channels=(8, 16),
                       down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
                       norm_num_groups=4).eval()


def assert_same_run(a, b, tol):
    assert a.timesteps == b.timesteps
    torch.testing.assert_close(b.x0, a.x0, rtol=tol, atol=tol)
    for w in a.variance:  # a few ulps of x0_hat move a small variance by more than a few of its own ulps
        torch.testing.assert_close(b.variance[w], a.variance[w], rtol=10 * tol, atol=tol * a.variance[w].mean().item())
    assert a.x0.std() > 0.5 and all(v.std() > 0 for v in a.variance.values())  # not a degenerate run


# diffusers computes DDPM's posterior mean as c0 * x0_hat + ct * x_t with the coefficients formed first, ours as
# (a x0_hat + b x_t) / (1 - alpha_bar_t): the same in exact arithmetic, a few float32 ulps apart (about 1e-5 on
# samples of size 10). Its DDIM step groups the terms as ours does: bit for bit equal.
@pytest.mark.parametrize("noise", ["beta", "posterior"])
@pytest.mark.parametrize("n_steps", [None, 7])
def test_ddpm_scheduler_equals_our_ddpm(mlp, noise, n_steps):
    model, schedule = mlp
    kw = dict(n_steps=n_steps, windows=[(0, 4), (0, 19)], chunk=128, progress=False)
    ours = samplers.ddpm(model, schedule, 300, (2,), generator(3), noise=noise, **kw)
    theirs = hf.sample(model, hf.scheduler_from(schedule, "ddpm", noise=noise), 300, (2,), generator(3), **kw)
    assert_same_run(ours, theirs, 1e-5)


@pytest.mark.parametrize("eta", [0.0, 1.0, samplers.eta_below(10)])
def test_ddim_scheduler_equals_our_ddim_bit_for_bit(mlp, eta):
    model, schedule = mlp
    kw = dict(eta=eta, windows=WINDOWS, chunk=128, progress=False)
    ours = samplers.ddim(model, schedule, 300, (2,), generator(3), **kw)
    theirs = hf.sample(model, hf.scheduler_from(schedule, "ddim"), 300, (2,), generator(3), **kw)
    assert_same_run(ours, theirs, 0.0)


def test_the_papers_schedule_runs_although_float32_alpha_bar_underflows():
    schedule = diffusion.linear_schedule(1000)  # alpha_bar_999 ~ 1e-47: 0 in float32
    eps = mixtures.ExactEps(mixtures.mixture([1, 2, 3], 0.05), schedule)
    kw = dict(n_steps=50, windows=[(0, 100)], progress=False)
    ours = samplers.ddpm(eps, schedule, 100, (1,), generator(0), **kw)
    theirs = hf.sample(eps, hf.scheduler_from(schedule), 100, (1,), generator(0), **kw)
    assert_same_run(ours, theirs, 1e-5)


def test_a_unet2dmodel_runs_and_equals_our_sampler_on_its_eps(unet):
    schedule = diffusion.cosine_schedule(20)
    kw = dict(windows=[(0, 4)], n_trajectories=3, chunk=4, progress=False)
    for kind in hf.KINDS:
        run = hf.sample(unet, hf.scheduler_from(schedule, kind), 6, (1, 8, 8), generator(0), **kw)
        assert run.x0.shape == (6, 1, 8, 8) and run.variance[(0, 4)].shape == (6,)
        assert run.x0_hat.shape == run.x_t.shape == (20, 3, 1, 8, 8) and run.timesteps == list(range(19, -1, -1))
        assert torch.isfinite(run.variance[(0, 4)]).all() and (run.variance[(0, 4)] > 0).all()
    ours = samplers.ddim(lambda x, t: unet(x, t).sample, schedule, 6, (1, 8, 8), generator(0), **kw)
    assert_same_run(ours, run, 0.0)


@pytest.mark.parametrize("kind", hf.KINDS)
def test_clipping_is_off_unless_asked(unet, kind):
    cls = DDPMScheduler if kind == "ddpm" else DDIMScheduler
    scheduler = cls(num_train_timesteps=20)  # diffusers' default: clip_sample=True
    kw = dict(windows=[(0, 19)], n_trajectories=6, progress=False)
    plain = hf.sample(unet, scheduler, 6, (1, 8, 8), generator(0), **kw)
    clipped = hf.sample(unet, scheduler, 6, (1, 8, 8), generator(0), clip=True, **kw)
    half = hf.sample(unet, scheduler, 6, (1, 8, 8), generator(0), clip=0.5, **kw)
    assert plain.x0_hat.abs().max() > 2  # an untrained model predicts x0 far outside [-1, 1]
    assert clipped.x0_hat.abs().max() == 1 and half.x0_hat.abs().max() == 0.5
    assert not torch.allclose(plain.x0, clipped.x0) and not torch.allclose(plain.variance[(0, 19)],
                                                                         clipped.variance[(0, 19)])
    assert scheduler.config.clip_sample and scheduler.num_inference_steps is None  # the caller's is untouched


def test_bad_arguments_are_clear_errors(mlp):
    model, schedule = mlp
    with pytest.raises(ParameterError, match="'kind'"):
        hf.scheduler_from(schedule, "euler")
    with pytest.raises(ParameterError, match="'noise'"):
        hf.scheduler_from(schedule, "ddpm", noise="fixed_small")
    ddpm = hf.scheduler_from(schedule)
    with pytest.raises(ValueError, match=r"window \(25, 30\) holds no timestep"):
        hf.sample(model, ddpm, 10, (2,), generator(0), windows=[(25, 30)], progress=False)
    with pytest.raises(ParameterError, match="'n_steps'"):
        hf.sample(model, ddpm, 10, (2,), generator(0), n_steps=21, progress=False)
    with pytest.raises(ParameterError, match="'eta'"):
        hf.sample(model, ddpm, 10, (2,), generator(0), eta=1.0, progress=False)
    with pytest.raises(ParameterError, match="'clip'"):
        hf.sample(model, ddpm, 10, (2,), generator(0), clip=-1.0, progress=False)
    with pytest.raises(ParameterError, match="'scheduler'"):
        hf.sample(model, schedule, 10, (2,), generator(0), progress=False)
    with pytest.raises(ValueError, match="eta must be in"):
        hf.sample(model, hf.scheduler_from(schedule, "ddim"), 10, (2,), generator(0), eta=2.0, progress=False)


def test_without_diffusers_the_error_says_how_to_install_it(mlp, monkeypatch):
    monkeypatch.setitem(sys.modules, "diffusers", None)  # `import diffusers` now raises ImportError
    with pytest.raises(ImportError, match=r"pip install modeinterp\[diffusers\]"):
        hf.scheduler_from(mlp[1])


@pytest.mark.parametrize("kind", hf.KINDS)
def test_every_detector_runs_on_a_unet2dmodel_and_equals_it_on_our_sampler(unet, kind):
    """A diffusers user gets every detector: the streamed ones through hf.sample, the post-hoc ones and the reruns
    on hf.eps_model and hf.step. With the scheduler's own process equal to ours (DDIM: bit for bit; DDPM: to float32
    rounding), each detector scores the same as on our sampler with the same eps model."""
    schedule, n, shape, window = diffusion.cosine_schedule(20), 4, (1, 8, 8), (0, 9)
    eps, ab = hf.eps_model(unet), schedule.alpha_bar.tolist()
    streamed = lambda: {"renoising": detectors.Renoising(model=eps, alpha_bar=ab, window=window, M=2, seed=3),  # noqa: E731
                        "curvature": detectors.Curvature(model=eps, alpha_bar=ab, window=window, rho=0.1)}
    theirs = hf.sample(unet, hf.scheduler_from(schedule, kind), n, shape, generator(0), chunk=2, progress=False,
                       statistics=streamed())
    ours = getattr(samplers, kind)(eps, schedule, n, shape, generator(0), chunk=2, progress=False, statistics=streamed())
    step, ts, last_noise = hf.step(unet, hf.scheduler_from(schedule, kind))
    posthoc = lambda x0: metric.posthoc(eps, schedule, x0, [2, 2, 5], generator(1), chunk=2, statistics={  # noqa: E731
        "loss": detectors.DenoisingLoss(t=2), "posterior": detectors.PosteriorVariance(model=eps, alpha_bar=ab, t=5, probes=1)})
    initial = detectors.initial_noise_sensitivity(step, ts, theirs.seed, range(3), shape, beta=0.1, reruns=2,
                                                  last_step_noise=last_noise)
    tol = dict(rtol=0, atol=0) if kind == "ddim" else dict(rtol=1e-3, atol=1e-5)
    for name in ("renoising", "curvature"):
        assert theirs.stats[name].shape[0] == n and torch.isfinite(theirs.stats[name]).all()
        torch.testing.assert_close(theirs.stats[name], ours.stats[name], **tol)
    for name, score in posthoc(theirs.x0).items():
        assert score.shape == (n,) and torch.isfinite(score).all() and (score > 0).all()
        torch.testing.assert_close(score, posthoc(ours.x0)[name], **tol)
    assert initial.shape == (3,) and (initial > 0).all()
