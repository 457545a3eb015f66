"""Several processes through accelerate, on this CPU (gloo): training averages the gradients of the slices of one
global batch, sampling split by sample index equals one process, and too many processes is a clear error."""
import os

import pytest
import torch

from modeinterp.method import diffusion, mixtures, samplers, train
from modeinterp.experiments import images
from modeinterp.support import params, parallel
from modeinterp.method.nets import UNet, for_sampling
from modeinterp.support.runtime import generator

W = torch.tensor([[1.0, -2.0, 0.5]])
ROWS = []  # rows each loss call saw, in this process


def _draw(g):
    return torch.randn(64, 3, generator=g)


def _loss(model, x, g):
    ROWS.append(len(x))
    return ((model(x) - x @ W.T) ** 2).mean()


def regression(steps: int) -> dict:
    """A linear regression trained by fit with Adam and an EMA (deterministic loss: randomness only in the batch)."""
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 1)
    ROWS.clear()
    history = train.fit(net, _draw, _loss, steps, 0.05, generator(0), chunk=16, progress=False, ema=0.9)
    return {"state": net.state_dict(), "loss": history, "rows": sum(ROWS)}


def test_two_processes_train_the_one_process_model_on_the_same_global_batches():
    one = regression(8)
    two = parallel.run(regression, (8,), 2, "cpu")
    assert len(two) == 2 and one["rows"] == 8 * 64 and [r["rows"] for r in two] == [8 * 32, 8 * 32]  # sliced
    for k, v in one["state"].items():  # Adam on gradients averaged over processes: equal up to float rounding
        torch.testing.assert_close(two[0]["state"][k], v, rtol=0, atol=1e-5)
        assert torch.equal(two[0]["state"][k], two[1]["state"][k])  # every process holds the same model
    torch.testing.assert_close(torch.tensor(two[0]["loss"]), torch.tensor(one["loss"]), rtol=1e-5, atol=1e-7)
    assert one["state"]["weight"].ne(regression(0)["state"]["weight"]).all()  # it did train


def test_two_processes_train_and_cache_an_image_model_with_mixed_precision(tmp_path):
    config = images.ImageConfig("tiny", size=8, T=20, steps=4, batch=8, lr=1e-3, seed=0,
                                arch=dict(fold=1, base=8, mults=[1, 2]), bf16=True, extra=dict(n_train=16))
    data = {"tiny": torch.rand(16, 1, 8, 8, generator=generator(0)) * 2 - 1}
    (model, payload), = train.models([config], tmp_path, data=data, processes=2)
    assert len(list(tmp_path.glob("*.pt"))) == 1 and len(payload["loss"]) == 4  # written once, by the main process
    (again, _), = train.models([config], tmp_path)  # from the cache
    x = torch.randn(2, 1, 8, 8, generator=generator(1))
    assert torch.equal(model(x, 3), again(x, 3))


def test_sampling_split_over_two_processes_equals_one_process():
    gm = mixtures.mixture([1, 2, 3], 0.05, [0.5, 0.3, 0.2])
    schedule = diffusion.linear_schedule(100)
    eps = mixtures.ExactEps(gm, schedule)
    kw = dict(n_steps=20, windows=[(0, 10), (20, 60)], n_trajectories=5, chunk=16, progress=False)
    one = samplers.ddpm(eps, schedule, 101, (1,), generator(3), **kw)
    two = samplers.ddpm(eps, schedule, 101, (1,), generator(3), processes=2, **kw)
    torch.testing.assert_close(two.x0, one.x0, rtol=0, atol=0)
    for w in one.variance:
        torch.testing.assert_close(two.variance[w], one.variance[w], rtol=0, atol=0)
    torch.testing.assert_close(two.x0_hat, one.x0_hat, rtol=0, atol=0)
    assert one.x0.std() > 0.5


def test_more_processes_than_devices_is_a_clear_error(monkeypatch, tmp_path):
    with pytest.raises(params.ParameterError, match="'processes' must be at most"):
        parallel.check(10_000, "cpu")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(params.ParameterError, match=r"'processes' must be at most 2 \(2 CUDA GPUs"):
        parallel.check(3, "cuda")
    with pytest.raises(params.ParameterError, match="'processes'"):
        parallel.check(0, "cpu")
    with pytest.raises(params.ParameterError, match="'processes'"):  # before any compute
        samplers.ddpm(lambda x, t: x, diffusion.linear_schedule(10), 4, (1,), generator(0), processes=10_000)
    with pytest.raises(ValueError, match="'workers' must be 1"):
        train.cached_many([{"name": "m"}], lambda c: pytest.fail("trained"), tmp_path, workers=2, processes=2)


def test_make_paper_sets_processes_only_in_notebooks_that_have_it(monkeypatch):
    import argparse
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "ci"))
    import run_notebooks

    monkeypatch.setattr(run_notebooks, "gpu_count", lambda: 4)
    args = argparse.Namespace(paper=False, params=None, p=None, processes="auto")
    monkeypatch.setattr(run_notebooks.pm, "inspect_notebook", lambda nb: {"processes": {}, "n": {}})
    assert run_notebooks.parameters_for(Path("x.ipynb"), args) == {"processes": 4}
    args.p = [("processes", "2")]  # -p overrides it
    assert run_notebooks.parameters_for(Path("x.ipynb"), args) == {"processes": 2}
    monkeypatch.setattr(run_notebooks.pm, "inspect_notebook", lambda nb: {"n": {}})
    assert run_notebooks.parameters_for(Path("x.ipynb"), args) == {"processes": 2}  # as given
    args.p = None
    assert run_notebooks.parameters_for(Path("x.ipynb"), args) == {}


def test_a_notebook_samples_on_every_free_core_and_trains_in_one_process_on_the_cpu(monkeypatch):
    monkeypatch.setenv(parallel.PROCESSES_ENV, "2")
    assert parallel.free_cores() == 2
    assert parallel.notebook_processes(0, "cpu") == (2, 1)
    assert parallel.notebook_processes(1, "cpu") == (1, 1)
    monkeypatch.setenv(parallel.PROCESSES_ENV, "1")  # `make reproduce` running two notebooks at once on 2 cores
    assert parallel.notebook_processes(0, "cpu") == (1, 1)
    monkeypatch.delenv(parallel.PROCESSES_ENV)
    assert 1 <= parallel.free_cores() <= (os.cpu_count() or 1)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 3)
    assert parallel.notebook_processes(0, "cuda") == (3, 3)  # GPUs train data-parallel too
    with pytest.raises(params.ParameterError, match="'processes'"):
        parallel.notebook_processes(-1, "cpu")
    cores = parallel.free_cores()
    monkeypatch.setattr(parallel, "_cgroup_limits", lambda: (None, 2e9))  # Binder's 2 GB: one process
    assert parallel.free_cores() == 1
    monkeypatch.setattr(parallel, "_cgroup_limits", lambda: (1, None))  # a quota of one CPU
    assert parallel.free_cores() == 1
    monkeypatch.setattr(parallel, "_cgroup_limits", lambda: (None, 64e9))
    assert parallel.free_cores() == cores
    monkeypatch.setenv(parallel.PROCESSES_ENV, "two")
    with pytest.raises(ValueError, match="MODEINTERP_PROCESSES must be a positive integer"):
        parallel.free_cores()


def test_a_channels_last_unet_samples_the_same_in_two_processes_as_in_one():
    model = UNet(T=10, fold=2, base=16).eval()  # its rows' rounding depends on the rows computed at once
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=generator(1)))
    fast, schedule = for_sampling(model), diffusion.cosine_schedule(10)
    kw = dict(n_steps=5, windows=[(0, 4)], chunk=8, noise="posterior", clip=1.0, progress=False)
    one = samplers.ddpm(fast, schedule, 18, (1, 32, 32), generator(3), **kw)  # chunks of 8, 8 and 2 rows
    two = samplers.ddpm(fast, schedule, 18, (1, 32, 32), generator(3), processes=2, **kw)  # the same (not 8+1 twice)
    assert torch.equal(two.x0, one.x0) and torch.equal(two.variance[(0, 4)], one.variance[(0, 4)])
