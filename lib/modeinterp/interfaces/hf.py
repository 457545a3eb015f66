"""Hugging Face diffusers: run a DDPMScheduler or DDIMScheduler with any eps model and stream the metric.

`sample` runs the scheduler's own step (its timesteps, x0_hat = `pred_original_sample`, posterior and noise
scale) as the step rule of the library's reverse loop (`samplers.reverse`): the same `Samples`, streamed
statistics (the windows' variance and any metric.Statistic), per-sample noise streams and noise per step (none at the last, unless the scheduler adds some there)
as `samplers.ddpm` and `samplers.ddim`; `eps_model` and `step` give every detector of `modeinterp.method.detectors`
its model and, for those that replay samples, its step rule. `scheduler_from` turns a library schedule into a scheduler with the same
betas, so both run the same process. diffusers is optional: `pip install modeinterp[diffusers]`.
"""
import copy
import sys
from collections.abc import Callable, Sequence
from unittest import mock

import torch

from ..support import params
from ..method.diffusion import Schedule
from ..method.samplers import Samples, eta_schedule, reverse
from ..method.windows import Window

KINDS = ("ddpm", "ddim")
NOISE_TYPES = {"beta": "fixed_large", "posterior": "fixed_small"}  # samplers.ddpm's noise -> diffusers' variance_type


def _diffusers():
    """The diffusers package, or an ImportError saying how to install it."""
    try:
        import diffusers
    except ImportError as e:
        raise ImportError("modeinterp.hf needs diffusers: pip install modeinterp[diffusers]") from e
    return diffusers


def scheduler_from(schedule: Schedule, kind: str = "ddpm", *, noise: str = "beta"):
    """A diffusers DDPMScheduler or DDIMScheduler with the betas and alpha_bar of `schedule`, clipping off.

    noise (DDPM only): 'beta' (samplers.ddpm's default, the paper's) -> variance_type 'fixed_large';
    'posterior' -> 'fixed_small'. DDPM's strided timesteps are spaced as windows.timesteps ('linspace').
    diffusers computes alpha_bar in float32, which underflows to 0 for the paper's T=1000 schedule
    (alpha_bar_999 ~ 1e-47); the scheduler is given the schedule's float64 alpha_bar instead.
    """
    params.choice("kind", kind, KINDS)
    params.choice("noise", noise, NOISE_TYPES)
    diffusers = _diffusers()
    common = dict(num_train_timesteps=schedule.T, trained_betas=schedule.betas.tolist(), clip_sample=False,
                  prediction_type="epsilon")
    if kind == "ddpm":
        scheduler = diffusers.DDPMScheduler(**common, variance_type=NOISE_TYPES[noise],
                                            timestep_spacing="linspace")
    else:
        scheduler = diffusers.DDIMScheduler(**common, set_alpha_to_one=True, timestep_spacing="leading")
    scheduler.alphas_cumprod = schedule.alpha_bar.clone()
    return scheduler


def sample(model, scheduler, n: int, shape: Sequence[int], generator: torch.Generator, *,
           n_steps: int | None = None, windows: Sequence[Window] = (),
           eta: float | Callable[[int], float] = 0.0, clip: bool | float = False, n_trajectories: int = 0,
           chunk: int = 2048, progress: bool = True, aggregations: dict | None = None,
           statistics: dict | None = None) -> Samples:
    """Sample with a diffusers DDPMScheduler/DDIMScheduler; return `Samples` as samplers.ddpm/ddim do.

    model: `model(x_t, t) -> eps` (t a Python int), or a diffusers UNet2DModel (its output's `.sample` is read).
    n_steps: the scheduler's `set_timesteps` (all of its training timesteps by default); eta: DDIM only, as in
    samplers.ddim. clip: diffusers' schedulers clip x0_hat to [-1, 1] by default (`clip_sample=True`); here
    clipping is off unless clip=True ([-1, 1]) or clip=c ([-c, c]); a DDIM step then re-derives eps from the
    clipped x0_hat, as samplers.ddim does (a scheduler's `thresholding` is left as it is). The scheduler passed
    in is copied, never changed. The metric is the
    variance of the scheduler's `pred_original_sample`; statistics: as for samplers.ddpm (a visit's eps is the
    model's output, before any clipping). x_T and every step's noise come from the library's
    per-sample streams, so with `scheduler_from(schedule, ...)` a run equals samplers.ddpm's to float32 rounding
    and, at n_steps = T (diffusers' DDIM strides its own timesteps), samplers.ddim's bit for bit.
    """
    step_rule, ts, last_step_noise = step(model, scheduler, n_steps=n_steps, eta=eta, clip=clip)
    return reverse(step_rule, ts, n, shape, generator, windows=windows, n_trajectories=n_trajectories, chunk=chunk,
                   progress=progress, aggregations=aggregations, statistics=statistics,
                   last_step_noise=last_step_noise)


def step(model, scheduler, *, n_steps: int | None = None, eta: float | Callable[[int], float] = 0.0,
         clip: bool | float = False) -> tuple[Callable, list[int], bool]:
    """(the step rule, its timesteps, whether it adds noise at the last one) that `sample` runs with these
    arguments: for the detectors that replay samples (detectors.initial_noise_sensitivity) on a scheduler."""
    scheduler = _prepared(scheduler, clip, n_steps)
    ts = [int(t) for t in scheduler.timesteps]
    if isinstance(scheduler, _diffusers().DDIMScheduler):
        eta_at = eta_schedule(eta, ts)
        return _ddim_step(model, scheduler, eta_at), ts, eta_at(ts[-1]) > 0
    if eta != 0.0:
        params.fail("eta", "0 for a DDPMScheduler (eta is DDIM's)", eta)
    return _ddpm_step(model, scheduler), ts, ts[-1] > 0  # DDPMScheduler adds noise at every t > 0


def eps_model(model) -> Callable:
    """`model(x_t, t) -> eps` for a plain eps model or a diffusers UNet2DModel: the `model` of every detector."""
    return lambda x, t: _eps(model, x, t)


def _prepared(scheduler, clip, n_steps):
    """A copy of `scheduler` with clipping as asked and its timesteps set."""
    diffusers = _diffusers()
    if not isinstance(scheduler, (diffusers.DDPMScheduler, diffusers.DDIMScheduler)):
        params.fail("scheduler", "a diffusers DDPMScheduler or DDIMScheduler", type(scheduler).__name__)
    if scheduler.config.prediction_type != "epsilon":
        params.fail("scheduler.config.prediction_type", "'epsilon' (the model predicts eps)",
                    scheduler.config.prediction_type)
    if isinstance(clip, bool):
        clip_range = scheduler.config.clip_sample_range if clip else None
    else:
        clip_range = params.real("clip", clip, low=0, low_open=True)
    T = scheduler.config.num_train_timesteps
    steps = T if n_steps is None else params.integer("n_steps", n_steps, low=1, high=T)
    scheduler = copy.deepcopy(scheduler)
    scheduler.register_to_config(clip_sample=clip_range is not None, clip_sample_range=clip_range or 1.0)
    scheduler.set_timesteps(steps)
    return scheduler


def _eps(model, x, t):
    """eps from a plain `model(x_t, t)` or from a diffusers model, whose output holds it in `.sample`."""
    out = model(x, t)
    return out if torch.is_tensor(out) else out.sample


def _ddpm_step(model, scheduler):
    """DDPMScheduler.step as a step of samplers.reverse: its noise is the step's draw z from the streams.

    DDPMScheduler.step takes no noise, only a `generator`: it draws the noise with diffusers' `randn_tensor`,
    which is replaced by z for the duration of the call (so not from two threads at once).
    """
    module = sys.modules[type(scheduler).step.__module__]
    if not hasattr(module, "randn_tensor"):
        raise RuntimeError(f"{module.__name__} no longer draws its noise with randn_tensor: this diffusers "
                          "version is not supported (see ci/requirements.txt for the tested one)")

    def step(x_t, t, t_prev, z):
        def randn_tensor(shape, generator=None, device=None, dtype=None, layout=None):
            if z is None:
                raise RuntimeError(f"the scheduler added noise at t={t}, a step given none: this diffusers version "
                                   "is not supported (see ci/requirements.txt for the tested one)")
            return z.to(device=device, dtype=dtype)

        eps = _eps(model, x_t, t)
        with mock.patch.object(module, "randn_tensor", randn_tensor):
            out = scheduler.step(eps, t, x_t)
        return out.pred_original_sample, out.prev_sample, eps

    return step


def _ddim_step(model, scheduler, eta_at):
    """DDIMScheduler.step as a step of samplers.reverse, with eta_at(t) and the step's draw z as its
    `variance_noise`."""
    def step(x_t, t, t_prev, z):
        eta, eps = eta_at(t), _eps(model, x_t, t)
        out = scheduler.step(eps, t, x_t, eta=eta, use_clipped_model_output=scheduler.config.clip_sample,
                             variance_noise=z if eta > 0 else None)
        return out.pred_original_sample, out.prev_sample, eps

    return step
