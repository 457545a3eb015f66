"""Recursive training (the paper's section 6): each generation trains only on samples of the previous one.

Generation 0 trains on real data. Its model draws n_draw samples, each scored by the hallucination metric, and
every strategy picks the next generation's training set from them:
  - "none": all n_draw samples, unfiltered;
  - "random": a random subset of n_keep (the paper's control: the same size as the filtered set);
  - "variance": the n_keep samples of lowest metric (the paper's filter: draw more than needed, keep the
    least uncertain).
From generation 1 on, each strategy has its own lineage of models. The loop knows nothing of the data or the
model: `fit` trains (or loads) one model per lineage, `draw` samples a model and scores the samples.
"""
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch

from ..method import samplers, train
from ..support import params
from ..method.diffusion import Schedule
from ..method.metric import posthoc_variance
from ..support.runtime import generator

STRATEGIES = ("none", "random", "variance")
REAL = "real"  # the lineage of generation 0, trained on real data and shared by every strategy


@dataclass
class Generation:
    """One generation of one strategy: what its model drew."""

    generation: int
    samples: torch.Tensor  # n_draw samples of this generation's model
    variance: torch.Tensor  # their metric (shape n_draw)


def select(strategy: str, samples: torch.Tensor, variance: torch.Tensor, n_keep: int,
           generator: torch.Generator) -> torch.Tensor:
    """The next generation's training set, picked from `samples` by `strategy` (see the module docstring)."""
    params.choice("strategy", strategy, STRATEGIES)
    params.integer("n_keep", n_keep, low=1, high=len(samples))
    if strategy == "none":
        return samples
    if strategy == "random":
        return samples[torch.randperm(len(samples), generator=generator)[:n_keep]]
    return samples[torch.argsort(variance, stable=True)[:n_keep]]


def lineage_config(base: train.ModelConfig, lineage: str, generation: int) -> train.ModelConfig:
    """The configuration of one lineage's model at one generation (the cache key of that model): `base` with
    the extra keys lineage and generation. From generation 1 on, a model trains on drawn samples, so its key also
    names the samplers' noise (samplers.NOISE)."""
    drawn = {} if generation == 0 else {"noise": samplers.NOISE}
    return replace(base, name=f"{base.name}-{lineage}-g{generation}",
                   extra={**base.extra, "lineage": lineage, "generation": generation, **drawn})


def run(data: torch.Tensor, strategies, generations: int, fit: Callable, draw: Callable, n_keep: int,
        seed: int) -> dict[str, list[Generation]]:
    """Train `generations` generations per strategy; return, per strategy, what each generation drew.

    fit(generation, {lineage: training set}) -> {lineage: model}; draw(model, generation, lineage) ->
    (samples, variance). The random subsets are seeded by `seed` and the generation.
    """
    strategies = [params.choice("strategies", s, STRATEGIES) for s in strategies]
    params.integer("generations", generations, low=1)
    history = {s: [] for s in strategies}
    training = {REAL: data}
    for g in range(generations):
        for lineage, model in fit(g, training).items():
            samples, variance = draw(model, g, lineage)
            followers = strategies if lineage == REAL else [lineage]
            for s in followers:
                history[s].append(Generation(g, samples, variance))
                training[s] = select(s, samples, variance, n_keep, generator(seed + 1000 * (g + 1)))
        training.pop(REAL, None)
    return history


def lineage_fit(base: train.ModelConfig, cache_dir, workers: int = 1, device: str = "cpu",
                processes: int = 1) -> Callable:
    """A `fit` for run(): one model of `base` per lineage (train.models), cached; each trained in `processes`
    processes when processes > 1."""
    def fit(g: int, training: dict) -> dict:
        configs = {lineage: lineage_config(base, lineage, g) for lineage in training}
        data = {c.name: training[lineage] for lineage, c in configs.items()}
        trained = train.models(list(configs.values()), cache_dir, workers, device, data=data,
                               processes=processes)
        return {lineage: model for lineage, (model, _) in zip(configs, trained)}
    return fit


def ddpm_draw(schedule: Schedule, n_draw: int, shape, window, seed: int, *, device: str = "cpu",
              chunk: int = 2048, **sampler_options) -> Callable:
    """A `draw` for run(): n_draw DDPM samples and their trajectory variance over `window`."""
    window = tuple(window)

    def draw(model, g: int, lineage: str):
        s = samplers.ddpm(model, schedule, n_draw, shape, generator(_draw_seed(seed, g, lineage), device),
                          windows=[window], chunk=chunk, **sampler_options)
        return s.x0, s.variance[window]
    return draw


def posthoc_draw(schedule: Schedule, n_draw: int, shape, steps: list[int], seed: int, *,
                 device: str = "cpu", chunk: int = 2048, **sampler_options) -> Callable:
    """A `draw` for run(): n_draw DDPM samples, then their post-hoc variance over `steps` (metric.posthoc_variance),
    as the paper does for MNIST."""
    def draw(model, g: int, lineage: str):
        gen = generator(_draw_seed(seed, g, lineage), device)
        x0 = samplers.ddpm(model, schedule, n_draw, shape, gen, chunk=chunk, **sampler_options).x0
        return x0, posthoc_variance(model, schedule, x0, steps, gen, chunk)
    return draw


def _draw_seed(seed: int, g: int, lineage: str) -> int:
    """A distinct sampling seed per generation and lineage."""
    return seed + 1 + 10 * g + ((REAL,) + STRATEGIES).index(lineage)
