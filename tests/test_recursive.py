"""Recursive training: the strategies pick what they say, lineages branch after generation 0, caching works."""
import pytest
import torch

from modeinterp.method import diffusion
from modeinterp.experiments import images, recursive, toy
from modeinterp.support import params
from modeinterp.support.runtime import generator

TINY_IMAGE = dict(size=8, T=20, steps=5, batch=8, lr=1e-3, seed=0, arch=dict(fold=1, base=8, mults=[1, 2]))


def test_select_strategies():
    samples = torch.arange(10.0)[:, None]
    variance = torch.tensor([5.0, 1, 9, 0, 3, 8, 2, 7, 6, 4])
    assert torch.equal(recursive.select("none", samples, variance, 4, generator(0)), samples)
    low = recursive.select("variance", samples, variance, 4, generator(0))
    assert sorted(low[:, 0].tolist()) == [1.0, 3.0, 4.0, 6.0]  # the four lowest variances: 0, 1, 2, 3
    rand = recursive.select("random", samples, variance, 4, generator(0))
    assert len(set(rand[:, 0].tolist())) == 4
    assert torch.equal(rand, recursive.select("random", samples, variance, 4, generator(0)))
    with pytest.raises(params.ParameterError, match="strategy"):
        recursive.select("best", samples, variance, 4, generator(0))
    with pytest.raises(params.ParameterError, match="n_keep"):
        recursive.select("random", samples, variance, 11, generator(0))


def test_lineages_branch_after_the_first_generation():
    calls = []

    def fit(g, training):
        calls.append((g, {k: len(v) for k, v in training.items()}))
        return {lineage: lineage for lineage in training}

    def draw(model, g, lineage):
        x = torch.randn(12, 1, generator=generator(g))
        return x, x[:, 0].abs()

    history = recursive.run(torch.zeros(20, 1), recursive.STRATEGIES, 3, fit, draw, n_keep=8, seed=0)
    assert calls[0] == (0, {"real": 20})
    assert calls[1:] == [(g, {"none": 12, "random": 8, "variance": 8}) for g in (1, 2)]
    first = [h[0].samples for h in history.values()]
    assert all(torch.equal(first[0], f) for f in first)  # generation 0 is shared
    assert all(len(h) == 3 for h in history.values())


def test_toy_generations_train_cache_and_reload(tmp_path):
    base = toy.ToyConfig("rec", [1.0, 2.0], 0.05, n_train=200, T=20, steps=30, batch=64, lr=1e-3, seed=0,
                         width=16, extra=dict(n_draw=50, n_keep=40))
    schedule = diffusion.make_schedule("linear", 20)
    args = (base.training_set(), ["none", "variance"], 2)
    draw = recursive.ddpm_draw(schedule, 50, (1,), (0, 2), seed=0, progress=False)
    first = recursive.run(*args, recursive.lineage_fit(base, tmp_path), draw, n_keep=40, seed=0)
    assert len(list(tmp_path.glob("*.pt"))) == 3  # real-g0, none-g1, variance-g1
    again = recursive.run(*args, recursive.lineage_fit(base, tmp_path), draw, n_keep=40, seed=0)
    for s in first:
        assert torch.equal(first[s][-1].samples, again[s][-1].samples)
    assert not torch.equal(first["none"][1].samples, first["variance"][1].samples)


def test_image_generations_with_the_posthoc_metric(tmp_path):
    base = images.ImageConfig("rec-img", **TINY_IMAGE, extra=dict(n_keep=12))
    schedule = diffusion.make_schedule("cosine", 20)
    real = torch.rand(24, 1, 8, 8, generator=generator(0)) * 2 - 1
    draw = recursive.posthoc_draw(schedule, 16, (1, 8, 8), [5, 7, 9], seed=0, n_steps=5, clip=1.0,
                                  progress=False)
    history = recursive.run(real, ["random", "variance"], 2, recursive.lineage_fit(base, tmp_path), draw, 12,
                            0)
    last = history["variance"][-1]
    assert last.samples.shape == (16, 1, 8, 8) and last.variance.shape == (16,) and (last.variance > 0).all()
    assert len(list(tmp_path.glob("*.pt"))) == 3
