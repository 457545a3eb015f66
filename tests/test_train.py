"""The training loop, the configurations of models, and the cache of trained models."""
import dataclasses
import json
import os
import warnings
from pathlib import Path

import pytest
import torch

from modeinterp.method import train
from modeinterp.experiments import images, toy
from modeinterp.support import params
from modeinterp.support.runtime import generator

from helpers import cached

TINY = dict(means=[1.0, 2.0], std=0.05, n_train=500, T=20, steps=30, batch=64, lr=1e-3, seed=0, width=16)


def tiny(name="tiny", **kw):
    return toy.ToyConfig(name, **{**TINY, **kw})


@pytest.mark.parametrize("bf16, factor", [(False, 0.01), (True, 0.05)])
def test_fit_lowers_the_loss_of_a_regression(bf16, factor):
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 1)
    w = torch.tensor([[1.0, -2.0, 0.5]])
    draw = lambda g: torch.randn(256, 3, generator=g)  # noqa: E731
    loss = lambda m, x, g: ((m(x) - x @ w.T) ** 2).mean()  # noqa: E731
    history = train.fit(net, draw, loss, 300, 0.05, generator(0), chunk=100, progress=False, bf16=bf16)
    assert history[-1] < factor * history[0]


def test_ema_ends_with_the_average_of_the_weights():
    """ema=0 keeps the last weights; a decay near 1 stays near the weights after the first step (its start)."""
    draw = lambda g: torch.randn(64, 3, generator=g)  # noqa: E731
    loss = lambda m, x, g: ((m(x) - x.sum(1, keepdim=True)) ** 2).mean()  # noqa: E731
    weights = {}
    for ema in (None, 0.0, 0.999999):
        torch.manual_seed(0)
        net = torch.nn.Linear(3, 1)
        start = net.weight.detach().clone()
        train.fit(net, draw, loss, 100, 0.05, generator(0), progress=False, ema=ema)
        weights[ema] = net.weight.detach()
    assert torch.allclose(weights[0.0], weights[None])
    assert (weights[0.999999] - start).abs().max() < 0.02 < (weights[None] - start).abs().max()  # Adam step ~0.01


def test_same_seed_trains_the_same_model():
    a, b = train.train_model(tiny(), progress=False), train.train_model(tiny(), progress=False)
    assert all(torch.equal(a["state"][k], b["state"][k]) for k in a["state"])
    c = train.train_model(tiny(seed=1), progress=False)
    assert not all(torch.equal(a["state"][k], c["state"][k]) for k in a["state"])


def test_cache_trains_once_then_loads(tmp_path):
    calls = []

    def trainer(cfg):
        calls.append(cfg)
        return train.train_model(cfg, progress=False)

    first = cached(tiny(), trainer, tmp_path)
    second = cached(tiny(), trainer, tmp_path)
    assert len(calls) == 1 and first["config"] == second["config"]
    assert all(torch.equal(first["state"][k], second["state"][k]) for k in first["state"])
    cached(tiny(lr=2e-3), trainer, tmp_path)  # another configuration is another model
    assert len(calls) == 2 and len(list(tmp_path.glob("*.pt"))) == 2


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_a_truncated_or_corrupt_file_is_retrained_never_used(tmp_path, damage):
    cfg = tiny()
    good = cached(cfg, lambda c: train.train_model(c, progress=False), tmp_path)
    path = train.cache_path(cfg, tmp_path)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2] if damage == "truncate" else raw[:-10] + bytes(10))
    with pytest.raises(ValueError, match="truncated or corrupt"):
        train.load(path)
    calls = []
    with pytest.warns(UserWarning, match="truncated or corrupt.*; retraining"):
        again = cached(cfg, lambda c: calls.append(1) or train.train_model(c, progress=False), tmp_path)
    assert calls == [1]
    assert all(torch.equal(good["state"][k], again["state"][k]) for k in good["state"])
    train.load(path)  # repaired


def test_a_write_interrupted_half_way_leaves_the_old_file_and_no_debris(tmp_path, monkeypatch):
    path = tmp_path / "m.pt"
    train.save({"a": torch.ones(3)}, path)
    before = path.read_bytes()

    def crash(fd):
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(KeyboardInterrupt):
        train.save({"a": torch.zeros(1000)}, path)
    assert path.read_bytes() == before and list(tmp_path.iterdir()) == [path]


def test_readonly_cache_refuses_to_train(tmp_path, monkeypatch):
    monkeypatch.setenv(train.CACHE_ENV, "readonly")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RuntimeError, match="make models") as e:
        cached(tiny(), lambda c: pytest.fail("trained"), "models")
    assert f"no trained model in {tmp_path / 'models'} for: tiny-" in str(e.value)  # the path resolved


@pytest.mark.parametrize("damage", ["truncate", "other configuration"])
def test_readonly_cache_says_a_damaged_model_is_damaged_and_how_to_remake_that_one(tmp_path, monkeypatch, damage):
    cfg = tiny()
    cached(cfg, lambda c: train.train_model(c, progress=False), tmp_path)
    path = train.cache_path(cfg, tmp_path)
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:100])
    else:
        train.save({"config": tiny(seed=5).to_dict(), "state": {}}, path)
    monkeypatch.setenv(train.CACHE_ENV, "readonly")
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "retraining" warning either
        with pytest.raises(RuntimeError) as e:
            cached(cfg, lambda c: pytest.fail("trained"), ".")
    message = str(e.value)
    assert f"{train.CACHE_ENV}=readonly and {path} " in message and "\n" not in message
    assert ("truncated or corrupt" if damage == "truncate" else "holds another configuration") in message
    assert "no trained model" not in message and f"git checkout -- {path}" in message and "only that model" in message


@pytest.mark.parametrize("value", ["read-only", "READONLY", "ro", "1"])
def test_the_cache_mode_accepts_only_its_documented_values(tmp_path, monkeypatch, value):
    monkeypatch.setenv(train.CACHE_ENV, value)
    with pytest.raises(ValueError, match=f"MODEINTERP_CACHE must be 'readonly' or 'readwrite'.*got '{value}'"):
        cached(tiny(), lambda c: pytest.fail("trained"), tmp_path)
    from modeinterp.interfaces import notebook
    with pytest.raises(ValueError, match="MODEINTERP_CACHE must be"):  # the notebooks' check cell, before compute
        notebook.start(0, "cpu", tmp_path)
    for good, mode in [("readwrite", "readwrite"), ("", "readwrite"), ("readonly", "readonly")]:
        monkeypatch.setenv(train.CACHE_ENV, good)
        assert train.cache_mode() == mode
    monkeypatch.delenv(train.CACHE_ENV)
    assert train.cache_mode() == "readwrite"


def test_config_key_is_stable():
    """A configuration's key is the one it had as a plain dict (a changed key orphans the shipped models)."""
    assert train.config_key(tiny()) == "2a63fcc00afb1d45"
    assert train.config_key(tiny()) != train.config_key(tiny(steps=31))


def test_configurations_are_frozen_and_round_trip_through_their_dict():
    for cls in (toy.ToyConfig, images.ImageConfig):
        assert set(cls.KEYS) == {f.name for f in dataclasses.fields(cls)} - {"extra"}, cls.__name__
    config = tiny(extra=dict(n_keep=40, window=[0, 3]))
    d = config.to_dict()
    assert list(d)[-2:] == ["n_keep", "window"] and d["means"] == [1.0, 2.0]
    assert toy.ToyConfig.from_dict(d) == config
    d["means"].append(3.0)  # the dict is a copy
    assert config.means == [1.0, 2.0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.steps = 1
    with pytest.raises(params.ParameterError, match="'extra'"):
        tiny(extra=dict(seed=1))
    with pytest.raises(TypeError):  # keyword-only after name and size
        images.ImageConfig("x", 8, 20, 5, 8, 1e-3, 0)


def test_every_shipped_model_is_found_from_its_configuration(monkeypatch):
    """Each file in models/ holds the dict of a configuration whose key names that file: read-only, every
    configuration rebuilt from a stored dict resolves to its shipped model."""
    models = Path(__file__).resolve().parent.parent / "models"
    files = sorted(models.glob("*.pt"))
    configs = []
    for path in files:
        stored = train.load(path)["config"]
        config = (toy.ToyConfig if "means" in stored else images.ImageConfig).from_dict(stored)
        assert json.dumps(config.to_dict()) == json.dumps(stored), path.name  # keys, order, values and types
        assert train.cache_path(config, models) == path
        configs.append(config)
    monkeypatch.setenv(train.CACHE_ENV, "readonly")
    payloads = train.cached_many(configs, lambda c: pytest.fail("trained"), models)
    assert len(files) > 0 and [p["config"] for p in payloads] == [c.to_dict() for c in configs]


def test_parallel_training_gives_the_models_of_serial_training(tmp_path):
    cfgs = [tiny("p"), tiny("p", seed=1)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parallel = train.models(cfgs, tmp_path / "par", workers=2)
    serial = train.models(cfgs, tmp_path / "ser", workers=1)
    for (mp, _), (ms, _) in zip(parallel, serial):
        assert all(torch.equal(a, b) for a, b in zip(mp.state_dict().values(), ms.state_dict().values()))



def test_progress_bars_can_be_switched_off_for_batch_runs(monkeypatch):
    from modeinterp.support.runtime import PROGRESS_ENV, show_progress

    monkeypatch.delenv(PROGRESS_ENV, raising=False)
    assert show_progress() and not show_progress(False)
    monkeypatch.setenv(PROGRESS_ENV, "0")
    assert not show_progress()


def test_checkpoints_from_the_callback_equal_a_run_that_stops_there_with_a_constant_rate():
    """With decay="constant" the rate at step s does not depend on the total: a checkpoint at s of a long run is
    the model of a run of s steps (the warmup share is fixed in steps here by warmup=0)."""
    draw = lambda g: torch.randn(64, 3, generator=g)  # noqa: E731
    loss = lambda m, x, g: ((m(x) - x.sum(1, keepdim=True)) ** 2).mean()  # noqa: E731
    kept = {}

    def keep(step, model):
        if step in (20, 50):
            kept[step] = {k: v.clone() for k, v in model.state_dict().items()}

    runs = {}
    for steps, callback in ((50, keep), (20, None)):
        torch.manual_seed(0)
        net = torch.nn.Linear(3, 1)
        train.fit(net, draw, loss, steps, 0.05, generator(0), warmup=0.0, progress=False, ema=0.9,
                  decay="constant", callback=callback)
        runs[steps] = net.state_dict()
    assert sorted(kept) == [20, 50]
    assert all(torch.equal(kept[50][k], runs[50][k]) for k in runs[50])  # the last checkpoint is the result
    assert all(torch.equal(kept[20][k], runs[20][k]) for k in runs[20])
    with pytest.raises(ValueError, match="decay"):
        train.fit(net, draw, loss, 5, 0.05, generator(0), progress=False, decay="linear")
